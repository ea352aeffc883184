@testable import CogCLI
import Foundation
import Testing

/// The built `cogjobs` executable: exit statuses, stdout vs stderr, completions.
@Suite("cogjobs binary")
struct BinaryTests {
    @Test func readCommandsPrintToStandardOutputAndExitZero() throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let status = try CLI.runBinary(["status", "--json", "--database", db.path])
        #expect(status.status == 0, "\(status)")
        #expect(field(try status.json(), "counts", "running") == 1)
        #expect(status.standardError.isEmpty)

        let coco = try CLI.runBinary(["export", "--format", "coco"], environment: ["COGJOBS_DATABASE": db.path])
        #expect(coco.status == 0, "\(coco)")
        #expect(field(try coco.json(), "annotations", as: [Any].self)?.count == 2)
        #expect(coco.standardError.contains("exported 3 results"))
    }

    @Test func failuresExitWithTheDocumentedStatuses() throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let missing = try CLI.runBinary(["show", "--database", db.path, "424242"])
        #expect(missing.status == 2, "\(missing)")
        #expect(missing.standardOutput.isEmpty && missing.standardError.hasPrefix("Error: store.not_found"))

        let invalid = try CLI.runBinary(["retry", "--database", db.path, String(db.dog)])
        #expect(invalid.status == 1, "\(invalid)")

        let usage = try CLI.runBinary(["list", "--database", db.path, "--bogus"])
        #expect(usage.status == 64, "\(usage)")
        #expect(usage.standardError.contains("--bogus"))

        let noDatabase = try CLI.runBinary(["list", "--database", db.directory.appendingPathComponent("x").path])
        #expect(noDatabase.status == 4, "\(noDatabase)")

        let check = try CLI.runBinary(["check", "--config", db.directory.appendingPathComponent("none.json").path,
                                       "--database", db.path])
        #expect(check.status == 5, "\(check)")
        #expect(check.standardOutput.contains("config.file_missing"))
    }

    /// `generate-manual` (swift-argument-parser's man page plugin) reads this dump; every verb must be in it.
    @Test func helpDumpForTheManualHasEveryVerb() throws {
        let run = try CLI.runBinary(["--experimental-dump-help"])
        #expect(run.status == 0, "\(run)")
        let dump = try run.json()
        let names = (field(dump, "command", "subcommands", as: [[String: Any]].self) ?? [])
            .compactMap { field($0, "commandName", as: String.self) }
        for verb in ["status", "list", "show", "cancel", "retry", "pause", "resume", "prune", "results", "export",
                     "migrate", "check", "bench"] {
            #expect(names.contains(verb), "\(verb) missing from \(names)")
        }
    }

    @Test func completionScriptsListTheVerbsAndTheirFlags() throws {
        for shell in ["bash", "zsh", "fish"] {
            let run = try CLI.runBinary(["--generate-completion-script", shell])
            #expect(run.status == 0, "\(shell): \(run)")
            for word in ["status", "export", "retry", "older-than", "busy-timeout"] {
                #expect(run.standardOutput.contains(word), "\(shell) completion lacks \(word)")
            }
        }
    }
}

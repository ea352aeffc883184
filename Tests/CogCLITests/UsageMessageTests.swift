@testable import CogCLI
import CogConfig
import CogTestSupport
import Foundation
import Testing

/// Usage errors say what is wrong with the command line as given, with one code.
@Suite("cogjobs usage messages")
struct UsageMessageTests {
    /// `retry` needs job ids or --state: neither and both are different mistakes.
    @Test func retryWithoutJobsOrStateSaysWhatToGive() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        for arguments in [["retry"], ["retry", "--task", "caption"]] {
            let run = await CLI.run(arguments + ["--database", db.path])
            #expect(run.status == 64, "\(arguments): \(run)")
            #expect(run.standardError.hasPrefix("Error: cli.usage: name the job ids to retry, or select them with "
                                                + "--state (see cogjobs retry --help)"), "\(arguments): \(run)")
            #expect(!run.standardError.contains("not both"), "\(arguments): \(run)")
        }
        let both = await CLI.run(["retry", "--database", db.path, "--state", "failed", "\(db.broken)"])
        #expect(both.status == 64, "\(both)")
        #expect(both.standardError.hasPrefix("Error: cli.usage: name job ids or use --state, not both"), "\(both)")
        // Still working when given properly.
        let byState = await CLI.run(["retry", "--database", db.path, "--state", "failed"])
        #expect(byState.status == 0 && byState.standardOutput.contains("job \(db.broken): queued again"), "\(byState)")
    }

    /// A describe-box prompt that is not a box is reported with its own code, once, before anything
    /// is read (the model directory here does not exist), as a usage error.
    @Test func enqueueReportsABadBoxPromptWithOneCode() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let run = await CLI.run(["enqueue", "--database", db.path, "--model", "/nonexistent/model",
                                 "--task", "describe-box", "--prompt", "bad box", "/photos/dog.jpg"])
        #expect(run.status == 64, "\(run)")
        let line = run.standardError
        #expect(line.hasPrefix("Error: pipeline.bad_box: --prompt: "), "\(run)")
        #expect(!line.contains("cli.usage"), "\(run)")
        let codes = ["cli.", "pipeline."].map { line.components(separatedBy: $0).count - 1 }.reduce(0, +)
        #expect(codes == 1, "more than one code in: \(line)")
    }

    /// An unknown --task is a usage error listing the tasks in every verb that filters by task (a typo
    /// would otherwise print "No jobs match." and exit 0); the task list is enqueue's.
    /// An empty path (an unset shell variable) is not the current folder, and `dev forward` does not
    /// write over its own input.
    @Test func emptyPathsAndOutputOverInputAreUsageErrors() async throws {
        let model = Fixtures.cogvlmTiny.path
        for arguments in [["convert", model, "", "--format", "q8"], ["convert", "", "/tmp/x", "--format", "q8"],
                          ["dev", "make-model", "--preset", "tiny", ""]] {
            let run = await CLI.run(arguments)
            #expect(run.status == 64 && run.standardError.contains("is empty"), "\(arguments): \(run)")
        }
        let db = try SampleDatabase()
        defer { db.remove() }
        let file = db.directory.appendingPathComponent("ids.safetensors").path
        #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        let run = await CLI.run(["dev", "forward", "--model", model, "--input", file, "--output", file])
        #expect(run.status == 64 && run.standardError.contains("is the --input file"), "\(run)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == Data("x".utf8))
    }

    /// A name that is not UTF-8 reaches the CLI with U+FFFD in place of its bad bytes: say so.
    @Test func nonUTF8NamesAreExplained() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let run = await CLI.run(["enqueue", "--database", db.path, "--model", Fixtures.cogvlmTiny.path, "--task", "caption",
                                 "/photos/bad\u{FFFD}name.png"])
        #expect(run.status == 1, "\(run)")
        #expect(run.standardError.contains("the name is not valid UTF-8"), "\(run)")
        let cancel = await CLI.run(["cancel", "9999", "--database", db.path])
        #expect(cancel.standardError.contains("there is no job 9999; `cogjobs list` shows the jobs"), "\(cancel)")
    }

    @Test func unknownTaskFiltersAreUsageErrors() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let tasks = TaskKind.allCases.map(\.rawValue).joined(separator: ", ")
        let enqueue = await CLI.run(["enqueue", "--database", db.path, "--task", "bogus", "/photos/dog.jpg"])
        let expected = "Error: cli.usage: unknown task 'bogus'; one of \(tasks)"
        #expect(enqueue.status == 64 && enqueue.standardError.hasPrefix(expected), "\(enqueue)")
        for verb in [["list"], ["results"], ["list", "--json"], ["results", "--json"],
                     ["retry", "--state", "failed"], ["export"]] {
            let run = await CLI.run(verb + ["--database", db.path, "--task", "bogus"])
            #expect(run.status == 64, "\(verb): \(run)")
            #expect(run.standardError.hasPrefix(expected), "\(verb): \(run)")
            #expect(run.standardOutput.isEmpty, "\(verb): \(run)")
        }
        // Known tasks still filter.
        let list = await CLI.run(["list", "--database", db.path, "--task", "vqa", "--json"])
        #expect((try list.json()["jobs"] as? [Any])?.count == 1, "\(list)")
        let results = await CLI.run(["results", "--database", db.path, "--task", "ground", "--json"])
        #expect((try results.json()["results"] as? [Any])?.count == 1, "\(results)")
        let none = await CLI.run(["results", "--database", db.path, "--task", "describe-box"])
        #expect(none.status == 0, "a known task without results is not an error: \(none)")
    }
}

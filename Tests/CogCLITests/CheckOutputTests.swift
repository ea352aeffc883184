@testable import CogCLI
import CogTestSupport
import Foundation
import Testing

/// The text `cogjobs check` prints: every problem with its code (as `check --help` and docs/cli.md
/// promise), counts in words that agree, and no blame on a configuration file that is not there.
@Suite("cogjobs check output")
struct CheckOutputTests {
    /// The `PROBLEM` lines of a text report, without their label.
    static func problemLines(_ run: CLIRun) -> [Substring] {
        run.standardOutput.split(separator: "\n").compactMap { line in
            line.hasPrefix("  PROBLEM  ") ? line.dropFirst("  PROBLEM  ".count) : nil
        }
    }

    /// Runs `check` as text and as JSON: every text problem line starts with the code its JSON
    /// problem has, and the lines are the JSON messages.
    static func expectCodedProblems(_ arguments: [String], codes expected: [String]) async throws {
        let text = await CLI.run(["check"] + arguments)
        #expect(text.status == ExitStatus.checkFailed.rawValue, "\(arguments): \(text)")
        let lines = problemLines(text)
        let json = try (await CLI.run(["check", "--json"] + arguments)).json()
        let problems = try #require(field(json, "problems", as: [[String: Any]].self))
        let codes = problems.compactMap { field($0, "code", as: String.self) }
        #expect(codes == expected, "\(arguments): \(text)")
        #expect(lines.count == codes.count, "\(arguments): \(text)")
        for (line, code) in zip(lines, codes) {
            #expect(line.hasPrefix(code + ": "), "\(arguments): the line does not start with \(code): \(line)")
            #expect(CogJobsCommand.startsWithCode(line), "\(arguments): \(line)")
        }
        #expect(lines.map(String.init) == problems.compactMap { field($0, "message", as: String.self) },
                "\(arguments): text and JSON differ")
    }

    @Test func everyProblemLineCarriesItsCode() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let absent = db.directory.appendingPathComponent("absent.json").path
        let noModel = db.directory.appendingPathComponent("no-such-model").path

        // The model directory does not exist.
        try await Self.expectCodedProblems(["--config", absent, "--database", db.path, "--model", noModel],
                                           codes: ["config.file_missing", "weights.missing_file",
                                                   "tokenizer.missing_file"])
        // A tokenizer that is not the model's (LLaMA-3's BOS 128000 against the tiny model's 1).
        try await Self.expectCodedProblems(["--config", absent, "--database", db.path, "--model",
                                            Fixtures.cogvlmTiny.path, "--tokenizer", Fixtures.llama3Tokenizer.path],
                                           codes: ["config.file_missing", "check.vocabulary_mismatch"])
        // No model directory at all: nothing to check for the model and the tokenizer.
        let config = db.directory.appendingPathComponent("cogjobs.json")
        try #"{"model_directory": "", "database_path": "jobs.sqlite3"}"#.write(to: config, atomically: true,
                                                                               encoding: .utf8)
        try await Self.expectCodedProblems(["--config", config.path],
                                           codes: ["config.invalid_value", "check.model_directory_unset",
                                                   "check.tokenizer_directory_unset"])
        let run = await CLI.run(["check", "--config", config.path])
        #expect(run.standardOutput.contains("check.model_directory_unset: no model directory to check"), "\(run)")
        // The file exists and holds the empty value: it is the one to fix.
        #expect(run.standardOutput.contains("config.invalid_value: \(config.path): `model_directory`"), "\(run)")
    }

    /// A default conversion of CogVLM2 quantizes the vision conv's weight (`….weight.q8`): `check`
    /// must still see a v2 checkpoint, as loading does.
    @Test func checkKnowsAConvertedCogVLM2() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let converted = db.directory.appendingPathComponent("v2-q4").path
        let conversion = try CLI.runBinary(["convert", Fixtures.cogvlm2Tiny.path, converted, "--format", "q4"])
        #expect(conversion.status == 0, "\(conversion)")
        let run = await CLI.run(["check", "--database", db.path, "--model", converted,
                                 "--tokenizer", Fixtures.llama3Tokenizer.path])
        #expect(run.standardOutput.contains("CogVLM v2"), "\(run)")
        #expect(!run.standardOutput.contains("weights.unexpected_tensor"), "\(run)")
    }

    /// `check` passes no configuration the daemon refuses: a describe-box folder's prompt must be a box.
    @Test func describeBoxWatchPromptMustBeABox() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let config = db.directory.appendingPathComponent("cogjobs.json")
        let json = #"{"model_directory": "\#(Fixtures.cogvlmTiny.path)", "tokenizer_directory": "\#(Fixtures.llama2Tokenizer.path)", "database_path": "\#(db.path)", "watch": [{"path": "\#(db.directory.path)", "task": "describe-box", "prompt": "the red car"}]}"#
        try json.write(to: config, atomically: true, encoding: .utf8)
        let run = await CLI.run(["check", "--config", config.path])
        #expect(run.status == ExitStatus.checkFailed.rawValue, "\(run)")
        #expect(run.standardOutput.contains("config.invalid_value: `watch[0].prompt`"), "\(run)")
    }

    @Test func countsAgreeWithTheirNouns() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let config = db.directory.appendingPathComponent("cogjobs.json")
        func check(workers: Int, watch: [String]) async throws -> CLIRun {
            let folders = watch.map { #"{"path": "\#($0)", "task": "caption"}"# }.joined(separator: ", ")
            try """
                {"database_path": "jobs.sqlite3", "model_directory": "\(Fixtures.cogvlmTiny.path)",
                 "tokenizer_directory": "\(Fixtures.llama2Tokenizer.path)", "workers": \(workers),
                 "watch": [\(folders)]}
                """.write(to: config, atomically: true, encoding: .utf8)
            return await CLI.run(["check", "--config", config.path])
        }
        let inboxes = ["inbox-a", "inbox-b"].map { db.directory.appendingPathComponent($0).path }
        for inbox in inboxes {
            try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
        }
        let one = try await check(workers: 1, watch: [inboxes[0]])
        #expect(one.status == 0 && one.standardOutput.contains("every value is valid (1 watched folder, 1 worker)"),
                "\(one)")
        let two = try await check(workers: 2, watch: inboxes)
        #expect(two.status == 0 && two.standardOutput.contains("every value is valid (2 watched folders, 2 workers)"),
                "\(two)")
    }

    /// Without a configuration file, a value missing from the defaults is not blamed on the
    /// (absent) default file: the problem says there is no file.
    @Test(.enabled(if: !FileManager.default.fileExists(atPath: "/etc/cogjobs/cogjobs.json"),
                   "needs a machine without /etc/cogjobs/cogjobs.json"))
    func noConfigurationFileIsNotBlamed() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let run = await CLI.run(["check", "--database", db.path])
        #expect(run.status == ExitStatus.checkFailed.rawValue, "\(run)")
        let lines = Self.problemLines(run)
        let line = try #require(lines.first { $0.contains("`model_directory`") }, "\(run)")
        #expect(line.hasPrefix("config.missing_key: `model_directory`: no configuration file at "
                               + "/etc/cogjobs/cogjobs.json and no model directory; pass --config FILE, or --model DIR"),
                "\(line)")
        #expect(!line.contains("/etc/cogjobs/cogjobs.json: "), "\(line)")
    }
}

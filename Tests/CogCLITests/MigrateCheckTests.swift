@testable import CogCLI
import CogJobStore
import CogTestSupport
import Foundation
import Testing

/// `migrate` and `check`.
@Suite("cogjobs migrate / check")
struct MigrateCheckTests {
    @Test func migrateCreatesTheDatabaseAndReportsVersions() async throws {
        let directory = try Fixtures.temporaryDirectory("cli-migrate")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        let path = directory.appendingPathComponent("jobs.sqlite3").path
        let first = await CLI.run(["migrate", "--database", path])
        #expect(first.status == 0, "\(first)")
        #expect(first.standardOutput.contains("Schema version 0 → \(Migrator().latestVersion)"), "\(first)")
        #expect(first.standardOutput.contains("Applied 0001_initial.sql"))
        #expect(first.standardOutput.contains("(from --database)"))
        let again = await CLI.run(["migrate", "--database", path, "--json"])
        let json = try again.json()
        #expect(field(json, "version_before") == Migrator().latestVersion)
        #expect(field(json, "version_after") == Migrator().latestVersion)
        #expect(field(json, "latest_known") == Migrator().latestVersion)
        #expect(field(json, "applied", as: [Any].self)?.isEmpty == true)
        #expect(field(json, "database") == path)
        let status = await CLI.run(["status", "--database", path])
        #expect(status.status == 0, "\(status)")
        // A configuration file named on the command line or in the environment must exist, even
        // when the database path is given another way.
        let absent = directory.appendingPathComponent("absent.json").path
        for (arguments, environment) in [(["status", "--config", absent, "--database", path], [String: String]()),
                                         (["status"], ["COGJOBS_CONFIG": absent, "COGJOBS_DATABASE": path])] {
            let run = await CLI.run(arguments, environment: environment)
            #expect(run.status == 1 && run.standardError.contains("config.file_missing"), "\(arguments): \(run)")
        }

        let nowhere = directory.appendingPathComponent("no/such/folder/jobs.sqlite3").path
        let failed = await CLI.run(["migrate", "--database", nowhere])
        #expect(failed.status == ExitStatus.databaseError.rawValue && failed.standardError.contains(nowhere),
                "\(failed)")
    }

    /// A file that is not SQLite is `store.corrupt` for `migrate` as for every other verb.
    @Test func aFileThatIsNotADatabaseIsCorruptForEveryVerb() async throws {
        let directory = try Fixtures.temporaryDirectory("cli-notdb")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        let path = directory.appendingPathComponent("notdb.sqlite3").path
        try Data(String(repeating: "not a database, just text\n", count: 40).utf8).write(to: URL(fileURLWithPath: path))
        for verb in ["migrate", "status"] {
            let run = await CLI.run([verb, "--database", path])
            #expect(run.status == ExitStatus.databaseError.rawValue, "\(verb): \(run)")
            #expect(run.standardError.hasPrefix("Error: store.corrupt: ") && run.standardError.contains(path),
                    "\(verb): \(run)")
        }
    }

    @Test func aDatabaseFromANewerCogjobsIsRefused() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let raw = try SQLiteConnection(path: db.path)
        _ = try raw.run("""
            INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES (999, 'future', 'x', 0)
            """)
        for verb in [["status"], ["migrate"]] {
            let run = await CLI.run(verb + ["--database", db.path])
            #expect(run.status == ExitStatus.databaseError.rawValue, "\(verb): \(run)")
            #expect(run.standardError.contains("store.schema_too_new"), "\(run)")
        }
    }

    /// Reading verbs refuse a file that is not a job database yet without writing to it (they used
    /// to switch it to WAL mode first).
    @Test func readingVerbsLeaveAnEmptyFileAlone() async throws {
        try await Fixtures.withTemporaryDirectory("empty-db") { directory in
            let path = directory.appendingPathComponent("empty.sqlite3").path
            try Data().write(to: URL(fileURLWithPath: path))
            for verb in [["status"], ["list"], ["results"]] {
                let run = await CLI.run(verb + ["--database", path])
                #expect(run.status == ExitStatus.databaseError.rawValue, "\(verb): \(run)")
                #expect(run.standardError.contains("store.schema_outdated"), "\(verb): \(run)")
            }
            let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
            #expect(size == 0)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["empty.sqlite3"])
        }
    }

    @Test func checkNamesEveryProblem() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let emptyTokenizer = db.directory.appendingPathComponent("tokenizer-empty")
        try FileManager.default.createDirectory(at: emptyTokenizer, withIntermediateDirectories: true)
        let missingModel = db.directory.appendingPathComponent("no-such-model").path
        let config = db.directory.appendingPathComponent("cogjobs.json")
        try """
            {"database_path": "\(db.path)", "model_directory": "\(missingModel)",
             "tokenizer_directory": "\(emptyTokenizer.path)", "workers": 0, "lease_duration_seconds": 1}
            """.write(to: config, atomically: true, encoding: .utf8)
        let run = await CLI.run(["check", "--config", config.path])
        #expect(run.status == ExitStatus.checkFailed.rawValue, "\(run)")
        let text = run.standardOutput
        #expect(text.contains("`workers`: must be between 1 and 64, got 0"), "\(text)")
        #expect(text.contains("`lease_duration_seconds`"), "\(text)")
        #expect(text.contains("model directory \(missingModel) does not exist"), "\(text)")
        #expect(text.contains("tokenizer.missing_file") && text.contains(emptyTokenizer.path), "\(text)")
        #expect(text.contains("4 problems found."), "\(text)")
        #expect(text.contains("database: \(db.path)") && text.contains("quick_check ok"), "\(text)")

        let json = try (await CLI.run(["check", "--config", config.path, "--json"])).json()
        #expect(field(json, "ok") == false)
        let problems = try #require(field(json, "problems", as: [[String: Any]].self))
        #expect(problems.compactMap { field($0, "key", as: String.self) }.contains("workers"))
        #expect(problems.compactMap { field($0, "area", as: String.self) } ==
                ["configuration", "configuration", "model", "tokenizer"])
        #expect(problems.compactMap { field($0, "path", as: String.self) }.contains(missingModel))
        #expect(Set(problems[0].keys) == ["area", "ok", "code", "key", "path", "message"])
    }

    @Test func checkPassesOnTheTinyFixtureModel() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let config = db.directory.appendingPathComponent("cogjobs.json")
        try """
            {"database_path": "jobs.sqlite3", "model_directory": "\(Fixtures.cogvlmTiny.path)",
             "tokenizer_directory": "\(Fixtures.llama2Tokenizer.path)"}
            """.write(to: config, atomically: true, encoding: .utf8)
        let run = await CLI.run(["check", "--config", config.path])
        #expect(run.status == 0, "\(run)")
        for fact in ["All checks passed.", "config.json: CogVLM v1", "each matching the configuration",
                     "32000 tokens", "schema version \(Migrator().latestVersion)", "(from configuration file"] {
            #expect(run.standardOutput.contains(fact), "missing \(fact) in:\n\(run.standardOutput)")
        }
        let json = try (await CLI.run(["check", "--config", config.path, "--json"])).json()
        #expect(field(json, "ok") == true)
        #expect(field(json, "problems", as: [Any].self)?.isEmpty == true)
        #expect(field(json, "areas", as: [[String: Any]].self)?.compactMap { field($0, "name", as: String.self) }
                == ["configuration", "database", "model", "tokenizer"])
    }

    @Test func checkWithoutAConfigurationFileChecksTheFlags() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let missing = db.directory.appendingPathComponent("absent.json").path
        let run = await CLI.run(["check", "--config", missing, "--database", db.path,
                                 "--model", Fixtures.cogvlmTiny.path, "--tokenizer", Fixtures.llama2Tokenizer.path])
        #expect(run.status == ExitStatus.checkFailed.rawValue, "\(run)")
        #expect(run.standardOutput.contains("config.file_missing"), "\(run)")
        #expect(run.standardOutput.contains("1 problem found."), "\(run)")
        #expect(run.standardOutput.contains("each matching the configuration"), "\(run)")

        let noDatabase = db.directory.appendingPathComponent("none.sqlite3").path
        let badDatabase = await CLI.run(["check", "--config", missing, "--database", noDatabase])
        #expect(badDatabase.standardOutput.contains("store.open_failed"), "\(badDatabase)")
        // The named file is missing: the model directory it would name is unknown, so not checked.
        #expect(badDatabase.standardOutput.contains("skipped  the model directory comes from the configuration file"),
                "\(badDatabase)")
        #expect(badDatabase.standardOutput.contains("2 problems found."), "\(badDatabase)")
    }

    /// One mistake, one problem: an undecodable file does not send the database check to the
    /// default path or report the directories it would have named as missing.
    @Test func anUndecodableFileSkipsWhatItWouldHaveNamed() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let config = db.directory.appendingPathComponent("cogjobs.json")
        try #"{"model_directory": "/models/x", "workers": "2"}"#.write(to: config, atomically: true, encoding: .utf8)
        let run = await CLI.run(["check", "--config", config.path])
        #expect(run.status == ExitStatus.checkFailed.rawValue, "\(run)")
        #expect(run.standardOutput.contains("config.wrong_type"), "\(run)")
        #expect(run.standardOutput.contains("1 problem found."), "\(run)")
        #expect(!run.standardOutput.contains("/var/lib/cogjobs"), "\(run)")
        let json = try (await CLI.run(["check", "--config", config.path, "--json"])).json()
        #expect(field(json, "skipped", as: [[String: Any]].self)?.compactMap { field($0, "area", as: String.self) }
                == ["database", "model", "tokenizer"])
    }

    /// The default file is optional (as for every verb); a watched folder that is not there is a
    /// problem (the daemon would load the model, then refuse to start).
    @Test func theDefaultFileIsOptionalAndWatchedFoldersMustExist() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let flags = ["--database", db.path, "--model", Fixtures.cogvlmTiny.path, "--tokenizer", Fixtures.llama2Tokenizer.path]
        if !FileManager.default.fileExists(atPath: "/etc/cogjobs/cogjobs.json") {
            let run = await CLI.run(["check"] + flags)
            #expect(run.status == 0, "\(run)")
            #expect(run.standardOutput.contains("no configuration file (optional at /etc/cogjobs/cogjobs.json)"), "\(run)")
        }
        let config = db.directory.appendingPathComponent("cogjobs.json")
        let missing = db.directory.appendingPathComponent("inbox").path
        let file = db.directory.appendingPathComponent("a-file").path
        try Data().write(to: URL(fileURLWithPath: file))
        try """
            {"model_directory": "\(Fixtures.cogvlmTiny.path)", "watch": [{"path": "\(missing)", "task": "caption"},
             {"path": "\(file)", "task": "caption"}]}
            """.write(to: config, atomically: true, encoding: .utf8)
        let run = await CLI.run(["check", "--config", config.path] + flags)
        #expect(run.status == ExitStatus.checkFailed.rawValue, "\(run)")
        #expect(run.standardOutput.contains("watcher.root_missing: `watch[0].path`"), "\(run)")
        #expect(run.standardOutput.contains("watcher.not_a_directory: `watch[1].path`"), "\(run)")
        #expect(run.standardOutput.contains("2 problems found."), "\(run)")
    }

    @Test func checkReportsAWeightFileThatDoesNotMatchItsConfiguration() async throws {
        let directory = try Fixtures.temporaryDirectory("cli-model")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        let model = directory.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: Fixtures.cogvlmTiny.path)
        where name.hasSuffix(".safetensors") || name.hasSuffix(".json") {
            try FileManager.default.copyItem(at: Fixtures.cogvlmTiny.appendingPathComponent(name),
                                             to: model.appendingPathComponent(name))
        }
        // A config that says 3 language layers where the weights have 2.
        let configURL = model.appendingPathComponent("config.json")
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL))
            as? [String: Any])
        config["num_hidden_layers"] = 3
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        let run = await CLI.run(["check", "--config", directory.appendingPathComponent("none.json").path,
                                 "--model", model.path, "--tokenizer", Fixtures.llama2Tokenizer.path, "--json"])
        let problems = try #require(field(try run.json(), "problems", as: [[String: Any]].self))
        let modelProblem = try #require(problems.first { field($0, "area") == "model" })
        #expect(field(modelProblem, "code") == "weights.missing_tensor", "\(modelProblem)")
        #expect((field(modelProblem, "key", as: String.self) ?? "").contains("layers.2"), "\(modelProblem)")
    }
}

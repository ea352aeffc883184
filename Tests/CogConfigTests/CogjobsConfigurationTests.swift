import Foundation
import Testing

@testable import CogConfig

/// The repository's `config/` folder, found from this file.
private let configFolder = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()  // CogConfigTests
    .deletingLastPathComponent()  // Tests
    .deletingLastPathComponent()  // repository root
    .appendingPathComponent("config", isDirectory: true)
private let examplePath = configFolder.appendingPathComponent("cogjobs.example.json").path
private let readmePath = configFolder.appendingPathComponent("README.md").path

/// A configuration document with `model_directory` set and these watch entries (JSON objects).
private func withWatch(_ entries: String...) -> String {
    #"{"model_directory": "/m", "watch": ["# + entries.joined(separator: ", ") + "]}"
}

/// Decodes JSON text, returning the error it throws (or nil). Shared by the suites of this module.
func decodeError(_ json: String) -> ConfigError? {
    do {
        _ = try CogjobsConfiguration.decode(Data(json.utf8))
        return nil
    } catch {
        return error
    }
}

/// Decodes (must succeed) then validates JSON text, returning the validation error (or nil).
private func validationError(_ json: String) throws -> ConfigError? {
    let configuration = try CogjobsConfiguration.decode(Data(json.utf8))
    do {
        try configuration.validate()
        return nil
    } catch {
        return error
    }
}

/// A temporary folder holding one config file.
private func writeConfig(_ json: String) throws -> (folder: URL, file: String) {
    let folder = FileManager.default.temporaryDirectory
        .appendingPathComponent("cogjobs-config-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let file = folder.appendingPathComponent("cogjobs.json")
    try Data(json.utf8).write(to: file)
    return (folder, file.path)
}

@Suite("CogjobsConfiguration: the example file and its documentation")
struct ExampleConfigurationTests {
    @Test("the example parses and validates")
    func exampleIsValid() throws {
        let configuration = try CogjobsConfiguration.load(file: examplePath, environment: [:])
        #expect(configuration.modelDirectory == "/var/lib/cogjobs/models/cogvlm-chat-hf")
        #expect(configuration.watch.count == 2)
        #expect(configuration.watch[1].task == .vqa)
        #expect(configuration.watch[1].sidecar == .json)
    }

    @Test("the example contains every key the Codable types know, and no other")
    func exampleHasEveryKey() throws {
        let text = try Data(contentsOf: URL(fileURLWithPath: examplePath))
        let json = try #require(try JSONSerialization.jsonObject(with: text) as? [String: Any])
        #expect(Set(json.keys) == Set(CogjobsConfiguration.CodingKeys.allCases.map(\.stringValue)))
        let limits = try #require(json["limits"] as? [String: Any])
        #expect(Set(limits.keys) == Set(ImageLimits.CodingKeys.allCases.map(\.stringValue)))
        let generation = try #require(json["generation"] as? [String: Any])
        #expect(Set(generation.keys) == Set(GenerationDefaults.CodingKeys.allCases.map(\.stringValue)))
        let watch = try #require(json["watch"] as? [[String: Any]])
        #expect(!watch.isEmpty)
        for entry in watch {
            #expect(Set(entry.keys) == Set(WatchedFolder.CodingKeys.allCases.map(\.stringValue)))
        }
    }

    @Test("the example shows the defaults: top level, limits, generation and the first watch entry")
    func exampleShowsDefaults() throws {
        let example = try CogjobsConfiguration.decodeFile(at: examplePath)
        let first = example.watch[0]
        let defaultsOnly = WatchedFolder(path: first.path, task: first.task)
        let expected = CogjobsConfiguration(modelDirectory: example.modelDirectory,
                                            watch: [defaultsOnly, example.watch[1]])
        #expect(example == expected)
        #expect(first.task == .caption)
    }

    @Test("encoding writes every key (nulls included) and decodes back to the same value")
    func encodingRoundTrips() throws {
        let example = try CogjobsConfiguration.decodeFile(at: examplePath)
        let data = try JSONEncoder().encode(example)
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(json.keys) == Set(CogjobsConfiguration.CodingKeys.allCases.map(\.stringValue)))
        let watch = try #require(json["watch"] as? [[String: Any]])
        #expect(Set(watch[0].keys) == Set(WatchedFolder.CodingKeys.allCases.map(\.stringValue)))
        #expect(try CogjobsConfiguration.decode(data) == example)
    }

    @Test("config/README.md documents every key and every environment variable")
    func readmeDocumentsEverything() throws {
        let readme = try String(contentsOfFile: readmePath, encoding: .utf8)
        var keyPaths = CogjobsConfiguration.CodingKeys.allCases.map(\.stringValue)
        keyPaths += ImageLimits.CodingKeys.allCases.map { "limits." + $0.stringValue }
        keyPaths += GenerationDefaults.CodingKeys.allCases.map { "generation." + $0.stringValue }
        keyPaths += WatchedFolder.CodingKeys.allCases.map { "watch[]." + $0.stringValue }
        for keyPath in keyPaths {
            #expect(readme.contains("`\(keyPath)`"), "README lacks `\(keyPath)`")
        }
        for (name, key) in ConfigOverrides.environmentVariables {
            #expect(readme.contains("`\(name)` | `\(key)`"), "README lacks \(name) → \(key)")
        }
        #expect(readme.contains("`COGJOBS_CONFIG`"))
    }
}

@Suite("CogjobsConfiguration: decoding errors name the key")
struct DecodingErrorTests {
    @Test("bad input gives the right code and key path", arguments: [
        (#"{"model_directory": "/m", "wokers": 2}"#, ConfigError.Code.unknownKey, "wokers"),
        (#"{"model_directory": "/m", "limits": {"max_pixel": 5}}"#, .unknownKey, "limits.max_pixel"),
        (withWatch(#"{"path": "/a", "task": "caption"}"#, #"{"path": "/b", "task": "caption", "recursiv": true}"#),
         .unknownKey, "watch[1].recursiv"),
        (#"{"model_directory": "/m", "generation": {"temprature": 0.5}}"#, .unknownKey, "generation.temprature"),
        (#"{"model_directory": "/m", "workers": "2"}"#, .wrongType, "workers"),
        (#"{"model_directory": "/m", "workers": null}"#, .wrongType, "workers"),
        (#"{"model_directory": "/m", "workers": 1.5}"#, .wrongType, "workers"),
        (#"{"model_directory": "/m", "generation": {"seed": 1e300}}"#, .wrongType, "generation.seed"),
        (#"{"model_directory": "/m", "watch": [{"path": "/a", "task": "caption", "priority": "high"}]}"#,
         .wrongType, "watch[0].priority"),
        (#"{"model_directory": 7}"#, .wrongType, "model_directory"),
        (#"{"model_directory": "/m", "watch": {}}"#, .wrongType, "watch"),
        (#"{"model_directory": "/m", "limits": []}"#, .wrongType, "limits"),
        (#"{"model_directory": "/m", "watch": [{"path": "/a", "task": "caption", "recursive": "yes"}]}"#,
         .wrongType, "watch[0].recursive"),
        (#"{"model_directory": "/m", "watch": [{"path": "/a", "task": "caption", "ignore": "*.txt"}]}"#,
         .wrongType, "watch[0].ignore"),
        (withWatch(#"{"path": "/a", "task": 5}"#), .wrongType, "watch[0].task"),
        (withWatch(#"{"path": "/a", "task": null}"#), .wrongType, "watch[0].task"),
        (withWatch(#"{"path": "/a", "task": "caption", "sidecar": true}"#), .wrongType, "watch[0].sidecar"),
        (#"{"model_directory": "/m", "log_level": 3}"#, .wrongType, "log_level"),
        (#"{"model_directory": "/m", "batch_decode": "yes"}"#, .wrongType, "batch_decode"),
        (#"{"model_directory": "/m", "batch_decode": 1}"#, .wrongType, "batch_decode"),
        (#"{"model_directory": "/m", "batch_decode": null}"#, .wrongType, "batch_decode"),
        (#"{"workers": 2}"#, .missingKey, "model_directory"),
        (#"{"model_directory": "/m", "watch": [{"path": "/a"}]}"#, .missingKey, "watch[0].task"),
        (#"{"model_directory": "/m", "watch": [{"task": "caption"}]}"#, .missingKey, "watch[0].path"),
    ])
    func badInput(json: String, code: ConfigError.Code, keyPath: String) throws {
        let error = try #require(decodeError(json))
        #expect(error.code == code)
        #expect(error.keyPath == keyPath)
        #expect(error.description.contains("`\(keyPath)`"))
    }

    @Test("messages say what is allowed and suggest the intended key or value")
    func helpfulMessages() throws {
        let unknown = try #require(decodeError(#"{"model_directory": "/m", "wokers": 2}"#))
        #expect(unknown.message.contains("did you mean `workers`?"))
        let task = try #require(try validationError(withWatch(#"{"path": "/a", "task": "captionn"}"#)))
        #expect(task.message.contains("allowed: caption, vqa, ground, ground-caption, describe-box"))
        #expect(task.message.contains("did you mean `caption`?"))
        let type = try #require(decodeError(#"{"model_directory": "/m", "workers": "2"}"#))
        #expect(type.message.contains("expected an integer, found a string"))
        let null = try #require(decodeError(#"{"model_directory": "/m", "workers": null}"#))
        #expect(null.message.contains("must not be null"))
    }

    @Test("text that is not a JSON object is rejected as a whole")
    func notAnObject() throws {
        let broken = try #require(decodeError("{\n  \"model_directory\": \"/m\",\n  ,\n}"))
        #expect(broken.code == .badJSON)
        #expect(broken.keyPath == nil)
        #expect(broken.message.contains("line 3"))
        let array = try #require(decodeError("[1, 2]"))
        #expect(array.code == .wrongType)
        #expect(array.keyPath == nil)
    }
}

@Suite("CogjobsConfiguration: validation names the key")
struct ValidationTests {
    static let watchA = #"{"path": "/srv/a", "task": "caption"}"#

    @Test("invalid values give the right key path", arguments: [
        (#"{"model_directory": "/m", "workers": -1}"#, "workers"),
        (#"{"model_directory": "/m", "workers": 0}"#, "workers"),
        (#"{"model_directory": "/m", "blas_threads": 0}"#, "blas_threads"),
        (#"{"model_directory": "/m", "lease_duration_seconds": 1}"#, "lease_duration_seconds"),
        (#"{"model_directory": "/m", "shutdown_drain_seconds": -5}"#, "shutdown_drain_seconds"),
        (#"{"model_directory": "/m", "max_attempts": 0}"#, "max_attempts"),
        (#"{"model_directory": "/m", "precision": "turbo"}"#, "precision"),
        (withWatch(#"{"path": "/a", "task": "caption"}"#, #"{"path": "/b", "task": "captionn"}"#), "watch[1].task"),
        (withWatch(#"{"path": "/a", "task": "caption", "sidecar": "xml"}"#), "watch[0].sidecar"),
        (withWatch(#"{"path": "/a", "task": "caption", "settle_seconds": -1}"#), "watch[0].settle_seconds"),
        (withWatch(#"{"path": "/a", "task": "caption", "settle_seconds": 5000}"#), "watch[0].settle_seconds"),
        (#"{"model_directory": "/m", "log_level": "verbose"}"#, "log_level"),
        (#"{"model_directory": "/m", "prefix_cache_mb": -1}"#, "prefix_cache_mb"),
        (#"{"model_directory": "/m", "retry_base_delay_seconds": -1}"#, "retry_base_delay_seconds"),
        (#"{"model_directory": "/m", "limits": {"max_pixels": 0}}"#, "limits.max_pixels"),
        (#"{"model_directory": "/m", "limits": {"max_file_bytes": -1}}"#, "limits.max_file_bytes"),
        (#"{"model_directory": "/m", "generation": {"top_p": 1.5}}"#, "generation.top_p"),
        (#"{"model_directory": "/m", "generation": {"temperature": -0.1}}"#, "generation.temperature"),
        (#"{"model_directory": "/m", "generation": {"max_new_tokens": 0}}"#, "generation.max_new_tokens"),
        (#"{"model_directory": "/m", "generation": {"seed": -3}}"#, "generation.seed"),
        (#"{"model_directory": "relative/model"}"#, "model_directory"),
        (#"{"model_directory": "/m", "database_path": ""}"#, "database_path"),
        (#"{"model_directory": "~/models"}"#, "model_directory"),
        (#"{"model_directory": "/m", "watch": [{"path": "/srv/q", "task": "vqa"}]}"#, "watch[0].prompt"),
        (#"{"model_directory": "/m", "watch": [{"path": "/srv/q", "task": "ground", "prompt": "  "}]}"#,
         "watch[0].prompt"),
        (#"{"model_directory": "/m", "watch": [{"path": "/srv/a", "task": "caption", "extensions": ["*.jpg"]}]}"#,
         "watch[0].extensions[0]"),
        (#"{"model_directory": "/m", "watch": [{"path": "/srv/a", "task": "caption", "ignore": [""]}]}"#,
         "watch[0].ignore[0]"),
        (#"{"model_directory": "/m", "watch": [\#(watchA), {"path": "/srv/a/sub", "task": "caption"}]}"#,
         "watch[1].path"),
        (#"{"model_directory": "/m", "watch": [\#(watchA), {"path": "/srv/a/", "task": "vqa", "prompt": "?"}]}"#,
         "watch[1].path"),
        (#"{"model_directory": "/m", "watch": [{"path": "/srv/a", "task": "caption", "move_done_to": "/srv/a/done"}]}"#,
         "watch[0].move_done_to"),
        (#"{"model_directory": "/m", "watch": [{"path": "/srv/a", "task": "caption", "move_failed_to": "/srv/a"}]}"#,
         "watch[0].move_failed_to"),
    ])
    func invalidValue(json: String, keyPath: String) throws {
        let error = try #require(try validationError(json))
        #expect(error.code == .invalidValue)
        #expect(error.keyPath == keyPath)
    }

    @Test("allowed edge cases pass validation", arguments: [
        #"{"model_directory": "/m"}"#,
        withWatch(#"{"path": "/srv/a", "task": "caption", "move_done_to": "/srv/a/.done"}"#),
        withWatch(#"{"path": "/srv/a", "task": "caption", "move_done_to": "/srv/a/done", "ignore": ["done"]}"#),
        withWatch(#"{"path": "/srv/a", "task": "caption", "recursive": false, "move_done_to": "/srv/a/done"}"#),
        withWatch(#"{"path": "/srv/a", "task": "caption", "recursive": false}"#,
                  #"{"path": "/srv/a/sub", "task": "caption"}"#),
        withWatch(#"{"path": "/srv/a", "task": "caption", "extensions": []}"#),
        withWatch(#"{"path": "/srv/a", "task": "caption", "settle_seconds": 0}"#),
        withWatch(#"{"path": "/srv/a", "task": "caption", "settle_seconds": 30.5}"#),
        #"{"model_directory": "/m", "generation": {"temperature": 0.7, "top_p": 0.9, "top_k": 40, "seed": 42}}"#,
    ])
    func validEdgeCases(json: String) throws {
        #expect(try validationError(json) == nil)
    }

    @Test("validationProblems lists every problem, in key order")
    func allProblems() throws {
        let configuration = try CogjobsConfiguration.decode(Data(#"""
            {"model_directory": "m", "workers": 0, "watch": [{"path": "/srv/q", "task": "vqa"}],
             "generation": {"top_k": -1}}
            """#.utf8))
        #expect(configuration.validationProblems().compactMap(\.keyPath)
                    == ["model_directory", "workers", "watch[0].prompt", "generation.top_k"])
    }

    @Test("batch_decode: on unless the file turns it off")
    func batchDecode() throws {
        #expect(try CogjobsConfiguration.decode(Data(#"{"model_directory": "/m"}"#.utf8)).batchDecode)
        let off = try CogjobsConfiguration.decode(Data(#"{"model_directory": "/m", "batch_decode": false}"#.utf8))
        #expect(!off.batchDecode)
        #expect(try validationError(#"{"model_directory": "/m", "batch_decode": false}"#) == nil)
    }

    @Test("effective BLAS threads: the setting, or cores divided among workers")
    func blasThreads() {
        var configuration = CogjobsConfiguration(modelDirectory: "/m", workers: 2)
        #expect(configuration.effectiveBLASThreads(cores: 8) == 4)
        #expect(configuration.effectiveBLASThreads(cores: 3) == 1)
        configuration.workers = 16
        #expect(configuration.effectiveBLASThreads(cores: 2) == 1)
        configuration.blasThreads = 3
        #expect(configuration.effectiveBLASThreads(cores: 8) == 3)
        #expect(configuration.effectiveTokenizerDirectory == "/m")
    }
}

@Suite("CogjobsConfiguration: loading, relative paths and overrides")
struct LoadingTests {
    static let minimal = #"""
        {"model_directory": "models/tiny", "database_path": "/var/lib/cogjobs/jobs.sqlite3",
         "watch": [{"path": "inbox", "task": "caption", "move_done_to": "../done"}]}
        """#

    @Test("relative paths in the file are resolved against the file's folder")
    func relativePathsInFile() throws {
        let (folder, file) = try writeConfig(Self.minimal)
        defer { try? FileManager.default.removeItem(at: folder) }  // temporary folder; best effort
        let configuration = try CogjobsConfiguration.load(file: file, environment: [:])
        let base = folder.path
        #expect(configuration.modelDirectory == base + "/models/tiny")
        #expect(configuration.watch[0].path == base + "/inbox")
        #expect(configuration.watch[0].moveDoneTo == folder.deletingLastPathComponent().path + "/done")
    }

    @Test("environment variables override the file, flags override both")
    func overrides() throws {
        let (folder, file) = try writeConfig(Self.minimal)
        defer { try? FileManager.default.removeItem(at: folder) }  // temporary folder; best effort
        let environment = [
            "COGJOBS_WORKERS": "4", "COGJOBS_DATABASE": "/tmp/other.sqlite3", "COGJOBS_MODEL": "/models/x",
            "COGJOBS_TOKENIZER": "/tokenizers/llama", "COGJOBS_BLAS_THREADS": "2", "COGJOBS_LOG_LEVEL": "DEBUG",
            "COGJOBS_LEASE_DURATION_SECONDS": "300", "COGJOBS_SHUTDOWN_DRAIN_SECONDS": "5.5",
            "COGJOBS_MAX_ATTEMPTS": "7", "COGJOBS_RETRY_BASE_DELAY_SECONDS": "1", "COGJOBS_UNRELATED": "x",
        ]
        let fromEnvironment = try CogjobsConfiguration.load(file: file, environment: environment)
        #expect(fromEnvironment.workers == 4)
        #expect(fromEnvironment.databasePath == "/tmp/other.sqlite3")
        #expect(fromEnvironment.modelDirectory == "/models/x")
        #expect(fromEnvironment.tokenizerDirectory == "/tokenizers/llama")
        #expect(fromEnvironment.blasThreads == 2)
        #expect(fromEnvironment.logLevel == .debug)
        #expect(fromEnvironment.leaseDurationSeconds == 300)
        #expect(fromEnvironment.shutdownDrainSeconds == 5.5)
        #expect(fromEnvironment.maxAttempts == 7)
        #expect(fromEnvironment.retryBaseDelaySeconds == 1)

        let flags = ConfigOverrides(databasePath: "relative.sqlite3", workers: 2)
        let fromFlags = try CogjobsConfiguration.load(file: file, environment: environment, flags: flags)
        #expect(fromFlags.workers == 2)
        #expect(fromFlags.databasePath == FileManager.default.currentDirectoryPath + "/relative.sqlite3")
        #expect(fromFlags.modelDirectory == "/models/x")

        // Empty variables count as unset.
        let unset = try CogjobsConfiguration.load(file: file, environment: ["COGJOBS_WORKERS": ""])
        #expect(unset.workers == ConfigDefaults.workers)
    }

    @Test("a bad override names the variable or flag it came from")
    func badOverrides() throws {
        let (folder, file) = try writeConfig(Self.minimal)
        defer { try? FileManager.default.removeItem(at: folder) }  // temporary folder; best effort

        let unparsable = #expect(throws: ConfigError.self) {
            try CogjobsConfiguration.load(file: file, environment: ["COGJOBS_WORKERS": "two"])
        }
        #expect(unparsable?.code == .badEnvironment)
        #expect(unparsable?.keyPath == "workers")
        #expect(unparsable?.description.contains("COGJOBS_WORKERS") == true)
        let badNumber = #expect(throws: ConfigError.self) {
            try CogjobsConfiguration.load(file: file, environment: ["COGJOBS_SHUTDOWN_DRAIN_SECONDS": "1m"])
        }
        #expect(badNumber?.keyPath == "shutdown_drain_seconds")

        let badLevel = #expect(throws: ConfigError.self) {
            try CogjobsConfiguration.load(file: file, environment: ["COGJOBS_LOG_LEVEL": "loud"])
        }
        #expect(badLevel?.code == .badEnvironment)
        #expect(badLevel?.keyPath == "log_level")

        let outOfRange = #expect(throws: ConfigError.self) {
            try CogjobsConfiguration.load(file: file, environment: ["COGJOBS_WORKERS": "0"])
        }
        #expect(outOfRange?.code == .invalidValue)
        #expect(outOfRange?.keyPath == "workers")
        #expect(outOfRange?.origin == "environment variable COGJOBS_WORKERS")

        let flagged = #expect(throws: ConfigError.self) {
            try CogjobsConfiguration.load(file: file, environment: [:],
                                          flags: ConfigOverrides(workers: -2, origins: ["workers": "--workers"]))
        }
        #expect(flagged?.origin == "--workers")

        let inFile = #expect(throws: ConfigError.self) {
            let (badFolder, badFile) = try writeConfig(#"{"model_directory": "/m", "workers": 0}"#)
            defer { try? FileManager.default.removeItem(at: badFolder) }  // temporary folder; best effort
            _ = try CogjobsConfiguration.load(file: badFile, environment: [:])
        }
        #expect(inFile?.origin == nil)
        #expect(inFile?.file?.hasSuffix("cogjobs.json") == true)
    }

    @Test("the file comes from the argument, COGJOBS_CONFIG, or /etc/cogjobs/cogjobs.json")
    func configPath() throws {
        #expect(CogjobsConfiguration.configPath(environment: [:]) == "/etc/cogjobs/cogjobs.json")
        #expect(CogjobsConfiguration.configPath(environment: ["COGJOBS_CONFIG": "/x/y.json"]) == "/x/y.json")
        #expect(ConfigDefaults.databasePath == "/var/lib/cogjobs/jobs.sqlite3")

        let (folder, file) = try writeConfig(Self.minimal)
        defer { try? FileManager.default.removeItem(at: folder) }  // temporary folder; best effort
        let viaEnvironment = try CogjobsConfiguration.load(environment: ["COGJOBS_CONFIG": file])
        #expect(viaEnvironment.watch.count == 1)

        let missing = #expect(throws: ConfigError.self) {
            try CogjobsConfiguration.load(file: folder.path + "/nope.json", environment: [:])
        }
        #expect(missing?.code == .fileMissing)
        #expect(missing?.file == folder.path + "/nope.json")

        let unknownInFile = #expect(throws: ConfigError.self) {
            let (badFolder, badFile) = try writeConfig(#"{"model_directory": "/m", "databse_path": "/x"}"#)
            defer { try? FileManager.default.removeItem(at: badFolder) }  // temporary folder; best effort
            _ = try CogjobsConfiguration.load(file: badFile, environment: [:])
        }
        #expect(unknownInFile?.code == .unknownKey)
        #expect(unknownInFile?.file?.hasSuffix("cogjobs.json") == true)
        #expect(unknownInFile?.message.contains("did you mean `database_path`?") == true)
    }
}

@Suite("CogjobsConfiguration: every bad value is listed, the rest stays usable")
struct ValueCollectionTests {
    @Test("unknown task, sidecar and log level are collected with the other bad values, in key order")
    func enumerationsAreCollected() throws {
        let configuration = try CogjobsConfiguration.decode(Data(#"""
            {"model_directory": "/m", "database_path": "/db/jobs.sqlite3", "workers": 0, "precision": "slow",
             "log_level": "loud", "watch": [{"path": "/srv/a", "task": "captionn", "sidecar": "xml"},
                                            {"path": "/srv/b", "task": "vqa", "prompt": "?"}]}
            """#.utf8))
        let problems = configuration.validationProblems()
        #expect(problems.compactMap(\.keyPath)
                    == ["workers", "precision", "watch[0].task", "watch[0].sidecar", "log_level"])
        #expect(problems.allSatisfy { $0.code == .invalidValue })
        let task = try #require(problems.first { $0.keyPath == "watch[0].task" })
        #expect(task.message == "`captionn` is not a task; allowed: caption, vqa, ground, ground-caption, "
                    + "describe-box (did you mean `caption`?)")
        let sidecar = try #require(problems.first { $0.keyPath == "watch[0].sidecar" })
        #expect(sidecar.message.contains("allowed: none, txt, json"))
        #expect(problems.first { $0.keyPath == "log_level" }?.message.contains("is not a log level") == true)
        // The rest of the file was read: what `cogjobs check` needs for its other checks is there.
        #expect(configuration.modelDirectory == "/m")
        #expect(configuration.databasePath == "/db/jobs.sqlite3")
        #expect(configuration.watch.count == 2)
        #expect(configuration.watch[1].task == .vqa)
        #expect(#expect(throws: ConfigError.self) { try configuration.validate() }?.keyPath == "workers")
    }

    @Test("an unknown task that would need a prompt does not add a prompt problem")
    func rejectedTaskAlone() throws {
        let configuration = try CogjobsConfiguration.decode(Data(#"""
            {"model_directory": "/m", "watch": [{"path": "/srv/a", "task": "VQA"}]}
            """#.utf8))
        #expect(configuration.validationProblems().compactMap(\.keyPath) == ["watch[0].task"])
    }

    @Test("loading a file with an unknown enumeration value fails, naming the file and the key")
    func loadRejects() throws {
        let (folder, file) = try writeConfig(#"{"model_directory": "/m", "log_level": "loud"}"#)
        defer { try? FileManager.default.removeItem(at: folder) }  // temporary folder; best effort
        let error = #expect(throws: ConfigError.self) { try CogjobsConfiguration.load(file: file, environment: [:]) }
        #expect(error?.code == .invalidValue)
        #expect(error?.keyPath == "log_level")
        #expect(error?.file == file)
        // An override replaces the file's value, and with it the problem.
        let overridden = try CogjobsConfiguration.load(file: file, environment: ["COGJOBS_LOG_LEVEL": "debug"])
        #expect(overridden.logLevel == .debug)
    }

    @Test("setting a value in code replaces a rejected one")
    func settingClearsRejection() throws {
        var configuration = try CogjobsConfiguration.decode(Data(#"""
            {"model_directory": "/m", "log_level": "loud", "watch": [{"path": "/a", "task": "x", "sidecar": "y"}]}
            """#.utf8))
        #expect(configuration.validationProblems().count == 3)
        configuration.watch[0].task = .caption
        configuration.watch[0].sidecar = .txt
        configuration.logLevel = .info
        #expect(configuration.validationProblems().isEmpty)
    }

    @Test("log_level is case-insensitive in the file, as in COGJOBS_LOG_LEVEL", arguments: [
        ("CRITICAL", LogLevel.critical), ("Debug", .debug), ("warning", .warning), ("TrAcE", .trace),
    ])
    func logLevelCase(text: String, level: LogLevel) throws {
        let json = #"{"model_directory": "/m", "log_level": "\#(text)"}"#
        let configuration = try CogjobsConfiguration.decode(Data(json.utf8))
        #expect(configuration.logLevel == level)
        #expect(configuration.validationProblems().isEmpty)
        #expect(try ConfigOverrides.fromEnvironment(["COGJOBS_LOG_LEVEL": text]).logLevel == level)
        #expect(LogLevel(name: text) == level)
        #expect(try JSONDecoder().decode(LogLevel.self, from: Data("\"\(text)\"".utf8)) == level)
    }

    @Test("other enumerations stay exact: a task or sidecar in capitals is not allowed")
    func otherEnumerationsExact() throws {
        let configuration = try CogjobsConfiguration.decode(Data(#"""
            {"model_directory": "/m", "watch": [{"path": "/a", "task": "Caption", "sidecar": "JSON"}]}
            """#.utf8))
        #expect(configuration.validationProblems().compactMap(\.keyPath) == ["watch[0].task", "watch[0].sidecar"])
        #expect(LogLevel(name: "loud") == nil)
    }

    @Test("an unknown key's message is punctuated with and without a suggestion")
    func unknownKeyMessage() throws {
        let plain = try #require(decodeError(#"{"model_directory": "/m", "limits": {"bogus": 1}}"#))
        #expect(plain.keyPath == "limits.bogus")
        #expect(plain.message == "unknown key; allowed here: max_pixels, max_file_bytes")
        #expect(plain.description == "config.unknown_key: `limits.bogus`: unknown key; allowed here: max_pixels, "
                    + "max_file_bytes")
        let suggested = try #require(decodeError(#"{"model_directory": "/m", "limits": {"max_pixel": 1}}"#))
        #expect(suggested.message == "unknown key; did you mean `max_pixels`? Allowed here: max_pixels, max_file_bytes")
    }

    @Test("without a configuration file, an unset model directory says so instead of blaming the file")
    func withoutFile() throws {
        let path = "/etc/cogjobs/cogjobs.json"
        let defaults = CogjobsConfiguration.withoutFile(at: path)
        #expect(defaults.missingFile == path)
        let problems = defaults.validationProblems()
        #expect(problems.count == 1)
        let problem = try #require(problems.first)
        #expect(problem.code == .missingKey)
        #expect(problem.keyPath == "model_directory")
        #expect(problem.file == nil)
        #expect(problem.message == "no configuration file at /etc/cogjobs/cogjobs.json and no model directory; "
                    + "pass --config FILE, or --model DIR (or set COGJOBS_MODEL)")
        // Running with only overrides still works: a model directory from a flag or the environment.
        let flagged = defaults.applying(overrides: ConfigOverrides(modelDirectory: "/models/tiny"))
        #expect(flagged.validationProblems().isEmpty)
        #expect(try ConfigOverrides.fromEnvironment(["COGJOBS_MODEL": "/models/x"]).modelDirectory == "/models/x")
        let fromEnvironment = defaults.applying(overrides: try ConfigOverrides.fromEnvironment(["COGJOBS_MODEL": "/x"]))
        #expect(fromEnvironment.validationProblems().isEmpty)
        // Other values are still checked as usual.
        let badWorkers = defaults.applying(overrides: ConfigOverrides(modelDirectory: "/m", workers: 0))
        #expect(badWorkers.validationProblems().compactMap(\.keyPath) == ["workers"])
        // A file that sets an empty model directory is still blamed for it.
        let empty = try #require(try validationError(#"{"model_directory": ""}"#))
        #expect(empty.message == "must not be empty")
        #expect(CogjobsConfiguration(modelDirectory: "").missingFile == nil)
    }
}

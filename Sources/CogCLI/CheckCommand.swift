import ArgumentParser
import CogConfig
import CogDaemon
import CogJobStore
import CogTokenizer
import CogVLM
import CogWatcher
import CogWeights
import Foundation

/// `cogjobs check`: verifies the setup without running the model — the configuration (every
/// problem with its key), the job database (opens, schema version, integrity) and the model and
/// tokenizer directories (files present, readable and consistent with each other).
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the configuration, the job database and the model and tokenizer files.",
        discussion: """
            Lists every problem found, each with its code and the key, file or directory it concerns, and exits \
            with status 5 if there is any. Configuration: the file decodes strictly and every value is valid \
            (environment overrides and --model / --tokenizer / --database included). Database: it exists, opens, \
            is at this binary's schema version and passes PRAGMA quick_check. Model: config.json decodes, the \
            safetensors index and shard headers are readable, and every tensor matches the configuration (no \
            weights are computed with). Tokenizer: tokenizer.json or tokenizer.model loads and fits the model's \
            vocabulary.
            """)

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: ArgumentHelp("Model directory to check (overrides model_directory).",
                                            valueName: "directory"),
            completion: .directory)
    var model: String?

    @Option(name: .long, help: ArgumentHelp("Tokenizer directory to check (overrides tokenizer_directory).",
                                            valueName: "directory"),
            completion: .directory)
    var tokenizer: String?

    @Flag(name: .long, help: "Print JSON (fields in docs/cli.md).")
    var json = false

    func run() throws {
        try reportingFailures {
            let context = CommandContext.current
            var report = CheckReport()
            let configuration = checkConfiguration(&report, context: context)
            checkDatabase(&report, configuration: configuration, context: context)
            let modelConfiguration = checkModel(&report, directory: configuration.modelDirectory,
                                                fileUnusable: configuration.fileUnusable)
            checkTokenizer(&report, directory: configuration.tokenizerDirectory, model: modelConfiguration,
                           fileUnusable: configuration.fileUnusable)
            if json {
                context.write(try JSONOutput.document(report))
            } else {
                context.write(report.rendered())
            }
            if report.problemCount > 0 { throw CheckFailure(problemCount: report.problemCount) }
        }
    }

    // MARK: Configuration

    /// What the later checks need from the configuration step.
    struct Resolved {
        var decoded: CogjobsConfiguration?
        var modelDirectory: String?
        var tokenizerDirectory: String?
        /// The configuration file exists (or was named) but could not be decoded: paths it would
        /// give are unknown, so the checks that need them are skipped rather than failed.
        var fileUnusable = false
    }

    private func checkConfiguration(_ report: inout CheckReport, context: CommandContext) -> Resolved {
        let file = store.configurationFile(environment: context.environment)
        let area = "configuration"
        report.begin(area, file.path)
        var flags = ConfigOverrides(databasePath: store.database.map(absolute), modelDirectory: model.map(absolute),
                                    tokenizerDirectory: tokenizer.map(absolute))
        if store.database != nil { flags.origins["database_path"] = "--database" }
        if model != nil { flags.origins["model_directory"] = "--model" }
        if tokenizer != nil { flags.origins["tokenizer_directory"] = "--tokenizer" }
        var environment = ConfigOverrides()
        do {
            environment = try ConfigOverrides.fromEnvironment(context.environment)
        } catch {
            report.problem(area, error)
        }
        var decoded: CogjobsConfiguration? = nil
        let fileExists = file.named || FileManager.default.fileExists(atPath: file.path)
        if !fileExists {
            // The default file is optional (as for every verb): check the defaults with the
            // environment and the flags applied.
            decoded = CogjobsConfiguration.withoutFile(at: file.path)
            report.ok(area, "no configuration file (optional at \(file.path)): the defaults, the COGJOBS_* "
                      + "environment and the flags apply")
        } else {
            do {
                decoded = try CogjobsConfiguration.decodeFile(at: file.path)
            } catch {
                report.problem(area, error, path: file.path)
            }
        }
        guard let decoded else {
            // Without a usable file, check what the flags and environment name.
            let modelDirectory = flags.modelDirectory ?? environment.modelDirectory
            return Resolved(decoded: nil, modelDirectory: modelDirectory,
                            tokenizerDirectory: flags.tokenizerDirectory ?? environment.tokenizerDirectory
                                ?? modelDirectory, fileUnusable: true)
        }
        let effective = decoded.applying(overrides: environment).applying(overrides: flags)
        let problems = effective.validationProblems()
        for var problem in problems {
            if let key = problem.keyPath { problem.origin = flags.origins[key] ?? environment.origins[key] }
            if problem.origin == nil {
                // A value from the file, or a default because there is no file: blame the file only if it exists.
                if fileExists {
                    problem.file = file.path
                } else if problem.code != .missingKey {  // a missing key's message already says there is no file
                    problem.origin = "the defaults: there is no configuration file at \(file.path)"
                }
            }
            report.problem(area, code: problem.code.rawValue, key: problem.keyPath, path: problem.file,
                           message: problem.description)
        }
        // The daemon refuses to start on a watched folder that is not there (after loading the model).
        for (index, folder) in effective.watch.enumerated() {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) {
                report.problem(area, code: WatcherError.Code.rootMissing.rawValue, key: "watch[\(index)].path",
                               path: folder.path,
                               message: "`watch[\(index)].path`: the watched folder \(folder.path) does not exist; "
                                   + "create it or fix the path (the daemon would not start)")
            } else if !isDirectory.boolValue {
                report.problem(area, code: WatcherError.Code.notADirectory.rawValue, key: "watch[\(index)].path",
                               path: folder.path,
                               message: "`watch[\(index)].path`: \(folder.path) is not a folder; "
                                   + "fix the path (the daemon would not start)")
            }
        }
        do {
            try CogjobsDaemon.checkWatchPrompts(effective.watch)
        } catch {
            let key = error.subject ?? "watch"
            report.problem(area, code: ConfigError.Code.invalidValue.rawValue, key: key, path: nil,
                           message: "`\(key)`: \(error.message) (the daemon would not start)")
        }
        let summary = "(\(TextFormat.count(effective.watch.count, "watched folder")), "
            + "\(TextFormat.count(effective.workers, "worker")))"
        let decodedWord = fileExists ? "decoded; " : ""
        if !report.hasProblem(in: area) {
            report.ok(area, "\(decodedWord)every value is valid \(summary)")
        } else if problems.isEmpty {
            report.ok(area, "\(decodedWord)the other values are valid \(summary)")
        }
        return Resolved(decoded: decoded, modelDirectory: effective.modelDirectory.isEmpty ? nil : effective.modelDirectory,
                        tokenizerDirectory: effective.effectiveTokenizerDirectory.isEmpty ? nil
                            : effective.effectiveTokenizerDirectory)
    }

    // MARK: Database

    private func checkDatabase(_ report: inout CheckReport, configuration: Resolved, context: CommandContext) {
        let area = "database"
        let location: StoreOptions.DatabaseLocation
        let storeConfiguration: JobStore.Configuration
        do {
            location = try store.databaseLocation(environment: context.environment) { _ in configuration.decoded }
            storeConfiguration = try store.storeConfiguration(.existing)
        } catch {
            report.begin(area, "?")
            report.problem(area, error)
            return
        }
        if configuration.fileUnusable && location.source == "default" {
            report.begin(area, "?")
            report.skipped(area, "the database path comes from the configuration file, which could not be read "
                           + "(see above); fix it, or pass --database")
            return
        }
        report.begin(area, location.path, source: location.source)
        do {
            let jobStore = try JobStore(path: location.path, configuration: storeConfiguration)
            let version = try jobStore.query("SELECT max(version) FROM schema_migrations").first?.first?.int64 ?? 0
            try jobStore.quickCheck()
            let jobs = try jobStore.stateCounts().values.reduce(0, +)
            report.ok(area, "opens; schema version \(version) (this cogjobs knows up to \(Migrator().latestVersion)); "
                      + "quick_check ok; \(jobs) jobs")
        } catch {
            report.problem(area, error, path: location.path)
        }
    }

    // MARK: Model

    private func checkModel(_ report: inout CheckReport, directory: String?, fileUnusable: Bool) -> CogVLMConfiguration? {
        let area = "model"
        guard let directory else {
            report.begin(area, "?")
            if fileUnusable {
                report.skipped(area, "the model directory comes from the configuration file, which could not be "
                               + "read (see above); fix it, or pass --model")
                return nil
            }
            report.problem(area, code: "check.model_directory_unset", key: "model_directory", path: nil,
                           message: "no model directory to check: set model_directory in the configuration, "
                               + "COGJOBS_MODEL, or pass --model")
            return nil
        }
        report.begin(area, directory)
        let url = URL(fileURLWithPath: directory, isDirectory: true)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            report.problem(area, code: WeightsError.Code.missingFile.rawValue, key: "model_directory", path: directory,
                           message: "the model directory \(directory) does not exist (or is not a directory); "
                               + "download the model there or fix model_directory")
            return nil
        }
        let configURL = url.appendingPathComponent("config.json")
        guard FileManager.default.isReadableFile(atPath: configURL.path) else {
            report.problem(area, code: WeightsError.Code.missingFile.rawValue, key: nil, path: configURL.path,
                           message: "\(configURL.path) is missing or unreadable; the model directory needs the "
                               + "model's config.json")
            return nil
        }
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint(directory: url)
        } catch {
            report.problem(area, error, path: directory)
            return nil
        }
        let version = CogVLMVersion.of(checkpoint)
        let config: CogVLMConfiguration
        do {
            config = try CogVLMConfiguration.load(from: configURL, version: version)
        } catch {
            report.problem(area, error, path: configURL.path)
            return nil
        }
        report.ok(area, "config.json: CogVLM \(version.rawValue), \(config.numHiddenLayers) language layers "
                  + "(hidden \(config.hiddenSize)), \(config.vision.numHiddenLayers) vision layers, image "
                  + "\(config.vision.imageSize) px, vocabulary \(config.vocabSize)")
        do {
            _ = try CogVLMWeights.bind(checkpoint, config: config)
            report.ok(area, "weights: \(checkpoint.shards.count) safetensors files, \(checkpoint.tensors.count) "
                      + "tensors (\(TextFormat.bytes(checkpoint.totalTensorBytes))), each matching the configuration")
        } catch {
            report.problem(area, error, path: directory)
        }
        return config
    }

    // MARK: Tokenizer

    private func checkTokenizer(_ report: inout CheckReport, directory: String?, model: CogVLMConfiguration?,
                                fileUnusable: Bool) {
        let area = "tokenizer"
        guard let directory else {
            report.begin(area, "?")
            if fileUnusable {
                report.skipped(area, "the tokenizer directory comes from the configuration file, which could not be "
                               + "read (see above); fix it, or pass --tokenizer")
                return
            }
            report.problem(area, code: "check.tokenizer_directory_unset", key: "tokenizer_directory", path: nil,
                           message: "no tokenizer directory to check: set tokenizer_directory (or model_directory) "
                               + "in the configuration, COGJOBS_TOKENIZER, or pass --tokenizer")
            return
        }
        report.begin(area, directory)
        let loaded: Tokenizer
        do {
            loaded = try Tokenizer.load(directory: URL(fileURLWithPath: directory, isDirectory: true))
        } catch {
            report.problem(area, error, path: directory)
            return
        }
        let files = ["tokenizer.json", "tokenizer.model"].filter {
            FileManager.default.fileExists(atPath: directory + "/" + $0)
        }
        if let model, let reason = loaded.mismatch(modelVocabularySize: model.vocabSize, modelBOS: model.bosTokenID) {
            report.problem(area, code: "check.vocabulary_mismatch", key: "tokenizer_directory", path: directory,
                           message: "\(reason): it is not this model's tokenizer")
            return
        }
        report.ok(area, "loads (\(files.joined(separator: ", "))): \(loaded.vocabularySize) tokens"
                  + (model.map { ", fits the model's vocabulary of \($0.vocabSize) and its BOS id \($0.bosTokenID)" } ?? ""))
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: path).standardizedFileURL.path
    }
}

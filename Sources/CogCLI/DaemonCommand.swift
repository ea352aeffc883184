import ArgumentParser
import CogConfig
import CogDaemon

/// `cogjobs daemon`: the job runner systemd starts (see `CogjobsDaemon` for what it does).
struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Run the job runner: workers sharing one loaded model, watched folders, systemd notification.",
        discussion: """
            Reads the configuration file (--config, else $COGJOBS_CONFIG, else /etc/cogjobs/cogjobs.json), then \
            the COGJOBS_* environment overrides, then the flags below. Opens and migrates the job database, \
            rescues jobs left running by a dead daemon, loads the model once, starts the workers and the \
            folder watchers, scans the folders for files that arrived while stopped, and tells systemd \
            READY=1 (Type=notify). Logs go to stderr (journald).

            Signals: SIGTERM or SIGINT stop claiming, let running jobs finish for shutdown_drain_seconds, \
            requeue the rest without counting the attempt, and exit 0. SIGHUP reloads the configuration \
            (watched folders and generation defaults); an invalid file is logged and the old configuration kept.

            Exit status: 0 after a graceful shutdown; 64 a wrong command line (an unknown option, or an option \
            value that is not allowed: --workers 0, --log-level loud); 78 invalid configuration from the file or \
            the environment (the message names the key); 74 the job database cannot be opened, migrated or \
            checked; 66 the model or tokenizer cannot be loaded; 70 anything else (a folder cannot be watched, \
            a service failed).
            """
    )

    @Option(name: .long, help: "Configuration file.")
    var config: String?

    @Option(name: .long, help: "Override `database_path`.")
    var database: String?

    @Option(name: .long, help: "Override `model_directory`.")
    var model: String?

    @Option(name: .long, help: "Override `tokenizer_directory`.")
    var tokenizer: String?

    @Option(name: .long, help: "Override `workers`.")
    var workers: Int?

    @Option(name: .long, help: "Override `blas_threads` (compute threads per worker).")
    var blasThreads: Int?

    @Option(name: .long, help: "Override `log_level` (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String?

    func validate() throws {
        if let logLevel, LogLevel(name: logLevel) == nil {
            let levels = LogLevel.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--log-level must be one of \(levels)")
        }
        // Numbers are checked by the configuration's own rules. From the command line a bad value is a
        // usage error (64), like any other malformed option; from the file or the environment it stays
        // a configuration error (78).
        let flagged = CogjobsConfiguration(modelDirectory: "/")
            .applying(overrides: ConfigOverrides(workers: workers, blasThreads: blasThreads))
        let flags = ["workers": "--workers", "blas_threads": "--blas-threads"]
        for problem in flagged.validationProblems() {
            if let key = problem.keyPath, let flag = flags[key] { throw ValidationError("\(flag) \(problem.message)") }
        }
    }

    func run() async throws {
        var overrides = ConfigOverrides(databasePath: database, modelDirectory: model, tokenizerDirectory: tokenizer,
                                        workers: workers, blasThreads: blasThreads,
                                        logLevel: logLevel.flatMap(LogLevel.init(name:)))
        let given: [(flag: String, key: String, isSet: Bool)] = [
            ("--database", "database_path", database != nil), ("--model", "model_directory", model != nil),
            ("--tokenizer", "tokenizer_directory", tokenizer != nil), ("--workers", "workers", workers != nil),
            ("--blas-threads", "blas_threads", blasThreads != nil), ("--log-level", "log_level", logLevel != nil),
        ]
        for option in given where option.isSet { overrides.origins[option.key] = option.flag }
        let status = await CogjobsDaemon.main(options: DaemonOptions(configFile: config, overrides: overrides))
        if status != 0 { throw ExitCode(status) }
    }
}

import CogConfig
import CogJobStore
import CogPipeline
import CogScheduler
import CogTensor
import CogWeights
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// How the daemon is started: where its configuration comes from.
public struct DaemonOptions: Sendable {
    /// The configuration file; nil = `COGJOBS_CONFIG` or `/etc/cogjobs/cogjobs.json`.
    public var configFile: String?
    /// The environment (for `COGJOBS_*` overrides and test switches).
    public var environment: [String: String]
    /// Command-line overrides (flags win over the environment and the file).
    public var overrides: ConfigOverrides
    /// How often `STATUS=` is sent.
    public var statusInterval: Duration

    public init(configFile: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                overrides: ConfigOverrides = ConfigOverrides(), statusInterval: Duration = .seconds(2)) {
        self.configFile = configFile
        self.environment = environment
        self.overrides = overrides
        self.statusInterval = statusInterval
    }

    /// Loads and validates the configuration as the daemon does (also on SIGHUP).
    public func loadConfiguration() throws(DaemonError) -> CogjobsConfiguration {
        do {
            return try CogjobsConfiguration.load(file: configFile, environment: environment, flags: overrides)
        } catch {
            // `message` is the configuration error whole (its code, file and key); `subject` lets
            // callers name the key.
            throw DaemonError(code: .invalidConfiguration, message: error.description, subject: error.keyPath)
        }
    }
}

/// The `cogjobs daemon` process: composition of the job store, the model, the worker pool, the
/// watched folders and systemd notification.
///
/// Start-up, in order (any failure stops the daemon with a `DaemonError` and its exit status
/// before systemd hears `READY=1`):
/// 1. load and validate the configuration (an invalid key, or a watched folder that does not
///    exist → exit 78, the message names the key);
/// 2. open the job database, apply migrations, `PRAGMA quick_check`, and rescue orphans: every
///    `running` job whose owner process is gone (same host, dead pid or other boot) is put back
///    (or failed / quarantined, see `JobStore.rescueOrphans`) at once;
/// 3. load the model and tokenizer once (`EXTEND_TIMEOUT_USEC` every 10 s while loading);
/// 4. start the worker pool (N workers sharing the model; `workers × BLAS threads ≤ cores`);
/// 5. watch the configured folders, then scan them for files that arrived while stopped;
/// 6. `READY=1`.
/// Then a `ServiceGroup` runs, in this order: worker pool, folder intake, SIGHUP reload, database
/// file guard, status reporter. SIGTERM/SIGINT shut it down in reverse: `STOPPING=1`, stop
/// reloading, stop watching, drain the workers (`shutdown_drain_seconds`), checkpoint the WAL,
/// exit 0. The guard stops it the same way, with exit 74, when the database path no longer names
/// the file the daemon opened (deleted or replaced) or SQLite reports it corrupt. Both signals are
/// trapped from the first instruction on, so one that arrives during start-up is served right
/// after it (no window in which it would kill the process).
///
/// SIGHUP re-reads the same file with the same overrides. A valid configuration replaces the
/// watched folders (`watch`) and the generation defaults for new jobs; other keys (workers,
/// model, database, limits) take effect at the next start and a notice says so. An invalid one is
/// rejected with an error naming the key, and the old configuration stays in force.
public enum CogjobsDaemon {
    /// The whole `cogjobs daemon` process: validates the configuration, sets up logging (one line
    /// per event on stderr, which journald captures; level from `log_level`), runs the daemon and
    /// returns the exit status: 0 after a graceful shutdown, else `DaemonError.exitCode` (78 for an
    /// invalid configuration, 74 for the database, 66 for the model, 70 otherwise).
    public static func main(options: DaemonOptions) async -> Int32 {
        let configuration: CogjobsConfiguration
        do {
            configuration = try options.loadConfiguration()
        } catch {
            // The configuration error carries its own code, file and key (`config.*`); the wrapping
            // daemon code would only repeat them. Printed as every CLI error is: `Error: <code>: …`.
            let text = error.code == .invalidConfiguration ? error.message : error.description
            FileHandle.standardError.write(Data("Error: \(text)\n".utf8))
            return error.exitCode
        }
        let level = Logger.Level(rawValue: configuration.logLevel.rawValue) ?? .info
        LoggingSystem.bootstrap { label in OneLineLogHandler(label: label, level: level) }
        var logger = Logger(label: "cogjobs")
        logger.logLevel = level
        do {
            try await run(options: options, logger: logger)
            return 0
        } catch {
            logger.critical("cannot run: \(error)")
            return error.exitCode
        }
    }

    /// A `describe-box` watched folder's prompt must be a box (`FolderIntake.checkPrompts`); also
    /// what `cogjobs check` runs, so that it passes no configuration the daemon refuses.
    public static func checkWatchPrompts(_ folders: [WatchedFolder]) throws(DaemonError) {
        try FolderIntake.checkPrompts(folders)
    }

    /// Every watched folder must exist at start (the watcher refuses a missing root): checked
    /// before the database and the model, so the error is a configuration error naming the key
    /// (exit 78), not a start-up failure after minutes of loading.
    static func requireWatchedFolders(_ configuration: CogjobsConfiguration) throws(DaemonError) {
        for (index, folder) in configuration.watch.enumerated() {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw DaemonError(code: .invalidConfiguration,
                                  message: "\(folder.path) is not an existing folder; create it "
                                      + "(systemd/cogjobs.tmpfiles.conf creates the example's) or fix the path",
                                  subject: "watch[\(index)].path")
            }
        }
    }

    /// Runs the daemon until it is told to stop. Returns normally after a graceful shutdown.
    public static func run(options: DaemonOptions, logger: Logger) async throws(DaemonError) {
        // Trap SIGTERM/SIGINT first: a stop request during start-up is then queued (and served as a
        // graceful shutdown as soon as the services run) instead of killing the process outright.
        let terminations = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let switches = try TestSwitches.from(environment: options.environment)
        if !switches.activeVariables.isEmpty {
            logger.warning("TEST-ONLY switches are set: \(switches.activeVariables.joined(separator: ", "))")
        }
        let configuration = try options.loadConfiguration()
        try requireWatchedFolders(configuration)
        try FolderIntake.checkPrompts(configuration.watch)  // before the database and the model
        let notifier = SystemdNotifier()
        let crash = CrashInjector(switches: switches)  // before any database connection opens
        let startup = Task { await keepStartAlive(notifier, logger: logger) }
        defer { startup.cancel() }
        let io = BlockingQueue(label: "cogjobs.startup")

        // 2. Database.
        status(notifier, "opening the job database", logger)
        let (store, intakeStore) = try await openDatabase(configuration, io: io, logger: logger)
        guard let databaseFile = FileIdentity.of(path: configuration.databasePath) else {
            throw DaemonError(code: .database, message: "the job database disappeared right after it was opened",
                              subject: configuration.databasePath)
        }
        let databaseGuard = DatabaseFileGuard(path: configuration.databasePath, opened: databaseFile, logger: logger)

        // 3. Model.
        let modelDirectory = URL(fileURLWithPath: configuration.modelDirectory, isDirectory: true)
        let identity = try ModelIdentity.of(directory: modelDirectory)
        let loader = JobImageLoader(limits: configuration.limits)
        let budget = ThreadBudget(workers: configuration.workers,
                                  requestedThreadsPerWorker: configuration.effectiveBLASThreads(),
                                  cores: ProcessInfo.processInfo.activeProcessorCount)
        if budget.wasReduced || budget.isOversubscribed { logger.warning("thread budget: \(budget)") }
        let executor: any JobExecutor
        var decodeBatcher: DecodeBatcher? = nil
        if switches.useEchoExecutor {
            logger.warning("TEST-ONLY echo executor: jobs are echoed, the model is not loaded")
            executor = EchoJobExecutor(imageLoader: loader, tokens: switches.echoTokens,
                                       tokenMilliseconds: switches.echoTokenMilliseconds,
                                       stallMilliseconds: switches.echoStallMilliseconds,
                                       modelIdentity: "test-echo/" + identity)
        } else {
            status(notifier, "loading the model \(identity)", logger)
            let started = ContinuousClock.now
            let engine = try await loadEngine(configuration, io: io)
            BLAS.setThreads(budget.threadsPerWorker)
            let precision = engine.precision.rawValue + (configuration.precision == "auto" ? " (auto)" : "")
            logger.info("loaded \(identity) in \(started.duration(to: .now)) (\(engine.model.config.version.rawValue), precision \(precision))")
            if engine.precision == .exact, let format = engine.quantizedFormat {
                // Exact arithmetic on quantized weights buys nothing the quantization has not already
                // changed, and costs the sgemm prefill and an f32 KV cache.
                let advice = "precision is exact but the model is block-quantized (language \(format)): prefill "
                    + "runs f32 sgemm on dequantized tiles and the KV cache is f32 (CogVLM-17B q4 here: prefill "
                    + "134 s instead of 27 s, decode 3.4 instead of 5.2 tok/s, twice the KV memory), while "
                    + "the quantization already moves the results more than `fast` does; set \"precision\": "
                    + "\"fast\" (or \"auto\", the default) in the configuration for this model"
                logger.notice("\(advice)")
            }
            if configuration.batchDecode {
                // A step runs on the threads of the workers waiting for it: up to all workers' threads,
                // but never more than the cores (more workers than cores: one thread each already
                // oversubscribes, and a step's thread team must not).
                decodeBatcher = DecodeBatcher(model: engine.model, precision: engine.precision,
                                              threadsPerSequence: budget.threadsPerWorker,
                                              maxThreads: min(budget.workers * budget.threadsPerWorker, budget.cores))
            }
            logger.info("batched decode: \(decodeBatcher == nil ? "off (each worker decodes alone)" : "on")")
            executor = ModelJobExecutor(engine: engine, modelIdentity: identity, imageLoader: loader,
                                        decodeBatcher: decodeBatcher)
        }

        // 4. Workers.
        let settings = DaemonSettings(configuration)
        let waitingCopies = WaitingCopies()
        let events = JobEventHandler(logger: logger, settings: settings, crash: crash, store: intakeStore,
                                     modelIdentity: identity, waitingCopies: waitingCopies,
                                     databaseGuard: databaseGuard)
        var poolConfiguration = WorkerPool.Configuration(workers: configuration.workers,
                                                         threadsPerWorker: configuration.effectiveBLASThreads())
        poolConfiguration.leaseDuration = configuration.leaseDuration
        let pool = WorkerPool(store: store, executor: executor, configuration: poolConfiguration,
                              onEvent: { events.handle($0) })
        do {
            try pool.start()
        } catch {
            throw DaemonError(code: .startFailed, message: error.message, cause: error.code.rawValue)
        }
        logger.info("started \(budget)")

        // 5. Watched folders (after the pool, so the backlog starts running at once).
        let intake = FolderIntake(store: intakeStore, intake: ImageIntake(model: identity), settings: settings,
                                  logger: logger, waitingCopies: waitingCopies, wakeWorkers: { pool.wake() },
                                  onDatabaseError: { databaseGuard.reportCorruption($0) })
        do {
            try await intake.start()
        } catch {
            await pool.drain(budget: .zero)
            throw error
        }

        // 6. Ready.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        startup.cancel()
        send(notifier, logger, "READY=1") { try notifier.ready() }
        let line = "ready: \(configuration.workers) worker(s), model \(identity), "
            + "database \(configuration.databasePath)"
        logger.notice("\(line)")

        let reload = ReloadService(signals: hangups) {
            await reloadConfiguration(options: options, settings: settings, intake: intake, notifier: notifier,
                                      logger: logger)
        }
        let services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: WorkerPoolService(pool: pool, drainBudget: configuration.shutdownDrain, notifier: notifier,
                                             logger: logger)),
            .init(service: intake),
            .init(service: reload),
            .init(service: databaseGuard),
            .init(service: StatusReporter(notifier: notifier, pool: pool, store: intakeStore,
                                          statusInterval: options.statusInterval, logger: logger)),
        ]
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownDrain + .seconds(30)
        let group = ServiceGroup(configuration: groupConfiguration)
        let stopRequests = Task {
            // One stop request may arrive as several signals (`timeout` and `kill` of the process group
            // both signal the daemon): the first starts the shutdown, the others change nothing.
            var stopping = false
            for await signal in terminations {
                if stopping {
                    logger.debug("received \(signal) again: already shutting down")
                    continue
                }
                stopping = true
                logger.notice("received \(signal): shutting down")
                await group.triggerGracefulShutdown()
            }
        }
        defer { stopRequests.cancel() }
        do {
            try await group.run()
        } catch {
            if let error = error as? DaemonError {  // the database guard's reason, exit 74
                logger.critical("stopping: \(error.detail)")
                await pool.drain(budget: configuration.shutdownDrain)
                DatabaseFileGuard.keepOpen([store, intakeStore])
                throw error
            }
            await pool.drain(budget: configuration.shutdownDrain)
            logger.error("a service failed: \(error)")
            throw DaemonError(code: .startFailed, message: "the daemon stopped because a service failed",
                              cause: "\(error)")
        }
        if let stats = decodeBatcher?.statistics, stats.steps > 0 {
            let line = "batched decode: \(stats.tokens) token(s) in \(stats.steps) step(s), "
                + String(format: "%.2f", stats.averageBatch) + " per step on average, at most \(stats.largestBatch)"
            logger.info("\(line)")
        }
        do {
            try store.checkpoint()
        } catch {
            logger.warning("final WAL checkpoint failed (harmless; SQLite checkpoints at the next start): \(error)")
        }
        logger.notice("stopped")
    }

    // MARK: Start-up steps

    private static func openDatabase(_ configuration: CogjobsConfiguration, io: BlockingQueue,
                                     logger: Logger) async throws(DaemonError) -> (JobStore, JobStore) {
        var settings = JobStore.Configuration()
        settings.defaultMaxAttempts = configuration.maxAttempts
        settings.retryPolicy = RetryPolicy(baseSeconds: configuration.retryBaseDelaySeconds)
        let storeConfiguration = settings
        let path = configuration.databasePath
        let opened = await io.run { () -> Result<(JobStore, JobStore, RescueReport), JobStoreError> in
            do {
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                        withIntermediateDirectories: true)
            } catch {
                return .failure(JobStoreError(code: .openFailed, message: "cannot create the database's folder: "
                                                  + "\(error.localizedDescription)", databasePath: path))
            }
            do {
                let store = try JobStore(path: path, configuration: storeConfiguration)
                try store.quickCheck()
                let intakeStore = try JobStore(path: path, configuration: storeConfiguration)
                let report = try store.rescueOrphans()
                return .success((store, intakeStore, report))
            } catch let error as JobStoreError {
                return .failure(error)
            } catch {
                return .failure(JobStoreError(code: .sqlite, message: "\(error)", databasePath: path))
            }
        }
        switch opened {
        case .success(let (store, intakeStore, report)):
            if !report.changed.isEmpty || !report.untouched.isEmpty {
                let summary = "rescued orphaned jobs: requeued \(report.requeued), failed \(report.failed), "
                    + "quarantined \(report.quarantined), cancelled \(report.cancelled); "
                    + "left running under a live owner: \(report.untouched)"
                logger.notice("\(summary)")
            }
            return (store, intakeStore)
        case .failure(let error):
            throw DaemonError(code: .database, message: error.message, subject: path, cause: error.code.rawValue)
        }
    }

    private static func loadEngine(_ configuration: CogjobsConfiguration,
                                   io: BlockingQueue) async throws(DaemonError) -> InferenceEngine {
        let model = URL(fileURLWithPath: configuration.modelDirectory, isDirectory: true)
        let tokenizer = configuration.tokenizerDirectory.map { URL(fileURLWithPath: $0, isDirectory: true) }
        let result = await io.run { () -> Result<InferenceEngine, any Error> in
            Result {
                try InferenceEngine.load(modelDirectory: model, tokenizerDirectory: tokenizer,
                                         prefixCacheBytes: configuration.prefixCacheMB << 20,
                                         precision: MatmulPrecision(rawValue: configuration.precision))  // "auto": nil
            }
        }
        switch result {
        case .success(let engine): return engine
        case .failure(let error):
            throw DaemonError(code: .modelLoad, message: "cannot load the model or its tokenizer: \(error)",
                              subject: configuration.modelDirectory)
        }
    }

    /// Asks systemd for more start-up time every 10 s until cancelled (model loads can be long).
    private static func keepStartAlive(_ notifier: SystemdNotifier, logger: Logger) async {
        while !Task.isCancelled {
            send(notifier, logger, "EXTEND_TIMEOUT_USEC") { try notifier.extendTimeout(by: .seconds(30)) }
            try? await Task.sleep(for: .seconds(10))  // cancellation ends the wait; the loop then stops
        }
    }

    // MARK: Reload

    static func reloadConfiguration(options: DaemonOptions, settings: DaemonSettings, intake: FolderIntake,
                                    notifier: SystemdNotifier, logger: Logger) async {
        send(notifier, logger, "RELOADING=1") { try notifier.reloading() }
        defer { send(notifier, logger, "READY=1") { try notifier.ready() } }
        logger.notice("SIGHUP: reloading the configuration")
        let old = settings.current
        let new: CogjobsConfiguration
        do {
            new = try options.loadConfiguration()
        } catch {
            logger.error("reload rejected, keeping the old configuration: \(error)")
            return
        }
        do {
            try await intake.apply(new)
        } catch {
            logger.error("reload rejected, keeping the old configuration: \(error)")
            return
        }
        settings.replace(with: new)
        let waiting = changedKeys(old, new).filter { $0 != "watch" && $0 != "generation" }
        if !waiting.isEmpty {
            let keys = waiting.map { "`\($0)`" }.joined(separator: ", ")
            let line = "reload applied to `watch` and `generation`; \(keys) changed and take(s) effect only after a "
                + "restart (until then this daemon keeps the old values, while the CLI reads the new file)"
            logger.warning("\(line)")
        } else {
            logger.notice("reload applied")
        }
    }

    /// The top-level configuration keys whose values differ between `a` and `b` (as encoded).
    static func changedKeys(_ a: CogjobsConfiguration, _ b: CogjobsConfiguration) -> [String] {
        func object(_ configuration: CogjobsConfiguration) -> [String: Any] {
            // Encoding a decoded configuration cannot fail; an empty object would only hide names.
            guard let data = try? JSONEncoder().encode(configuration),
                  let value = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
            return value
        }
        /// One value as sorted-key JSON bytes, for comparison.
        func canonical(_ value: Any) -> Data? { try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]) }
        let (x, y) = (object(a), object(b))
        let keys = (x.keys.map { $0 } + y.keys.filter { x[$0] == nil }).sorted()
        return keys.filter { key in
            switch (x[key], y[key]) {
            case (nil, nil): return false
            case (let p?, let q?): return canonical(p) != canonical(q)
            default: return true
            }
        }
    }

    // MARK: Helpers

    private static func status(_ notifier: SystemdNotifier, _ text: String, _ logger: Logger) {
        logger.info("\(text)")
        send(notifier, logger, "STATUS") { try notifier.status(text) }
    }

    private static func send(_ notifier: SystemdNotifier, _ logger: Logger, _ what: String,
                             _ body: () throws -> Void) {
        do {
            try body()
        } catch {
            logger.warning("cannot send \(what) to systemd: \(error)")
        }
    }
}

import ArgumentParser
import CogConfig
import CogJobStore
import Foundation

/// `--config FILE`, `--database PATH` and `--busy-timeout SECONDS`: how every command that touches
/// the job database finds and opens it. Pull it into a command with `@OptionGroup var store: StoreOptions`.
///
/// The database path is the first of:
/// 1. `--database PATH`;
/// 2. the environment variable `COGJOBS_DATABASE`;
/// 3. `database_path` of the configuration file: `--config FILE`, else `COGJOBS_CONFIG`, else
///    `/etc/cogjobs/cogjobs.json` when that file exists (a file named by `--config` or
///    `COGJOBS_CONFIG` must exist and decode);
/// 4. `/var/lib/cogjobs/jobs.sqlite3`.
///
/// The busy timeout (how long to wait for another process's write lock before failing with exit
/// status 3) is `--busy-timeout`, else `COGJOBS_BUSY_TIMEOUT`, else 5 seconds.
struct StoreOptions: ParsableArguments {
    /// Environment variable naming the database (the same one the daemon's configuration honours).
    static let databaseVariable = "COGJOBS_DATABASE"
    /// Environment variable with the busy timeout in seconds.
    static let busyTimeoutVariable = "COGJOBS_BUSY_TIMEOUT"
    /// Busy timeout when neither the flag nor the environment sets one.
    static let defaultBusyTimeoutSeconds = 5.0

    @Option(name: .long,
            help: ArgumentHelp("Configuration file (default: $COGJOBS_CONFIG, else /etc/cogjobs/cogjobs.json "
                                   + "when it exists).", valueName: "file"),
            completion: .file(extensions: ["json"]))
    var config: String?

    @Option(name: .long,
            help: ArgumentHelp("Job database (default: $COGJOBS_DATABASE, else the configuration's "
                                   + "database_path, else \(ConfigDefaults.databasePath)).", valueName: "path"),
            completion: .file())
    var database: String?

    @Option(name: .long,
            help: ArgumentHelp("Seconds to wait for another process's lock before giving up with exit status 3 "
                                   + "(default: $COGJOBS_BUSY_TIMEOUT, else 5).", valueName: "seconds"))
    var busyTimeout: Double?

    init() {}

    func validate() throws {
        if let busyTimeout, !(busyTimeout.isFinite && busyTimeout >= 0) {
            throw ValidationError("--busy-timeout must be a number of seconds, 0 or more")
        }
    }

    // MARK: Resolution

    /// A database path and where it came from (for messages such as "database X (from --database)").
    struct DatabaseLocation: Sendable, Equatable {
        var path: String
        /// `--database`, `environment variable COGJOBS_DATABASE`, `configuration file F` or `default`.
        var source: String
    }

    /// The configuration file to read and whether the user named it (`--config`, `COGJOBS_CONFIG`);
    /// an unnamed default that does not exist is simply skipped.
    func configurationFile(environment: [String: String]) -> (path: String, named: Bool) {
        if let config { return (absolute(config), true) }
        if let path = environment["COGJOBS_CONFIG"], !path.isEmpty { return (absolute(path), true) }
        return (ConfigDefaults.configPath, false)
    }

    /// The database path, resolved as described on the type. Reads the configuration file only
    /// when neither `--database` nor `COGJOBS_DATABASE` is set.
    ///
    /// - Throws: `ConfigError` when a configuration file must be read and cannot be decoded.
    func databaseLocation(environment: [String: String]) throws -> DatabaseLocation {
        try databaseLocation(environment: environment) { path in try CogjobsConfiguration.decodeFile(at: path) }
    }

    /// As `databaseLocation(environment:)`, with the configuration file read by `readConfiguration`
    /// (`check` passes what it already decoded; `nil` means "no usable file").
    func databaseLocation(environment: [String: String],
                          readConfiguration: (String) throws -> CogjobsConfiguration?) throws -> DatabaseLocation {
        let file = configurationFile(environment: environment)
        // A file named by --config / COGJOBS_CONFIG must exist and decode even when the database
        // path comes from elsewhere: a typo in its name must not go unnoticed.
        let named = file.named ? try readConfiguration(file.path) : nil
        if let database { return DatabaseLocation(path: absolute(database), source: "--database") }
        if let path = environment[Self.databaseVariable]?.trimmingCharacters(in: .whitespaces), !path.isEmpty {
            return DatabaseLocation(path: absolute(path), source: "environment variable \(Self.databaseVariable)")
        }
        if let configuration = try named
            ?? (FileManager.default.fileExists(atPath: file.path) ? readConfiguration(file.path) : nil) {
            return DatabaseLocation(path: configuration.databasePath, source: "configuration file \(file.path)")
        }
        return DatabaseLocation(path: ConfigDefaults.databasePath, source: "default")
    }

    /// The busy timeout: `--busy-timeout`, `COGJOBS_BUSY_TIMEOUT`, or 5 s.
    ///
    /// - Throws: `ConfigError` (`config.bad_environment`) naming the variable when it is not a
    ///   number of seconds.
    func busyTimeout(environment: [String: String]) throws -> Duration {
        if let busyTimeout { return Self.duration(seconds: busyTimeout) }
        guard let text = environment[Self.busyTimeoutVariable]?.trimmingCharacters(in: .whitespaces),
              !text.isEmpty else {
            return Self.duration(seconds: Self.defaultBusyTimeoutSeconds)
        }
        guard let seconds = Double(text), seconds.isFinite, seconds >= 0 else {
            throw ConfigError(code: .badEnvironment, keyPath: nil,
                              message: "`\(text)` is not a number of seconds (0 or more)",
                              origin: "environment variable \(Self.busyTimeoutVariable)")
        }
        return Self.duration(seconds: seconds)
    }

    // MARK: Opening

    /// How a command uses the database.
    enum Access {
        /// Reads, or changes jobs through the store's API: the database must exist and be at this
        /// binary's schema version (`cogjobs migrate` or the daemon bring it there).
        case existing
        /// `cogjobs migrate`: create the file if needed and apply pending migrations.
        case migrate
    }

    /// Opens the job store for `access` in the current `CommandContext`.
    func openStore(_ access: Access = .existing) throws -> JobStore {
        let context = CommandContext.current
        let location = try databaseLocation(environment: context.environment)
        return try JobStore(path: location.path, configuration: storeConfiguration(access))
    }

    /// The `JobStore.Configuration` for `access`, with the resolved busy timeout and the context's clock.
    func storeConfiguration(_ access: Access) throws -> JobStore.Configuration {
        let context = CommandContext.current
        var configuration = JobStore.Configuration()
        configuration.busyTimeout = try busyTimeout(environment: context.environment)
        configuration.clock = context.clock
        switch access {
        case .existing:
            configuration.createIfMissing = false
            configuration.migrationMode = .requireCurrent
        case .migrate:
            configuration.createIfMissing = true
            configuration.migrationMode = .apply
        }
        return configuration
    }

    // MARK: Helpers

    private static func duration(seconds: Double) -> Duration {
        .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// `path` made absolute against the current directory (paths from flags and the environment
    /// are relative to where the command runs).
    private func absolute(_ path: String) -> String {
        if path.hasPrefix("/") || path.isEmpty { return path }
        return URL(fileURLWithPath: path).standardizedFileURL.path
    }
}

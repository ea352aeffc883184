import Foundation

/// Values that replace the file's: from environment variables (`fromEnvironment`) or command-line
/// flags (built by the CLI). nil leaves the file's value. Precedence: file < environment < flags.
public struct ConfigOverrides: Sendable, Equatable {
    /// Replaces `database_path`.
    public var databasePath: String?
    /// Replaces `model_directory`.
    public var modelDirectory: String?
    /// Replaces `tokenizer_directory`.
    public var tokenizerDirectory: String?
    /// Replaces `workers`.
    public var workers: Int?
    /// Replaces `blas_threads`.
    public var blasThreads: Int?
    /// Replaces `lease_duration_seconds`.
    public var leaseDurationSeconds: Double?
    /// Replaces `shutdown_drain_seconds`.
    public var shutdownDrainSeconds: Double?
    /// Replaces `max_attempts`.
    public var maxAttempts: Int?
    /// Replaces `retry_base_delay_seconds`.
    public var retryBaseDelaySeconds: Double?
    /// Replaces `log_level`.
    public var logLevel: LogLevel?
    /// For error messages: key path → where the value came from (`--workers`,
    /// `environment variable COGJOBS_WORKERS`). Filled by `fromEnvironment`; the CLI may fill it.
    public var origins: [String: String]

    /// Creates overrides; all nil by default.
    public init(databasePath: String? = nil, modelDirectory: String? = nil, tokenizerDirectory: String? = nil,
                workers: Int? = nil, blasThreads: Int? = nil, leaseDurationSeconds: Double? = nil,
                shutdownDrainSeconds: Double? = nil, maxAttempts: Int? = nil, retryBaseDelaySeconds: Double? = nil,
                logLevel: LogLevel? = nil, origins: [String: String] = [:]) {
        self.databasePath = databasePath
        self.modelDirectory = modelDirectory
        self.tokenizerDirectory = tokenizerDirectory
        self.workers = workers
        self.blasThreads = blasThreads
        self.leaseDurationSeconds = leaseDurationSeconds
        self.shutdownDrainSeconds = shutdownDrainSeconds
        self.maxAttempts = maxAttempts
        self.retryBaseDelaySeconds = retryBaseDelaySeconds
        self.logLevel = logLevel
        self.origins = origins
    }

    /// Environment variable → the key it overrides. Empty values count as unset.
    /// (`COGJOBS_CONFIG` chooses the file itself; see `CogjobsConfiguration.configPath(environment:)`.)
    public static let environmentVariables: [(name: String, key: String)] = [
        ("COGJOBS_DATABASE", "database_path"),
        ("COGJOBS_MODEL", "model_directory"),
        ("COGJOBS_TOKENIZER", "tokenizer_directory"),
        ("COGJOBS_WORKERS", "workers"),
        ("COGJOBS_BLAS_THREADS", "blas_threads"),
        ("COGJOBS_LEASE_DURATION_SECONDS", "lease_duration_seconds"),
        ("COGJOBS_SHUTDOWN_DRAIN_SECONDS", "shutdown_drain_seconds"),
        ("COGJOBS_MAX_ATTEMPTS", "max_attempts"),
        ("COGJOBS_RETRY_BASE_DELAY_SECONDS", "retry_base_delay_seconds"),
        ("COGJOBS_LOG_LEVEL", "log_level"),
    ]

    /// Reads the `COGJOBS_*` variables of `environment`.
    ///
    /// - Throws: `ConfigError` (`config.bad_environment`) naming the variable when a value cannot be
    ///   parsed (e.g. `COGJOBS_WORKERS=two`). Range checks happen in `validate()`.
    public static func fromEnvironment(_ environment: [String: String]) throws(ConfigError) -> ConfigOverrides {
        var overrides = ConfigOverrides()
        for (name, key) in environmentVariables {
            guard let text = environment[name]?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { continue }
            overrides.origins[key] = "environment variable \(name)"
            switch key {
            case "database_path": overrides.databasePath = text
            case "model_directory": overrides.modelDirectory = text
            case "tokenizer_directory": overrides.tokenizerDirectory = text
            case "workers": overrides.workers = try integer(text, name, key)
            case "blas_threads": overrides.blasThreads = try integer(text, name, key)
            case "lease_duration_seconds": overrides.leaseDurationSeconds = try number(text, name, key)
            case "shutdown_drain_seconds": overrides.shutdownDrainSeconds = try number(text, name, key)
            case "max_attempts": overrides.maxAttempts = try integer(text, name, key)
            case "retry_base_delay_seconds": overrides.retryBaseDelaySeconds = try number(text, name, key)
            case "log_level":
                guard let level = LogLevel(name: text) else {
                    var error = StrictDecoding.unknownEnumerationValue(text, of: LogLevel.self, what: "a log level",
                                                                       keyPath: key)
                    error.code = .badEnvironment
                    error.origin = "environment variable \(name)"
                    throw error
                }
                overrides.logLevel = level
            default:
                // Unreachable: every entry of `environmentVariables` has a case above.
                continue
            }
        }
        return overrides
    }

    private static func integer(_ text: String, _ name: String, _ key: String) throws(ConfigError) -> Int {
        guard let value = Int(text) else {
            throw ConfigError(code: .badEnvironment, keyPath: key,
                              message: "`\(text)` is not an integer", origin: "environment variable \(name)")
        }
        return value
    }

    private static func number(_ text: String, _ name: String, _ key: String) throws(ConfigError) -> Double {
        guard let value = Double(text), value.isFinite else {
            throw ConfigError(code: .badEnvironment, keyPath: key,
                              message: "`\(text)` is not a number", origin: "environment variable \(name)")
        }
        return value
    }
}

extension CogjobsConfiguration {
    /// A copy with every non-nil override applied. Relative override paths are resolved against
    /// `currentDirectory` (they come from a shell or a unit file, not from the config file).
    public func applying(overrides: ConfigOverrides,
                         currentDirectory: String = FileManager.default.currentDirectoryPath) -> CogjobsConfiguration {
        var result = self
        if let path = overrides.databasePath {
            result.databasePath = ConfigPaths.resolve(path, against: currentDirectory)
        }
        if let path = overrides.modelDirectory {
            result.modelDirectory = ConfigPaths.resolve(path, against: currentDirectory)
        }
        if let path = overrides.tokenizerDirectory {
            result.tokenizerDirectory = ConfigPaths.resolve(path, against: currentDirectory)
        }
        if let workers = overrides.workers { result.workers = workers }
        if let blasThreads = overrides.blasThreads { result.blasThreads = blasThreads }
        if let seconds = overrides.leaseDurationSeconds { result.leaseDurationSeconds = seconds }
        if let seconds = overrides.shutdownDrainSeconds { result.shutdownDrainSeconds = seconds }
        if let attempts = overrides.maxAttempts { result.maxAttempts = attempts }
        if let seconds = overrides.retryBaseDelaySeconds { result.retryBaseDelaySeconds = seconds }
        if let level = overrides.logLevel { result.logLevel = level }
        return result
    }
}

/// Why a configuration could not be read or is not acceptable.
///
/// Every error names the exact key (`keyPath`, e.g. `watch[1].task`) and says what is allowed, so
/// a typo in `/etc/cogjobs/cogjobs.json` is found from the log line alone.
public struct ConfigError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A stable, machine-readable error code.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The configuration file does not exist.
        public static let fileMissing = Code(rawValue: "config.file_missing")
        /// The configuration file exists but cannot be read.
        public static let unreadable = Code(rawValue: "config.unreadable")
        /// The file is not valid JSON.
        public static let badJSON = Code(rawValue: "config.bad_json")
        /// A key that appears twice in the same object (only one of the values could apply).
        public static let duplicateKey = Code(rawValue: "config.duplicate_key")
        /// A key that the configuration does not know (usually a typo).
        public static let unknownKey = Code(rawValue: "config.unknown_key")
        /// A value of the wrong JSON type (a string where a number belongs, a null, …).
        public static let wrongType = Code(rawValue: "config.wrong_type")
        /// A required key is absent.
        public static let missingKey = Code(rawValue: "config.missing_key")
        /// A value of the right type that is not allowed (a negative count, an unknown task, …).
        public static let invalidValue = Code(rawValue: "config.invalid_value")
        /// An environment variable override that cannot be parsed.
        public static let badEnvironment = Code(rawValue: "config.bad_environment")
    }

    /// The stable error code.
    public var code: Code
    /// The key concerned, as a path (`workers`, `limits.max_pixels`, `watch[1].task`); nil when the
    /// error concerns the whole file.
    public var keyPath: String?
    /// What is wrong and what is allowed.
    public var message: String
    /// The configuration file, when the error came from one.
    public var file: String?
    /// Where an overriding value came from (`environment variable COGJOBS_WORKERS`, `--workers`),
    /// when it did not come from the file.
    public var origin: String?

    /// Creates an error.
    public init(code: Code, keyPath: String?, message: String, file: String? = nil, origin: String? = nil) {
        self.code = code
        self.keyPath = keyPath
        self.message = message
        self.file = file
        self.origin = origin
    }

    /// The code, then the file, the key, the message and where an overriding value came from.
    public var description: String { "\(code): \(detail)" }

    /// The message without the code: what the description shows after `code: ` (the CLI prints
    /// `Error: <code>: <detail>`).
    public var detail: String {
        var text = ""
        if let file { text += "\(file): " }
        if let keyPath { text += "`\(keyPath)`: " }
        text += message
        if let origin { text += " (value from \(origin))" }
        return text
    }

    // MARK: - Factories

    static func invalid(_ keyPath: String, _ message: String) -> ConfigError {
        ConfigError(code: .invalidValue, keyPath: keyPath, message: message)
    }

    static func missing(_ keyPath: String) -> ConfigError {
        ConfigError(code: .missingKey, keyPath: keyPath,
                    message: "this key is required; see config/README.md for what it means")
    }
}

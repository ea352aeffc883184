/// Failures of the daemon and of image intake: a stable `code`, a `message` that says what to do,
/// and the file or key it concerns. The daemon's exit status comes from `exitCode`.
public struct DaemonError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Stable, machine-readable error codes (`daemon.*`, `intake.*`).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The configuration could not be loaded or is invalid (the message names the key).
        public static let invalidConfiguration = Code(rawValue: "daemon.invalid_configuration")
        /// The job database could not be opened, migrated or checked.
        public static let database = Code(rawValue: "daemon.database")
        /// The model or tokenizer could not be loaded.
        public static let modelLoad = Code(rawValue: "daemon.model_load")
        /// The worker pool or the directory watcher could not start.
        public static let startFailed = Code(rawValue: "daemon.start_failed")
        /// A file given for intake does not exist.
        public static let fileMissing = Code(rawValue: "intake.file_missing")
        /// A file given for intake exists but cannot be read (permissions, a folder, an I/O error).
        public static let fileUnreadable = Code(rawValue: "intake.file_unreadable")
        /// A test-only switch (`COGJOBS_TEST_*`) has a value that is not understood.
        public static let badTestSwitch = Code(rawValue: "daemon.bad_test_switch")
    }

    public var code: Code
    /// What went wrong and what to do.
    public var message: String
    /// The file, folder or configuration key concerned, if any.
    public var subject: String?
    /// The error this one wraps (its description), if any.
    public var cause: String?

    public init(code: Code, message: String, subject: String? = nil, cause: String? = nil) {
        self.code = code
        self.message = message
        self.subject = subject
        self.cause = cause
    }

    public var description: String { "\(code): \(detail)" }

    /// The message without the code: what the description shows after `code: ` (the CLI prints
    /// `Error: <code>: <detail>`).
    public var detail: String {
        var text = ""
        if let subject { text += "\(subject): " }
        text += message
        if let cause { text += " (\(cause))" }
        return text
    }

    /// The process exit status for a daemon that stops with this error (sysexits.h values, which
    /// systemd shows by name: `status=78/CONFIG`).
    public var exitCode: Int32 {
        switch code {
        case .invalidConfiguration, .badTestSwitch: 78  // EX_CONFIG
        case .database: 74  // EX_IOERR
        case .modelLoad: 66  // EX_NOINPUT
        default: 70  // EX_SOFTWARE
        }
    }
}

/// Failures of the worker pool itself (not of jobs, which end as `AttemptOutcome`s).
public struct SchedulerError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Stable, machine-readable error codes (`scheduler.*`).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// `start()` was called on a pool that was started (or drained) before.
        public static let alreadyStarted = Code(rawValue: "scheduler.already_started")
        /// The operating system refused to create a worker thread.
        public static let threadStartFailed = Code(rawValue: "scheduler.thread_start_failed")
        /// A configuration value is out of range.
        public static let invalidConfiguration = Code(rawValue: "scheduler.invalid_configuration")
    }

    public var code: Code
    /// What went wrong and what to do.
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(detail)" }

    /// The message without the code: what the description shows after `code: ` (the CLI prints
    /// `Error: <code>: <detail>`).
    public var detail: String { message }
}

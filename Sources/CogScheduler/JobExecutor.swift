import CogJobStore

/// Runs one claimed job and returns its result: the work a `WorkerPool` does for every job it
/// claims (the daemon's model executor; a scripted executor in tests).
///
/// `execute` runs on one of the pool's dedicated worker threads (never on the Swift cooperative
/// pool) and may block for as long as the job takes. Several workers call the same executor at
/// once, so it must be `Sendable`; per-job mutable state (a model session, a KV cache) belongs
/// inside the call.
///
/// Between steps of its work (between generated tokens, for the model) the executor should
/// report progress through `control` and call `control.checkStop()`, which throws `JobStopped`
/// when the user cancelled the job, the shutdown drain ran out of time or the lease was lost.
/// How an attempt ends is decided by what `execute` does:
///
/// | `execute` … | the job becomes |
/// | --- | --- |
/// | returns a `JobOutput` | `succeeded`, result and boxes stored in one transaction |
/// | throws `JobFailure` (permanent) | `failed` at once, with the failure's code and message |
/// | throws `JobFailure` (transient) | `retryable` with backoff (or `failed` after the last attempt) |
/// | throws `JobStopped` | `cancelled` (user); `queued`, attempt not counted (shutdown); untouched (lease lost) |
/// | throws anything else | as a transient `JobFailure` with code `job.executor_error` |
public protocol JobExecutor: Sendable {
    /// Runs `job`. See the protocol documentation for what each way of returning means.
    func execute(_ job: ClaimedJob, control: JobControl) throws -> JobOutput
}

/// A failed attempt, classified: the error code and message stored in `jobs.last_error_*` and
/// `job_errors`, and whether retrying can help.
///
/// Permanent failures are properties of the job itself — a corrupt, empty, unsupported or
/// oversized image, a prompt the task cannot use — and fail the job at once. Transient ones
/// (out of memory, a file briefly unreadable, an internal error) are retried with backoff.
public struct JobFailure: Error, Sendable, CustomStringConvertible, Equatable {
    /// The stable code stored with the job, e.g. `image.corrupt`, `pipeline.missing_prompt`.
    public var code: String
    /// What went wrong and what the user can do about it.
    public var message: String
    /// `true`: retrying cannot help; fail the job now.
    public var isPermanent: Bool

    /// Creates a failure.
    public init(code: String, message: String, isPermanent: Bool) {
        self.code = code
        self.message = message
        self.isPermanent = isPermanent
    }

    /// A failure retrying cannot fix (bad input).
    public static func permanent(code: String, message: String) -> JobFailure {
        JobFailure(code: code, message: message, isPermanent: true)
    }

    /// A failure worth retrying later.
    public static func transient(code: String, message: String) -> JobFailure {
        JobFailure(code: code, message: message, isPermanent: false)
    }

    /// Code for errors an executor threw without classifying them (treated as transient).
    public static let unclassifiedCode = "job.executor_error"

    public var description: String { "\(code) (\(isPermanent ? "permanent" : "transient")): \(message)" }
}

/// Why a running job was asked to stop early.
public enum StopReason: String, Sendable, Equatable, CustomStringConvertible {
    /// A user cancelled the job (`cogjobs cancel`): it ends `cancelled`.
    case cancelled
    /// The daemon is shutting down and the drain budget ran out: the job goes back to `queued`
    /// without counting the attempt.
    case shutdown
    /// This worker's lease on the job is gone (renewal was refused, or it expired): another
    /// worker may run it, so this one must stop and write nothing.
    case leaseLost = "lease_lost"

    public var description: String { rawValue }
}

/// Thrown by `JobControl.checkStop()` (and by executors that stop on their own after seeing
/// `JobControl.stopReason`): the attempt ends without a result, as `reason` says.
public struct JobStopped: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: StopReason

    public init(reason: StopReason) { self.reason = reason }

    public var description: String { "job stopped early: \(reason)" }
}

import Foundation

/// What `fail` did with the job.
public enum FailOutcome: Sendable, Equatable {
    /// Transient failure with attempts left: the job is `retryable` and may be claimed after `runAfter`.
    case willRetry(runAfter: Date)
    /// Permanent failure, or the last attempt failed: the job is `failed`.
    case failed
    /// A cancel was requested while it ran: the job is `cancelled`.
    case cancelled
}

/// What `cancel` did.
public enum CancelOutcome: Sendable, Equatable {
    /// The job was waiting and is now `cancelled`.
    case cancelled
    /// The job is running: the cancel flag is set and the worker stops at its next check.
    case requested
    /// The job had already finished in `state`; nothing changed.
    case alreadyFinished(JobState)
}

/// What `rescueOrphans` did, by job id.
public struct RescueReport: Sendable, Equatable {
    /// Put back as `retryable`.
    public var requeued: [Int64] = []
    /// Crashed its owner `quarantineAfterCrashes` times: now `quarantined`.
    public var quarantined: [Int64] = []
    /// Its last attempt died with it: now `failed`.
    public var failed: [Int64] = []
    /// Had a cancel requested: now `cancelled` (a cancelled job is never run again by a rescue).
    public var cancelled: [Int64] = []
    /// Running jobs left alone (owner alive or unknown, lease still valid).
    public var untouched: [Int64] = []

    public init() {}

    /// Every job whose state the rescue changed.
    public var changed: [Int64] { requeued + quarantined + failed + cancelled }
}

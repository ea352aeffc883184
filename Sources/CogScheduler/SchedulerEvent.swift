import CogJobStore
import Foundation

/// What a `WorkerPool` reports as it works, delivered synchronously to the pool's event handler
/// on the thread where it happened (a worker thread or the supervisor thread). The daemon logs
/// them and runs its post-commit actions (sidecars, moving files) on `.finished`; tests assert on
/// them. A handler must not call back into the pool's `drain`.
public enum SchedulerEvent: Sendable, CustomStringConvertible {
    /// A worker claimed `job` and is about to run it.
    case started(job: ClaimedJob, worker: Int)
    /// The executor returned a result and the worker is about to commit it (the last moment
    /// before the result transaction; the daemon's test-only crash points hook in here).
    case willComplete(job: ClaimedJob, worker: Int)
    /// The attempt's outcome is in the database (or, for `.abandoned`, nothing was written).
    case finished(JobFinish)
    /// The supervisor found that this worker no longer holds `jobID` (renewal refused or lease
    /// expired); the job was told to stop.
    case leaseLost(jobID: Int64, worker: Int)
    /// The periodic rescue changed jobs whose lease had run out (see `JobStore.rescueOrphans`).
    case rescued(RescueReport)
    /// A database call failed; the pool retries it after a pause. `jobID` is nil for claims.
    case storeError(operation: String, jobID: Int64?, error: JobStoreError)

    public var description: String {
        switch self {
        case .started(let job, let worker): "worker \(worker) started job \(job.id) (attempt \(job.attempt))"
        case .willComplete(let job, let worker): "worker \(worker) is committing the result of job \(job.id)"
        case .finished(let finish): finish.description
        case .leaseLost(let jobID, let worker): "worker \(worker) lost its lease on job \(jobID)"
        case .rescued(let report): "rescued jobs with expired leases: \(report.changed)"
        case .storeError(let operation, let jobID, let error):
            "database error during \(operation)\(jobID.map { " of job \($0)" } ?? ""): \(error)"
        }
    }
}

/// One finished attempt: the job, who ran it, how it ended and how long it took.
public struct JobFinish: Sendable, CustomStringConvertible {
    public var job: ClaimedJob
    public var worker: Int
    public var outcome: AttemptOutcome
    /// From claim to the outcome being written.
    public var duration: Duration

    public var description: String {
        let seconds = String(format: "%.3f", WorkSignal.seconds(duration))
        return "worker \(worker) finished job \(job.id) attempt \(job.attempt) in \(seconds) s: \(outcome)"
    }
}

/// How an attempt ended, as written to the database.
public enum AttemptOutcome: Sendable, Equatable, CustomStringConvertible {
    /// The result (with its id in `results`) and the `succeeded` state were committed together.
    case succeeded(resultID: Int64, output: JobOutput)
    /// The job is `failed` for good (a permanent failure, or its last attempt).
    case failed(JobFailure)
    /// The job is `retryable` and may be claimed again after `runAfter`.
    case willRetry(JobFailure, runAfter: Date)
    /// The job is `cancelled` (the user asked while it ran).
    case cancelled
    /// Shutdown: the job is `queued` again and the attempt was not counted.
    case requeued
    /// Nothing was written: the claim was no longer this worker's (lease lost, job rescued).
    case abandoned(reason: String)

    public var description: String {
        switch self {
        case .succeeded(let resultID, let output):
            "succeeded (result \(resultID), \(output.generatedTokens) tokens, \(output.boxes.count) boxes)"
        case .failed(let failure): "failed: \(failure)"
        case .willRetry(let failure, let runAfter): "will retry after \(runAfter): \(failure)"
        case .cancelled: "cancelled"
        case .requeued: "requeued (shutdown)"
        case .abandoned(let reason): "abandoned: \(reason)"
        }
    }
}

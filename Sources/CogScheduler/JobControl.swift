import CogJobStore
import Synchronization

/// The executor's line to its worker while one job runs: report progress, and find out whether
/// to stop.
///
/// Both directions are cheap (a mutex held for a few instructions, no I/O), so an executor calls
/// them after every generated token. The pool's supervisor thread copies the progress into the
/// database about once a second (`jobs.progress_phase`, `jobs.tokens_generated`), uses it as the
/// proof of progress behind the systemd watchdog, and sets the stop reason when a cancel was
/// requested, the drain budget ran out or the lease was lost.
public final class JobControl: Sendable {
    /// The job being run.
    public let job: ClaimedJob
    /// Which worker runs it (0-based), for per-worker resources and logs.
    public let workerIndex: Int
    /// Compute threads this worker may use (its share of `workers × threads ≤ cores`).
    public let computeThreads: Int
    /// When the worker claimed the job.
    let startedAt: ContinuousClock.Instant

    struct Progress: Sendable {
        var phase = "claimed"
        var tokensGenerated = 0
        /// When the executor last reported anything (the watchdog's proof of progress).
        var lastReport: ContinuousClock.Instant
        /// Changed since the supervisor last wrote it to the database.
        var unsaved = false
    }

    private let progress: Mutex<Progress>
    private let stop = Mutex<StopReason?>(nil)

    /// Creates the control for one attempt. The pool makes one per claimed job; tests make their
    /// own to run an executor in isolation.
    public init(job: ClaimedJob, workerIndex: Int = 0, computeThreads: Int = 1,
                now: ContinuousClock.Instant = .now) {
        self.job = job
        self.workerIndex = workerIndex
        self.computeThreads = computeThreads
        startedAt = now
        progress = Mutex(Progress(lastReport: now))
    }

    // MARK: Executor side

    /// Records the current phase (e.g. `decode-image`, `prefill`, `generate`) and the tokens
    /// generated so far. Also counts as proof of progress for the watchdog.
    public func report(phase: String, tokensGenerated: Int) {
        let now = ContinuousClock.now
        progress.withLock { progress in
            if progress.phase != phase || progress.tokensGenerated != tokensGenerated { progress.unsaved = true }
            progress.phase = phase
            progress.tokensGenerated = tokensGenerated
            progress.lastReport = now
        }
    }

    /// Why the job should stop, or `nil` to carry on.
    public var stopReason: StopReason? { stop.withLock { $0 } }

    /// `true` when the job should stop at the next opportunity.
    public var shouldStop: Bool { stopReason != nil }

    /// Throws `JobStopped` if the job should stop; call it between steps of the work.
    public func checkStop() throws(JobStopped) {
        if let reason = stopReason { throw JobStopped(reason: reason) }
    }

    // MARK: Pool side

    /// Asks the job to stop. The first reason wins, except that a lost lease overrides the
    /// others (whatever else happened, this worker may no longer write the job).
    public func requestStop(_ reason: StopReason) {
        stop.withLock { current in
            if current == nil || reason == .leaseLost { current = reason }
        }
    }

    /// The progress, and whether it changed since `markSaved` was last called.
    var progressSnapshot: Progress { progress.withLock { $0 } }

    /// Marks the progress as written to the database (unless it changed again meanwhile).
    func markSaved(phase: String, tokensGenerated: Int) {
        progress.withLock { progress in
            if progress.phase == phase && progress.tokensGenerated == tokensGenerated { progress.unsaved = false }
        }
    }
}

import CogJobStore
import Foundation
import Synchronization

/// Runs jobs from a `JobStore` on a fixed set of dedicated worker threads.
///
/// ```swift
/// let pool = WorkerPool(store: store, executor: executor,
///                       configuration: .init(workers: 2, threadsPerWorker: 1))
/// try pool.start()
/// pool.wake()                          // after enqueueing in this process: start within milliseconds
/// await pool.drain(budget: .seconds(60))   // SIGTERM: finish or requeue running jobs, then stop
/// ```
///
/// ## Threads
/// - `workers` worker threads. Each loops: claim (the store's `UPDATE … RETURNING`, which counts the
///   attempt and takes a lease with a fresh claim token), run the executor, write the outcome with
///   the claim token (`complete` / `fail` / `markCancelled` / `requeue`). Idle workers wait on an
///   in-process signal (`wake()`) with a timeout of `idleClaimInterval`, then claim again.
/// - One supervisor thread, every `changeCheckInterval`: wakes idle workers when another connection
///   committed (`PRAGMA data_version`), renews the lease of every running job, saves progress,
///   looks for cancel requests, and at the end of a drain budget asks running jobs to stop. A
///   renewal that is refused, or a lease that runs out locally without a successful renewal,
///   stops the job with `StopReason.leaseLost`: its worker then writes nothing.
/// All threads share the one `JobStore` (its connection is behind a mutex, so this process has a
/// single writer); none of them runs on the Swift cooperative pool.
///
/// ## Failures
/// Database errors (a locked file, a full disk) never lose a job: a failed claim is retried after
/// a pause; a failed outcome write is retried until it succeeds or the lease is lost (the job is
/// then rescued by lease expiry or at the next start-up). Each is reported as
/// `SchedulerEvent.storeError`. A result the store rejects as invalid fails the job permanently
/// (`job.invalid_output`). Every `rescueInterval` the supervisor also rescues jobs whose lease ran
/// out (`JobStore.rescueOrphans`; a live owner's running jobs with valid leases are left alone).
public final class WorkerPool: Sendable {
    /// Tunables; only `workers` and `threadsPerWorker` have no default.
    public struct Configuration: Sendable {
        /// Worker threads (jobs run at once).
        public var workers: Int
        /// Compute threads each worker would like; cut down to fit `cores` (see `ThreadBudget`).
        public var threadsPerWorker: Int
        /// Cores the budget may use.
        public var cores: Int = ProcessInfo.processInfo.activeProcessorCount
        /// Written into `jobs.lease_owner`; identifies this process for orphan rescue.
        public var owner: String = OwnerIdentity.current().description
        /// How long a claim stays leased without renewal.
        public var leaseDuration: Duration = .seconds(120)
        /// How often running jobs' leases are renewed; nil = a quarter of `leaseDuration`.
        public var leaseRenewalInterval: Duration? = nil
        /// How long an idle worker waits without a wake-up before it tries to claim anyway (picks
        /// up jobs whose `run_after` passed, and bounds the start latency if change detection
        /// fails).
        public var idleClaimInterval: Duration = .milliseconds(500)
        /// The supervisor's tick: how often it checks `PRAGMA data_version`, leases, cancels and the
        /// drain deadline. Bounds how fast an enqueue from another process is noticed.
        public var changeCheckInterval: Duration = .milliseconds(100)
        /// How often a running job's progress is written to the database (at most).
        public var progressSaveInterval: Duration = .seconds(1)
        /// How often the database is asked which running jobs a user cancelled.
        public var cancelCheckInterval: Duration = .milliseconds(500)
        /// The first pause after a failed database call; it doubles up to 5 s while failures go on.
        public var storeRetryDelay: Duration = .milliseconds(250)
        /// How often the supervisor runs `JobStore.rescueOrphans` while the pool runs, so a job
        /// whose lease ran out (its worker gave it up after the database stayed unavailable, or a
        /// process on another host died) is put back without waiting for a restart. nil turns it off.
        public var rescueInterval: Duration? = .seconds(60)

        /// Creates a configuration with the documented defaults.
        public init(workers: Int, threadsPerWorker: Int) {
            self.workers = workers
            self.threadsPerWorker = threadsPerWorker
        }

        /// The renewal interval in effect.
        var renewalInterval: Duration { leaseRenewalInterval ?? leaseDuration / 4 }
    }

    /// What each worker is doing.
    enum Activity: Sendable {
        case idle
        case claiming
        case running(JobControl)
        /// Writing the outcome (the lease is still renewed meanwhile).
        case finishing(JobControl)
        /// Reporting the finished job to the event handler (post-commit actions).
        case reporting
        case exited
    }

    enum Phase: Sendable, Equatable {
        case created
        case running
        case draining(deadline: ContinuousClock.Instant)
        case stopped
    }

    struct State: Sendable {
        var phase = Phase.created
        var activities: [Activity]
        var activitySince: [ContinuousClock.Instant]
        var liveThreads = 0
        var supervisorBeat = ContinuousClock.now
        var counters = PoolCounters()
    }

    /// The database the pool claims from.
    public let store: JobStore
    /// Runs each claimed job.
    public let executor: any JobExecutor
    public let configuration: Configuration
    /// The compute-thread budget in effect (`workers × threadsPerWorker ≤ cores`).
    public let budget: ThreadBudget
    let onEvent: @Sendable (SchedulerEvent) -> Void
    let signal = WorkSignal()
    let state: Mutex<State>

    /// Creates a pool; nothing runs until `start()`.
    /// - Parameter onEvent: receives every `SchedulerEvent`, synchronously, on the pool's threads.
    public init(store: JobStore, executor: any JobExecutor, configuration: Configuration,
                onEvent: @escaping @Sendable (SchedulerEvent) -> Void = { _ in }) {
        self.store = store
        self.executor = executor
        self.configuration = configuration
        budget = ThreadBudget(workers: configuration.workers, requestedThreadsPerWorker: configuration.threadsPerWorker,
                              cores: configuration.cores)
        self.onEvent = onEvent
        let count = max(1, configuration.workers)
        state = Mutex(State(activities: Array(repeating: .idle, count: count),
                            activitySince: Array(repeating: .now, count: count)))
    }

    // MARK: Life cycle

    /// Starts the supervisor and the worker threads.
    /// - Throws: `SchedulerError` — `.alreadyStarted`, `.invalidConfiguration`, `.threadStartFailed`
    ///   (threads started before the failure are drained again before this throws).
    public func start() throws(SchedulerError) {
        try validateConfiguration()
        let started = state.withLock { state -> Bool in
            guard state.phase == .created else { return false }
            state.phase = .running
            state.liveThreads = budget.workers + 1
            return true
        }
        guard started else {
            throw SchedulerError(code: .alreadyStarted,
                                 message: "this worker pool was started before; create a new one")
        }
        if let failure = DedicatedThread.spawn(name: "cogjobs-superv", { self.supervisorLoop() }) {
            state.withLock { state in
                state.phase = .stopped
                state.liveThreads = 0
            }
            throw threadFailure(failure)
        }
        for index in 0..<budget.workers {
            if let failure = DedicatedThread.spawn(name: "cogjobs-work-\(index)", { self.workerLoop(index: index) }) {
                state.withLock { state in
                    state.liveThreads -= budget.workers - index  // the threads that never started
                    state.phase = .draining(deadline: .now)
                }
                signal.signal()
                throw threadFailure(failure)
            }
        }
    }

    /// Tells idle workers that a job may be waiting (call after enqueueing in this process);
    /// they claim at once instead of at their next poll.
    public func wake() { signal.signal() }

    /// Starts a graceful shutdown and returns at once: workers stop claiming; running jobs may
    /// finish until `budget` runs out, after which they are asked to stop (`StopReason.shutdown`)
    /// and put back in the queue without counting the attempt. Calling it again never extends an
    /// earlier deadline.
    public func beginDrain(budget: Duration) {
        let deadline = ContinuousClock.now + budget
        state.withLock { state in
            switch state.phase {
            case .created: state.phase = .stopped
            case .running: state.phase = .draining(deadline: deadline)
            case .draining(let earlier): state.phase = .draining(deadline: min(earlier, deadline))
            case .stopped: break
            }
        }
        signal.signal()
    }

    /// `beginDrain(budget:)`, then waits until every worker and the supervisor have exited. If
    /// the calling task is cancelled while waiting, running jobs are asked to stop at once and it
    /// returns without waiting further (their leases then expire, or the next start-up rescues them).
    public func drain(budget: Duration) async {
        beginDrain(budget: budget)
        while !isStopped {
            do {
                try await Task.sleep(for: .milliseconds(10))
            } catch {
                beginDrain(budget: .zero)  // cancelled: stop running jobs now, do not wait
                return
            }
        }
    }

    /// `true` while draining once the drain's deadline has passed.
    var drainDeadlinePassed: Bool {
        state.withLock { state in
            if case .draining(let deadline) = state.phase { return ContinuousClock.now >= deadline }
            return false
        }
    }

    /// `true` once every thread of a started pool has exited (or it was drained before starting).
    public var isStopped: Bool { state.withLock { $0.phase == .stopped } }

    /// `true` from `beginDrain` on.
    public var isDraining: Bool {
        state.withLock { state in
            if case .draining = state.phase { return true }
            return state.phase == .stopped
        }
    }

    // MARK: Observation

    /// What every worker is doing now, and the pool's counters.
    public func snapshot() -> PoolSnapshot {
        let now = ContinuousClock.now
        return state.withLock { state in
            let workers = state.activities.indices.map { index -> WorkerSnapshot in
                let since = state.activitySince[index]
                switch state.activities[index] {
                case .running(let control), .finishing(let control):
                    let progress = control.progressSnapshot
                    return WorkerSnapshot(index: index, jobID: control.job.id, phase: progress.phase,
                                          tokensGenerated: progress.tokensGenerated, busyFor: now - since,
                                          sinceLastProgress: now - progress.lastReport)
                case .idle, .claiming, .reporting, .exited:
                    return WorkerSnapshot(index: index, jobID: nil, phase: nil, tokensGenerated: 0, busyFor: nil,
                                          sinceLastProgress: nil)
                }
            }
            return PoolSnapshot(workers: workers, counters: state.counters, isDraining: state.phase != .running,
                                isStopped: state.phase == .stopped)
        }
    }

    /// Whether every worker shows progress: a worker running a job must have reported progress
    /// (a phase or a token) within `stallLimit`, and the supervisor (which renews leases) must have
    /// ticked within it. Idle workers wait with a bounded timeout and count as healthy. The daemon
    /// sends systemd's `WATCHDOG=1` only while this holds, so a worker stuck in one step for
    /// longer than the watchdog interval gets the process restarted.
    public func health(stallLimit: Duration) -> PoolHealth {
        let now = ContinuousClock.now
        return state.withLock { state in
            var problems: [String] = []
            if state.phase == .running, now - state.supervisorBeat > stallLimit {
                problems.append("the supervisor thread has not ticked for \(Self.format(now - state.supervisorBeat))")
            }
            for (index, activity) in state.activities.enumerated() {
                guard case .running(let control) = activity else { continue }
                let quiet = now - control.progressSnapshot.lastReport
                if quiet > stallLimit {
                    problems.append("worker \(index) has made no progress on job \(control.job.id) "
                                        + "for \(Self.format(quiet))")
                }
            }
            return PoolHealth(problems: problems)
        }
    }

    // MARK: Shared helpers

    func emit(_ event: SchedulerEvent) { onEvent(event) }

    func setActivity(_ index: Int, _ activity: Activity) {
        let now = ContinuousClock.now
        state.withLock { state in
            state.activities[index] = activity
            state.activitySince[index] = now
        }
    }

    /// `true` while workers may claim new jobs.
    var mayClaim: Bool { state.withLock { $0.phase == .running } }

    /// A worker or the supervisor is exiting; the last one out marks the pool stopped.
    func threadExited() {
        state.withLock { state in
            state.liveThreads -= 1
            if state.liveThreads <= 0 { state.phase = .stopped }
        }
        signal.signal()  // the supervisor waits for the workers
    }

    static func format(_ duration: Duration) -> String {
        String(format: "%.1f s", WorkSignal.seconds(duration))
    }

    private func validateConfiguration() throws(SchedulerError) {
        let c = configuration
        func invalid(_ message: String) -> SchedulerError {
            SchedulerError(code: .invalidConfiguration, message: message)
        }
        guard c.workers >= 1 else { throw invalid("workers must be at least 1, got \(c.workers)") }
        guard c.leaseDuration > .zero else { throw invalid("the lease duration must be positive") }
        guard c.renewalInterval > .zero, c.renewalInterval < c.leaseDuration else {
            throw invalid("the lease renewal interval must be positive and shorter than the lease")
        }
        let intervals = [("idle claim interval", c.idleClaimInterval), ("change check interval", c.changeCheckInterval),
                         ("progress save interval", c.progressSaveInterval),
                         ("cancel check interval", c.cancelCheckInterval), ("store retry delay", c.storeRetryDelay)]
        for (name, value) in intervals where value <= .zero {
            throw invalid("the \(name) must be positive")
        }
        if let rescue = c.rescueInterval, rescue <= .zero { throw invalid("the rescue interval must be positive") }
    }

    private func threadFailure(_ errnoValue: Int32) -> SchedulerError {
        SchedulerError(code: .threadStartFailed,
                       message: "cannot start a worker thread: \(String(cString: strerror(errnoValue))) "
                           + "(errno \(errnoValue)); lower `workers` or raise the process's thread limit")
    }
}

/// Counts of finished attempts since the pool started.
public struct PoolCounters: Sendable, Equatable {
    public var succeeded = 0
    public var failed = 0
    public var retried = 0
    public var cancelled = 0
    public var requeued = 0
    public var abandoned = 0

    public init() {}

    mutating func count(_ outcome: AttemptOutcome) {
        switch outcome {
        case .succeeded: succeeded += 1
        case .failed: failed += 1
        case .willRetry: retried += 1
        case .cancelled: cancelled += 1
        case .requeued: requeued += 1
        case .abandoned: abandoned += 1
        }
    }
}

/// One worker, as `WorkerPool.snapshot()` shows it.
public struct WorkerSnapshot: Sendable, Equatable {
    public var index: Int
    /// The job it runs, nil when idle.
    public var jobID: Int64?
    public var phase: String?
    public var tokensGenerated: Int
    /// How long the current job has been running.
    public var busyFor: Duration?
    /// How long since the executor last reported progress.
    public var sinceLastProgress: Duration?
}

/// The whole pool, as `WorkerPool.snapshot()` shows it.
public struct PoolSnapshot: Sendable, Equatable {
    public var workers: [WorkerSnapshot]
    public var counters: PoolCounters
    public var isDraining: Bool
    public var isStopped: Bool

    /// Workers running a job.
    public var busyWorkers: Int { workers.filter { $0.jobID != nil }.count }
}

/// `WorkerPool.health(stallLimit:)`: healthy when there is nothing to report.
public struct PoolHealth: Sendable, Equatable {
    /// One line per stalled worker (or stalled supervisor).
    public var problems: [String]

    public var isHealthy: Bool { problems.isEmpty }
}

import CogJobStore
import Foundation

/// The supervisor thread: change detection, lease renewal, progress, cancel requests, drain deadline.
extension WorkerPool {
    /// What the supervisor knows about one running job's lease (supervisor thread only).
    private struct LeaseTracker {
        var lastRenewal: ContinuousClock.Instant
        /// When the lease runs out by our own (monotonic, conservative) reckoning.
        var expires: ContinuousClock.Instant
        var lastProgressSave: ContinuousClock.Instant
        var lost = false
    }

    func supervisorLoop() {
        defer { threadExited() }
        let changes = DataVersionWatcher(databasePath: store.path)
        if let error = changes.openError {
            let wrapped = JobStoreError(code: .openFailed, message: "cannot watch the database for changes; idle "
                                            + "workers fall back to polling: \(error)", databasePath: store.path)
            emit(.storeError(operation: "watch", jobID: nil, error: wrapped))
        }
        var leases: [Int64: LeaseTracker] = [:]
        var lastCancelCheck = ContinuousClock.now
        var lastRescue = ContinuousClock.now
        let tick = configuration.changeCheckInterval
        while true {
            let now = ContinuousClock.now
            let (phase, active, workersLeft) = state.withLock { state -> (Phase, [(JobControl, Bool)], Int) in
                state.supervisorBeat = now
                let active = state.activities.compactMap { activity -> (JobControl, Bool)? in
                    switch activity {
                    case .running(let control): (control, true)
                    case .finishing(let control): (control, false)
                    default: nil
                    }
                }
                return (state.phase, active, state.liveThreads - 1)
            }
            if phase == .stopped { return }
            if case .draining = phase, workersLeft <= 0 { return }

            if phase == .running, changes.changed() { signal.signal() }

            let activeIDs = Set(active.map(\.0.job.id))
            leases = leases.filter { activeIDs.contains($0.key) }
            for (control, isRunning) in active {
                var tracker = leases[control.job.id] ?? LeaseTracker(
                    lastRenewal: control.startedAt, expires: control.startedAt + configuration.leaseDuration,
                    lastProgressSave: control.startedAt)
                maintainLease(control, running: isRunning, tracker: &tracker, now: now)
                if isRunning { saveProgress(control, tracker: &tracker, now: now) }
                leases[control.job.id] = tracker
            }

            let running = active.filter(\.1).map(\.0)
            if !running.isEmpty, now - lastCancelCheck >= configuration.cancelCheckInterval {
                lastCancelCheck = now
                checkCancelRequests(running)
            }
            if phase == .running, let interval = configuration.rescueInterval, now - lastRescue >= interval {
                lastRescue = now
                rescueExpiredLeases()
            }
            if case .draining(let deadline) = phase, now >= deadline {
                for control in running { control.requestStop(.shutdown) }
            }
            // Sleep for a tick, but wake early when a worker exits during a drain.
            signal.wait(after: signal.current, timeout: tick)
        }
    }

    private func maintainLease(_ control: JobControl, running: Bool, tracker: inout LeaseTracker,
                               now: ContinuousClock.Instant) {
        guard !tracker.lost else { return }
        let job = control.job
        if now - tracker.lastRenewal >= configuration.renewalInterval {
            do {
                if try store.renewLease(jobID: job.id, claimToken: job.claimToken,
                                        leaseDuration: configuration.leaseDuration) {
                    tracker.lastRenewal = now
                    tracker.expires = now + configuration.leaseDuration
                } else if running {
                    // Refused: the token no longer holds the job (rescued, or finished elsewhere).
                    loseLease(control, tracker: &tracker)
                    return
                }
                // Refused while finishing: the worker's own write just ended the claim; nothing to do.
            } catch {
                emit(.storeError(operation: "renew lease", jobID: job.id, error: Self.storeError(error)))
                // Try again after one retry delay rather than a whole renewal interval.
                tracker.lastRenewal = now - configuration.renewalInterval + configuration.storeRetryDelay
            }
        }
        if ContinuousClock.now >= tracker.expires {
            loseLease(control, tracker: &tracker)
        }
    }

    private func loseLease(_ control: JobControl, tracker: inout LeaseTracker) {
        tracker.lost = true
        control.requestStop(.leaseLost)
        emit(.leaseLost(jobID: control.job.id, worker: control.workerIndex))
    }

    private func saveProgress(_ control: JobControl, tracker: inout LeaseTracker, now: ContinuousClock.Instant) {
        let progress = control.progressSnapshot
        guard progress.unsaved, now - tracker.lastProgressSave >= configuration.progressSaveInterval else { return }
        tracker.lastProgressSave = now
        do {
            // `false` means the claim is stale; the next renewal notices and stops the job.
            _ = try store.updateProgress(jobID: control.job.id, claimToken: control.job.claimToken,
                                         phase: progress.phase, tokensGenerated: progress.tokensGenerated)
            control.markSaved(phase: progress.phase, tokensGenerated: progress.tokensGenerated)
        } catch {
            emit(.storeError(operation: "save progress", jobID: control.job.id, error: Self.storeError(error)))
        }
    }

    /// Puts back jobs whose lease ran out; live owners' jobs with valid leases are untouched.
    private func rescueExpiredLeases() {
        do {
            let report = try store.rescueOrphans()
            if !report.changed.isEmpty {
                emit(.rescued(report))
                signal.signal()  // the rescued jobs are claimable now
            }
        } catch {
            emit(.storeError(operation: "rescue", jobID: nil, error: Self.storeError(error)))
        }
    }

    /// One query for all running jobs of this pool: which have `cancel_requested` set.
    private func checkCancelRequests(_ running: [JobControl]) {
        let ids = running.map(\.job.id)
        let placeholders = ids.map { _ in "?" }.joined(separator: ", ")
        do {
            let rows = try store.query(
                "SELECT id FROM jobs WHERE cancel_requested = 1 AND id IN (\(placeholders))", ids)
            let cancelled = Set(rows.compactMap { $0.first?.int64 })
            for control in running where cancelled.contains(control.job.id) { control.requestStop(.cancelled) }
        } catch {
            emit(.storeError(operation: "check cancel requests", jobID: nil, error: Self.storeError(error)))
        }
    }
}

import CogJobStore
import Foundation

/// The worker threads: claim, run, write the outcome.
extension WorkerPool {
    func workerLoop(index: Int) {
        defer {
            setActivity(index, .exited)
            threadExited()
        }
        var retryDelay = configuration.storeRetryDelay
        while mayClaim {
            let seen = signal.current
            setActivity(index, .claiming)
            let job: ClaimedJob?
            do {
                job = try store.claim(owner: configuration.owner, leaseDuration: configuration.leaseDuration)
                retryDelay = configuration.storeRetryDelay
            } catch {
                emit(.storeError(operation: "claim", jobID: nil, error: Self.storeError(error)))
                setActivity(index, .idle)
                signal.wait(after: seen, timeout: retryDelay)
                retryDelay = min(retryDelay * 2, .seconds(5))
                continue
            }
            if let job {
                run(job, worker: index)
            } else {
                setActivity(index, .idle)
                signal.wait(after: seen, timeout: configuration.idleClaimInterval)
            }
        }
    }

    /// Runs one claimed job to its written outcome and reports it.
    private func run(_ job: ClaimedJob, worker: Int) {
        let started = ContinuousClock.now
        let control = JobControl(job: job, workerIndex: worker, computeThreads: budget.threadsPerWorker, now: started)
        setActivity(worker, .running(control))
        emit(.started(job: job, worker: worker))
        let result = Result { () throws -> JobOutput in try executor.execute(job, control: control) }
        setActivity(worker, .finishing(control))
        let outcome = writeOutcome(of: result, job: job, control: control, worker: worker)
        setActivity(worker, .reporting)
        state.withLock { $0.counters.count(outcome) }
        emit(.finished(JobFinish(job: job, worker: worker, outcome: outcome, duration: .now - started)))
    }

    /// Turns the executor's result into the database write that ends the attempt.
    private func writeOutcome(of result: Result<JobOutput, any Error>, job: ClaimedJob, control: JobControl,
                              worker: Int) -> AttemptOutcome {
        if control.stopReason == .leaseLost {
            return .abandoned(reason: "the lease was lost while the job ran; another worker may run it")
        }
        switch result {
        case .success(let output):
            emit(.willComplete(job: job, worker: worker))
            return persist(job, control, operation: "complete") {
                do {
                    let resultID = try store.complete(jobID: job.id, claimToken: job.claimToken, output: output)
                    return .succeeded(resultID: resultID, output: output)
                } catch let error as JobStoreError where error.code == .invalidInput {
                    // The store refused the output itself (e.g. a box outside 0–999): no retry can fix it.
                    let failure = JobFailure.permanent(code: "job.invalid_output",
                                                       message: "the result could not be stored: \(error.message)")
                    return try failed(job, failure)
                }
            }
        case .failure(let error as JobStopped):
            return stopped(job, control, reason: error.reason)
        case .failure(let error as JobFailure):
            return persist(job, control, operation: "fail") { try failed(job, error) }
        case .failure(let error):
            // An executor that sees a stop request may surface it as its own error type: honour the request.
            if let reason = control.stopReason { return stopped(job, control, reason: reason) }
            let failure = JobFailure.transient(code: JobFailure.unclassifiedCode, message: String(describing: error))
            return persist(job, control, operation: "fail") { try failed(job, failure) }
        }
    }

    private func stopped(_ job: ClaimedJob, _ control: JobControl, reason: StopReason) -> AttemptOutcome {
        switch reason {
        case .cancelled:
            return persist(job, control, operation: "cancel") {
                try store.markCancelled(jobID: job.id, claimToken: job.claimToken)
                return .cancelled
            }
        case .shutdown:
            return persist(job, control, operation: "requeue") {
                try store.requeue(jobID: job.id, claimToken: job.claimToken) == .cancelled ? .cancelled : .requeued
            }
        case .leaseLost:
            return .abandoned(reason: "the lease was lost while the job ran; another worker may run it")
        }
    }

    private func failed(_ job: ClaimedJob, _ failure: JobFailure) throws -> AttemptOutcome {
        let outcome = try store.fail(jobID: job.id, claimToken: job.claimToken, code: failure.code,
                                     message: failure.message, permanent: failure.isPermanent)
        switch outcome {
        case .failed: return .failed(failure)
        case .willRetry(let runAfter): return .willRetry(failure, runAfter: runAfter)
        case .cancelled: return .cancelled
        }
    }

    /// Runs a write that ends the attempt, retrying failed database calls until it succeeds, the
    /// claim turns out stale, the supervisor declares the lease lost (the write can then never
    /// succeed: the job is rescued by lease expiry or at the next start-up), or the pool is draining
    /// and its deadline has passed (a shutdown must not wait on a database that does not answer —
    /// a corrupt or vanished one never will; the job stays `running` and the next start rescues it).
    private func persist(_ job: ClaimedJob, _ control: JobControl, operation: String,
                         _ write: () throws -> AttemptOutcome) -> AttemptOutcome {
        var delay = configuration.storeRetryDelay
        while true {
            do {
                return try write()
            } catch let error as JobStoreError where [.staleClaim, .notFound, .invalidState].contains(error.code) {
                return .abandoned(reason: error.message)
            } catch {
                emit(.storeError(operation: operation, jobID: job.id, error: Self.storeError(error)))
            }
            if control.stopReason == .leaseLost {
                return .abandoned(reason: "the database stayed unavailable until the lease ran out; the job will be "
                                    + "rescued")
            }
            if drainDeadlinePassed {
                return .abandoned(reason: "the daemon is stopping and the database stayed unavailable past the drain "
                                    + "time; the next start rescues the job")
            }
            Thread.sleep(forTimeInterval: WorkSignal.seconds(delay))
            delay = min(delay * 2, .seconds(5))
        }
    }

    /// Store calls only throw `JobStoreError`; anything else is wrapped so events stay typed.
    static func storeError(_ error: any Error) -> JobStoreError {
        if let error = error as? JobStoreError { return error }
        return JobStoreError(code: .sqlite, message: String(describing: error))
    }
}

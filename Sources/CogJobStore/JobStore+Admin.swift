import Foundation

/// Operations users and the daemon's start-up run on jobs they do not hold a claim for.
extension JobStore {
    /// Cancels a job. A waiting job (`queued`, `retryable`) is `cancelled` at once; a running job gets
    /// its `cancel_requested` flag set and its worker stops at its next `isCancelRequested` check;
    /// a finished job is left alone.
    ///
    /// `supersededBy`: the daemon cancels a waiting job whose watched file changed before it ran;
    /// the job then records `job.superseded` and the newer job instead of a user's cancel.
    @discardableResult
    public func cancel(jobID: Int64, supersededBy newer: Int64? = nil) throws -> CancelOutcome {
        try write(jobID: jobID) { db, now in
            guard let stateText = try db.rows("SELECT state FROM jobs WHERE id = ?", [jobID]).first?.first?.string,
                  let state = JobState(rawValue: stateText) else { throw notFound(jobID) }
            let (code, message) = newer.map {
                ("job.superseded", "its image file changed before it ran; job \($0) is for the new content")
            } ?? ("job.cancelled", "cancelled by a user before it ran")
            switch state {
            case .queued, .retryable:
                try db.run("""
                    UPDATE jobs SET state = 'cancelled', finished_at = ?, last_error_code = ?, last_error_message = ?
                    WHERE id = ?
                    """, [now, code, message, jobID])
                return .cancelled
            case .running:
                try db.run("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", [jobID])
                return .requested
            case .succeeded, .failed, .cancelled, .quarantined:
                return .alreadyFinished(state)
            }
        }
    }

    /// Records that the image file of content `sha256` was moved from `from` to `to` (a watched
    /// folder's `move_done_to` / `move_failed_to`), so that `images.path` — the last path the content
    /// was seen at — names a file that exists and `retry` finds it. Only a row that still names `from`
    /// changes (a newer sighting elsewhere wins). Returns whether it changed.
    @discardableResult
    public func imageMoved(sha256: String, from: String, to: String) throws -> Bool {
        try write { db, _ in
            try db.run("UPDATE images SET path = ? WHERE sha256 = ? AND path = ?", [to, sha256, from]) > 0
        }
    }

    /// Puts a `failed`, `cancelled`, `quarantined` or `retryable` job back to `queued`, runnable now.
    ///
    /// The retried job starts afresh: `attempt` and `crash_count` go back to 0 (a full
    /// `max_attempts` budget), the cancel flag and last error are cleared. Its error history in
    /// `job_errors` is kept. A `succeeded` job is not retried (enqueue it with `force` to run it
    /// again); `queued` and `running` jobs are `store.invalid_state`.
    public func retry(jobID: Int64) throws {
        try write(jobID: jobID) { db, now in
            guard let stateText = try db.rows("SELECT state FROM jobs WHERE id = ?", [jobID]).first?.first?.string,
                  let state = JobState(rawValue: stateText) else { throw notFound(jobID) }
            switch state {
            case .failed, .cancelled, .quarantined, .retryable:
                try db.run("""
                    UPDATE jobs
                    SET state = 'queued', attempt = 0, crash_count = 0, cancel_requested = 0, run_after = ?,
                        started_at = NULL, finished_at = NULL, progress_phase = NULL, tokens_generated = 0,
                        last_error_code = NULL, last_error_message = NULL
                    WHERE id = ?
                    """, [now, jobID])
            case .queued, .running, .succeeded:
                let hint = state == .succeeded ? " (enqueue it again with --force to get a new result)" : ""
                throw JobStoreError(code: .invalidState, message: "job \(jobID) is \(state.rawValue) and cannot be "
                                        + "retried\(hint)", jobID: jobID, databasePath: path)
            }
        }
    }

    /// Stops all claiming (running jobs finish). Persistent: survives daemon restarts.
    public func pause() throws { try setPaused(true) }

    /// Lets workers claim again.
    public func resume() throws { try setPaused(false) }

    /// `true` while the queue is paused.
    public func isPaused() throws -> Bool {
        try read { db, _ in try db.rows("SELECT paused FROM queue_state WHERE id = 1").first?.first?.int64 == 1 }
    }

    private func setPaused(_ paused: Bool) throws {
        try write { db, now in
            _ = try db.run("UPDATE queue_state SET paused = ?, changed_at = ? WHERE id = 1", [paused, now])
        }
    }

    /// Which jobs `prune` deletes: finished without a result, before the cutoff (`?`), and not the
    /// newest job row. SQLite gives a new row the largest id + 1, so deleting the newest job would
    /// hand its id to the next job enqueued: logs, notes and `cogjobs retry N` would then name two
    /// different jobs. Keeping that one row keeps every job id unique for the database's life.
    static let prunableJobs = """
        state IN ('failed', 'cancelled', 'quarantined') AND finished_at < ?
          AND NOT EXISTS (SELECT 1 FROM results r WHERE r.job_id = jobs.id)
          AND id < (SELECT max(id) FROM jobs)
        """

    /// Deletes finished job rows without a result (`failed`, `cancelled`, `quarantined`) that
    /// finished before `cutoff`, with their error history, except the newest job row (see
    /// `prunableJobs`: job ids are never reused). Returns how many jobs were deleted.
    ///
    /// Results are never deleted: `results.job_id` references its job `ON DELETE RESTRICT`, and
    /// succeeded jobs (which always have a result) are not touched, so every result keeps its job
    /// row (task, prompt, model, image). Images stay too (they are small and shared across jobs).
    @discardableResult
    public func prune(finishedBefore cutoff: Date) throws -> Int {
        try write { db, _ in
            try db.run("DELETE FROM jobs WHERE " + Self.prunableJobs, [Self.milliseconds(cutoff)])
        }
    }

    /// How many jobs `prune(finishedBefore:)` would delete now (read-only).
    public func countPrunable(finishedBefore cutoff: Date) throws -> Int {
        let rows = try query("SELECT count(*) FROM jobs WHERE " + Self.prunableJobs, [Self.milliseconds(cutoff)])
        return Int(rows.first?.first?.int64 ?? 0)
    }

    /// Recovers `running` jobs whose worker is gone; the daemon runs this at start-up (and may run it
    /// periodically to catch expired leases).
    ///
    /// For each running job:
    /// - owner `.dead` (per `liveness`; by default: this machine, and the process or boot is gone)
    ///   → a crash: `crash_count + 1`, error `job.owner_died` appended;
    /// - otherwise, lease expired → error `job.lease_expired` appended (no crash counted: the owner
    ///   may be alive but stuck; its claim token is revoked, so it can no longer complete);
    /// - otherwise the job is left alone.
    /// A recovered job then becomes `cancelled` if a cancel was requested; `quarantined` if its
    /// crash count reached `quarantineAfterCrashes` (it took the daemon down that often: a poison
    /// job); `failed` if the dead attempt was its last; else `retryable`, runnable at once. The
    /// attempt that died stays counted.
    @discardableResult
    public func rescueOrphans(
        liveness: (String) -> OwnerLiveness = { OwnerIdentity.liveness(of: $0) }
    ) throws -> RescueReport {
        let threshold = configuration.quarantineAfterCrashes
        return try write { db, now in
            var report = RescueReport()
            let running = try db.rows("""
                SELECT id, lease_owner, lease_expires_at, attempt, max_attempts, crash_count, cancel_requested
                FROM jobs WHERE state = 'running' ORDER BY id
                """)
            for row in running {
                guard let id = row[0].int64 else { continue }
                let owner = row[1].string ?? ""
                let leaseExpired = (row[2].int64 ?? 0) <= now
                let ownerDead = liveness(owner) == .dead
                guard ownerDead || leaseExpired else {
                    report.untouched.append(id)
                    continue
                }
                let attempt = Int(row[3].int64 ?? 0)
                let maxAttempts = Int(row[4].int64 ?? 1)
                let crashCount = Int(row[5].int64 ?? 0) + (ownerDead ? 1 : 0)
                let (code, message) = ownerDead
                    ? ("job.owner_died", "the worker process \(owner) died while running attempt \(attempt) "
                       + "(crash \(crashCount) of this job)")
                    : ("job.lease_expired", "the lease of worker \(owner) on attempt \(attempt) expired "
                       + "without renewal; its claim was revoked")
                try recordError(jobID: id, attempt: attempt, code: code, message: message, at: now, db: db)

                let newState: JobState
                var lastCode = code, lastMessage = message
                if row[6].int64 == 1 {
                    newState = .cancelled
                    report.cancelled.append(id)
                } else if crashCount >= threshold {
                    newState = .quarantined
                    lastCode = "job.quarantined"
                    lastMessage = "the job was running when its worker process died \(crashCount) times; it is "
                        + "quarantined and will not run again unless you retry it (check the image: it may "
                        + "crash the decoder or exhaust memory)"
                    try recordError(jobID: id, attempt: attempt, code: lastCode, message: lastMessage, at: now,
                                    db: db)
                    report.quarantined.append(id)
                } else if attempt >= maxAttempts {
                    newState = .failed
                    report.failed.append(id)
                } else {
                    newState = .retryable
                    report.requeued.append(id)
                }
                try db.run("""
                    UPDATE jobs
                    SET state = ?, crash_count = ?, run_after = ?, finished_at = ?, lease_owner = NULL,
                        lease_expires_at = NULL, claim_token = NULL, last_error_code = ?, last_error_message = ?
                    WHERE id = ?
                    """, [newState.rawValue, crashCount, now, newState.isTerminal ? now : nil, lastCode,
                          lastMessage, id])
            }
            return report
        }
    }
}

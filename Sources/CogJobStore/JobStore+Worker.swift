import Foundation

/// The worker side of the queue: claim, lease renewal, progress, and the four ways an attempt ends
/// (`complete`, `fail`, `requeue`, `markCancelled`). Every call after `claim` presents the claim
/// token; a worker whose token no longer matches (its lease expired and the job was rescued,
/// cancelled or finished elsewhere) is stale and can change nothing.
extension JobStore {
    /// Claims the best available job for `owner`, or returns `nil` when none is available or the
    /// queue is paused.
    ///
    /// One `UPDATE … RETURNING` statement in `BEGIN IMMEDIATE` picks the job and marks it, so two
    /// claimers can never get the same job. Available means state `queued` or `retryable` with
    /// `run_after ≤ now`. Order: `priority DESC` (higher first), then `run_after`, then `id`
    /// (first in, first out). The claim counts the attempt (`attempt + 1`), sets the lease
    /// (`owner`, `now + leaseDuration`) and a fresh random 128-bit claim token.
    public func claim(owner: String, leaseDuration: Duration) throws -> ClaimedJob? {
        let leaseMilliseconds = Self.milliseconds(leaseDuration)
        return try write { db, now in
            let claim = try db.cachedStatement("""
                UPDATE jobs
                SET state = 'running', attempt = attempt + 1, lease_owner = ?1, lease_expires_at = ?2 + ?3,
                    claim_token = lower(hex(randomblob(16))), started_at = ?2,
                    progress_phase = 'claimed', tokens_generated = 0
                WHERE id = (
                    SELECT id FROM jobs
                    WHERE state IN ('queued', 'retryable') AND run_after <= ?2
                      AND (SELECT paused FROM queue_state WHERE id = 1) = 0
                    ORDER BY priority DESC, run_after, id
                    LIMIT 1)
                RETURNING id, image_id, task, prompt, params_json, model, priority, attempt, max_attempts,
                          crash_count, claim_token, lease_expires_at
                """)
            defer { claim.reset() }
            try claim.bind([owner, now, leaseMilliseconds])
            guard try claim.step() else { return nil }
            let jobID = claim.int64(at: 0)
            let imageID = claim.int64(at: 1)
            var job = ClaimedJob(
                id: jobID,
                image: StoredImage(id: imageID, sha256: "", path: ""),
                task: claim.string(at: 2), prompt: claim.string(at: 3), paramsJSON: claim.string(at: 4),
                model: claim.string(at: 5), priority: Int(claim.int64(at: 6)), attempt: Int(claim.int64(at: 7)),
                maxAttempts: Int(claim.int64(at: 8)), crashCount: Int(claim.int64(at: 9)),
                claimToken: claim.string(at: 10), leaseExpiresAt: Self.date(claim.int64(at: 11)))
            claim.reset()
            job.image = try storedImage(id: imageID, db: db)
            return job
        }
    }

    /// Extends the lease of a running job to `now + leaseDuration`. Returns `false` (and changes
    /// nothing) if `claimToken` no longer holds the job: the worker must stop and drop its work.
    public func renewLease(jobID: Int64, claimToken: String, leaseDuration: Duration) throws -> Bool {
        let leaseMilliseconds = Self.milliseconds(leaseDuration)
        return try write(jobID: jobID) { db, now in
            try db.run("""
                UPDATE jobs SET lease_expires_at = ? + ?
                WHERE id = ? AND claim_token = ? AND state = 'running'
                """, [now, leaseMilliseconds, jobID, claimToken]) == 1
        }
    }

    /// Records progress for `status` (phase such as `decode-image`, `prefill`, `generate`, and the
    /// tokens generated so far). Returns `false` if the claim is stale.
    public func updateProgress(jobID: Int64, claimToken: String, phase: String, tokensGenerated: Int) throws -> Bool {
        try write(jobID: jobID) { db, _ in
            try db.run("""
                UPDATE jobs SET progress_phase = ?, tokens_generated = ?
                WHERE id = ? AND claim_token = ? AND state = 'running'
                """, [phase, tokensGenerated, jobID, claimToken]) == 1
        }
    }

    /// `true` if a user asked to cancel the job (or it is already cancelled). Workers poll this
    /// between generated tokens and stop with `markCancelled`.
    public func isCancelRequested(jobID: Int64) throws -> Bool {
        try read(jobID: jobID) { db, _ in
            guard let row = try db.rows("SELECT cancel_requested, state FROM jobs WHERE id = ?", [jobID]).first else {
                throw notFound(jobID)
            }
            return row[0].int64 == 1 || row[1].string == JobState.cancelled.rawValue
        }
    }

    /// Stores the result and its boxes and marks the job `succeeded`, all in one transaction that
    /// first checks the claim token. A stale claim throws `store.stale_claim` and writes nothing;
    /// any other failure also rolls everything back. A job whose cancel was requested while it ran
    /// still succeeds: the work is done and its result is kept.
    ///
    /// - Returns: the new `results.id`.
    @discardableResult
    public func complete(jobID: Int64, claimToken: String, output: JobOutput) throws -> Int64 {
        if let problem = Self.problem(with: output) {
            throw JobStoreError(code: .invalidInput, message: "result rejected: \(problem)", jobID: jobID,
                                databasePath: path)
        }
        return try write(jobID: jobID) { db, now in
            let changed = try db.run("""
                UPDATE jobs
                SET state = 'succeeded', finished_at = ?, lease_owner = NULL, lease_expires_at = NULL,
                    claim_token = NULL, progress_phase = 'done', tokens_generated = ?
                WHERE id = ? AND claim_token = ? AND state = 'running'
                """, [now, output.generatedTokens, jobID, claimToken])
            guard changed == 1 else { throw try staleClaim(jobID, db: db, action: "complete") }
            let insertResult = try db.cachedStatement("""
                INSERT INTO results (job_id, text, raw_output, prompt_tokens, generated_tokens, preprocess_ms,
                                     prefill_ms, decode_ms, total_ms, model, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING id
                """)
            defer { insertResult.reset() }
            try insertResult.bind([jobID, output.text, output.rawOutput, output.promptTokens, output.generatedTokens,
                                   output.preprocessMilliseconds, output.prefillMilliseconds,
                                   output.decodeMilliseconds, output.totalMilliseconds, output.model, now])
            guard try insertResult.step() else {
                throw JobStoreError(code: .sqlite, message: "result insert returned no row", jobID: jobID,
                                    databasePath: path)
            }
            let resultID = insertResult.int64(at: 0)
            insertResult.reset()
            let insertBox = try db.cachedStatement("""
                INSERT INTO boxes (result_id, box_index, phrase, x0, y0, x1, y1, px_x0, px_y0, px_x1, px_y1)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for (index, box) in output.boxes.enumerated() {
                try insertBox.run([resultID, index, box.phrase, box.x0, box.y0, box.x1, box.y1,
                                   box.pixelX0, box.pixelY0, box.pixelX1, box.pixelY1])
            }
            return resultID
        }
    }

    /// Ends the attempt with an error and appends it to the job's error history.
    ///
    /// - `permanent` (e.g. a corrupt image) or the last allowed attempt → `failed`.
    /// - otherwise → `retryable` after the backoff of `configuration.retryPolicy`.
    /// - a cancel requested while it ran → `cancelled` (the error is still recorded).
    /// Throws `store.stale_claim` (recording nothing) if the claim is stale.
    @discardableResult
    public func fail(jobID: Int64, claimToken: String, code: String, message: String,
                     permanent: Bool) throws -> FailOutcome {
        let unitRandom = configuration.randomUnit()
        return try write(jobID: jobID) { db, now in
            guard let row = try db.rows("""
                SELECT attempt, max_attempts, cancel_requested FROM jobs
                WHERE id = ? AND claim_token = ? AND state = 'running'
                """, [jobID, claimToken]).first else {
                throw try staleClaim(jobID, db: db, action: "fail")
            }
            let attempt = Int(row[0].int64 ?? 0)
            let maxAttempts = Int(row[1].int64 ?? 1)
            try recordError(jobID: jobID, attempt: attempt, code: code, message: message, at: now, db: db)
            let outcome: FailOutcome
            let newState: JobState
            var runAfter: Int64? = nil
            if row[2].int64 == 1 {
                (outcome, newState) = (.cancelled, .cancelled)
            } else if permanent || attempt >= maxAttempts {
                (outcome, newState) = (.failed, .failed)
            } else {
                let delay = configuration.retryPolicy.delaySeconds(afterAttempt: attempt, unitRandom: unitRandom)
                runAfter = now + Int64((delay * 1000).rounded())
                (outcome, newState) = (.willRetry(runAfter: Self.date(runAfter ?? now)), .retryable)
            }
            try db.run("""
                UPDATE jobs
                SET state = ?, run_after = coalesce(?, run_after), finished_at = ?, lease_owner = NULL,
                    lease_expires_at = NULL, claim_token = NULL, last_error_code = ?, last_error_message = ?
                WHERE id = ?
                """, [newState.rawValue, runAfter, newState.isTerminal ? now : nil, code, message, jobID])
            return outcome
        }
    }

    /// Gives a running job back without counting the attempt (graceful shutdown): the job returns to
    /// `queued` with `attempt` decremented, keeping its place in the claim order. A job whose cancel
    /// was requested becomes `cancelled` instead. Throws `store.stale_claim` if the claim is stale.
    @discardableResult
    public func requeue(jobID: Int64, claimToken: String) throws -> JobState {
        try write(jobID: jobID) { db, now in
            guard let row = try db.rows("""
                SELECT cancel_requested FROM jobs WHERE id = ? AND claim_token = ? AND state = 'running'
                """, [jobID, claimToken]).first else {
                throw try staleClaim(jobID, db: db, action: "requeue")
            }
            let cancelled = row[0].int64 == 1
            try db.run("""
                UPDATE jobs
                SET state = ?1, attempt = CASE WHEN ?2 THEN attempt ELSE max(attempt - 1, 0) END,
                    started_at = CASE WHEN NOT ?2 AND attempt <= 1 THEN NULL ELSE started_at END,
                    finished_at = ?3, lease_owner = NULL, lease_expires_at = NULL, claim_token = NULL,
                    progress_phase = NULL, tokens_generated = 0
                WHERE id = ?4
                """, [cancelled ? JobState.cancelled.rawValue : JobState.queued.rawValue, cancelled,
                      cancelled ? now : nil, jobID])
            return cancelled ? .cancelled : .queued
        }
    }

    /// The worker saw `isCancelRequested` and stopped: the job becomes `cancelled`.
    /// Throws `store.stale_claim` if the claim is stale.
    public func markCancelled(jobID: Int64, claimToken: String) throws {
        try write(jobID: jobID) { db, now in
            let changed = try db.run("""
                UPDATE jobs
                SET state = 'cancelled', finished_at = ?, lease_owner = NULL, lease_expires_at = NULL,
                    claim_token = NULL, last_error_code = 'job.cancelled', last_error_message = 'cancelled by a user'
                WHERE id = ? AND claim_token = ? AND state = 'running'
                """, [now, jobID, claimToken])
            guard changed == 1 else { throw try staleClaim(jobID, db: db, action: "cancel") }
        }
    }

    // MARK: Helpers shared by the extensions

    func storedImage(id: Int64, db: SQLiteConnection) throws -> StoredImage {
        guard let row = try db.rows("""
            SELECT id, sha256, path, width, height, format, byte_size FROM images WHERE id = ?
            """, [id]).first else {
            throw JobStoreError(code: .sqlite, message: "image \(id) is missing", databasePath: path)
        }
        return StoredImage(id: row[0].int64 ?? id, sha256: row[1].string ?? "", path: row[2].string ?? "",
                           width: row[3].int64.map(Int.init), height: row[4].int64.map(Int.init),
                           format: row[5].string, byteSize: row[6].int64)
    }

    func recordError(jobID: Int64, attempt: Int, code: String, message: String, at now: Int64,
                     db: SQLiteConnection) throws {
        try db.run("INSERT INTO job_errors (job_id, attempt, code, message, at) VALUES (?, ?, ?, ?, ?)",
                   [jobID, attempt, code, message, now])
    }

    func notFound(_ jobID: Int64) -> JobStoreError {
        JobStoreError(code: .notFound, message: "there is no job \(jobID); `cogjobs list` shows the jobs", jobID: jobID,
                      databasePath: path)
    }

    /// The error for a claim token that no longer holds the job, naming the job's current state.
    func staleClaim(_ jobID: Int64, db: SQLiteConnection, action: String) throws -> JobStoreError {
        guard let state = try db.rows("SELECT state FROM jobs WHERE id = ?", [jobID]).first?.first?.string else {
            return notFound(jobID)
        }
        return JobStoreError(
            code: .staleClaim,
            message: "cannot \(action): this worker's claim on the job is no longer valid (the job is now \(state); "
                + "its lease expired and it was rescued, cancelled or finished elsewhere); nothing was written",
            jobID: jobID, databasePath: path)
    }

    static func problem(with output: JobOutput) -> String? {
        if output.promptTokens < 0 || output.generatedTokens < 0 { return "token counts must not be negative" }
        if output.model.isEmpty { return "model identity is empty" }
        for (index, box) in output.boxes.enumerated() {
            if let problem = box.problem { return "box \(index): \(problem)" }
        }
        return nil
    }
}

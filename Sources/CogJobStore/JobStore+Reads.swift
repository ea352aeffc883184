import Foundation

/// Read-only queries for the CLI (`status`, `list`, `show`, `results`, `export`). Each call reads
/// one consistent snapshot.
extension JobStore {
    /// Number of jobs in each state (every state present).
    public func stateCounts() throws -> [JobState: Int] {
        try read { db, _ in try counts(db) }
    }

    /// Everything `cogjobs status` shows. See `QueueStatus` for how throughput and ETA are estimated.
    public func status() throws -> QueueStatus {
        try read { db, now in
            let counts = try counts(db)
            let paused = try db.rows("SELECT paused FROM queue_state WHERE id = 1").first?.first?.int64 == 1
            let running = try db.rows("""
                SELECT j.id, i.path, j.task, j.attempt, j.lease_owner, j.progress_phase, j.tokens_generated,
                       j.started_at, j.lease_expires_at, j.cancel_requested
                FROM jobs j JOIN images i ON i.id = j.image_id
                WHERE j.state = 'running' ORDER BY j.started_at, j.id
                """).map { row in
                    let started = row[7].int64 ?? now
                    return RunningJob(
                        id: row[0].int64 ?? 0, imagePath: row[1].string ?? "", task: row[2].string ?? "",
                        attempt: Int(row[3].int64 ?? 0), owner: row[4].string ?? "", phase: row[5].string,
                        tokensGenerated: Int(row[6].int64 ?? 0), startedAt: Self.date(started),
                        ageSeconds: Double(now - started) / 1000, leaseExpiresAt: Self.date(row[8].int64 ?? now),
                        cancelRequested: row[9].int64 == 1)
                }
            let hourAgo = now - 3_600_000
            let lastHour = try db.rows("""
                SELECT count(*), min(started_at) FROM jobs
                WHERE state = 'succeeded' AND finished_at >= ?
                """, [hourAgo]).first ?? []
            let succeededLastHour = Int(lastHour.first?.int64 ?? 0)
            var imagesPerHour: Double? = nil
            if succeededLastHour > 0, let earliestStart = lastHour[1].int64 {
                // The window starts at the earliest start among those jobs, but is at least one second.
                let windowSeconds = max(1, Double(now - max(earliestStart, hourAgo)) / 1000)
                imagesPerHour = Double(succeededLastHour) / windowSeconds * 3600
            }
            let average = try db.rows("""
                SELECT avg(finished_at - started_at) FROM (
                    SELECT finished_at, started_at FROM jobs
                    WHERE state = 'succeeded' AND started_at IS NOT NULL
                    ORDER BY finished_at DESC LIMIT 50)
                """).first?.first?.double.map { $0 / 1000 }
            // Waiting jobs that can start now, as `claim` picks them (`run_after <= now`).
            let oldest = try db.rows("""
                SELECT id, created_at FROM jobs WHERE state IN ('queued', 'retryable') AND run_after <= ?
                ORDER BY created_at, id LIMIT 1
                """, [now]).first
            // Deferred: `enqueue --run-after`, or a retry waiting out its back-off.
            let deferred = try db.rows("""
                SELECT count(*), min(run_after) FROM jobs WHERE state IN ('queued', 'retryable') AND run_after > ?
                """, [now]).first ?? []
            var status = QueueStatus(
                counts: counts, paused: paused, running: running, succeededLastHour: succeededLastHour,
                imagesPerHour: imagesPerHour, averageSecondsPerJob: average, etaSeconds: nil,
                oldestWaitingJobID: oldest?[0].int64, oldestWaitingCreatedAt: oldest?[1].int64.map(Self.date),
                deferred: Int(deferred.first?.int64 ?? 0), nextRunAfter: deferred.dropFirst().first?.int64.map(Self.date))
            if let rate = imagesPerHour, rate > 0 {
                status.etaSeconds = Double(status.runnable) / rate * 3600
            }
            return status
        }
    }

    /// Jobs matching `filter`, newest first.
    public func list(_ filter: JobFilter = JobFilter()) throws -> [JobSummary] {
        try read { db, _ in
            var conditions: [String] = []
            var values: [any SQLBindable] = []
            if !filter.states.isEmpty {
                let states = filter.states.map(\.rawValue).sorted()
                conditions.append("j.state IN (\(states.map { _ in "?" }.joined(separator: ", ")))")
                values.append(contentsOf: states)
            }
            if let task = filter.task { conditions.append("j.task = ?"); values.append(task) }
            if let text = filter.pathContains { conditions.append("instr(i.path, ?) > 0"); values.append(text) }
            if let before = filter.beforeID { conditions.append("j.id < ?"); values.append(before) }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            values.append(max(0, filter.limit))
            let statement = try db.prepare("\(Self.summarySelect) \(whereClause) ORDER BY j.id DESC LIMIT ?")
            try statement.bind(values)
            var jobs: [JobSummary] = []
            while try statement.step() { jobs.append(try Self.summary(from: statement)) }
            return jobs
        }
    }

    /// One job with its error history and result, or `nil` if there is no such job.
    public func job(id: Int64) throws -> JobDetail? {
        try read(jobID: id) { db, _ in
            let statement = try db.prepare("\(Self.summarySelect) WHERE j.id = ?")
            try statement.bind([id])
            guard try statement.step() else { return nil }
            let job = try Self.summary(from: statement)
            let errors = try db.rows("""
                SELECT attempt, code, message, at FROM job_errors WHERE job_id = ? ORDER BY id
                """, [id]).map { row in
                    JobErrorRecord(attempt: Int(row[0].int64 ?? 0), code: row[1].string ?? "",
                                   message: row[2].string ?? "", at: Self.date(row[3].int64 ?? 0))
                }
            return JobDetail(job: job, errors: errors, result: try result(forJob: id, db: db))
        }
    }

    /// Results joined with their image and boxes, oldest first, for `cogjobs results` / `export`.
    ///
    /// - Parameters:
    ///   - task: only this task.
    ///   - afterResultID: only results with a larger id (for incremental export).
    ///   - limit: at most this many results.
    public func exportRows(task: String? = nil, afterResultID: Int64 = 0, limit: Int = 10_000) throws -> [ExportRow] {
        try read { db, _ in
            let taskCondition = task == nil ? "" : "AND j.task = ?"
            var values: [any SQLBindable] = [afterResultID]
            if let task { values.append(task) }
            values.append(max(0, limit))
            var rows = try db.rows("""
                SELECT r.id, r.job_id, i.path, i.sha256, i.width, i.height, j.task, j.prompt, r.text, r.raw_output,
                       r.model, r.generated_tokens, r.total_ms, r.created_at
                FROM results r JOIN jobs j ON j.id = r.job_id JOIN images i ON i.id = j.image_id
                WHERE r.id > ? \(taskCondition)
                ORDER BY r.id LIMIT ?
                """, values).map { row in
                    ExportRow(resultID: row[0].int64 ?? 0, jobID: row[1].int64 ?? 0, imagePath: row[2].string ?? "",
                              imageSHA256: row[3].string ?? "", imageWidth: row[4].int64.map(Int.init),
                              imageHeight: row[5].int64.map(Int.init), task: row[6].string ?? "",
                              prompt: row[7].string ?? "", text: row[8].string ?? "", rawOutput: row[9].string ?? "",
                              model: row[10].string ?? "", generatedTokens: Int(row[11].int64 ?? 0),
                              totalMilliseconds: row[12].double ?? 0, finishedAt: Self.date(row[13].int64 ?? 0),
                              boxes: [])
                }
            guard let first = rows.first?.resultID, let last = rows.last?.resultID else { return rows }
            let index = Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($1.resultID, $0) })
            for box in try db.rows("""
                SELECT result_id, phrase, x0, y0, x1, y1, px_x0, px_y0, px_x1, px_y1 FROM boxes
                WHERE result_id BETWEEN ? AND ? ORDER BY result_id, box_index
                """, [first, last]) {
                guard let resultID = box[0].int64, let position = index[resultID] else { continue }
                rows[position].boxes.append(Self.box(from: box, offset: 1))
            }
            return rows
        }
    }

    // MARK: Row mapping

    func counts(_ db: SQLiteConnection) throws -> [JobState: Int] {
        var counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map { ($0, 0) })
        for row in try db.rows("SELECT state, count(*) FROM jobs GROUP BY state") {
            if let state = row[0].string.flatMap(JobState.init(rawValue:)) { counts[state] = Int(row[1].int64 ?? 0) }
        }
        return counts
    }

    func result(forJob jobID: Int64, db: SQLiteConnection) throws -> StoredResult? {
        guard let row = try db.rows("""
            SELECT id, text, raw_output, prompt_tokens, generated_tokens, preprocess_ms, prefill_ms, decode_ms,
                   total_ms, model, created_at
            FROM results WHERE job_id = ?
            """, [jobID]).first, let resultID = row[0].int64 else { return nil }
        let boxes = try db.rows("""
            SELECT result_id, phrase, x0, y0, x1, y1, px_x0, px_y0, px_x1, px_y1 FROM boxes
            WHERE result_id = ? ORDER BY box_index
            """, [resultID]).map { Self.box(from: $0, offset: 1) }
        let output = JobOutput(
            text: row[1].string ?? "", rawOutput: row[2].string ?? "", promptTokens: Int(row[3].int64 ?? 0),
            generatedTokens: Int(row[4].int64 ?? 0), preprocessMilliseconds: row[5].double ?? 0,
            prefillMilliseconds: row[6].double ?? 0, decodeMilliseconds: row[7].double ?? 0,
            totalMilliseconds: row[8].double ?? 0, model: row[9].string ?? "", boxes: boxes)
        return StoredResult(id: resultID, jobID: jobID, output: output, createdAt: Self.date(row[10].int64 ?? 0))
    }

    static func box(from row: [SQLValue], offset: Int) -> GroundingBox {
        func int(_ i: Int) -> Int { Int(row[offset + i].int64 ?? 0) }
        func real(_ i: Int) -> Double { row[offset + i].double ?? 0 }
        return GroundingBox(phrase: row[offset].string ?? "", x0: int(1), y0: int(2), x1: int(3), y1: int(4),
                            pixelX0: real(5), pixelY0: real(6), pixelX1: real(7), pixelY1: real(8))
    }

    static let summarySelect = """
        SELECT j.id, j.image_id, i.path, i.sha256, j.task, j.prompt, j.params_json, j.model, j.priority, j.state,
               j.attempt, j.max_attempts, j.crash_count, j.cancel_requested, j.run_after, j.lease_owner,
               j.lease_expires_at, j.progress_phase, j.tokens_generated, j.created_at, j.started_at, j.finished_at,
               j.last_error_code, j.last_error_message, j.dedup_key IS NOT NULL
        FROM jobs j JOIN images i ON i.id = j.image_id
        """

    static func summary(from s: SQLiteStatement) throws -> JobSummary {
        guard let state = JobState(rawValue: s.string(at: 9)) else {
            throw JobStoreError(code: .corrupt, message: "job \(s.int64(at: 0)) has unknown state '\(s.string(at: 9))'",
                                jobID: s.int64(at: 0))
        }
        return JobSummary(
            id: s.int64(at: 0), imageID: s.int64(at: 1), imagePath: s.string(at: 2), imageSHA256: s.string(at: 3),
            task: s.string(at: 4), prompt: s.string(at: 5), paramsJSON: s.string(at: 6), model: s.string(at: 7),
            priority: Int(s.int64(at: 8)), state: state, attempt: Int(s.int64(at: 10)),
            maxAttempts: Int(s.int64(at: 11)), crashCount: Int(s.int64(at: 12)), cancelRequested: s.int64(at: 13) == 1,
            runAfter: date(s.int64(at: 14)), leaseOwner: s.stringOrNil(at: 15),
            leaseExpiresAt: s.int64OrNil(at: 16).map(date), progressPhase: s.stringOrNil(at: 17),
            tokensGenerated: Int(s.int64(at: 18)), createdAt: date(s.int64(at: 19)),
            startedAt: s.int64OrNil(at: 20).map(date), finishedAt: s.int64OrNil(at: 21).map(date),
            lastErrorCode: s.stringOrNil(at: 22), lastErrorMessage: s.stringOrNil(at: 23),
            deduplicated: s.int64(at: 24) == 1)
    }
}

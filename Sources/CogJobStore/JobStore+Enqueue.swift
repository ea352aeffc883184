import Foundation

extension JobStore {
    /// Records the image (by content hash) and creates a job for it, unless the same (image hash,
    /// task, prompt, model) already has a job and `request.force` is `false`.
    ///
    /// Deduplication is enforced by a unique index inside the same `BEGIN IMMEDIATE` transaction, so
    /// concurrent enqueuers (several CLI processes, the watcher) cannot race past it. A duplicate is
    /// reported whatever the existing job's state: to run it again use `retry` (failed / cancelled /
    /// quarantined jobs) or `force` (a new job and a new result next to the old one) — except for
    /// a job that ended for a reason about the file at its path rather than about the content
    /// (`pathBoundEndings`): such a job gives up its deduplication key (it keeps everything else)
    /// and the request gets a new job.
    ///
    /// An image seen again under another path gets its `path` updated to the new one; known width,
    /// height, format and size are kept when the new request leaves them `nil`.
    public func enqueue(_ request: EnqueueRequest) throws -> EnqueueOutcome {
        try validate(request)
        let maxAttempts = request.maxAttempts ?? configuration.defaultMaxAttempts
        let dedupKey: String? = request.force ? nil : request.dedupKey
        return try write { db, now in
            let imageID = try upsertImage(request.image, db: db, now: now)
            if let dedupKey { try releaseDedupKeyOfPathBoundEnding(dedupKey, db: db) }
            let runAfter = request.runAfter.map(Self.milliseconds) ?? now
            let inserted = try db.cachedStatement("""
                INSERT INTO jobs (image_id, task, prompt, params_json, model, priority, state, attempt, max_attempts,
                                  run_after, created_at, dedup_key)
                VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?)
                ON CONFLICT (dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING
                RETURNING id
                """)
            try inserted.bind([imageID, request.task, request.prompt, request.paramsJSON, request.model,
                               request.priority, maxAttempts, runAfter, now, dedupKey])
            defer { inserted.reset() }
            if try inserted.step() {
                return .enqueued(jobID: inserted.int64(at: 0))
            }
            // The unique index rejected it: report the job that holds the key.
            let existing = try db.rows("SELECT id, state FROM jobs WHERE dedup_key = ?", [dedupKey])
            guard let row = existing.first, let id = row[0].int64,
                  let state = row[1].string.flatMap(JobState.init(rawValue:)) else {
                throw JobStoreError(code: .sqlite, message: "insert was skipped as a duplicate but no job holds "
                                        + "its deduplication key", databasePath: path)
            }
            return .duplicate(of: id, state: state)
        }
    }

    /// Job endings that say nothing about the image content, only about the file at the job's path
    /// when it ran: the file had been rewritten (`job.image_changed`), deleted (`job.image_missing`)
    /// or could not be read (`job.image_unreadable`), or — a cancel by the daemon, not a user — the
    /// file was rewritten while the job waited (`job.superseded`). The same content handed in again
    /// deserves a run; every other ending (a decoder error, a crash quarantine, a user's cancel, a
    /// success) is kept as the answer for that content.
    public static let pathBoundEndings: [(state: JobState, code: String)] = [
        (.failed, "job.image_changed"), (.failed, "job.image_missing"), (.failed, "job.image_unreadable"),
        (.cancelled, "job.superseded"),
    ]

    /// Clears `dedupKey` from the job holding it if that job ended in one of `pathBoundEndings`, so
    /// that the insert which follows creates a new job. The old job keeps its row, errors and state
    /// (`retry` still works on it; it then no longer blocks or is blocked by the new one).
    private func releaseDedupKeyOfPathBoundEnding(_ dedupKey: String, db: SQLiteConnection) throws {
        let endings = Self.pathBoundEndings.map { _ in "(state = ? AND last_error_code = ?)" }
            .joined(separator: " OR ")
        let statement = try db.cachedStatement("""
            UPDATE jobs SET dedup_key = NULL WHERE dedup_key = ? AND (\(endings))
            """)
        var values: [any SQLBindable] = [dedupKey]
        for ending in Self.pathBoundEndings { values += [ending.state.rawValue, ending.code] as [any SQLBindable] }
        try statement.run(values)
    }

    private func upsertImage(_ image: ImageInfo, db: SQLiteConnection, now: Int64) throws -> Int64 {
        let statement = try db.cachedStatement("""
            INSERT INTO images (sha256, path, width, height, format, byte_size, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (sha256) DO UPDATE SET
                path = excluded.path,
                width = coalesce(excluded.width, images.width),
                height = coalesce(excluded.height, images.height),
                format = coalesce(excluded.format, images.format),
                byte_size = coalesce(excluded.byte_size, images.byte_size)
            RETURNING id
            """)
        defer { statement.reset() }
        try statement.bind([image.sha256, image.path, image.width, image.height, image.format, image.byteSize, now])
        guard try statement.step() else {
            throw JobStoreError(code: .sqlite, message: "image upsert returned no row", databasePath: path)
        }
        return statement.int64(at: 0)
    }

    private func validate(_ request: EnqueueRequest) throws {
        func reject(_ message: String) -> JobStoreError {
            JobStoreError(code: .invalidInput, message: message, databasePath: path)
        }
        let hash = request.image.sha256
        guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw reject("image sha256 must be 64 lower-case hex digits, got '\(hash.prefix(80))'")
        }
        guard !request.image.path.isEmpty else { throw reject("image path is empty") }
        guard !request.task.isEmpty else { throw reject("task is empty") }
        guard !request.model.isEmpty else { throw reject("model identity is empty") }
        if let maxAttempts = request.maxAttempts, maxAttempts < 1 {
            throw reject("max attempts must be at least 1, got \(maxAttempts)")
        }
        if let width = request.image.width, width <= 0 { throw reject("image width must be positive, got \(width)") }
        if let height = request.image.height, height <= 0 {
            throw reject("image height must be positive, got \(height)")
        }
        guard let data = request.paramsJSON.data(using: .utf8),
              (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
            // The parse error itself is not useful to users; the message says what is expected.
            throw reject("generation parameters must be a JSON object, got '\(request.paramsJSON.prefix(200))'")
        }
    }
}

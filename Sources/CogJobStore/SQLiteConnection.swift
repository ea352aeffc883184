import CSQLite

/// One SQLite database connection: our thin wrapper over `sqlite3*`.
///
/// Not thread-safe and not `Sendable`: it is opened with `SQLITE_OPEN_NOMUTEX`, so exactly one
/// thread may use it at a time. `JobStore` keeps its connection behind a mutex; tests and tools
/// that use a connection directly keep it on one thread.
///
/// Every connection gets the same settings (`configureForJobStore`): WAL, `synchronous=FULL`,
/// `foreign_keys=ON`, `temp_store=MEMORY`, `journal_size_limit` and a busy timeout.
public final class SQLiteConnection {
    /// How `transaction` starts its transaction.
    public enum TransactionKind: String, Sendable {
        /// `BEGIN DEFERRED`: takes locks lazily. Only for read-only work: a deferred read that later
        /// writes can fail with `SQLITE_BUSY` at once, without waiting for the busy timeout.
        case deferred = "DEFERRED"
        /// `BEGIN IMMEDIATE`: takes the write lock at once, waiting up to the busy timeout.
        case immediate = "IMMEDIATE"
    }

    let handle: OpaquePointer
    /// The file this connection opened.
    public let path: String
    private var statementCache: [String: SQLiteStatement] = [:]

    /// Opens (and, if `create`, creates) the database at `path`.
    ///
    /// - Parameters:
    ///   - busyTimeoutMilliseconds: how long a statement waits for another connection's lock before
    ///     failing with `SQLITE_BUSY`.
    ///   - readOnly: open with `SQLITE_OPEN_READONLY`.
    /// The corresponding C function is `sqlite3_open_v2`.
    public init(path: String, create: Bool = true, readOnly: Bool = false,
                busyTimeoutMilliseconds: Int32 = 5_000) throws(SQLiteError) {
        var flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        flags |= readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE
        if create && !readOnly { flags |= SQLITE_OPEN_CREATE }
        var db: OpaquePointer?
        let code = sqlite3_open_v2(path, &db, flags, nil)
        guard code == SQLITE_OK, let db else {
            let error = SQLiteError(code: code, db: db, sql: nil)
            sqlite3_close_v2(db)
            throw SQLiteError(resultCode: error.resultCode, extendedCode: error.extendedCode,
                              message: "\(error.message) (opening \(path))", sql: nil)
        }
        self.handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
    }

    deinit {
        statementCache.removeAll()  // finalize cached statements before closing
        sqlite3_close_v2(handle)
    }

    /// Changes the busy timeout. The corresponding C function is `sqlite3_busy_timeout`.
    public func setBusyTimeout(milliseconds: Int32) { sqlite3_busy_timeout(handle, milliseconds) }

    // MARK: Running SQL

    /// Runs one or more `;`-separated statements that return no rows the caller needs
    /// (schema scripts, pragmas). The corresponding C function is `sqlite3_exec`.
    public func execute(_ sql: String) throws(SQLiteError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        guard code == SQLITE_OK else {
            let extended = sqlite3_extended_errcode(handle)
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_free(errorMessage)
            throw SQLiteError(resultCode: code & 0xff, extendedCode: extended, message: message, sql: sql)
        }
    }

    /// Prepares a new statement (not cached).
    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        try SQLiteStatement(db: handle, sql: sql)
    }

    /// A prepared statement for `sql`, reused across calls on this connection. The statement is
    /// reset; bind before stepping. Do not hold it across another use of the same SQL text.
    public func cachedStatement(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let statement = statementCache[sql] {
            statement.reset()
            return statement
        }
        let statement = try prepare(sql)
        statementCache[sql] = statement
        return statement
    }

    /// Runs `sql` with `values` bound and returns the number of rows it changed.
    @discardableResult
    public func run(_ sql: String, _ values: [any SQLBindable] = []) throws(SQLiteError) -> Int {
        try cachedStatement(sql).run(values)
        return changes
    }

    /// Runs `sql` with `values` bound and returns every row.
    public func rows(_ sql: String, _ values: [any SQLBindable] = []) throws(SQLiteError) -> [[SQLValue]] {
        try cachedStatement(sql).rows(values)
    }

    /// Rows changed by the most recent INSERT/UPDATE/DELETE. C: `sqlite3_changes64`.
    public var changes: Int { Int(sqlite3_changes64(handle)) }

    /// Row id of the most recent successful INSERT. C: `sqlite3_last_insert_rowid`.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// `true` while a transaction is open. C: `sqlite3_get_autocommit`.
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    // MARK: Transactions

    /// Runs `body` inside `BEGIN <kind>` … `COMMIT`; any error from `body` or from `COMMIT` rolls
    /// the transaction back and is rethrown unchanged.
    public func transaction<T>(_ kind: TransactionKind = .immediate,
                               _ body: () throws -> T) throws -> T {
        try execute("BEGIN \(kind.rawValue)")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            rollbackIfNeeded()
            throw error
        }
    }

    /// Rolls back an open transaction, if any. A failing ROLLBACK is not reported: SQLite has then
    /// already rolled the transaction back on its own (e.g. after SQLITE_FULL or an I/O error),
    /// which is exactly the state we want.
    func rollbackIfNeeded() {
        guard isInTransaction else { return }
        sqlite3_exec(handle, "ROLLBACK", nil, nil, nil)
    }

    // MARK: Settings

    /// Applies the settings every job-store connection uses. WAL must be set outside a transaction;
    /// it is persistent in the file, so later connections only confirm it.
    public func configureForJobStore(readOnly: Bool = false) throws(SQLiteError) {
        try execute("PRAGMA foreign_keys = ON")
        try execute("PRAGMA synchronous = FULL")
        try execute("PRAGMA temp_store = MEMORY")
        // Truncate the WAL back to 64 MiB after a checkpoint so a burst does not leave a huge file.
        try execute("PRAGMA journal_size_limit = 67108864")
        if !readOnly {
            let mode = try rows("PRAGMA journal_mode = WAL").first?.first?.string?.lowercased()
            guard mode == "wal" else {
                throw SQLiteError(resultCode: SQLITE_ERROR, extendedCode: SQLITE_ERROR,
                                  message: "could not switch the database to WAL mode (got \(mode ?? "nothing"))",
                                  sql: "PRAGMA journal_mode = WAL")
            }
        }
    }
}

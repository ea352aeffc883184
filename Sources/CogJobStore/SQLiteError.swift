import CSQLite

/// A failed SQLite call, as SQLite reported it.
///
/// `resultCode` is the primary result code (`SQLITE_BUSY` = 5, `SQLITE_CONSTRAINT` = 19, …) and
/// `extendedCode` the extended one (`SQLITE_CONSTRAINT_UNIQUE` = 2067, …); `message` is
/// `sqlite3_errmsg` at the time of the failure and `sql` the statement that failed, if any.
/// The store turns these into `JobStoreError`s; callers of `JobStore` see `SQLiteError` only as the
/// `underlying` cause of a `JobStoreError`.
public struct SQLiteError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Primary result code (`extendedCode & 0xff`).
    public var resultCode: Int32
    /// Extended result code, e.g. `SQLITE_BUSY_SNAPSHOT`.
    public var extendedCode: Int32
    /// SQLite's own message (`sqlite3_errmsg`).
    public var message: String
    /// The SQL being prepared or run, if the failure belongs to a statement.
    public var sql: String?

    public init(resultCode: Int32, extendedCode: Int32, message: String, sql: String? = nil) {
        self.resultCode = resultCode
        self.extendedCode = extendedCode
        self.message = message
        self.sql = sql
    }

    /// The error currently recorded on `db` for a call that returned `code`.
    init(code: Int32, db: OpaquePointer?, sql: String?) {
        let extended = db.map { sqlite3_extended_errcode($0) } ?? code
        // sqlite3_errmsg describes the most recent failure on the connection; when the connection
        // could not even be allocated, fall back to the generic text for the code.
        let text = db.flatMap { sqlite3_errmsg($0) }.map { String(cString: $0) }
            ?? String(cString: sqlite3_errstr(code))
        self.init(resultCode: code & 0xff, extendedCode: extended, message: text, sql: sql)
    }

    /// `true` for `SQLITE_BUSY` and `SQLITE_LOCKED` (any extended variant): another connection holds
    /// the lock we need and the busy timeout ran out.
    public var isBusy: Bool { resultCode == SQLITE_BUSY || resultCode == SQLITE_LOCKED }

    /// `true` for any `SQLITE_CONSTRAINT` variant (unique, check, foreign key, not null, trigger RAISE).
    public var isConstraint: Bool { resultCode == SQLITE_CONSTRAINT }

    public var description: String {
        var text = "SQLite error \(resultCode)"
        if extendedCode != resultCode { text += " (extended \(extendedCode))" }
        text += ": \(message)"
        if let sql { text += " — while running: \(sql.count > 300 ? String(sql.prefix(300)) + "…" : sql)" }
        return text
    }
}

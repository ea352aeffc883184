import CSQLite

/// A prepared SQLite statement with typed binding and column access.
///
/// Not thread-safe: a statement belongs to its `SQLiteConnection` and is used by whoever holds that
/// connection. Finalized on deinit.
public final class SQLiteStatement {
    let handle: OpaquePointer
    private let db: OpaquePointer
    /// The SQL this statement was prepared from (for error messages).
    public let sql: String

    init(db: OpaquePointer, sql: String) throws(SQLiteError) {
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else {
            if let statement { sqlite3_finalize(statement) }
            throw SQLiteError(code: code, db: db, sql: sql)
        }
        self.handle = statement
        self.db = db
        self.sql = sql
    }

    deinit { sqlite3_finalize(handle) }

    // MARK: Binding

    /// Binds `values` to parameters 1…n (after clearing earlier bindings).
    /// The corresponding C functions are `sqlite3_bind_*`.
    public func bind(_ values: [any SQLBindable]) throws(SQLiteError) {
        sqlite3_clear_bindings(handle)
        for (offset, value) in values.enumerated() {
            try bind(value.sqlValue, at: Int32(offset + 1))
        }
    }

    /// Binds one value to the 1-based parameter `index`.
    public func bind(_ value: SQLValue, at index: Int32) throws(SQLiteError) {
        let code: Int32
        switch value {
        case .null:
            code = sqlite3_bind_null(handle, index)
        case .integer(let v):
            code = sqlite3_bind_int64(handle, index, v)
        case .real(let v):
            code = sqlite3_bind_double(handle, index, v)
        case .text(let v):
            // withCString hands out the full UTF-8 bytes (embedded NULs included) plus a terminator;
            // the explicit byte count keeps SQLite from stopping at an embedded NUL.
            let byteCount = Int32(v.utf8.count)
            code = v.withCString { cogjobs_sqlite3_bind_text_transient(handle, index, $0, byteCount) }
        case .blob(let bytes):
            if bytes.isEmpty {
                // A NULL pointer would bind SQL NULL; an empty blob is a zero-length zeroblob.
                code = sqlite3_bind_zeroblob(handle, index, 0)
            } else {
                code = bytes.withUnsafeBytes { raw in
                    cogjobs_sqlite3_bind_blob_transient(handle, index, raw.baseAddress, Int32(raw.count))
                }
            }
        }
        guard code == SQLITE_OK else { throw SQLiteError(code: code, db: db, sql: sql) }
    }

    // MARK: Stepping

    /// Advances to the next row. Returns `true` when a row is available, `false` when done.
    /// The corresponding C function is `sqlite3_step`.
    @discardableResult
    public func step() throws(SQLiteError) -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            let error = SQLiteError(code: code, db: db, sql: sql)
            sqlite3_reset(handle)
            throw error
        }
    }

    /// Resets the statement so it can run again; bindings are kept until the next `bind`.
    public func reset() { sqlite3_reset(handle) }

    /// Runs the statement to completion, ignoring rows, and resets it.
    public func run(_ values: [any SQLBindable] = []) throws(SQLiteError) {
        defer { reset() }
        try bind(values)
        while try step() {}
    }

    /// Runs the statement and collects every row as `SQLValue`s.
    public func rows(_ values: [any SQLBindable] = []) throws(SQLiteError) -> [[SQLValue]] {
        defer { reset() }
        try bind(values)
        var rows: [[SQLValue]] = []
        while try step() {
            rows.append((0..<columnCount).map { value(at: $0) })
        }
        return rows
    }

    // MARK: Columns (valid after `step()` returned `true`)

    /// `true` if the statement cannot change the database. The corresponding C function is
    /// `sqlite3_stmt_readonly`.
    public var isReadOnly: Bool { sqlite3_stmt_readonly(handle) != 0 }

    /// Number of result columns.
    public var columnCount: Int32 { sqlite3_column_count(handle) }

    /// Name of result column `index` (0-based).
    public func columnName(at index: Int32) -> String {
        sqlite3_column_name(handle, index).map { String(cString: $0) } ?? ""
    }

    /// `true` when column `index` holds NULL.
    public func isNull(at index: Int32) -> Bool { sqlite3_column_type(handle, index) == SQLITE_NULL }

    /// Column `index` as an integer (NULL reads as 0; use `int64OrNil` when NULL matters).
    public func int64(at index: Int32) -> Int64 { sqlite3_column_int64(handle, index) }

    /// Column `index` as an integer, or `nil` for NULL.
    public func int64OrNil(at index: Int32) -> Int64? { isNull(at: index) ? nil : int64(at: index) }

    /// Column `index` as a double (NULL reads as 0).
    public func double(at index: Int32) -> Double { sqlite3_column_double(handle, index) }

    /// Column `index` as a double, or `nil` for NULL.
    public func doubleOrNil(at index: Int32) -> Double? { isNull(at: index) ? nil : double(at: index) }

    /// Column `index` as text (NULL reads as the empty string).
    public func string(at index: Int32) -> String { stringOrNil(at: index) ?? "" }

    /// Column `index` as text, or `nil` for NULL.
    public func stringOrNil(at index: Int32) -> String? {
        guard let bytes = sqlite3_column_text(handle, index) else { return nil }
        let count = Int(sqlite3_column_bytes(handle, index))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    /// Column `index` in its stored type.
    public func value(at index: Int32) -> SQLValue {
        switch sqlite3_column_type(handle, index) {
        case SQLITE_INTEGER: return .integer(int64(at: index))
        case SQLITE_FLOAT: return .real(double(at: index))
        case SQLITE_TEXT: return .text(string(at: index))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(handle, index))
            guard count > 0, let bytes = sqlite3_column_blob(handle, index) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: bytes, count: count)))
        default: return .null
        }
    }
}

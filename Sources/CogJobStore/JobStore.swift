import Foundation
import Synchronization

/// The durable SQLite job queue: one database connection per instance.
///
/// ## Threads and processes
/// - Each process opens its own `JobStore` (daemon, every CLI invocation). Several processes may use
///   one database file at once; SQLite's locks serialise their writes.
/// - A `JobStore` is `Sendable`: any thread may call it, and calls on one instance run one at a time
///   (its connection sits behind a mutex). A component that wants parallel reads opens a second
///   `JobStore` on the same file.
/// - Every call is synchronous and may block its thread: on disk I/O (`synchronous=FULL` fsyncs every
///   commit) and on another connection's write lock, for up to `busyTimeout`, after which it throws
///   `store.busy`. Do not call it from the Swift cooperative thread pool in a loop; use a dedicated
///   thread or a blocking-work pool.
///
/// ## Connection settings
/// WAL journal, `synchronous=FULL`, `foreign_keys=ON`, `temp_store=MEMORY`, the busy timeout, and
/// every write in `BEGIN IMMEDIATE` (so waiting for the lock honours the busy timeout instead of
/// failing at once on a read-to-write upgrade).
///
/// ## Time
/// All times come from `configuration.clock` and are stored as Unix milliseconds, so tests move the
/// clock instead of sleeping.
public final class JobStore: Sendable {
    /// How to treat a database whose schema is older than this binary.
    public enum MigrationMode: Sendable {
        /// Apply pending migrations (the daemon and `cogjobs migrate`).
        case apply
        /// Refuse with `store.schema_outdated` (read-only CLI commands that must not change the schema).
        case requireCurrent
    }

    /// Tunables; every field has a default.
    public struct Configuration: Sendable {
        /// How long a call waits for another connection's lock before failing with `store.busy`.
        public var busyTimeout: Duration = .seconds(5)
        /// Create the database file if it does not exist. With `false`, a missing file is `store.open_failed`.
        public var createIfMissing = true
        public var migrationMode: MigrationMode = .apply
        /// The migrations this binary applies; tests substitute other lists.
        public var migrations: [Migration] = Migration.shipped
        public var retryPolicy = RetryPolicy()
        /// Attempts per job when the request does not say.
        public var defaultMaxAttempts = 3
        /// A job found running under a dead owner this many times is quarantined.
        public var quarantineAfterCrashes = 2
        /// Current time.
        public var clock: @Sendable () -> Date = { Date() }
        /// Uniform random numbers in [0, 1) for backoff jitter.
        public var randomUnit: @Sendable () -> Double = { Double.random(in: 0..<1) }

        public init() {}
    }

    /// The database file.
    public let path: String
    public let configuration: Configuration
    let connection: Mutex<SQLiteConnection>

    /// Opens (creating if allowed) the job database at `url`, applies the connection settings and
    /// checks or applies migrations.
    public convenience init(url: URL, configuration: Configuration = Configuration()) throws {
        try self.init(path: url.path, configuration: configuration)
    }

    /// Opens (creating if allowed) the job database at `path`; see `init(url:configuration:)`.
    public init(path: String, configuration: Configuration = Configuration()) throws {
        self.path = path
        self.configuration = configuration
        let timeoutMilliseconds = Self.milliseconds(configuration.busyTimeout)
        if !configuration.createIfMissing && !FileManager.default.fileExists(atPath: path) {
            throw JobStoreError(code: .openFailed,
                                message: "the job database does not exist; create it with `cogjobs migrate` "
                                    + "or check the configured path", databasePath: path)
        }
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: path, create: configuration.createIfMissing,
                                      busyTimeoutMilliseconds: Int32(clamping: timeoutMilliseconds))
        } catch {
            throw JobStoreError.from(error, path: path, busyTimeoutMilliseconds: timeoutMilliseconds)
        }
        let migrator = Migrator(migrations: configuration.migrations)
        if configuration.migrationMode == .requireCurrent {
            // Before the connection settings: switching to WAL writes to the file, and a reading
            // command must leave a file that is not (yet) a job database as it found it.
            let pending = try migrator.pendingMigrations(in: db)
            if let first = pending.first {
                throw JobStoreError(code: .schemaOutdated,
                                    message: "the job database needs migration \(first.fileName)"
                                        + (pending.count > 1 ? " and \(pending.count - 1) more" : "")
                                        + "; run `cogjobs migrate` or start the daemon",
                                    databasePath: path)
            }
        }
        do {
            try db.configureForJobStore()
        } catch {
            throw JobStoreError.from(error, path: path, busyTimeoutMilliseconds: timeoutMilliseconds)
        }
        if configuration.migrationMode == .apply {
            try migrator.migrate(db, now: Self.milliseconds(configuration.clock()))
        }
        self.connection = Mutex(db)
    }

    // MARK: Plumbing

    /// The current time in Unix milliseconds.
    var nowMilliseconds: Int64 { Self.milliseconds(configuration.clock()) }

    static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction with the current time; SQLite failures become
    /// `JobStoreError`s, and any error rolls everything back.
    func write<T: Sendable>(jobID: Int64? = nil,
                            _ body: (SQLiteConnection, Int64) throws -> T) throws -> T {
        try withConnection(jobID: jobID) { db in
            try db.transaction(.immediate) { try body(db, nowMilliseconds) }
        }
    }

    /// Runs `body` in a read transaction (one consistent snapshot for several queries).
    func read<T: Sendable>(jobID: Int64? = nil, _ body: (SQLiteConnection, Int64) throws -> T) throws -> T {
        try withConnection(jobID: jobID) { db in
            try db.transaction(.deferred) { try body(db, nowMilliseconds) }
        }
    }

    private func withConnection<T: Sendable>(jobID: Int64?, _ body: (SQLiteConnection) throws -> T) throws -> T {
        do {
            return try connection.withLock { db in try body(db) }
        } catch let error as JobStoreError {
            throw error
        } catch let error as SQLiteError {
            throw JobStoreError.from(error, path: path, jobID: jobID,
                                     busyTimeoutMilliseconds: Self.milliseconds(configuration.busyTimeout))
        }
    }

    /// Runs one read-only SQL statement and returns its rows, on this store's connection: for tools
    /// and tests that query the documented views (docs/sql.md). A statement that could write is
    /// refused with `store.invalid_input`: changes go through the API, which keeps the queue's rules.
    public func query(_ sql: String, _ values: [any SQLBindable] = []) throws -> [[SQLValue]] {
        try withConnection(jobID: nil) { db in
            let statement = try db.prepare(sql)
            guard statement.isReadOnly else {
                throw JobStoreError(code: .invalidInput, message: "only read-only SQL can be run through query(); "
                                        + "use the cogjobs commands to change jobs", databasePath: path)
            }
            return try statement.rows(values)
        }
    }

    /// Runs `sql` (any statement, pragmas included) and returns its rows. Internal: maintenance
    /// pragmas and the benchmark's comparison settings.
    func unrestrictedQuery(_ sql: String) throws -> [[SQLValue]] {
        try withConnection(jobID: nil) { db in try db.prepare(sql).rows() }
    }

    /// Runs `PRAGMA quick_check`; throws `store.corrupt` listing the first problems if it fails.
    public func quickCheck() throws {
        let rows = try unrestrictedQuery("PRAGMA quick_check")
        let messages = rows.compactMap { $0.first?.string }
        guard messages == ["ok"] else {
            throw JobStoreError(code: .corrupt,
                                message: "integrity check failed: \(messages.prefix(5).joined(separator: "; ")); "
                                    + "restore the database from a backup or move it aside", databasePath: path)
        }
    }

    /// Checkpoints the WAL into the database and truncates it (`PRAGMA wal_checkpoint(TRUNCATE)`).
    /// Returns `false` if a reader kept it from finishing (try again later).
    @discardableResult
    public func checkpoint() throws -> Bool {
        let row = try unrestrictedQuery("PRAGMA wal_checkpoint(TRUNCATE)").first
        return row?.first?.int64 == 0
    }
}

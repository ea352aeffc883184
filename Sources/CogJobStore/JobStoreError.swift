import CSQLite
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Every failure of the job store: a stable `code`, a `message` that says what to do, and the job,
/// database file or migration it concerns.
public struct JobStoreError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Stable, machine-readable error codes (`store.*`). New codes may be added.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Another connection held the database lock for longer than the busy timeout.
        public static let busy = Code(rawValue: "store.busy")
        /// The caller's claim token no longer matches the job (lease lost, job rescued or finished).
        public static let staleClaim = Code(rawValue: "store.stale_claim")
        /// No job with that id.
        public static let notFound = Code(rawValue: "store.not_found")
        /// The job is in a state that does not allow the operation (e.g. `retry` of a running job).
        public static let invalidState = Code(rawValue: "store.invalid_state")
        /// An argument was rejected (bad JSON parameters, a box out of range, an empty task …).
        public static let invalidInput = Code(rawValue: "store.invalid_input")
        /// The database was written by a newer cogjobs (schema version above what this binary knows).
        public static let schemaTooNew = Code(rawValue: "store.schema_too_new")
        /// The database's schema is older than this binary and it was opened without migrating.
        public static let schemaOutdated = Code(rawValue: "store.schema_outdated")
        /// An applied migration's recorded checksum differs from the migration shipped in this binary.
        public static let migrationChecksumMismatch = Code(rawValue: "store.migration_checksum_mismatch")
        /// A migration failed to apply; the database keeps its previous version.
        public static let migrationFailed = Code(rawValue: "store.migration_failed")
        /// The database file could not be opened (missing with `create: false`, permissions, not a database).
        public static let openFailed = Code(rawValue: "store.open_failed")
        /// The disk (or the temp space) is full; writes fail until space is freed.
        public static let diskFull = Code(rawValue: "store.disk_full")
        /// The database is read-only for this process.
        public static let readOnly = Code(rawValue: "store.read_only")
        /// The database file is corrupt (`SQLITE_CORRUPT`/`SQLITE_NOTADB` or a failed integrity check).
        public static let corrupt = Code(rawValue: "store.corrupt")
        /// Any other SQLite failure; `underlying` has SQLite's codes and message.
        public static let sqlite = Code(rawValue: "store.sqlite")
    }

    public var code: Code
    public var message: String
    /// The job the error concerns, if any.
    public var jobID: Int64?
    /// The database file the error concerns, if known.
    public var databasePath: String?
    /// SQLite's report when the error came from SQLite.
    public var underlying: SQLiteError?

    public init(code: Code, message: String, jobID: Int64? = nil, databasePath: String? = nil,
                underlying: SQLiteError? = nil) {
        self.code = code
        self.message = message
        self.jobID = jobID
        self.databasePath = databasePath
        self.underlying = underlying
    }

    public var description: String { "\(code): \(detail)" }

    /// The message without the code: what the description shows after `code: ` (the CLI prints
    /// `Error: <code>: <detail>`).
    public var detail: String {
        var text = message
        if let jobID { text += " [job \(jobID)]" }
        if let databasePath { text += " [database \(databasePath)]" }
        if let underlying { text += " (\(underlying))" }
        return text
    }

    /// Why a database at `path` that exists cannot be opened for WAL access, when the cause is that
    /// its folder cannot be written (a read-only mount, or no write permission): nil otherwise.
    static func readOnlyReason(path: String) -> String? {
        let parent = (path as NSString).deletingLastPathComponent
        let folder = parent.isEmpty ? "." : parent
        guard access(path, F_OK) == 0 else { return nil }
        var fs = statvfs()
        if statvfs(folder, &fs) == 0, fs.f_flag & UInt(ST_RDONLY) != 0 {
            return "it is on a read-only file system"
        }
        if access(folder, W_OK) != 0, errno == EACCES || errno == EROFS {
            return errno == EROFS ? "it is on a read-only file system" : "this user may not write to its folder \(folder)"
        }
        return nil
    }

    /// Classifies an SQLite failure. Busy and disk-full get their own codes because callers react
    /// to them differently (wait and retry later; back off and log once).
    public static func from(_ error: SQLiteError, path: String?, jobID: Int64? = nil,
                     busyTimeoutMilliseconds: Int64? = nil) -> JobStoreError {
        let (code, message): (Code, String)
        switch error.resultCode {
        case SQLITE_BUSY, SQLITE_LOCKED:
            let waited = busyTimeoutMilliseconds.map { " for \($0) ms" } ?? ""
            (code, message) = (.busy, "the job database is locked by another process or connection; waited\(waited) "
                + "and gave up. Try again later; if it persists, find the process holding the lock "
                + "(e.g. an open sqlite3 shell with an unfinished transaction)")
        case SQLITE_FULL:
            (code, message) = (.diskFull, "the disk holding the job database (or its temp space) is full; "
                + "free space and retry")
        case SQLITE_READONLY:
            (code, message) = (.readOnly, "the job database is read-only for this process; check the file's "
                + "and its directory's permissions (WAL needs to create -wal and -shm files next to it)")
        case SQLITE_CORRUPT, SQLITE_NOTADB:
            (code, message) = (.corrupt, "the job database is corrupt or not an SQLite database; restore it "
                + "from a backup or move it aside")
        case SQLITE_CANTOPEN:
            if let path, let reason = readOnlyReason(path: path) {
                (code, message) = (.readOnly, "cannot open the job database: \(reason); in WAL mode every "
                    + "connection, readers too, needs the -wal and -shm files next to it: make the folder writable "
                    + "(remount it read-write, or fix its permissions), or copy the database somewhere writable to "
                    + "read it")
            } else {
                (code, message) = (.openFailed, "cannot open the job database file; check the path and permissions")
            }
        case SQLITE_CONSTRAINT:
            (code, message) = (.invalidInput, "the database rejected the data: \(error.message)")
        default:
            (code, message) = (.sqlite, "SQLite failed: \(error.message)")
        }
        return JobStoreError(code: code, message: message, jobID: jobID, databasePath: path, underlying: error)
    }
}

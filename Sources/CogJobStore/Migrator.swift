/// Applies the forward-only schema migrations and guards against databases this binary must not touch.
///
/// Applied migrations are recorded in `schema_migrations (version, name, sha256, applied_at)`.
/// On every open the migrator
/// - refuses a database whose recorded version is newer than the newest migration it knows
///   (`store.schema_too_new`: an older binary must not write a newer schema),
/// - refuses a database whose recorded checksum for a version differs from the shipped file, or that
///   records a version this binary does not have (`store.migration_checksum_mismatch`: a shipped
///   migration was edited, or the database comes from a different build),
/// - refuses a non-empty database that has no `schema_migrations` table (not a cogjobs database),
/// - then applies each pending migration in its own `BEGIN IMMEDIATE` transaction, so concurrent
///   openers serialise and a failing migration leaves the previous version intact.
public struct Migrator: Sendable {
    /// A row of `schema_migrations`.
    public struct AppliedMigration: Sendable, Equatable {
        public var version: Int
        public var name: String
        public var checksum: String
        public var appliedAt: Int64
    }

    /// The migrations this binary knows, in ascending version order.
    public let migrations: [Migration]

    /// - Parameter migrations: defaults to the migrations compiled into the binary. Tests pass
    ///   other lists to simulate older and newer binaries.
    public init(migrations: [Migration] = Migration.shipped) {
        precondition(zip(migrations, migrations.dropFirst()).allSatisfy { $0.version < $1.version },
                     "migrations must be in strictly ascending version order")
        self.migrations = migrations
    }

    /// The newest version this binary knows (0 when it knows none).
    public var latestVersion: Int { migrations.last?.version ?? 0 }

    /// Rows of `schema_migrations`, oldest first (empty for a fresh database).
    public func appliedMigrations(in db: SQLiteConnection) throws -> [AppliedMigration] {
        do {
            guard try hasMigrationsTable(db) else { return [] }
            return try db.rows("SELECT version, name, sha256, applied_at FROM schema_migrations ORDER BY version")
                .map { row in
                    AppliedMigration(version: Int(row[0].int64 ?? -1), name: row[1].string ?? "",
                                     checksum: row[2].string ?? "", appliedAt: row[3].int64 ?? 0)
                }
        } catch let error as SQLiteError {
            throw JobStoreError.from(error, path: db.path)
        }
    }

    /// Checks the recorded migrations against this binary and returns those still to apply.
    public func pendingMigrations(in db: SQLiteConnection) throws -> [Migration] {
        let applied = try appliedMigrations(in: db)
        if applied.isEmpty {
            try requireEmptyDatabase(db)
        }
        try validate(applied, path: db.path)
        let done = Set(applied.map(\.version))
        return migrations.filter { !done.contains($0.version) }
    }

    /// Applies every pending migration; returns the ones this call applied.
    ///
    /// - Parameter now: the time recorded as `applied_at` (Unix milliseconds).
    @discardableResult
    public func migrate(_ db: SQLiteConnection, now: Int64) throws -> [Migration] {
        var appliedNow: [Migration] = []
        for migration in try pendingMigrations(in: db) {
            do {
                let didApply = try db.transaction(.immediate) { () throws -> Bool in
                    try db.execute(Self.createMigrationsTable)
                    // Another process may have applied it between our check and our lock: re-check
                    // inside the write transaction, and validate what it recorded.
                    let recorded = try appliedMigrations(in: db)
                    try validate(recorded, path: db.path)
                    if recorded.contains(where: { $0.version == migration.version }) { return false }
                    try db.execute(migration.sql)
                    try db.run("INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES (?, ?, ?, ?)",
                               [migration.version, migration.name, migration.checksum, now])
                    return true
                }
                if didApply { appliedNow.append(migration) }
            } catch let error as JobStoreError {
                throw error
            } catch let error as SQLiteError {
                if error.isBusy { throw JobStoreError.from(error, path: db.path) }
                throw JobStoreError(
                    code: .migrationFailed,
                    message: "migration \(migration.fileName) failed and was rolled back; the database stays "
                        + "at its previous version. Report this with the SQLite message",
                    databasePath: db.path, underlying: error)
            }
        }
        return appliedNow
    }

    // MARK: Checks

    static let createMigrationsTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER PRIMARY KEY,
            name       TEXT    NOT NULL,
            sha256     TEXT    NOT NULL,
            applied_at INTEGER NOT NULL
        ) STRICT
        """

    private func validate(_ applied: [AppliedMigration], path: String) throws {
        let known = Dictionary(uniqueKeysWithValues: migrations.map { ($0.version, $0) })
        if let newest = applied.last, newest.version > latestVersion {
            throw JobStoreError(
                code: .schemaTooNew,
                message: "the job database is at schema version \(newest.version) (\(newest.name)), newer than "
                    + "this cogjobs binary knows (\(latestVersion)); run a newer cogjobs, do not downgrade",
                databasePath: path)
        }
        for record in applied {
            guard let shipped = known[record.version] else {
                throw JobStoreError(
                    code: .migrationChecksumMismatch,
                    message: "the job database records migration \(record.version) (\(record.name)), which this "
                        + "binary does not ship; it was created by a different cogjobs build",
                    databasePath: path)
            }
            guard shipped.checksum == record.checksum else {
                throw JobStoreError(
                    code: .migrationChecksumMismatch,
                    message: "migration \(shipped.fileName) differs from the one applied to this database "
                        + "(sha256 \(record.checksum) recorded, \(shipped.checksum) shipped); shipped migrations "
                        + "must never be edited — add a new migration instead",
                    databasePath: path)
            }
        }
    }

    private func hasMigrationsTable(_ db: SQLiteConnection) throws -> Bool {
        try !db.rows("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'").isEmpty
    }

    private func requireEmptyDatabase(_ db: SQLiteConnection) throws {
        let objects: [[SQLValue]]
        do {
            objects = try db.rows("SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' LIMIT 3")
        } catch {
            throw JobStoreError.from(error, path: db.path)
        }
        guard objects.isEmpty else {
            let names = objects.compactMap { $0.first?.string }.joined(separator: ", ")
            throw JobStoreError(
                code: .openFailed,
                message: "this SQLite file is not a cogjobs job database (it has tables such as \(names) but no "
                    + "schema_migrations); point cogjobs at a new or existing job database",
                databasePath: db.path)
        }
    }
}

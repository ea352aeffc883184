@testable import CogJobStore
import Foundation
import Testing

@Suite("Migrations")
struct MigratorTests {
    @Test("a fresh database gets every migration, recorded with name and checksum")
    func freshApply() throws {
        let database = try TestDatabase("fresh")
        defer { database.remove() }
        _ = try database.open()
        let db = try database.rawConnection()
        let recorded = try Migrator().appliedMigrations(in: db)
        #expect(recorded.map(\.version) == Migration.shipped.map(\.version))
        #expect(recorded.map(\.name) == Migration.shipped.map(\.name))
        #expect(recorded.map(\.checksum) == Migration.shipped.map(\.checksum))
        #expect(recorded.first?.appliedAt == JobStore.milliseconds(database.clock.now))
        let tables = try db.rows("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY name")
            .compactMap { $0.first?.string }
        for name in ["images", "jobs", "job_errors", "results", "boxes", "queue_state", "schema_migrations",
                     "v_latest_results", "v_boxes", "v_queue_stats"] {
            #expect(tables.contains(name), "missing \(name)")
        }
        // The connection settings are in force.
        #expect(try db.rows("PRAGMA journal_mode").first?.first == .text("wal"))
    }

    @Test("re-opening a migrated database applies nothing and changes nothing")
    func reopenIsNoOp() throws {
        let database = try TestDatabase("reopen")
        defer { database.remove() }
        _ = try database.open()
        let db = try database.rawConnection()
        let before = try Migrator().appliedMigrations(in: db)
        database.clock.advance(seconds: 3600)
        _ = try database.open()
        #expect(try Migrator().migrate(db, now: 0).isEmpty)
        #expect(try Migrator().appliedMigrations(in: db) == before)
    }

    @Test("a database from a newer binary is refused")
    func newerVersionRefused() throws {
        let database = try TestDatabase("newer")
        defer { database.remove() }
        // A "newer binary" knows one more migration and applies it.
        var newer = database.configuration()
        newer.migrations = Migration.shipped
            + [Migration(version: 999, name: "future", sql: "CREATE TABLE future (x);")]
        _ = try database.open(newer)
        // This binary must refuse to touch it.
        let error = try #require(throws: JobStoreError.self) { try database.open() }
        #expect(error.code == .schemaTooNew)
        #expect(error.message.contains("999"))
        #expect(error.databasePath == database.url.path)
    }

    @Test("an edited migration (checksum differs) is refused")
    func editedChecksumRefused() throws {
        let database = try TestDatabase("checksum")
        defer { database.remove() }
        _ = try database.open()
        var edited = database.configuration()
        var migrations = Migration.shipped
        let first = migrations[0]
        migrations[0] = Migration(version: first.version, name: first.name, sql: first.sql + "\n-- edited\n")
        edited.migrations = migrations
        let error = try #require(throws: JobStoreError.self) { try database.open(edited) }
        #expect(error.code == .migrationChecksumMismatch)
        #expect(error.message.contains(first.fileName))
    }

    @Test("an older database is migrated forward; requireCurrent refuses it instead")
    func olderDatabaseMigratesForward() throws {
        let database = try TestDatabase("older")
        defer { database.remove() }
        _ = try database.open()
        var newer = database.configuration()
        let extra = Migration(version: 2, name: "add_note", sql: "ALTER TABLE jobs ADD COLUMN note TEXT;")
        newer.migrations = Migration.shipped + [extra]
        newer.migrationMode = .requireCurrent
        let error = try #require(throws: JobStoreError.self) { try database.open(newer) }
        #expect(error.code == .schemaOutdated)
        newer.migrationMode = .apply
        _ = try database.open(newer)
        let db = try database.rawConnection()
        #expect(try Migrator(migrations: newer.migrations).appliedMigrations(in: db).map(\.version) == [1, 2])
        #expect(try db.rows("SELECT count(*) FROM pragma_table_info('jobs') WHERE name = 'note'").first?.first
            == .integer(1))
    }

    @Test("a failing migration rolls back completely and the version stays")
    func failingMigrationRollsBack() throws {
        let database = try TestDatabase("failing")
        defer { database.remove() }
        _ = try database.open()
        var broken = database.configuration()
        broken.migrations = Migration.shipped + [
            Migration(version: 2, name: "broken", sql: "CREATE TABLE half (x); INSERT INTO nowhere VALUES (1);"),
        ]
        let error = try #require(throws: JobStoreError.self) { try database.open(broken) }
        #expect(error.code == .migrationFailed)
        #expect(error.underlying?.message.contains("nowhere") == true)
        let db = try database.rawConnection()
        #expect(try db.rows("SELECT count(*) FROM sqlite_schema WHERE name = 'half'").first?.first == .integer(0))
        #expect(try Migrator().appliedMigrations(in: db).map(\.version) == [1])
    }

    @Test("a non-cogjobs SQLite file is refused, and a missing file is not created when told not to")
    func foreignAndMissingDatabases() throws {
        let database = try TestDatabase("foreign")
        defer { database.remove() }
        let db = try SQLiteConnection(path: database.url.path)
        try db.execute("CREATE TABLE contacts (name TEXT)")
        let foreign = try #require(throws: JobStoreError.self) { try database.open() }
        #expect(foreign.code == .openFailed)
        #expect(foreign.message.contains("contacts"))

        var noCreate = database.configuration()
        noCreate.createIfMissing = false
        let missing = database.directory.appendingPathComponent("absent.sqlite")
        let error = try #require(throws: JobStoreError.self) { try JobStore(url: missing, configuration: noCreate) }
        #expect(error.code == .openFailed)
        #expect(!FileManager.default.fileExists(atPath: missing.path))
    }

    @Test("a file that is not SQLite is reported as corrupt and left untouched")
    func garbageFileRefused() throws {
        let database = try TestDatabase("garbage")
        defer { database.remove() }
        let garbage = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        try garbage.write(to: database.url)
        let error = try #require(throws: JobStoreError.self) { try database.open() }
        #expect(error.code == .corrupt)
        #expect(try Data(contentsOf: database.url) == garbage)
    }

    @Test("embedded migrations are byte-identical to migrations/*.sql (run migrations/embed-into-swift.sh)")
    func embeddedMigrationsMatchFiles() throws {
        let repository = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = repository.appendingPathComponent("migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".sql") }.sorted()
        #expect(!files.isEmpty)
        #expect(files == Migration.shipped.map(\.fileName), "files and embedded migrations differ in number or names")
        for migration in Migration.shipped {
            let fileBytes = try [UInt8](Data(contentsOf: directory.appendingPathComponent(migration.fileName)))
            let embeddedBytes = Array(migration.sql.utf8)
            let firstDifference = zip(fileBytes, embeddedBytes).enumerated().first { $1.0 != $1.1 }?.offset
                ?? (fileBytes.count == embeddedBytes.count ? nil : min(fileBytes.count, embeddedBytes.count))
            #expect(firstDifference == nil, """
                \(migration.fileName) drifted from EmbeddedMigrations.swift at byte \(firstDifference ?? -1) \
                (file \(fileBytes.count) bytes, embedded \(embeddedBytes.count)); run migrations/embed-into-swift.sh
                """)
        }
    }
}

import ArgumentParser
import CogJobStore
import Foundation

/// `cogjobs migrate`: creates the job database if needed and applies pending schema migrations.
struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Create the job database if needed and apply pending schema migrations.",
        discussion: """
            Migrations are embedded in the binary and only move forward; each runs in its own transaction. A \
            database written by a newer cogjobs is refused (exit status 4): upgrade cogjobs instead. The daemon \
            also migrates at start-up; the other commands never change the schema and ask for this command when \
            the database is behind.
            """)

    @OptionGroup var store: StoreOptions

    @Flag(name: .long, help: "Print JSON (fields in docs/cli.md).")
    var json = false

    func run() throws {
        try reportingFailures {
            let context = CommandContext.current
            let location = try store.databaseLocation(environment: context.environment)
            let timeout = try store.busyTimeout(environment: context.environment)
            let report = try Self.migrate(path: location.path, busyTimeout: timeout, now: context.clock())
            if json {
                context.write(try JSONOutput.document(report))
                return
            }
            context.writeLine("Database: \(location.path) (from \(location.source))")
            if report.applied.isEmpty {
                context.writeLine("Schema version \(report.versionAfter): up to date "
                                  + "(this cogjobs knows up to \(report.latestKnown)); nothing to apply.")
            } else {
                context.writeLine("Schema version \(report.versionBefore) → \(report.versionAfter) "
                                  + "(this cogjobs knows up to \(report.latestKnown)).")
                for migration in report.applied { context.writeLine("Applied \(migration.file)") }
            }
        }
    }

    /// Opens (creating) the database at `path` and applies pending migrations.
    static func migrate(path: String, busyTimeout: Duration, now: Date) throws -> Report {
        let milliseconds = Int64(busyTimeout.components.seconds * 1000
                                 + busyTimeout.components.attoseconds / 1_000_000_000_000_000)
        let migrator = Migrator()
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: path, create: true, busyTimeoutMilliseconds: Int32(clamping: milliseconds))
            try db.configureForJobStore()
        } catch {
            throw StoreErrors.wrap(error, path: path, busyTimeoutMilliseconds: milliseconds)
        }
        let before = try migrator.appliedMigrations(in: db).last?.version ?? 0
        let applied = try migrator.migrate(db, now: Int64((now.timeIntervalSince1970 * 1000).rounded()))
        let after = try migrator.appliedMigrations(in: db).last?.version ?? 0
        return Report(database: path, versionBefore: before, versionAfter: after,
                      latestKnown: migrator.latestVersion,
                      applied: applied.map { Report.Applied(version: $0.version, name: $0.name, file: $0.fileName) })
    }

    /// What `migrate` did (`migrate --json`).
    struct Report: Encodable {
        struct Applied: Encodable {
            var version: Int
            var name: String
            var file: String
        }

        var database: String
        var versionBefore: Int
        var versionAfter: Int
        var latestKnown: Int
        var applied: [Applied]

        enum CodingKeys: String, CodingKey {
            case database, applied
            case versionBefore = "version_before", versionAfter = "version_after", latestKnown = "latest_known"
        }
    }
}

@testable import CogCLI
import CogJobStore
import Foundation
import Testing

/// A database locked by another connection makes write commands fail with exit status 3 after the
/// busy timeout, naming the database; reads still work (WAL readers do not wait for writers).
@Suite("cogjobs on a locked database")
struct LockedDatabaseTests {
    @Test func writeCommandsGiveUpAfterTheBusyTimeout() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let holder = try SQLiteConnection(path: db.path)
        try holder.execute("BEGIN IMMEDIATE")
        defer { try? holder.execute("ROLLBACK") }  // best effort; the file is removed afterwards

        for verb in [["pause"], ["cancel", String(db.queued)], ["retry", String(db.broken)],
                     ["prune", "--older-than", "1d"]] {
            let run = await CLI.run(verb + ["--database", db.path, "--busy-timeout", "0.3"])
            #expect(run.status == ExitStatus.databaseBusy.rawValue, "\(verb): \(run)")
            #expect(run.standardError.contains("store.busy") && run.standardError.contains(db.path), "\(run)")
            #expect(run.standardError.contains("300 ms"), "\(run)")
            #expect(run.seconds >= 0.25 && run.seconds < 3, "took \(run.seconds) s")
        }
        // The timeout can come from the environment too.
        let fromEnvironment = await CLI.run(["resume", "--database", db.path],
                                            environment: ["COGJOBS_BUSY_TIMEOUT": "0.2"])
        #expect(fromEnvironment.status == ExitStatus.databaseBusy.rawValue, "\(fromEnvironment)")
        #expect(fromEnvironment.seconds < 3)
        let badVariable = await CLI.run(["resume", "--database", db.path],
                                        environment: ["COGJOBS_BUSY_TIMEOUT": "soon"])
        #expect(badVariable.status == 1 && badVariable.standardError.contains("COGJOBS_BUSY_TIMEOUT"),
                "\(badVariable)")

        // Reads do not wait for the writer.
        let status = await CLI.run(["status", "--database", db.path, "--busy-timeout", "0.3"])
        #expect(status.status == 0, "\(status)")
        let list = await CLI.run(["list", "--database", db.path, "--busy-timeout", "0.3"])
        #expect(list.status == 0, "\(list)")
    }

    @Test func theBinaryExitsWithTheBusyStatus() throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let holder = try SQLiteConnection(path: db.path)
        try holder.execute("BEGIN IMMEDIATE")
        defer { try? holder.execute("ROLLBACK") }  // best effort; the file is removed afterwards
        let run = try CLI.runBinary(["pause", "--database", db.path, "--busy-timeout", "0.5"])
        #expect(run.status == 3, "\(run)")
        #expect(run.standardError.contains("Error: store.busy") && run.standardError.contains(db.path), "\(run)")
        #expect(run.seconds >= 0.45 && run.seconds < 5, "took \(run.seconds) s")
        let environment = try CLI.runBinary(["pause"], environment: ["COGJOBS_DATABASE": db.path,
                                                                     "COGJOBS_BUSY_TIMEOUT": "0.2"])
        #expect(environment.status == 3, "\(environment)")
    }
}

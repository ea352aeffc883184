@testable import CogCLI
import CogJobStore
import Foundation
import Testing

/// `cancel`, `retry`, `pause`, `resume` and `prune` change the database as documented.
@Suite("cogjobs cancel / retry / pause / resume / prune")
struct AdminCommandTests {
    @Test func cancelHandlesEachStateAndReportsMissingJobs() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let run = await CLI.run(["cancel", "--database", db.path, String(db.queued), "9999", String(db.running),
                                 String(db.dog)])
        #expect(run.status == ExitStatus.notFound.rawValue, "\(run)")
        #expect(run.standardOutput.contains("job \(db.queued): cancelled"))
        #expect(run.standardOutput.contains("job \(db.running): running; cancel requested"))
        #expect(run.standardOutput.contains("job \(db.dog): already succeeded"))
        #expect(run.standardError.contains("job 9999: store.not_found"), "\(run)")
        let store = try db.open()
        #expect(try store.job(id: db.queued)?.job.state == .cancelled)
        #expect(try store.job(id: db.running)?.job.cancelRequested == true)
        #expect(try store.job(id: db.dog)?.job.state == .succeeded)
    }

    @Test func retryByIDAndByState() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let one = await CLI.run(["retry", "--database", db.path, String(db.broken)])
        #expect(one.status == 0 && one.standardOutput.contains("job \(db.broken): queued again"), "\(one)")
        let store = try db.open()
        #expect(try store.job(id: db.broken)?.job.state == .queued)
        #expect(try store.job(id: db.broken)?.errors.count == 1, "the error history is kept")

        let succeeded = await CLI.run(["retry", "--database", db.path, String(db.dog)])
        #expect(succeeded.status == ExitStatus.failure.rawValue, "\(succeeded)")
        #expect(succeeded.standardError.contains("store.invalid_state") && succeeded.standardError.contains("--force"))

        let bulk = await CLI.run(["retry", "--database", db.path, "--state", "cancelled", "--state", "failed"])
        #expect(bulk.status == 0, "\(bulk)")
        #expect(bulk.standardOutput.contains("Retried 1 of 1 jobs."), "\(bulk)")
        #expect(try store.job(id: db.cancelled)?.job.state == .queued)
        let none = await CLI.run(["retry", "--database", db.path, "--state", "quarantined"])
        #expect(none.status == 0 && none.standardOutput.contains("No jobs in state quarantined"), "\(none)")

        let both = await CLI.run(["retry", "--database", db.path, "--state", "failed", "1"])
        #expect(both.status == 64, "\(both)")
        let wrongState = await CLI.run(["retry", "--database", db.path, "--state", "succeeded"])
        #expect(wrongState.status == 64 && wrongState.standardError.contains("only failed"), "\(wrongState)")
    }

    @Test func pauseAndResumePersistInTheDatabase() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let pause = await CLI.run(["pause", "--database", db.path])
        #expect(pause.status == 0 && pause.standardOutput.contains("Queue paused"), "\(pause)")
        #expect(try db.open().isPaused())
        let status = await CLI.run(["status", "--database", db.path])
        #expect(status.standardOutput.contains("PAUSED"))
        let json = await CLI.run(["status", "--database", db.path, "--json"])
        #expect(field(try json.json(), "paused") == true)
        let resume = await CLI.run(["resume", "--database", db.path])
        #expect(resume.status == 0, "\(resume)")
        #expect(try !db.open().isPaused())
    }

    @Test func pruneDeletesOnlyOldJobsWithoutResults() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let now = await CLI.run(["prune", "--database", db.path, "--older-than", "7d"])
        #expect(now.status == 0 && now.standardOutput.contains("Deleted 0 jobs"), "\(now)")

        let eightDaysLater: @Sendable () -> Date = { Date().addingTimeInterval(8 * 86_400) }
        let dry = await CLI.run(["prune", "--database", db.path, "--older-than", "7d", "--dry-run"],
                                clock: eightDaysLater)
        #expect(dry.standardOutput.contains("Would delete 2 jobs"), "\(dry)")
        #expect(try db.open().stateCounts().values.reduce(0, +) == 7)

        let later = await CLI.run(["prune", "--database", db.path, "--older-than", "1w"], clock: eightDaysLater)
        #expect(later.status == 0 && later.standardOutput.contains("Deleted 2 jobs"), "\(later)")
        let store = try db.open()
        #expect(try store.job(id: db.broken) == nil)
        #expect(try store.job(id: db.cancelled) == nil)
        #expect(try store.job(id: db.dog)?.result != nil, "results and their jobs are never pruned")
        #expect(try store.query("SELECT count(*) FROM results") == [[.integer(3)]])

        let bad = await CLI.run(["prune", "--database", db.path, "--older-than", "7"])
        #expect(bad.status == 64, "\(bad)")
        // A negative span is a bad value, not a missing one.
        let negative = await CLI.run(["prune", "--database", db.path, "--older-than", "-5d"])
        #expect(negative.status == 64 && negative.standardError.contains("'-5d' is invalid"), "\(negative)")
    }
}

@testable import CogJobStore
import Foundation
import Testing

@Suite("Queue semantics")
struct QueueSemanticsTests {
    let owner = OwnerIdentity.current().description

    @Test("claim counts the attempt and sets lease and token; complete stores result and boxes")
    func claimAndComplete() throws {
        let database = try TestDatabase("claim")
        defer { database.remove() }
        let store = try database.open()
        let id = try store.enqueueNew(request(1))
        let job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        #expect(job.id == id)
        #expect(job.attempt == 1)
        #expect(job.claimToken.count == 32)
        #expect(job.image.path == "/photos/img-1.jpg")
        #expect(job.image.width == 640)
        #expect(job.paramsJSON == #"{"max_new_tokens": 64}"#)
        #expect(job.leaseExpiresAt == database.clock.now.addingTimeInterval(30))
        #expect(try store.state(of: id) == .running)
        #expect(try store.claim(owner: owner, leaseDuration: .seconds(30)) == nil)

        let boxes = [GroundingBox(phrase: "cat", x0: 100, y0: 200, x1: 500, y1: 999, imageWidth: 640, imageHeight: 480),
                     GroundingBox(phrase: "mat", x0: 0, y0: 0, x1: 999, y1: 100, imageWidth: 640, imageHeight: 480)]
        database.clock.advance(seconds: 2)
        let resultID = try store.complete(jobID: id, claimToken: job.claimToken, output: output(boxes: boxes))
        let detail = try #require(try store.job(id: id))
        #expect(detail.job.state == .succeeded)
        #expect(detail.job.leaseOwner == nil)
        #expect(detail.job.finishedAt == database.clock.now)
        #expect(detail.result?.id == resultID)
        #expect(detail.result?.output == output(boxes: boxes))
        #expect(detail.result?.output.boxes[0].pixelX1 == 320)
        #expect(try store.claim(owner: owner, leaseDuration: .seconds(30)) == nil)
    }

    @Test("priority: higher first, then run_after, then id")
    func priorityOrder() throws {
        let database = try TestDatabase("priority")
        defer { database.remove() }
        let store = try database.open()
        let low = try store.enqueueNew(request(1, priority: -1))
        let normal = try store.enqueueNew(request(2, priority: 0))
        let urgentA = try store.enqueueNew(request(3, priority: 5))
        let urgentB = try store.enqueueNew(request(4, priority: 5))
        // Same priority, earlier run_after wins over a smaller id.
        let earlier = try store.enqueueNew(request(5, priority: 0,
                                                   runAfter: database.clock.now.addingTimeInterval(-60)))
        var order: [Int64] = []
        while let job = try store.claim(owner: owner, leaseDuration: .seconds(30)) { order.append(job.id) }
        #expect(order == [urgentA, urgentB, earlier, normal, low])
    }

    @Test("run_after: a job is not claimed before its time")
    func runAfter() throws {
        let database = try TestDatabase("runafter")
        defer { database.remove() }
        let store = try database.open()
        let id = try store.enqueueNew(request(1, runAfter: database.clock.now.addingTimeInterval(60)))
        #expect(try store.claim(owner: owner, leaseDuration: .seconds(30)) == nil)
        database.clock.advance(seconds: 59.9)
        #expect(try store.claim(owner: owner, leaseDuration: .seconds(30)) == nil)
        database.clock.advance(seconds: 0.1)
        #expect(try store.claim(owner: owner, leaseDuration: .seconds(30))?.id == id)
    }

    @Test("dedup: same image hash, task, prompt and model is one job, in any state")
    func dedup() throws {
        let database = try TestDatabase("dedup")
        defer { database.remove() }
        let store = try database.open()
        let id = try store.enqueueNew(request(1))
        #expect(try store.enqueue(request(1)) == .duplicate(of: id, state: .queued))
        // Same content under a new path: still a duplicate, and the image's path follows the file.
        var moved = request(1)
        moved.image.path = "/photos/renamed.jpg"
        moved.image.width = nil
        #expect(try store.enqueue(moved) == .duplicate(of: id, state: .queued))
        let imageRow = try store.query("SELECT path, width FROM images")
        #expect(imageRow == [[.text("/photos/renamed.jpg"), .integer(640)]])
        // Any part of the key differing makes a new job.
        #expect(try store.enqueueNew(request(1, prompt: "What is this?")) != id)
        #expect(try store.enqueueNew(request(1, model: "cogvlm-tiny@2")) != id)
        #expect(try store.enqueueNew(request(1, task: "ground")) != id)
        // Finished jobs still deduplicate (a watcher rescan must not re-run them).
        let job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        try store.fail(jobID: job.id, claimToken: job.claimToken, code: "image.corrupt", message: "bad",
                       permanent: true)
        #expect(try store.enqueue(request(1)) == .duplicate(of: id, state: .failed))
        #expect(try store.query("SELECT count(*) FROM jobs") == [[.integer(4)]])
    }

    @Test("force: a new job even when one exists")
    func force() throws {
        let database = try TestDatabase("force")
        defer { database.remove() }
        let store = try database.open()
        let first = try store.enqueueNew(request(1))
        let forcedA = try store.enqueueNew(request(1, force: true))
        let forcedB = try store.enqueueNew(request(1, force: true))
        #expect(Set([first, forcedA, forcedB]).count == 3)
        #expect(try store.enqueue(request(1)) == .duplicate(of: first, state: .queued))
        #expect(try store.job(id: forcedA)?.job.deduplicated == false)
        #expect(try store.query("SELECT count(*) FROM images") == [[.integer(1)]])
    }

    @Test("transient failure: retryable after exponential backoff, then failed at max attempts")
    func backoffAndMaxAttempts() throws {
        let database = try TestDatabase("backoff")
        defer { database.remove() }
        let store = try database.open()  // base 10 s, jitter 0, max attempts 3
        let id = try store.enqueueNew(request(1))
        var expectedDelays: [Double] = [10, 20]
        for attempt in 1...3 {
            let job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
            #expect(job.attempt == attempt)
            let outcome = try store.fail(jobID: id, claimToken: job.claimToken, code: "model.oom",
                                         message: "out of memory \(attempt)", permanent: false)
            if attempt < 3 {
                let delay = expectedDelays.removeFirst()
                #expect(outcome == .willRetry(runAfter: database.clock.now.addingTimeInterval(delay)))
                #expect(try store.state(of: id) == .retryable)
                database.clock.advance(seconds: delay - 0.001)
                #expect(try store.claim(owner: owner, leaseDuration: .seconds(30)) == nil)
                database.clock.advance(seconds: 0.001)
            } else {
                #expect(outcome == .failed)
            }
        }
        let detail = try #require(try store.job(id: id))
        #expect(detail.job.state == .failed)
        #expect(detail.job.attempt == 3)
        #expect(detail.job.lastErrorCode == "model.oom")
        #expect(detail.job.lastErrorMessage == "out of memory 3")
        #expect(detail.errors.map(\.attempt) == [1, 2, 3])
        #expect(detail.errors.map(\.code) == ["model.oom", "model.oom", "model.oom"])
        #expect(try store.claim(owner: owner, leaseDuration: .seconds(30)) == nil)
    }

    @Test("backoff jitter comes from the configured random source")
    func backoffJitter() throws {
        let database = try TestDatabase("jitter")
        defer { database.remove() }
        let store = try database.open(database.configuration(jitter: 0.25))  // randomUnit is 0.5
        _ = try store.enqueueNew(request(1))
        let job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        let outcome = try store.fail(jobID: job.id, claimToken: job.claimToken, code: "x", message: "y",
                                     permanent: false)
        #expect(outcome == .willRetry(runAfter: database.clock.now.addingTimeInterval(11.25)))
    }

    @Test("a permanent error fails at once; max_attempts 1 fails on the first transient error")
    func permanentError() throws {
        let database = try TestDatabase("permanent")
        defer { database.remove() }
        let store = try database.open()
        let id = try store.enqueueNew(request(1))
        let job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        #expect(try store.fail(jobID: id, claimToken: job.claimToken, code: "image.corrupt",
                               message: "not a JPEG", permanent: true) == .failed)
        #expect(try store.job(id: id)?.job.attempt == 1)
        #expect(try store.job(id: id)?.job.lastErrorCode == "image.corrupt")

        let once = try store.enqueueNew(request(2, maxAttempts: 1))
        let second = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        #expect(second.id == once)
        #expect(try store.fail(jobID: once, claimToken: second.claimToken, code: "t", message: "m",
                               permanent: false) == .failed)
    }

    @Test("cancel: queued at once, running by request, finished untouched")
    func cancel() throws {
        let database = try TestDatabase("cancel")
        defer { database.remove() }
        let store = try database.open()
        let queued = try store.enqueueNew(request(1))
        #expect(try store.cancel(jobID: queued) == .cancelled)
        #expect(try store.state(of: queued) == .cancelled)
        #expect(try store.claim(owner: owner, leaseDuration: .seconds(30)) == nil)

        let running = try store.enqueueNew(request(2))
        let job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        #expect(try store.isCancelRequested(jobID: running) == false)
        #expect(try store.cancel(jobID: running) == .requested)
        #expect(try store.state(of: running) == .running)
        #expect(try store.isCancelRequested(jobID: running))
        try store.markCancelled(jobID: running, claimToken: job.claimToken)
        #expect(try store.state(of: running) == .cancelled)
        #expect(try store.cancel(jobID: running) == .alreadyFinished(.cancelled))

        // A worker that fails after a cancel request ends cancelled, not retryable.
        let third = try store.enqueueNew(request(3))
        let claimed = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        #expect(try store.cancel(jobID: third) == .requested)
        #expect(try store.fail(jobID: third, claimToken: claimed.claimToken, code: "x", message: "y",
                               permanent: false) == .cancelled)

        let missing = try #require(throws: JobStoreError.self) { try store.cancel(jobID: 999) }
        #expect(missing.code == .notFound)
        #expect(missing.jobID == 999)
    }

    @Test("retry: failed, cancelled and quarantined jobs go back to queued with a fresh attempt budget")
    func retry() throws {
        let database = try TestDatabase("retry")
        defer { database.remove() }
        let store = try database.open()
        let id = try store.enqueueNew(request(1))
        let job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        #expect(throws: JobStoreError.self) { try store.retry(jobID: id) }  // running
        try store.fail(jobID: id, claimToken: job.claimToken, code: "image.corrupt", message: "bad", permanent: true)
        try store.retry(jobID: id)
        let detail = try #require(try store.job(id: id))
        #expect(detail.job.state == .queued)
        #expect(detail.job.attempt == 0)
        #expect(detail.job.lastErrorCode == nil)
        #expect(detail.errors.count == 1)  // history kept
        let again = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        #expect(again.attempt == 1)
        try store.complete(jobID: id, claimToken: again.claimToken, output: output())
        let error = try #require(throws: JobStoreError.self) { try store.retry(jobID: id) }
        #expect(error.code == .invalidState)
        #expect(error.message.contains("--force"))

        let cancelled = try store.enqueueNew(request(2))
        try store.cancel(jobID: cancelled)
        try store.retry(jobID: cancelled)
        #expect(try store.state(of: cancelled) == .queued)
    }

    @Test("pause stops claiming (persistently) and resume restarts it")
    func pauseResume() throws {
        let database = try TestDatabase("pause")
        defer { database.remove() }
        let store = try database.open()
        let id = try store.enqueueNew(request(1))
        try store.pause()
        #expect(try store.isPaused())
        #expect(try store.claim(owner: owner, leaseDuration: .seconds(30)) == nil)
        let other = try database.open()  // another process sees it too
        #expect(try other.isPaused())
        #expect(try other.claim(owner: owner, leaseDuration: .seconds(30)) == nil)
        try other.resume()
        #expect(try store.isPaused() == false)
        #expect(try store.claim(owner: owner, leaseDuration: .seconds(30))?.id == id)
    }

    @Test("prune deletes old finished jobs without results, never results")
    func prune() throws {
        let database = try TestDatabase("prune")
        defer { database.remove() }
        let store = try database.open()
        let failed = try store.enqueueNew(request(1))
        let cancelled = try store.enqueueNew(request(2))
        let succeeded = try store.enqueueNew(request(3))
        var job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        try store.fail(jobID: failed, claimToken: job.claimToken, code: "x", message: "y", permanent: true)
        try store.cancel(jobID: cancelled)
        job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        try store.complete(jobID: succeeded, claimToken: job.claimToken,
                           output: output(boxes: [GroundingBox(phrase: "a", x0: 1, y0: 2, x1: 3, y1: 4,
                                                               imageWidth: 10, imageHeight: 10)]))
        database.clock.advance(seconds: 86_400)
        let recentFailure = try store.enqueueNew(request(4))
        job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        try store.fail(jobID: recentFailure, claimToken: job.claimToken, code: "x", message: "y", permanent: true)
        let waiting = try store.enqueueNew(request(5))

        let deleted = try store.prune(finishedBefore: database.clock.now.addingTimeInterval(-3600))
        #expect(deleted == 2)
        #expect(try store.job(id: failed) == nil)
        #expect(try store.job(id: cancelled) == nil)
        #expect(try store.state(of: succeeded) == .succeeded)
        #expect(try store.state(of: recentFailure) == .failed)
        #expect(try store.state(of: waiting) == .queued)
        #expect(try store.query("SELECT count(*) FROM results") == [[.integer(1)]])
        #expect(try store.query("SELECT count(*) FROM boxes") == [[.integer(1)]])
        #expect(try store.query("SELECT count(*) FROM job_errors WHERE job_id = ?", [failed]) == [[.integer(0)]])
        // The schema itself refuses to delete a job that has a result.
        let db = try database.rawConnection()
        #expect(throws: SQLiteError.self) { try db.run("DELETE FROM jobs WHERE id = ?", [succeeded]) }
    }

    @Test("prune keeps the newest job row, so a job id is never given to another job")
    func pruneNeverFreesTheNewestID() throws {
        let database = try TestDatabase("prune-ids")
        defer { database.remove() }
        let store = try database.open()
        let first = try store.enqueueNew(request(1))
        let newest = try store.enqueueNew(request(2))
        try store.cancel(jobID: first)
        try store.cancel(jobID: newest)
        database.clock.advance(seconds: 86_400)
        let cutoff = database.clock.now.addingTimeInterval(-3600)
        #expect(try store.countPrunable(finishedBefore: cutoff) == 1)
        #expect(try store.prune(finishedBefore: cutoff) == 1)
        #expect(try store.job(id: first) == nil)
        #expect(try store.state(of: newest) == .cancelled, "the newest row stays")
        let next = try store.enqueueNew(request(3))
        #expect(next == newest + 1, "a new id, not \(newest) again")
    }

    @Test("a stale claim token cannot complete, renew, progress, fail or requeue")
    func staleClaim() throws {
        let database = try TestDatabase("stale")
        defer { database.remove() }
        let store = try database.open()
        let id = try store.enqueueNew(request(1))
        let first = try #require(try store.claim(owner: "other-host:1:boot:1", leaseDuration: .seconds(30)))
        #expect(try store.renewLease(jobID: id, claimToken: first.claimToken, leaseDuration: .seconds(30)))
        #expect(try store.updateProgress(jobID: id, claimToken: first.claimToken, phase: "generate",
                                         tokensGenerated: 3))
        // The lease runs out; a rescue revokes the claim and another worker takes the job.
        database.clock.advance(seconds: 31)
        let report = try store.rescueOrphans()
        #expect(report.requeued == [id])
        let second = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        #expect(second.id == id)
        #expect(second.attempt == 2)
        #expect(second.claimToken != first.claimToken)

        let error = try #require(throws: JobStoreError.self) {
            try store.complete(jobID: id, claimToken: first.claimToken, output: output("stale"))
        }
        #expect(error.code == .staleClaim)
        #expect(error.jobID == id)
        #expect(try store.query("SELECT count(*) FROM results") == [[.integer(0)]])
        #expect(try store.renewLease(jobID: id, claimToken: first.claimToken, leaseDuration: .seconds(30)) == false)
        #expect(try store.updateProgress(jobID: id, claimToken: first.claimToken, phase: "x", tokensGenerated: 1)
            == false)
        let errorsBefore = try store.job(id: id)?.errors.count
        #expect(throws: JobStoreError.self) {
            try store.fail(jobID: id, claimToken: first.claimToken, code: "x", message: "y", permanent: true)
        }
        #expect(try store.job(id: id)?.errors.count == errorsBefore)
        #expect(throws: JobStoreError.self) { try store.requeue(jobID: id, claimToken: first.claimToken) }
        // The current holder is unaffected.
        try store.complete(jobID: id, claimToken: second.claimToken, output: output("fresh"))
        #expect(try store.job(id: id)?.result?.output.text == "fresh")
    }

    @Test("complete is atomic: a failure while writing boxes leaves no result and the job running")
    func completeIsAtomic() throws {
        let database = try TestDatabase("atomic")
        defer { database.remove() }
        let store = try database.open()
        let id = try store.enqueueNew(request(1))
        let job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        // Another connection installs a trigger that makes the third box insert fail mid-transaction.
        let db = try database.rawConnection()
        try db.execute("""
            CREATE TRIGGER fail_third_box BEFORE INSERT ON boxes WHEN NEW.box_index = 2
            BEGIN SELECT RAISE(ABORT, 'injected failure'); END
            """)
        let boxes = (0..<3).map { GroundingBox(phrase: "b\($0)", x0: $0, y0: $0, x1: 10, y1: 10,
                                                imageWidth: 100, imageHeight: 100) }
        let error = try #require(throws: JobStoreError.self) {
            try store.complete(jobID: id, claimToken: job.claimToken, output: output(boxes: boxes))
        }
        #expect(error.underlying?.message.contains("injected failure") == true)
        #expect(try store.query("SELECT count(*) FROM results") == [[.integer(0)]])
        #expect(try store.query("SELECT count(*) FROM boxes") == [[.integer(0)]])
        #expect(try store.state(of: id) == .running)
        // With the fault gone the same claim completes.
        try db.execute("DROP TRIGGER fail_third_box")
        try store.complete(jobID: id, claimToken: job.claimToken, output: output(boxes: boxes))
        #expect(try store.query("SELECT count(*) FROM boxes") == [[.integer(3)]])
    }

    @Test("invalid input is rejected with store.invalid_input")
    func invalidInput() throws {
        let database = try TestDatabase("invalid")
        defer { database.remove() }
        let store = try database.open()
        var bad = request(1)
        bad.paramsJSON = "{not json"
        let badJSON = try #require(throws: JobStoreError.self) { try store.enqueue(bad) }
        #expect(badJSON.code == .invalidInput)
        #expect(badJSON.message.contains("JSON object"))
        for mutate in [{ (r: inout EnqueueRequest) in r.task = "" }, { $0.image.sha256 = "abc" },
                       { $0.model = "" }, { $0.maxAttempts = 0 }, { $0.paramsJSON = "[1]" }] {
            var r = request(1)
            mutate(&r)
            let error = try #require(throws: JobStoreError.self) { try store.enqueue(r) }
            #expect(error.code == .invalidInput)
        }
        let id = try store.enqueueNew(request(1))
        let job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        let outOfRange = GroundingBox(phrase: "x", x0: 0, y0: 0, x1: 1000, y1: 5, pixelX0: 0, pixelY0: 0, pixelX1: 1,
                                      pixelY1: 1)
        let error = try #require(throws: JobStoreError.self) {
            try store.complete(jobID: id, claimToken: job.claimToken, output: output(boxes: [outOfRange]))
        }
        #expect(error.code == .invalidInput)
        #expect(try store.state(of: id) == .running)
        // A prompt full of SQL and control characters is stored verbatim.
        let nasty = "'; DROP TABLE jobs; --\u{1}\n\"quoted\""
        let nastyID = try store.enqueueNew(request(2, prompt: nasty))
        #expect(try store.job(id: nastyID)?.job.prompt == nasty)
    }

    @Test("requeue gives a running job back without counting the attempt")
    func requeue() throws {
        let database = try TestDatabase("requeue")
        defer { database.remove() }
        let store = try database.open()
        let id = try store.enqueueNew(request(1))
        let first = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        #expect(first.attempt == 1)
        #expect(try store.requeue(jobID: id, claimToken: first.claimToken) == .queued)
        let detail = try #require(try store.job(id: id))
        #expect(detail.job.state == .queued)
        #expect(detail.job.attempt == 0)
        #expect(detail.job.startedAt == nil, "no counted attempt: never started, as far as SQL can tell")
        #expect(detail.errors.isEmpty)
        let second = try #require(try store.claim(owner: owner, leaseDuration: .seconds(30)))
        #expect(second.attempt == 1)
        #expect(try store.job(id: id)?.job.startedAt != nil)
        // A cancel requested before the shutdown wins.
        try store.cancel(jobID: id)
        #expect(try store.requeue(jobID: id, claimToken: second.claimToken) == .cancelled)
    }
}

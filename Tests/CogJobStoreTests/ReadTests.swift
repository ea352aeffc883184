@testable import CogJobStore
import Foundation
import Testing

@Suite("Reads for the CLI")
struct ReadTests {
    let owner = "host:1:boot:1"

    @Test("status: counts, running jobs with progress and age, throughput, ETA, oldest waiting job")
    func status() throws {
        let database = try TestDatabase("status")
        defer { database.remove() }
        let store = try database.open()
        let start = database.clock.now
        for n in 1...10 { _ = try store.enqueueNew(request(n)) }
        // Four jobs take 30 s each.
        for _ in 0..<4 {
            let job = try #require(try store.claim(owner: owner, leaseDuration: .seconds(60)))
            database.clock.advance(seconds: 30)
            try store.complete(jobID: job.id, claimToken: job.claimToken, output: output())
        }
        let running = try #require(try store.claim(owner: owner, leaseDuration: .seconds(60)))
        #expect(try store.updateProgress(jobID: running.id, claimToken: running.claimToken, phase: "generate",
                                         tokensGenerated: 17))
        database.clock.advance(seconds: 12)

        let status = try store.status()
        #expect(status.counts[.succeeded] == 4)
        #expect(status.counts[.running] == 1)
        #expect(status.counts[.queued] == 5)
        #expect(status.counts[.failed] == 0)
        #expect(status.remaining == 6)
        #expect(status.paused == false)
        #expect(status.running.count == 1)
        #expect(status.running.first?.phase == "generate")
        #expect(status.running.first?.tokensGenerated == 17)
        #expect(status.running.first?.ageSeconds == 12)
        #expect(status.running.first?.imagePath == "/photos/img-5.jpg")
        #expect(status.succeededLastHour == 4)
        // 4 jobs in the 132 s since the first started.
        let rate = try #require(status.imagesPerHour)
        #expect(abs(rate - 4.0 / 132 * 3600) < 1e-9)
        #expect(status.averageSecondsPerJob == 30)
        #expect(abs((status.etaSeconds ?? 0) - 6 / rate * 3600) < 1e-9)
        #expect(status.oldestWaitingJobID == 6)
        #expect(status.oldestWaitingCreatedAt == start)

        // Completions older than an hour no longer count as throughput.
        database.clock.advance(seconds: 7200)
        let later = try store.status()
        #expect(later.succeededLastHour == 0)
        #expect(later.imagesPerHour == nil)
        #expect(later.etaSeconds == nil)
    }

    @Test("list filters by state, task and path, newest first, with paging")
    func list() throws {
        let database = try TestDatabase("list")
        defer { database.remove() }
        let store = try database.open()
        for n in 1...6 { _ = try store.enqueueNew(request(n, task: n % 2 == 0 ? "ground" : "caption")) }
        try store.cancel(jobID: 1)
        #expect(try store.list().map(\.id) == [6, 5, 4, 3, 2, 1])
        #expect(try store.list(JobFilter(states: [.cancelled])).map(\.id) == [1])
        #expect(try store.list(JobFilter(task: "ground")).map(\.id) == [6, 4, 2])
        #expect(try store.list(JobFilter(pathContains: "img-3")).map(\.id) == [3])
        #expect(try store.list(JobFilter(limit: 2)).map(\.id) == [6, 5])
        #expect(try store.list(JobFilter(limit: 2, beforeID: 5)).map(\.id) == [4, 3])
        let first = try #require(try store.list(JobFilter(states: [.cancelled])).first)
        #expect(first.lastErrorCode == "job.cancelled")
        #expect(first.imageSHA256 == image(1).sha256)
    }

    @Test("export rows join results with image path and boxes")
    func exportRows() throws {
        let database = try TestDatabase("export")
        defer { database.remove() }
        let store = try database.open()
        _ = try store.enqueueNew(request(1, task: "ground"))
        _ = try store.enqueueNew(request(2, task: "caption"))
        _ = try store.enqueueNew(request(3, task: "ground"))
        let boxes = [GroundingBox(phrase: "dog", x0: 0, y0: 0, x1: 499, y1: 999, imageWidth: 640, imageHeight: 480),
                     GroundingBox(phrase: "ball", x0: 500, y0: 500, x1: 600, y1: 600, imageWidth: 640,
                                  imageHeight: 480)]
        while let job = try store.claim(owner: owner, leaseDuration: .seconds(60)) {
            try store.complete(jobID: job.id, claimToken: job.claimToken,
                               output: output("job \(job.id)", boxes: job.task == "ground" ? boxes : []))
        }
        let all = try store.exportRows()
        #expect(all.map(\.jobID) == [1, 2, 3])
        #expect(all.map(\.boxes.count) == [2, 0, 2])
        #expect(all[0].imagePath == "/photos/img-1.jpg")
        #expect(all[0].boxes == boxes)
        #expect(all[2].text == "job 3")
        #expect(try store.exportRows(task: "ground").map(\.jobID) == [1, 3])
        #expect(try store.exportRows(afterResultID: all[0].resultID).map(\.jobID) == [2, 3])
        #expect(try store.exportRows(limit: 1).map(\.jobID) == [1])
    }

    @Test("quick check passes and checkpoint truncates the WAL")
    func maintenance() throws {
        let database = try TestDatabase("maintenance")
        defer { database.remove() }
        let store = try database.open()
        for n in 1...20 { _ = try store.enqueueNew(request(n)) }
        try store.quickCheck()
        #expect(try store.checkpoint())
        let wal = try FileManager.default.attributesOfItem(atPath: database.url.path + "-wal")[.size] as? Int
        #expect(wal == 0)
    }
}

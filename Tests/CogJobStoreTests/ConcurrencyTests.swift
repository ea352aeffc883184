@testable import CogJobStore
import Foundation
import Synchronization
import Testing

@Suite("Concurrency and locking")
struct ConcurrencyTests {
    @Test("4 enqueuers × 250 jobs while 2 claimers work: every job processed exactly once, no busy errors")
    func concurrentEnqueueAndClaim() throws {
        let database = try TestDatabase("concurrent")
        defer { database.remove() }
        let configuration = {
            var configuration = JobStore.Configuration()  // the real clock
            configuration.busyTimeout = .seconds(10)
            return configuration
        }()
        _ = try JobStore(url: database.url, configuration: configuration)  // migrate once up front

        let enqueuers = 4, perEnqueuer = 250
        let processed = Mutex<[Int64]>([])
        let errors = Mutex<[String]>([])
        let enqueuersDone = Atomic<Int>(0)
        let url = database.url

        onThreads(enqueuers + 2) { index in
            do {
                let store = try JobStore(url: url, configuration: configuration)  // own connection
                if index < enqueuers {
                    defer { enqueuersDone.add(1, ordering: .sequentiallyConsistent) }
                    for n in 0..<perEnqueuer {
                        // Each thread owns images index*250 ..< (index+1)*250, and every other time also
                        // races to enqueue the next thread's image: the unique index must keep one job each.
                        _ = try store.enqueue(request(index * perEnqueuer + n))
                        if n % 2 == 0 { _ = try store.enqueue(request(((index + 1) % enqueuers) * perEnqueuer + n)) }
                    }
                } else {
                    let owner = "claimer-\(index)"
                    let deadline = ContinuousClock.now + .seconds(120)
                    while ContinuousClock.now < deadline {
                        if let job = try store.claim(owner: owner, leaseDuration: .seconds(60)) {
                            try store.complete(jobID: job.id, claimToken: job.claimToken,
                                               output: output("job \(job.id)"))
                            processed.withLock { $0.append(job.id) }
                        } else if enqueuersDone.load(ordering: .sequentiallyConsistent) == enqueuers {
                            // Enqueuers finished before this empty claim, so the queue is drained.
                            break
                        } else {
                            usleep(500)
                        }
                    }
                }
            } catch {
                errors.withLock { $0.append("thread \(index): \(error)") }
            }
        }

        #expect(errors.withLock { $0 } == [])
        let ids = processed.withLock { $0 }
        #expect(ids.count == enqueuers * perEnqueuer)
        #expect(Set(ids).count == ids.count, "a job was processed twice")
        let store = try database.open()
        #expect(try store.query("SELECT count(*) FROM jobs") == [[.integer(Int64(enqueuers * perEnqueuer))]])
        #expect(try store.query("SELECT count(*), count(DISTINCT job_id) FROM results")
            == [[.integer(Int64(enqueuers * perEnqueuer)), .integer(Int64(enqueuers * perEnqueuer))]])
        #expect(try store.stateCounts()[.succeeded] == enqueuers * perEnqueuer)
        #expect(try store.query("SELECT count(*) FROM jobs WHERE attempt <> 1") == [[.integer(0)]])
    }

    @Test("a connection holding the write lock makes enqueue and claim fail with store.busy after the timeout")
    func busyTimeout() throws {
        let database = try TestDatabase("busy")
        defer { database.remove() }
        let store = try database.open(database.configuration(busyTimeout: .milliseconds(200)))
        _ = try store.enqueueNew(request(1))
        let holder = try database.rawConnection()
        try holder.execute("BEGIN IMMEDIATE")

        let clock = ContinuousClock()
        let started = clock.now
        let error = try #require(throws: JobStoreError.self) { try store.enqueue(request(2)) }
        let waited = clock.now - started
        #expect(error.code == .busy)
        #expect(error.underlying?.isBusy == true)
        #expect(error.message.contains("200 ms"))
        #expect(waited >= .milliseconds(190))
        #expect(waited < .seconds(3))
        #expect(throws: JobStoreError.self) { try store.claim(owner: "w", leaseDuration: .seconds(10)) }
        // Readers are not blocked by a writer in WAL mode.
        #expect(try store.stateCounts()[.queued] == 1)

        try holder.execute("ROLLBACK")
        #expect(try store.enqueue(request(2)) != .duplicate(of: 1, state: .queued))
        #expect(try store.claim(owner: "w", leaseDuration: .seconds(10)) != nil)
    }

    @Test("another process (the sqlite3 shell) holding the write lock makes enqueue fail with store.busy",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")))
    func busyAcrossProcesses() throws {
        let database = try TestDatabase("busy-process")
        defer { database.remove() }
        let store = try database.open(database.configuration(busyTimeout: .milliseconds(300)))
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        shell.arguments = [database.url.path]
        let input = Pipe()
        let output = Pipe()
        shell.standardInput = input
        shell.standardOutput = output
        try shell.run()
        defer {
            // Closing stdin ends the shell (and its transaction) if the test failed before that.
            try? input.fileHandleForWriting.close()
            shell.waitUntilExit()
        }
        input.fileHandleForWriting.write(Data("BEGIN IMMEDIATE;\nSELECT 'locked';\n".utf8))
        // Wait until the shell reports that it holds the lock.
        let line = output.fileHandleForReading.availableData
        #expect(String(decoding: line, as: UTF8.self).contains("locked"))

        let error = try #require(throws: JobStoreError.self) { try store.enqueue(request(1)) }
        #expect(error.code == .busy)

        input.fileHandleForWriting.write(Data("ROLLBACK;\n.quit\n".utf8))
        try input.fileHandleForWriting.close()
        shell.waitUntilExit()
        #expect(try store.enqueue(request(1)) == .enqueued(jobID: 1))
    }
}

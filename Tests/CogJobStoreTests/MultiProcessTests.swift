@testable import CogJobStore
import Foundation
import Testing

/// The concurrency test with real processes: the test binary re-runs itself (`/proc/self/exe`) with
/// a filter that selects `childRole`, whose environment tells it what to do. Each child opens its
/// own `JobStore` on the shared file, as separate `cogjobs` invocations and the daemon would.
@Suite("Multi-process queue")
struct MultiProcessTests {
    static let roleKey = "COGJOBS_STORE_CHILD_ROLE"
    static let databaseKey = "COGJOBS_STORE_CHILD_DB"
    static let indexKey = "COGJOBS_STORE_CHILD_INDEX"
    static let perEnqueuer = 250

    @Test("4 enqueuer processes × 250 jobs while 2 claimer processes work: each job claimed and completed once",
          .enabled(if: ProcessInfo.processInfo.environment[roleKey] == nil))
    func processes() throws {
        let database = try TestDatabase("processes")
        defer { database.remove() }
        _ = try JobStore(url: database.url)  // migrate before the children start
        let doneMarker = database.directory.appendingPathComponent("enqueuers-done")

        func spawn(_ role: String, _ index: Int) throws -> (Process, URL) {
            let log = database.directory.appendingPathComponent("\(role)-\(index).log")
            #expect(FileManager.default.createFile(atPath: log.path, contents: nil))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            process.arguments = ["--testing-library", "swift-testing", "--filter", "MultiProcessTests/childRole"]
            var environment = ProcessInfo.processInfo.environment
            environment[Self.roleKey] = role
            environment[Self.databaseKey] = database.url.path
            environment[Self.indexKey] = String(index)
            process.environment = environment
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            return (process, log)
        }

        let claimers = try (0..<2).map { try spawn("claim", $0) }
        // The enqueuers start once both claimers are polling: on a loaded machine one claimer
        // process can take seconds to start, and the other would otherwise take every job alone.
        let readyDeadline = ContinuousClock.now + .seconds(60)
        func claimersReady() -> Bool {
            (0..<2).allSatisfy { FileManager.default.fileExists(atPath: Self.readyMarker(database.url.path, $0).path) }
        }
        while !claimersReady() && ContinuousClock.now < readyDeadline && claimers.allSatisfy({ $0.0.isRunning }) {
            usleep(10_000)
        }
        #expect(claimersReady(), "both claimer processes signal that they are polling")
        let enqueuers = try (0..<4).map { try spawn("enqueue", $0) }
        for (process, log) in enqueuers {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "enqueuer failed: \(Self.tail(log))")
        }
        #expect(FileManager.default.createFile(atPath: doneMarker.path, contents: nil))
        for (process, log) in claimers {
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "claimer failed: \(Self.tail(log))")
        }

        let store = try database.open()
        let total = Int64(4 * Self.perEnqueuer)
        #expect(try store.query("SELECT count(*) FROM jobs") == [[.integer(total)]])
        #expect(try store.query("SELECT count(*), count(DISTINCT job_id) FROM results")
            == [[.integer(total), .integer(total)]])
        // attempt is counted at claim: 1 everywhere means no job was ever claimed twice.
        #expect(try store.query("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempt = 1")
            == [[.integer(total)]])
        // Both claimer processes took part.
        #expect(try store.query("SELECT count(DISTINCT substr(text, 1, 9)) FROM results") == [[.integer(2)]])
    }

    /// Runs only inside a child process started by `processes()`.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[roleKey] != nil))
    func childRole() throws {
        let environment = ProcessInfo.processInfo.environment
        let path = try #require(environment[Self.databaseKey])
        let index = try #require(environment[Self.indexKey].flatMap(Int.init))
        var configuration = JobStore.Configuration()
        configuration.busyTimeout = .seconds(10)
        let store = try JobStore(path: path, configuration: configuration)
        switch environment[Self.roleKey] {
        case "enqueue":
            for n in 0..<Self.perEnqueuer {
                _ = try store.enqueue(request(index * Self.perEnqueuer + n))
                // Race the next process for its images too: dedup must hold across processes.
                if n % 2 == 0 { _ = try store.enqueue(request(((index + 1) % 4) * Self.perEnqueuer + n)) }
            }
        case "claim":
            let marker = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("enqueuers-done")
            let owner = OwnerIdentity.current().description
            let deadline = ContinuousClock.now + .seconds(120)
            #expect(FileManager.default.createFile(atPath: Self.readyMarker(path, index).path, contents: nil))
            var first = true
            while ContinuousClock.now < deadline {
                let enqueuersDone = FileManager.default.fileExists(atPath: marker.path)
                if let job = try store.claim(owner: owner, leaseDuration: .seconds(60)) {
                    if first {
                        // Hold the first job until the other claimer holds one too: both processes
                        // then claim while the other holds a lease (on a loaded machine one could
                        // otherwise drain the queue before the other wins a single claim).
                        first = false
                        #expect(FileManager.default.createFile(atPath: Self.claimedMarker(path, index).path, contents: nil))
                        let other = Self.claimedMarker(path, 1 - index)
                        let wait = ContinuousClock.now + .seconds(60)
                        while !FileManager.default.fileExists(atPath: other.path) && ContinuousClock.now < wait {
                            usleep(1000)
                        }
                    }
                    try store.complete(jobID: job.id, claimToken: job.claimToken,
                                       output: output("claimer-\(index) job"))
                } else if enqueuersDone {
                    return
                } else {
                    usleep(1000)
                }
            }
            Issue.record("claimer \(index) ran out of time")
        default:
            Issue.record("unknown role")
        }
    }

    /// The file a claimer process creates once it holds its first job.
    static func claimedMarker(_ databasePath: String, _ index: Int) -> URL {
        URL(fileURLWithPath: databasePath).deletingLastPathComponent().appendingPathComponent("claimer-\(index)-claimed")
    }

    /// The file a claimer process creates when it starts polling.
    static func readyMarker(_ databasePath: String, _ index: Int) -> URL {
        URL(fileURLWithPath: databasePath).deletingLastPathComponent().appendingPathComponent("claimer-\(index)-ready")
    }

    static func tail(_ log: URL) -> String {
        // Diagnostics only: an unreadable log just means less detail in the failure message.
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return String(text.suffix(2000))
    }
}

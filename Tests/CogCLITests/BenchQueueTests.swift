@testable import CogCLI
import CogTestSupport
import Foundation
import Testing

/// `cogjobs bench queue` runs the queue benchmark and reports the medians.
@Suite("cogjobs bench queue")
struct BenchQueueTests {
    @Test func reportsMicrosecondsAndJobsPerSecond() async throws {
        let run = await CLI.run(["bench", "queue", "--jobs", "20", "--rounds", "3", "--json"])
        #expect(run.status == 0, "\(run)")
        let json = try run.json()
        #expect(Set(json.keys) == ["jobs", "rounds", "durable", "directory", "enqueue_us_per_job",
                                   "claim_complete_us_per_job", "total_us_per_job", "jobs_per_second"])
        #expect(field(json, "jobs") == 20 && field(json, "rounds") == 3 && field(json, "durable") == true)
        let total = try #require(field(json, "total_us_per_job", as: Double.self))
        let perSecond = try #require(field(json, "jobs_per_second", as: Double.self))
        #expect(total > 0 && abs(perSecond * total - 1e6) < 1)
        let directory = try #require(field(json, "directory", as: String.self))
        #expect(!FileManager.default.fileExists(atPath: directory), "the benchmark folder is removed")
        print("[bench queue] \(run.standardOutput)")
    }

    @Test func runsNextToAGivenDatabase() async throws {
        let directory = try Fixtures.temporaryDirectory("cli-bench")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        let run = await CLI.run(["bench", "queue", "--jobs", "5", "--rounds", "1", "--no-durable",
                                 "--database", directory.appendingPathComponent("jobs.sqlite3").path])
        #expect(run.status == 0, "\(run)")
        #expect(run.standardOutput.contains("µs/job") && run.standardOutput.contains("jobs/s"))
        #expect(run.standardOutput.contains("in \(directory.path)/.cogjobs-bench-"), "\(run)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
        // A mistyped folder is refused, not created.
        let missing = directory.appendingPathComponent("no/such/folder")
        let refused = await CLI.run(["bench", "queue", "--jobs", "5", "--rounds", "1",
                                     "--database", missing.appendingPathComponent("jobs.sqlite3").path])
        #expect(refused.status != 0 && refused.standardError.contains("does not exist"), "\(refused)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("no").path))
    }
}

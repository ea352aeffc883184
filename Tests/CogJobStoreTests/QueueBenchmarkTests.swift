@testable import CogJobStore
import CogTestSupport
import Foundation
import Testing

@Suite("Queue benchmark")
struct QueueBenchmarkTests {
    @Test("the benchmark processes every job and reports consistent medians")
    func smallRun() throws {
        let directory = try Fixtures.temporaryDirectory("jobstore-bench")
        defer {
            // Cleanup only.
            try? FileManager.default.removeItem(at: directory)
        }
        let report = try QueueBenchmark.run(jobs: 40, at: directory, rounds: 3)
        #expect(report.jobs == 40)
        #expect(report.rounds == 3)
        #expect(report.enqueueMicroseconds > 0)
        #expect(report.claimCompleteMicroseconds > 0)
        #expect(report.totalMicroseconds >= max(report.enqueueMicroseconds, report.claimCompleteMicroseconds))
        #expect(abs(report.jobsPerSecond * report.totalMicroseconds - 1e6) < 1e-3)
        #expect(report.description.contains("µs/job"))
        #expect(report.durable)
        // Round databases are removed afterwards.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).isEmpty)
    }

    /// The number quoted in reports: `COGJOBS_BENCH_QUEUE=1 swift test --filter QueueBenchmarkTests`.
    /// Uses a directory under the working directory (the repository's disk), not /tmp.
    @Test("queue overhead, 1000 jobs × 5 rounds (opt-in)",
          .enabled(if: ProcessInfo.processInfo.environment["COGJOBS_BENCH_QUEUE"] == "1"))
    func fullRun() throws {
        let directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .appendingPathComponent(".build-bench-queue-\(getpid())")
        defer {
            // Cleanup only.
            try? FileManager.default.removeItem(at: directory)
        }
        let durable = try QueueBenchmark.run(jobs: 1000, at: directory, rounds: 5)
        print(durable)
        let cpuOnly = try QueueBenchmark.run(jobs: 1000, at: directory, rounds: 5, durable: false)
        print(cpuOnly)
        #expect(durable.jobsPerSecond > 0 && cpuOnly.jobsPerSecond > 0)
    }
}

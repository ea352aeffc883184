import Foundation

/// Measures the queue's own overhead per job on a real database file: `enqueue`, then
/// `claim` + `complete` with a small result (one box), no model. Each operation is its own durable
/// transaction (`synchronous=FULL`, so each commit is an fsync), exactly as the daemon and CLI run
/// them. Exposed as `cogjobs bench queue`.
public enum QueueBenchmark {
    /// Medians over the rounds, per job.
    public struct Report: Sendable, Equatable, CustomStringConvertible {
        public var jobs: Int
        public var rounds: Int
        /// Median µs per `enqueue`.
        public var enqueueMicroseconds: Double
        /// Median µs per `claim` + `complete`.
        public var claimCompleteMicroseconds: Double
        /// Median µs per job for the whole life cycle (enqueue + claim + complete).
        public var totalMicroseconds: Double
        /// `1e6 / totalMicroseconds`.
        public var jobsPerSecond: Double
        /// The directory the round databases were created in.
        public var directory: String
        /// `true`: the store's real settings (`synchronous=FULL`, an fsync per commit). `false`:
        /// `synchronous=NORMAL`, which shows the queue's CPU cost without the disk's flush latency.
        public var durable: Bool

        public var description: String {
            func f(_ x: Double) -> String { String(format: "%.1f", x) }
            let sync = durable ? "synchronous=FULL" : "synchronous=NORMAL (not durable, comparison only)"
            return "queue overhead (\(jobs) jobs × \(rounds) rounds, median, \(sync), \(directory)): "
                + "enqueue \(f(enqueueMicroseconds)) µs/job, claim+complete \(f(claimCompleteMicroseconds)) µs/job, "
                + "total \(f(totalMicroseconds)) µs/job = \(f(jobsPerSecond)) jobs/s"
        }
    }

    /// Runs `rounds` rounds of `jobs` jobs, each on a fresh database file created in the directory
    /// `directory` (removed afterwards), and reports the medians. With `durable: false` the rounds
    /// run with `synchronous=NORMAL` to separate the queue's own cost from fsync latency.
    public static func run(jobs: Int, at directory: URL, rounds: Int = 5, durable: Bool = true) throws -> Report {
        guard jobs > 0, rounds > 0 else {
            throw JobStoreError(code: .invalidInput, message: "benchmark needs at least one job and one round")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var enqueue: [Double] = [], claimComplete: [Double] = [], total: [Double] = []
        for round in 0..<rounds {
            let file = directory.appendingPathComponent("cogjobs-bench-\(getpid())-\(round).sqlite")
            defer { removeDatabase(file) }
            let (e, c) = try runRound(jobs: jobs, file: file, durable: durable)
            enqueue.append(e)
            claimComplete.append(c)
            total.append(e + c)
        }
        let totalMedian = median(total)
        return Report(jobs: jobs, rounds: rounds, enqueueMicroseconds: median(enqueue),
                      claimCompleteMicroseconds: median(claimComplete), totalMicroseconds: totalMedian,
                      jobsPerSecond: 1e6 / totalMedian, directory: directory.path, durable: durable)
    }

    /// One round; returns (µs per enqueue, µs per claim + complete).
    private static func runRound(jobs: Int, file: URL, durable: Bool) throws -> (Double, Double) {
        removeDatabase(file)
        let store = try JobStore(url: file)
        if !durable {
            // Comparison runs only: the store itself always uses FULL.
            _ = try store.unrestrictedQuery("PRAGMA synchronous = NORMAL")
        }
        let owner = OwnerIdentity.current().description
        let clock = ContinuousClock()

        let enqueueStart = clock.now
        for index in 0..<jobs {
            let image = ImageInfo(sha256: SHA256.hexDigest("bench-image-\(index)"), path: "/bench/\(index).jpg",
                                  width: 640, height: 480, format: "jpeg", byteSize: 50_000)
            _ = try store.enqueue(EnqueueRequest(image: image, task: "caption", prompt: "Describe the image.",
                                                 model: "bench-model@0"))
        }
        let enqueueElapsed = clock.now - enqueueStart

        let output = JobOutput(text: "A cat on a mat.", rawOutput: "A cat [[100,200,300,400]] on a mat.",
                               promptTokens: 20, generatedTokens: 8, totalMilliseconds: 1, model: "bench-model@0",
                               boxes: [GroundingBox(phrase: "a cat", x0: 100, y0: 200, x1: 300, y1: 400,
                                                    imageWidth: 640, imageHeight: 480)])
        var processed = 0
        let workStart = clock.now
        while let job = try store.claim(owner: owner, leaseDuration: .seconds(60)) {
            try store.complete(jobID: job.id, claimToken: job.claimToken, output: output)
            processed += 1
        }
        let workElapsed = clock.now - workStart
        guard processed == jobs else {
            throw JobStoreError(code: .sqlite, message: "benchmark processed \(processed) of \(jobs) jobs",
                                databasePath: file.path)
        }
        return (microseconds(enqueueElapsed) / Double(jobs), microseconds(workElapsed) / Double(jobs))
    }

    private static func microseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1e6 + Double(attoseconds) / 1e12
    }

    private static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    private static func removeDatabase(_ file: URL) {
        for suffix in ["", "-wal", "-shm"] {
            // Missing files are expected (nothing to remove); nothing else can go wrong that matters here.
            try? FileManager.default.removeItem(atPath: file.path + suffix)
        }
    }
}

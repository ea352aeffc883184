import CogJobStore
import CogScheduler
import CogTestSupport
import Foundation
import Synchronization

/// A temporary job database with the pool's store and a second "other process" store on it.
struct TestQueue {
    let directory: URL
    let url: URL
    /// The connection the pool uses.
    let store: JobStore
    /// An independent connection, as a `cogjobs` CLI process would have.
    let other: JobStore

    init(_ label: String, retryBaseSeconds: Double = 0, busyTimeout: Duration = .seconds(5)) throws {
        directory = try Fixtures.temporaryDirectory("scheduler-\(label)")
        url = directory.appendingPathComponent("jobs.sqlite3")
        var configuration = JobStore.Configuration()
        configuration.retryPolicy = RetryPolicy(baseSeconds: retryBaseSeconds, capSeconds: 60, jitter: 0)
        configuration.busyTimeout = busyTimeout
        store = try JobStore(url: url, configuration: configuration)
        other = try JobStore(url: url, configuration: configuration)
    }

    /// Enqueues a job whose prompt tells `ScriptedExecutor` what to do.
    @discardableResult
    func enqueue(_ n: Int, script: String = "ok", maxAttempts: Int? = nil, on store: JobStore? = nil) throws -> Int64 {
        let image = ImageInfo(sha256: SHA256.hexDigest("scheduler-image-\(n)-\(directory.lastPathComponent)"),
                              path: "/photos/\(n).jpg", width: 640, height: 480, format: "jpeg", byteSize: 1000)
        let request = EnqueueRequest(image: image, task: "caption", prompt: script, model: "test-model@1",
                                     maxAttempts: maxAttempts)
        return try (store ?? self.store).enqueue(request).jobID
    }

    /// `SELECT …` on the pool's database, from the independent connection.
    func rows(_ sql: String) throws -> [[SQLValue]] { try other.query(sql) }

    func state(of jobID: Int64) throws -> String? {
        try other.query("SELECT state FROM jobs WHERE id = ?", [jobID]).first?.first?.string
    }

    func remove() {
        // Cleanup only; a leftover temp directory is harmless.
        try? FileManager.default.removeItem(at: directory)
    }
}

/// An executor whose behaviour each job's prompt chooses:
/// - `ok` — succeed at once (one box);
/// - `tokens:N:MS` — "generate" N tokens, MS milliseconds each, checking for stop between them;
/// - `permanent` / `transient` — throw that kind of `JobFailure`;
/// - `transient-once` — throw a transient failure on attempt 1, succeed on later attempts;
/// - `untyped` — throw an error that is not a `JobFailure`;
/// - `stall:MS` — report once, then block MS milliseconds without reporting, then succeed;
/// - `ignore-stop:MS` — sleep MS milliseconds without checking for stop, then succeed.
final class ScriptedExecutor: JobExecutor {
    struct Untyped: Error, CustomStringConvertible {
        var description: String { "something unexpected broke" }
    }

    /// How often each job was executed.
    let executions = Mutex<[Int64: Int]>([:])
    /// Stop reasons seen by jobs that stopped early.
    let stops = Mutex<[Int64: StopReason]>([:])

    func execute(_ job: ClaimedJob, control: JobControl) throws -> JobOutput {
        executions.withLock { $0[job.id, default: 0] += 1 }
        let parts = job.prompt.split(separator: ":").map(String.init)
        switch parts.first ?? "" {
        case "tokens":
            let count = Int(parts[1]) ?? 1, milliseconds = Double(parts[2]) ?? 1
            for token in 0..<count {
                do {
                    try control.checkStop()
                } catch {
                    stops.withLock { $0[job.id] = error.reason }
                    throw error
                }
                Thread.sleep(forTimeInterval: milliseconds / 1000)
                control.report(phase: "generate", tokensGenerated: token + 1)
            }
        case "permanent":
            throw JobFailure.permanent(code: "image.corrupt", message: "the test image is corrupt")
        case "transient":
            throw JobFailure.transient(code: "test.flaky", message: "a transient test failure")
        case "transient-once":
            if job.attempt == 1 { throw JobFailure.transient(code: "test.flaky", message: "first attempt fails") }
        case "untyped":
            throw Untyped()
        case "stall":
            control.report(phase: "prefill", tokensGenerated: 0)
            Thread.sleep(forTimeInterval: (Double(parts[1]) ?? 100) / 1000)
            control.report(phase: "generate", tokensGenerated: 1)
        case "ignore-stop":
            Thread.sleep(forTimeInterval: (Double(parts[1]) ?? 100) / 1000)
        default:
            break
        }
        return JobOutput(text: "done \(job.id)", rawOutput: "done \(job.id) [[100,200,300,400]]", promptTokens: 10,
                         generatedTokens: 3, totalMilliseconds: 1, model: job.model,
                         boxes: [GroundingBox(phrase: "thing", x0: 100, y0: 200, x1: 300, y1: 400, imageWidth: 640,
                                              imageHeight: 480)])
    }
}

/// Collects a pool's events with the time each arrived.
final class EventLog: Sendable {
    private let events = Mutex<[(ContinuousClock.Instant, SchedulerEvent)]>([])

    var handler: @Sendable (SchedulerEvent) -> Void { { event in self.events.withLock { $0.append((.now, event)) } } }

    var all: [SchedulerEvent] { events.withLock { $0.map(\.1) } }

    var finishes: [JobFinish] {
        all.compactMap { if case .finished(let finish) = $0 { finish } else { nil } }
    }

    func outcome(of jobID: Int64) -> AttemptOutcome? {
        finishes.last { $0.job.id == jobID }?.outcome
    }

    /// When `jobID` was first started by a worker.
    func startInstant(of jobID: Int64) -> ContinuousClock.Instant? {
        events.withLock { events in
            events.first { _, event in
                if case .started(let job, _) = event { return job.id == jobID }
                return false
            }?.0
        }
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return try condition()
}

func milliseconds(_ duration: Duration) -> Double {
    let (seconds, attoseconds) = duration.components
    return Double(seconds) * 1000 + Double(attoseconds) / 1e15
}

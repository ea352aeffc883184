import CogJobStore
import CogTestSupport
import Foundation
import Synchronization

/// A clock tests move by hand, so leases and backoff are checked without sleeping.
final class ManualClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = Date(timeIntervalSince1970: 1_700_000_000)) { current = Mutex(start) }

    var now: Date { current.withLock { $0 } }

    func advance(seconds: Double) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }

    var provider: @Sendable () -> Date { { self.now } }
}

/// A temporary database file plus helpers to open stores on it.
struct TestDatabase {
    let directory: URL
    let url: URL
    let clock = ManualClock()

    init(_ label: String = "store") throws {
        directory = try Fixtures.temporaryDirectory("jobstore-\(label)")
        url = directory.appendingPathComponent("jobs.sqlite")
    }

    func configuration(busyTimeout: Duration = .seconds(5), jitter: Double = 0) -> JobStore.Configuration {
        var configuration = JobStore.Configuration()
        configuration.busyTimeout = busyTimeout
        configuration.clock = clock.provider
        configuration.retryPolicy = RetryPolicy(baseSeconds: 10, capSeconds: 600, jitter: jitter)
        configuration.randomUnit = { 0.5 }
        return configuration
    }

    func open(_ configuration: JobStore.Configuration? = nil) throws -> JobStore {
        try JobStore(url: url, configuration: configuration ?? self.configuration())
    }

    /// A raw connection on the same file (for inspecting tables and simulating other processes).
    func rawConnection(busyTimeoutMilliseconds: Int32 = 5_000) throws -> SQLiteConnection {
        let db = try SQLiteConnection(path: url.path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        try db.configureForJobStore()
        return db
    }

    func remove() {
        // Cleanup only; a leftover temp directory is harmless.
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A distinct fake image for number `n`.
func image(_ n: Int, path: String? = nil, width: Int? = 640, height: Int? = 480) -> ImageInfo {
    ImageInfo(sha256: SHA256.hexDigest("image-\(n)"), path: path ?? "/photos/img-\(n).jpg", width: width,
              height: height, format: "jpeg", byteSize: 1000 + Int64(n))
}

func request(_ n: Int, task: String = "caption", prompt: String = "Describe the image.",
             model: String = "cogvlm-tiny@1", priority: Int = 0, runAfter: Date? = nil, maxAttempts: Int? = nil,
             force: Bool = false) -> EnqueueRequest {
    EnqueueRequest(image: image(n), task: task, prompt: prompt, paramsJSON: #"{"max_new_tokens": 64}"#,
                   model: model, priority: priority, runAfter: runAfter, maxAttempts: maxAttempts, force: force)
}

func output(_ text: String = "A cat on a mat.", boxes: [GroundingBox] = []) -> JobOutput {
    JobOutput(text: text, rawOutput: text, promptTokens: 12, generatedTokens: 7, preprocessMilliseconds: 1.5,
              prefillMilliseconds: 20, decodeMilliseconds: 70, totalMilliseconds: 92, model: "cogvlm-tiny@1",
              boxes: boxes)
}

extension JobStore {
    /// Enqueues and returns the new job id, failing the test on a duplicate.
    func enqueueNew(_ request: EnqueueRequest) throws -> Int64 {
        guard case .enqueued(let id) = try enqueue(request) else {
            throw JobStoreError(code: .invalidInput, message: "expected a new job")
        }
        return id
    }

    func state(of jobID: Int64) throws -> JobState? { try job(id: jobID)?.job.state }
}

/// Runs `body` on `count` fresh OS threads (not the Swift cooperative pool) and waits for all.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            body(index)
            group.leave()
        }
        thread.start()
    }
    group.wait()
}

import CogConfig
import CogJobStore
import CogPipeline
import CogScheduler
import CogTestSupport
import Foundation
import Testing

@testable import CogDaemon
@testable import CogJobStore  // ClaimedJob's memberwise initializer
@testable import CogScheduler  // JobControl.progressSnapshot

/// The daemon's job path with `batch_decode` on and off: a real `WorkerPool` with 2 workers
/// claiming from a real SQLite file, the `ModelJobExecutor` on the tiny fixture model, real JPEG
/// files. Batching must not change a single stored answer.
@Suite("Batched decode through the worker pool", .serialized)
struct BatchedDecodePoolTests {
    /// What one run stored: per image path, (raw output, text, generated tokens).
    struct Stored: Equatable {
        var answers: [String: [String]] = [:]
        var seconds: Double = 0
    }

    /// Enqueues `jobs` jobs on fresh images (greedy captions and seeded sampled questions) and
    /// runs them with 2 workers, with a decode batcher or without.
    func run(jobs: Int, batcher: DecodeBatcher?, images: URL) async throws -> Stored {
        let engine = try ModelJobExecutorTests.engine.get()
        let directory = try Fixtures.temporaryDirectory("batched-pool")
        defer { try? FileManager.default.removeItem(at: directory) }  // temporary folder; best effort
        let store = try JobStore(path: directory.appendingPathComponent("jobs.sqlite3").path)
        for n in 0..<jobs {
            let url = images.appendingPathComponent("image-\(n).jpg")
            let data = try Data(contentsOf: url)
            let hash = data.withUnsafeBytes { StreamingSHA256.hexDigest($0) }
            let sampled = n % 3 == 2
            let request = EnqueueRequest(
                image: ImageInfo(sha256: hash, path: url.path), task: sampled ? "vqa" : "caption",
                prompt: sampled ? "What is in the picture?" : "",
                paramsJSON: sampled ? #"{"max_new_tokens": 24, "temperature": 0.9, "top_k": 50}"#
                                    : #"{"max_new_tokens": 32}"#,
                model: "cogvlm-tiny@test")
            _ = try store.enqueue(request)
        }
        let executor = ModelJobExecutor(engine: engine, modelIdentity: "cogvlm-tiny@test",
                                        imageLoader: JobImageLoader(limits: ImageLimits()), decodeBatcher: batcher)
        var configuration = WorkerPool.Configuration(workers: 2, threadsPerWorker: 1)
        configuration.cores = 2
        let pool = WorkerPool(store: store, executor: executor, configuration: configuration)
        let started = ContinuousClock.now
        try pool.start()
        let finished = poll(timeout: .seconds(60)) {
            (try? store.query("SELECT count(*) FROM jobs WHERE state IN ('succeeded', 'failed')"))?
                .first?.first?.int64 == Int64(jobs)
        }
        let seconds = milliseconds(ContinuousClock.now - started) / 1000
        await pool.drain(budget: .seconds(5))
        #expect(finished, "not all jobs finished")
        #expect(try store.query("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempt = 1")
                    .first?.first?.int64 == Int64(jobs))
        var stored = Stored(seconds: seconds)
        for row in try store.query("""
            SELECT i.path, r.raw_output, r.text, r.generated_tokens FROM results r
            JOIN jobs j ON j.id = r.job_id JOIN images i ON i.id = j.image_id
            """) {
            stored.answers[row[0].string ?? ""] = [row[1].string ?? "", row[2].string ?? "",
                                                   String(row[3].int64 ?? -1)]
        }
        return stored
    }

    @Test("6 jobs on 2 workers store the same answers with batch_decode on and off")
    func sameAnswersOnAndOff() async throws {
        let engine = try ModelJobExecutorTests.engine.get()
        let images = try Fixtures.temporaryDirectory("batched-images")
        defer { try? FileManager.default.removeItem(at: images) }  // temporary folder; best effort
        let jobs = 6
        for n in 0..<jobs {
            try TestImages.jpeg(100 + n).write(to: images.appendingPathComponent("image-\(n).jpg"))
        }
        let unbatched = try await run(jobs: jobs, batcher: nil, images: images)
        let batcher = DecodeBatcher(model: engine.model, precision: engine.precision, threadsPerSequence: 1,
                                    maxThreads: 2)
        let batched = try await run(jobs: jobs, batcher: batcher, images: images)
        #expect(unbatched.answers.count == jobs)
        #expect(batched.answers == unbatched.answers)
        let stats = batcher.statistics
        let generated = batched.answers.values.compactMap { Int($0[2]) }.reduce(0, +)
        print(String(format: "batch_decode, %d jobs / %d generated tokens on 2 workers (tiny model, debug build): "
                        + "off %.2f s, on %.2f s; %d batched steps, largest batch %d, average %.2f",
                     jobs, generated, unbatched.seconds, batched.seconds, stats.steps, stats.largestBatch,
                     stats.averageBatch))
        // One decode step per generated token, except the first (chosen from the prefill's logits)
        // of a job that stopped at its token limit rather than at an end-of-sequence token.
        #expect(stats.tokens <= generated && stats.tokens >= generated - jobs)
        #expect(stats.failedSteps == 0)
        #expect(batcher.memberCount == 0)
    }

    @Test("a job stopped mid-generation leaves the batch; the next job decodes without waiting for it")
    func stoppedJobLeaves() throws {
        let engine = try ModelJobExecutorTests.engine.get()
        // A long window: a stopped job that stayed in the batch would hold the next job's every step.
        let batcher = DecodeBatcher(model: engine.model, precision: engine.precision, threadsPerSequence: 1,
                                    maxThreads: 2, window: .seconds(5))
        let executor = ModelJobExecutor(engine: engine, modelIdentity: "cogvlm-tiny@test",
                                        imageLoader: JobImageLoader(limits: ImageLimits()), decodeBatcher: batcher)
        let image = Fixtures.cogvlmTiny.appendingPathComponent("test_image.jpg")
        let data = try Data(contentsOf: image)
        let hash = data.withUnsafeBytes { StreamingSHA256.hexDigest($0) }
        func job(_ id: Int64, _ params: String) -> ClaimedJob {
            ClaimedJob(id: id, image: StoredImage(id: 1, sha256: hash, path: image.path), task: "caption", prompt: "",
                       paramsJSON: params, model: "m", priority: 0, attempt: 1, maxAttempts: 3, crashCount: 0,
                       claimToken: "t", leaseExpiresAt: Date())
        }
        let running = JobControl(job: job(1, #"{"max_new_tokens": 200}"#))
        let watcher = Thread {
            while running.progressSnapshot.tokensGenerated < 3 { usleep(1_000) }
            running.requestStop(.cancelled)
        }
        watcher.start()
        #expect(throws: JobStopped(reason: .cancelled)) { try executor.execute(running.job, control: running) }
        #expect(batcher.memberCount == 0)

        let next = JobControl(job: job(2, #"{"max_new_tokens": 12}"#))
        let started = ContinuousClock.now
        let output = try executor.execute(next.job, control: next)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(output.generatedTokens >= 1 && next.progressSnapshot.tokensGenerated == output.generatedTokens)
        #expect(batcher.statistics.windowExpiries == 0)
        #expect(batcher.memberCount == 0)
    }
}

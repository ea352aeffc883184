import CogJobStore
import CogConfig
import CogPipeline
import CogTestSupport
import CogTokenizer
import Foundation
import Testing

@testable import CogDaemon
@testable import CogJobStore  // ClaimedJob's memberwise initializer
@testable import CogScheduler  // JobControl.progressSnapshot

/// The model executor in-process, on the tiny fixture model and the LLaMA-2 tokenizer.
@Suite("ModelJobExecutor")
struct ModelJobExecutorTests {
    /// Loads the engine once for the suite (0.7 s in a debug build).
    static let engine: Result<InferenceEngine, any Error> = Result {
        try InferenceEngine.load(modelDirectory: Fixtures.cogvlmTiny, tokenizerDirectory: Fixtures.llama2Tokenizer)
    }

    private func job(_ image: URL, task: String = "caption", prompt: String = "",
                     params: String = #"{"max_new_tokens": 6}"#) throws -> ClaimedJob {
        let data = try Data(contentsOf: image)
        let hash = data.withUnsafeBytes { StreamingSHA256.hexDigest($0) }
        return ClaimedJob(id: 1, image: StoredImage(id: 1, sha256: hash, path: image.path), task: task, prompt: prompt,
                          paramsJSON: params, model: "m", priority: 0, attempt: 1, maxAttempts: 3, crashCount: 0,
                          claimToken: "t", leaseExpiresAt: Date())
    }

    private func executor() throws -> ModelJobExecutor {
        ModelJobExecutor(engine: try Self.engine.get(), modelIdentity: "cogvlm-tiny@test",
                         imageLoader: JobImageLoader(limits: ImageLimits()))
    }

    @Test("a caption job: tokens streamed into progress, counts, timings and model identity in the output")
    func caption() throws {
        let image = Fixtures.cogvlmTiny.appendingPathComponent("test_image.jpg")
        let control = JobControl(job: try job(image))
        let output = try executor().execute(control.job, control: control)
        #expect(output.generatedTokens >= 1 && output.generatedTokens <= 6)
        let imageTokens = try Self.engine.get().model.config.imageTokenCount
        #expect(output.promptTokens > imageTokens)
        #expect(output.model == "cogvlm-tiny@test")
        #expect(output.totalMilliseconds > 0 && output.prefillMilliseconds > 0)
        #expect(control.progressSnapshot.phase == "generate")
        #expect(control.progressSnapshot.tokensGenerated == output.generatedTokens)
    }

    @Test("jobs on an image seen before reuse its BOS + image prefix (prefix_cache_mb) and answer the same")
    func reusesImagePrefix() throws {
        let base = try Self.engine.get()
        let cache = PrefixCache(capacityBytes: 64 << 20)
        let cached = try InferenceEngine(model: base.model, tokenizer: base.tokenizer, modelDirectory: base.modelDirectory,
                                     prefixCache: cache)
        let withCache = ModelJobExecutor(engine: cached, modelIdentity: "cogvlm-tiny@test",
                                         imageLoader: JobImageLoader(limits: ImageLimits()))
        let image = Fixtures.cogvlmTiny.appendingPathComponent("test_image.jpg")
        let jobs = [try job(image), try job(image, task: "vqa", prompt: "What colour is it?"),
                    try job(image, task: "vqa", prompt: "Where is the car?")]
        for (n, j) in jobs.enumerated() {
            let plain = try executor().execute(j, control: JobControl(job: j))
            let reused = try withCache.execute(j, control: JobControl(job: j))
            #expect(reused.rawOutput == plain.rawOutput, "job \(n): the cached prefix changed the answer")
            #expect(reused.promptTokens == plain.promptTokens)
        }
        #expect(cache.statistics.misses == 1 && cache.statistics.hits == 2,
                "hits \(cache.statistics.hits), misses \(cache.statistics.misses)")
    }

    @Test("a stop request ends the job between tokens (or before generating) with JobStopped")
    func stopsBetweenTokens() throws {
        let image = Fixtures.cogvlmTiny.appendingPathComponent("test_image.jpg")
        let early = JobControl(job: try job(image, params: #"{"max_new_tokens": 200}"#))
        early.requestStop(.cancelled)
        #expect(throws: JobStopped(reason: .cancelled)) { try executor().execute(early.job, control: early) }
        #expect(early.progressSnapshot.tokensGenerated == 0, "stopped before generating")

        let running = JobControl(job: try job(image, params: #"{"max_new_tokens": 200}"#))
        let watcher = Thread {
            while running.progressSnapshot.tokensGenerated < 3 { usleep(1_000) }
            running.requestStop(.shutdown)
        }
        watcher.start()
        #expect(throws: JobStopped(reason: .shutdown)) { try executor().execute(running.job, control: running) }
        let generated = running.progressSnapshot.tokensGenerated
        #expect(generated >= 3 && generated < 200, "stopped mid-generation after \(generated) tokens")
    }

    @Test("bad prompts and parameters fail permanently with their codes")
    func permanentFailures() throws {
        let image = Fixtures.cogvlmTiny.appendingPathComponent("test_image.jpg")
        let cases: [(ClaimedJob, String)] = [
            (try job(image, task: "describe-box", prompt: "the left half"), "pipeline.bad_box"),
            (try job(image, task: "vqa", prompt: ""), "pipeline.missing_prompt"),
            (try job(image, task: "paint"), "job.unknown_task"),
            (try job(image, params: #"{"max_new_tokens": "many"}"#), "job.bad_parameters"),
        ]
        for (job, code) in cases {
            let control = JobControl(job: job)
            do {
                _ = try executor().execute(job, control: control)
                Issue.record("\(code) expected")
            } catch let failure as JobFailure {
                #expect(failure.code == code && failure.isPermanent, "\(failure)")
            }
        }
        var changed = try job(image)
        changed.image.sha256 = String(repeating: "0", count: 64)
        do {
            _ = try executor().execute(changed, control: JobControl(job: changed))
            Issue.record("a changed file must not be run")
        } catch let failure as JobFailure {
            #expect(failure.code == "job.image_changed" && failure.isPermanent)
        }
    }

    @Test("generated box markup becomes box rows in 0–999 and pixels; the text keeps the words")
    func boxesFromTokens() throws {
        let tokenizer = try Self.engine.get().tokenizer
        let ids = tokenizer.encode("A dog[[100,200,300,400]] sits on a mat[[050,600,950,990]].",
                                   addSpecialTokens: false, parseSpecialTokens: true)
        let answer = ModelJobExecutor.answer(tokenIDs: ids, tokenizer: tokenizer, imageWidth: 640, imageHeight: 480)
        #expect(answer.text == "A dog sits on a mat.")
        #expect(answer.rawOutput.contains("[[100,200,300,400]]"))
        #expect(answer.boxes.count == 2)
        let dog = try #require(answer.boxes.first)
        #expect(dog.phrase == "A dog")
        #expect([dog.x0, dog.y0, dog.x1, dog.y1] == [Int](arrayLiteral: 100, 200, 300, 400))
        #expect([dog.pixelX0, dog.pixelY0, dog.pixelX1, dog.pixelY1] == [64, 96, 192, 192])
        #expect(answer.boxes.last?.phrase == "a mat")
    }
}

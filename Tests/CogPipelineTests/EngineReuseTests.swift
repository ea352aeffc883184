import CogPipeline
import CogTestSupport
import Foundation
import Synchronization
import Testing

/// The engine's prefix cache and batched runs give exactly what one-at-a-time runs give.
@Suite("Inference engine: prefix reuse and batches")
struct EngineReuseTests {
    static let image = Fixtures.cogvlmTiny.appendingPathComponent("test_image.jpg")

    static func requests() -> [InferenceRequest] {
        let p = GenerationParameters(maxNewTokens: 8)
        return [
            InferenceRequest(imageURL: image, task: .caption, parameters: p),
            InferenceRequest(imageURL: image, task: .vqa, prompt: "What colour is the square?", parameters: p),
            InferenceRequest(imageURL: nil, task: .vqa, prompt: "Tell me a story.", parameters: p),
            InferenceRequest(imageURL: image, task: .ground, prompt: "the blue disc", parameters: p),
        ]
    }

    @Test func prefixCacheReusesTheImage() throws {
        let plain = try InferenceEngine.load(modelDirectory: Fixtures.cogvlmTiny, tokenizerDirectory: Fixtures.llama2Tokenizer)
        let cached = try InferenceEngine.load(modelDirectory: Fixtures.cogvlmTiny, tokenizerDirectory: Fixtures.llama2Tokenizer,
                                              prefixCacheBytes: 64 << 20)
        for (i, request) in Self.requests().enumerated() {
            let a = try plain.run(request), b = try cached.run(request)
            #expect(a.tokenIDs == b.tokenIDs, "request \(i)")
            #expect(a.prompt.inputIDs == b.prompt.inputIDs)
            if i > 0 && request.imageURL != nil { #expect(b.timings.visionMilliseconds == 0, "request \(i) re-encoded its image") }
        }
        let stats = try #require(cached.prefixCache).statistics
        #expect(stats.misses == 1 && stats.hits == 2 && stats.entries == 1)
    }

    /// A prompt longer than the context is refused before the vision tower runs (tens of seconds
    /// on the real model), and the message says what to shorten.
    @Test func tooLongAPromptIsRefusedBeforeTheVisionTower() throws {
        let engine = try InferenceEngine.load(modelDirectory: Fixtures.cogvlmTiny, tokenizerDirectory: Fixtures.llama2Tokenizer)
        let question = String(repeating: "a very long question ", count: 800)
        let events = Mutex<[String]>([])
        let error = #expect(throws: PipelineError.self) {
            _ = try engine.run(InferenceRequest(imageURL: Self.image, task: .vqa, prompt: question),
                               progress: { event in events.withLock { $0.append("\(event)") } })
        }
        #expect(error?.code == .contextOverflow && error?.message.contains("shorten the prompt") == true,
                "\(String(describing: error))")
        #expect(events.withLock { $0 }.isEmpty, "the vision tower ran: \(events.withLock { $0 })")
    }

    @Test func evictsLeastRecentlyUsed() throws {
        let engine = try InferenceEngine.load(modelDirectory: Fixtures.cogvlmTiny, tokenizerDirectory: Fixtures.llama2Tokenizer,
                                              prefixCacheBytes: 64 << 20)
        _ = try engine.run(Self.requests()[0])
        let one = try #require(engine.prefixCache).statistics.bytes
        #expect(one > 0)
        let model = engine.model
        let session = model.makeSession()
        _ = try session.prefill(inputIDs: [1, 5], tokenTypes: [.language, .language], imageFeatures: nil)
        let snapshot = session.snapshot()
        let small = PrefixCache(capacityBytes: snapshot.byteCount)  // room for exactly one entry
        small.insert(PixelKey(pixelValues: [1, 2]), snapshot)
        small.insert(PixelKey(pixelValues: [3, 4]), snapshot)
        let evicted = small.lookup(PixelKey(pixelValues: [1, 2]))
        let kept = small.lookup(PixelKey(pixelValues: [3, 4]))
        #expect(evicted == nil)
        #expect(kept != nil)
        #expect(small.statistics.evictions == 1)
        #expect(small.statistics.bytes == snapshot.byteCount)
    }

    /// The daemon's set-up: one engine and one prefix cache shared by several worker threads, each
    /// request computed with a 2-thread compute team. Snapshots cross threads (inserted by one
    /// worker, restored copy-on-write by others while the first keeps appending to its own copy),
    /// and every answer must still be the one a lone single-threaded run gives.
    @Test func sharedEngineAcrossThreads() throws {
        let model = Fixtures.cogvlmTiny, tokenizer = Fixtures.llama2Tokenizer
        let plain = try InferenceEngine.load(modelDirectory: model, tokenizerDirectory: tokenizer)
        let shared = try InferenceEngine.load(modelDirectory: model, tokenizerDirectory: tokenizer, prefixCacheBytes: 64 << 20)
        let requests = Self.requests()
        let alone = try requests.map { try plain.run($0).tokenIDs }
        let workers = 3
        let results = Mutex<[String: [Int]]>([:])
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        for worker in 0..<workers {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                for step in requests.indices {
                    let i = (step + worker) % requests.count  // each worker in its own order
                    do {
                        let tokens = try shared.run(requests[i], threads: 2).tokenIDs
                        results.withLock { $0["worker \(worker) request \(i)"] = tokens }
                    } catch {
                        failures.withLock { $0.append("worker \(worker) request \(i): \(error)") }
                    }
                }
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        #expect(done.wait(timeout: .now() + 120) == .success)
        #expect(failures.withLock { $0 }.isEmpty)
        let got = results.withLock { $0 }
        #expect(got.count == workers * requests.count)
        for worker in 0..<workers {
            for i in requests.indices {
                #expect(got["worker \(worker) request \(i)"] == alone[i], "worker \(worker) request \(i)")
            }
        }
        let stats = try #require(shared.prefixCache).statistics
        let imageRuns = workers * requests.filter { $0.imageURL != nil }.count
        #expect(stats.hits + stats.misses == imageRuns && stats.entries == 1)
    }

    @Test func batchEqualsOneAtATime() throws {
        let engine = try InferenceEngine.load(modelDirectory: Fixtures.cogvlmTiny, tokenizerDirectory: Fixtures.llama2Tokenizer,
                                              prefixCacheBytes: 64 << 20)
        let plain = try InferenceEngine.load(modelDirectory: Fixtures.cogvlmTiny, tokenizerDirectory: Fixtures.llama2Tokenizer)
        var bad = Self.requests()[0]
        bad.imageURL = URL(fileURLWithPath: "/nonexistent/image.jpg")
        let requests = Self.requests() + [bad]
        var streamed = [Int: [Int]]()
        let results = engine.runBatch(requests) { index, event in
            streamed[index, default: []].append(event.tokenID)
            return .continue
        }
        #expect(results.count == requests.count)
        for (i, request) in Self.requests().enumerated() {
            let alone = try plain.run(request)
            let batched = try results[i].get()
            #expect(batched.tokenIDs == alone.tokenIDs, "request \(i)")
            #expect(streamed[i] == batched.tokenIDs)
        }
        guard case .failure = results[requests.count - 1] else {
            Issue.record("the missing image should fail alone")
            return
        }
    }
}

/// A tokenizer that is not the model's is refused at load, not run into nonsense.
@Suite("Inference engine: tokenizer and model must match")
struct TokenizerModelMatchTests {
    @Test func theRightPairsLoad() throws {
        _ = try InferenceEngine.load(modelDirectory: Fixtures.cogvlmTiny, tokenizerDirectory: Fixtures.llama2Tokenizer)
        _ = try InferenceEngine.load(modelDirectory: Fixtures.cogvlm2Tiny, tokenizerDirectory: Fixtures.llama3Tokenizer)
    }

    /// LLaMA-2's 32 000 ids fit CogVLM2's 128 256 rows: only the BOS id (1 vs 128000) tells them apart.
    @Test func aLlama2TokenizerIsRefusedForCogVLM2() throws {
        let error = #expect(throws: PipelineError.self) {
            try InferenceEngine.load(modelDirectory: Fixtures.cogvlm2Tiny, tokenizerDirectory: Fixtures.llama2Tokenizer)
        }
        #expect(error?.code == .tokenizerMismatch)
        #expect(error?.description.contains("beginning-of-sequence token is id 1 but the model's is 128000") == true,
                "\(String(describing: error))")
    }

    @Test func aLlama3TokenizerIsRefusedForCogVLM1() throws {
        let error = #expect(throws: PipelineError.self) {
            try InferenceEngine.load(modelDirectory: Fixtures.cogvlmTiny, tokenizerDirectory: Fixtures.llama3Tokenizer)
        }
        #expect(error?.code == .tokenizerMismatch)
        #expect(error?.description.contains("128256 tokens but the model's vocabulary has 32000") == true,
                "\(String(describing: error))")
    }
}

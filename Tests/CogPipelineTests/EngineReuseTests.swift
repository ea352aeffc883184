import CogPipeline
import CogTestSupport
import Foundation
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

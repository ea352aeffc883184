import CogTestSupport
import CogVLM
import Foundation
import Testing

/// Prefix reuse (BOS + image computed once, restored into other sessions) and batched decode
/// (several sequences per pass over the weights) give the same numbers as the plain path.
@Suite("Prefix reuse and batched decode")
struct PrefixAndBatchTests {
    struct Prompt {
        let ids: [Int]
        let types: [TokenType]
        let tokens: [Int]
        let steps: [Float]
    }

    static func prompt(_ name: String, fixture: URL = Fixtures.cogvlmTiny) throws -> Prompt {
        let e = try ExpectedTensors(fixture.appendingPathComponent("expected/\(name).safetensors"))
        return Prompt(ids: try e.ints("input_ids"), types: try e.ints("token_type_ids").map { TokenType(rawValue: $0) ?? .language },
                      tokens: try e.ints("gen.new_token_ids"), steps: try e.floats("gen.step_logits"))
    }

    static func features(_ model: CogVLMModel, fixture: URL = Fixtures.cogvlmTiny) throws -> [Float] {
        let pre = try ExpectedTensors(fixture.appendingPathComponent("expected/preprocess.safetensors"))
        return try model.encodeImage(pixelValues: try pre.floats("pixel_values"))
    }

    @Test(arguments: [(Fixtures.cogvlmTiny, ["mm_a", "mm_b"]), (Fixtures.cogvlm2Tiny, ["mm_a"])])
    func sharedImagePrefix(fixture: URL, prompts: [String]) throws {
        let model = try CogVLMModel.load(directory: fixture)
        let features = try Self.features(model, fixture: fixture)
        let prefixLength = 1 + model.config.imageTokenCount  // BOS + image slots
        let first = try Self.prompt(prompts[0], fixture: fixture)
        let prefixSession = model.makeSession()
        _ = try prefixSession.prefill(inputIDs: Array(first.ids.prefix(prefixLength)), tokenTypes: Array(first.types.prefix(prefixLength)),
                                      imageFeatures: features)
        let snapshot = prefixSession.snapshot()
        #expect(snapshot.tokenIDs.count == prefixLength)
        let vocab = model.config.vocabSize
        for name in prompts {
            let p = try Self.prompt(name, fixture: fixture)
            let session = model.makeSession()
            session.restore(snapshot)
            var logits = try session.prefill(inputIDs: Array(p.ids[prefixLength...]), tokenTypes: Array(p.types[prefixLength...]),
                                             imageFeatures: nil)
            var worst: Float = 0
            var tokens: [Int] = []
            for i in p.tokens.indices {
                worst = max(worst, maxAbsDifference(logits, Array(p.steps[(i * vocab)..<((i + 1) * vocab)])))
                tokens.append(Greedy.argmax(logits))
                if i + 1 < p.tokens.count { logits = try session.decode(token: tokens[i]) }
            }
            print("[prefix reuse \(fixture.lastPathComponent)/\(name)] step logits max abs error \(worst)")
            #expect(tokens == p.tokens)
            #expect(worst <= Tolerance.forward)
        }
        // The snapshot is unchanged by the sessions that restored it.
        #expect(snapshot.tokenIDs.count == prefixLength)
        #expect(prefixSession.length == prefixLength)
    }

    @Test func batchedDecodeMatchesSingleDecode() throws {
        let model = try CogVLMModel.load(directory: Fixtures.cogvlmTiny)
        let features = try Self.features(model)
        let prompts = try ["mm_a", "mm_b", "text_only"].map { try Self.prompt($0) }
        func prefilled() throws -> [(CogVLMSession, [Float])] {
            try prompts.map { p in
                let s = model.makeSession()
                let l = try s.prefill(inputIDs: p.ids, tokenTypes: p.types, imageFeatures: p.types.contains(.vision) ? features : nil)
                return (s, l)
            }
        }
        let single = try prefilled(), batched = try prefilled()
        var worst: Float = 0
        for step in 0..<11 {
            let tokens = prompts.map { $0.tokens[step] }
            let batchLogits = try CogVLMSession.decodeBatch(batched.map(\.0), tokens: tokens)
            for (i, p) in prompts.enumerated() {
                let alone = try single[i].0.decode(token: p.tokens[step])
                worst = max(worst, maxAbsDifference(batchLogits[i], alone))
                #expect(Greedy.argmax(batchLogits[i]) == p.tokens[step + 1])
            }
        }
        print("batched vs single decode: max abs logit difference \(worst)")
        #expect(worst <= 1e-5)
        #expect(batched.map { $0.0.length } == single.map { $0.0.length })
        #expect(throws: InferenceError.self) { _ = try CogVLMSession.decodeBatch([batched[0].0, batched[0].0], tokens: [1, 2]) }
    }
}

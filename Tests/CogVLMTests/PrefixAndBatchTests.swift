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

    /// Feeds each prompt's fixture tokens for `steps` steps to `batched` (one `decodeBatch` per
    /// step) and to `single` (one `decode` each), calls `check(sequence, step, batched, alone)` on
    /// the logits, and returns the largest absolute logit difference.
    static func teacherForced(single: [CogVLMSession], batched: [CogVLMSession], prompts: [Prompt], steps: Int,
                              check: (Int, Int, [Float], [Float]) -> Void) throws -> Float {
        var worst: Float = 0
        for step in 0..<steps {
            let batchLogits = try CogVLMSession.decodeBatch(batched, tokens: prompts.map { $0.tokens[step] })
            for (i, p) in prompts.enumerated() {
                let alone = try single[i].decode(token: p.tokens[step])
                worst = max(worst, maxAbsDifference(batchLogits[i], alone))
                check(i, step, batchLogits[i], alone)
            }
        }
        return worst
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
        let worst = try Self.teacherForced(single: single.map(\.0), batched: batched.map(\.0), prompts: prompts, steps: 11) {
            i, step, batchLogits, _ in
            #expect(Greedy.argmax(batchLogits) == prompts[i].tokens[step + 1])
        }
        print("batched vs single decode: max abs logit difference \(worst)")
        #expect(worst <= 1e-5)
        #expect(batched.map { $0.0.length } == single.map { $0.0.length })
        #expect(throws: InferenceError.self) { _ = try CogVLMSession.decodeBatch([batched[0].0, batched[0].0], tokens: [1, 2]) }
    }

    /// Jobs on one image under `fast`: every session restored from the prefix snapshot reads the
    /// snapshot's one copy of the image KV (holding only its own rows), and a decode batch attends
    /// to that prefix once for all of them; each sequence still gets what it gets decoding alone
    /// (up to the merge's roundings) and the same greedy tokens.
    @Test func sharedPrefixBatchUnderFast() throws {
        let model = try CogVLMModel.load(directory: Fixtures.cogvlmTiny)
        let features = try Self.features(model)
        let prefixLength = 1 + model.config.imageTokenCount
        let prompts = try ["mm_a", "mm_b", "mm_a"].map { try Self.prompt($0) }
        let textOnly = try Self.prompt("text_only")
        let prefixSession = model.makeSession()
        prefixSession.context.precision = .fast
        let p0 = prompts[0]
        _ = try prefixSession.prefill(inputIDs: Array(p0.ids.prefix(prefixLength)), tokenTypes: Array(p0.types.prefix(prefixLength)),
                                      imageFeatures: features)
        let snapshot = prefixSession.snapshot()
        #expect(prefixSession.ownedCacheBytes == 0, "the snapshot took the session's rows into the shared prefix")
        let prefixBytes = snapshot.byteCount
        #expect(prefixBytes > 0)

        /// Sessions restored from the snapshot with their own question prefilled, plus one text-only
        /// session without a prefix; returns them with their next-token logits.
        func sessions() throws -> [(CogVLMSession, [Float])] {
            var out: [(CogVLMSession, [Float])] = []
            for p in prompts {
                let s = model.makeSession()
                s.context.precision = .fast
                s.restore(snapshot)
                let logits = try s.prefill(inputIDs: Array(p.ids[prefixLength...]), tokenTypes: Array(p.types[prefixLength...]),
                                           imageFeatures: nil)
                #expect(s.cacheBytes > prefixBytes)
                #expect(s.ownedCacheBytes == (s.length - prefixLength) * (prefixBytes / prefixLength),
                        "a restored session holds only its own rows")
                out.append((s, logits))
            }
            let s = model.makeSession()
            s.context.precision = .fast
            out.append((s, try s.prefill(inputIDs: textOnly.ids, tokenTypes: textOnly.types, imageFeatures: nil)))
            return out
        }
        let single = try sessions(), batched = try sessions()
        let worst = try Self.teacherForced(single: single.map(\.0), batched: batched.map(\.0), prompts: prompts + [textOnly],
                                           steps: 8) { i, step, batchLogits, alone in
            #expect(Greedy.argmax(batchLogits) == Greedy.argmax(alone), "sequence \(i) step \(step)")
        }
        print("batched over a shared prefix vs single decode (fast): max abs logit difference \(worst)")
        #expect(worst <= Tolerance.sharedPrefixMerge)
        // Going back into the prefix copies the rows kept; the snapshot stays whole.
        let s = batched[0].0
        s.reset()
        #expect(s.length == 0 && s.cacheBytes == 0)
        #expect(snapshot.byteCount == prefixBytes)
    }
}

import CogTestSupport
import CogVLM
import CogWeights
import Foundation
import Testing

/// The forward pass against the official code's outputs on the two tiny fixtures: every recorded
/// vision intermediate, position ids, token types, expert mask, per-layer hidden state, final
/// norm and logits at every position, then greedy generation with and without the KV cache.
@Suite("Fixture parity", .serialized)
struct FixtureParityTests {
    static let fixtures: [(name: String, dir: URL, prompts: [String])] = [
        ("cogvlm-tiny", Fixtures.cogvlmTiny, ["mm_a", "mm_b", "text_only"]),
        ("cogvlm2-tiny", Fixtures.cogvlm2Tiny, ["mm_a", "text_only"]),
    ]
    static let cases: [(String, String)] = fixtures.flatMap { f in f.prompts.map { (f.name, $0) } }

    static func dir(_ name: String) -> URL { fixtures.first { $0.name == name }!.dir }

    /// Vision features for a fixture's image, with every recorded intermediate checked.
    static func checkedImageFeatures(_ model: CogVLMModel, fixture: String) throws -> [Float] {
        let dir = dir(fixture)
        let pre = try ExpectedTensors(dir.appendingPathComponent("expected/preprocess.safetensors"))
        let vision = try ExpectedTensors(dir.appendingPathComponent("expected/vision.safetensors"))
        var got: [String: [Float]] = [:]
        let features = try model.encodeImage(pixelValues: try pre.floats("pixel_values")) { name, _, values in
            got[name] = Array(values)
        }
        for name in vision.names {
            let want = try vision.floats(name)
            let have = try #require(got[name], "no trace for \(name)")
            let err = maxAbsDifference(have, want)
            print("[\(fixture)] \(name): max abs error \(err) (tolerance \(Tolerance.forward))")
            #expect(err <= Tolerance.forward, "\(fixture) \(name): \(err)")
        }
        return features
    }

    @Test("vision tower intermediates", arguments: ["cogvlm-tiny", "cogvlm2-tiny"])
    func vision(fixture: String) throws {
        let model = try CogVLMModel.load(directory: Self.dir(fixture))
        _ = try Self.checkedImageFeatures(model, fixture: fixture)
    }

    @Test("prompt forward pass and greedy generation", arguments: cases)
    func prompt(fixture: String, prompt: String) throws {
        let model = try CogVLMModel.load(directory: Self.dir(fixture))
        let expected = try ExpectedTensors(Self.dir(fixture).appendingPathComponent("expected/\(prompt).safetensors"))
        let ids = try expected.ints("input_ids")
        let types = try expected.ints("token_type_ids").map { TokenType(rawValue: $0) ?? .language }
        #expect(SequenceLayout.positionIDs(tokenTypes: types) == (try expected.ints("position_ids")))
        #expect(SequenceLayout.visionExpertMask(tokenTypes: types).map { $0 ? 1 : 0 } == (try expected.ints("vision_expert_mask")))

        let features = types.contains(.vision) ? try Self.checkedImageFeatures(model, fixture: fixture) : nil
        let session = model.makeSession()
        var got: [String: [Float]] = [:]
        let logits = try session.prefill(inputIDs: ids, tokenTypes: types, imageFeatures: features, allLogits: true) { name, _, v in
            got[name] = Array(v)
        }
        #expect(got["logits"] == logits)
        let traced = expected.names.filter { $0.hasPrefix("lm.") } + ["logits"]
        for name in traced {
            let err = maxAbsDifference(try #require(got[name], "no trace for \(name)"), try expected.floats(name))
            print("[\(fixture)/\(prompt)] \(name): max abs error \(err)")
            #expect(err <= Tolerance.forward, "\(fixture)/\(prompt) \(name): \(err)")
        }

        // Greedy generation with the KV cache: step 0 is the prompt's last row.
        guard expected.shape("gen.new_token_ids") != nil else { return }
        let wantTokens = try expected.ints("gen.new_token_ids")
        let wantSteps = try expected.floats("gen.step_logits")
        let vocab = model.config.vocabSize
        var step = Array(logits.suffix(vocab))
        var tokens: [Int] = []
        var worstStep: Float = 0
        for i in 0..<wantTokens.count {
            worstStep = max(worstStep, maxAbsDifference(step, Array(wantSteps[(i * vocab)..<((i + 1) * vocab)])))
            let next = Greedy.argmax(step)
            tokens.append(next)
            if i + 1 < wantTokens.count { step = try session.decode(token: next) }
        }
        print("[\(fixture)/\(prompt)] gen.step_logits: max abs error \(worstStep); tokens \(tokens)")
        #expect(tokens == wantTokens)
        #expect(worstStep <= Tolerance.forward)
        let positions = try expected.ints("gen.position_ids_full")
        // Generated tokens continue +1 from the last position (HF appends LANGUAGE types).
        #expect(SequenceLayout.positionIDs(tokenTypes: types + Array(repeating: .language, count: wantTokens.count)) == positions)
        #expect(session.lastPositionID == positions[ids.count + wantTokens.count - 2])

        // Without the cache: re-run the whole sequence for each new token; same tokens, and the
        // logits agree with the cached ones.
        if let noCache = try? expected.ints("gen_nocache.new_token_ids") {
            var seqIDs = ids, seqTypes = types
            var uncached: [Int] = []
            var worstAgreement: Float = 0
            for i in 0..<noCache.count {
                let fresh = model.makeSession()
                let row = try fresh.prefill(inputIDs: seqIDs, tokenTypes: seqTypes, imageFeatures: features)
                worstAgreement = max(worstAgreement, maxAbsDifference(row, Array(wantSteps[(i * vocab)..<((i + 1) * vocab)])))
                let next = Greedy.argmax(row)
                uncached.append(next)
                seqIDs.append(next)
                seqTypes.append(.language)
            }
            print("[\(fixture)/\(prompt)] uncached vs cached step logits: max abs error \(worstAgreement)")
            #expect(uncached == noCache)
            #expect(uncached == tokens)
            #expect(worstAgreement <= Tolerance.forward)
        }
    }

    @Test("rotary uses the checkpoint's stored bf16 inv_freq", arguments: ["cogvlm-tiny", "cogvlm2-tiny"])
    func rotary(fixture: String) throws {
        let model = try CogVLMModel.load(directory: Self.dir(fixture))
        let rotary = try ExpectedTensors(Self.dir(fixture).appendingPathComponent("expected/rotary.safetensors"))
        #expect(model.weights.invFreq == (try rotary.floats("inv_freq_used")))
        #expect(model.weights.invFreq != (try rotary.floats("inv_freq_fp32_formula")))
        #expect(!model.weights.invFreqReconstructed)
    }
}

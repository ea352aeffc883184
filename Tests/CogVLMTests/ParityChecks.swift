import CogTestSupport
import CogVLM
import Foundation
import Testing

/// The checks the fixture parity suites share: a model's forward pass against one recorded
/// expected-values file, whether the official code recorded it (`FixtureParityTests`) or the
/// shape fixtures' numpy reference did (`ShapeFixtureParityTests`). Each check prints the error
/// it got and uses `Tolerance.forward` for floats; integers must match exactly.
enum ParityChecks {
    /// Vision features for `pixelValues`, with every `vision.*` tensor in `expected` checked
    /// against the intermediate of the same name that `encodeImage` traces.
    static func checkedImageFeatures(
        _ model: CogVLMModel, pixelValues: [Float], expected: ExpectedTensors, label: String
    ) throws -> [Float] {
        var got: [String: [Float]] = [:]
        let features = try model.encodeImage(pixelValues: pixelValues) { name, _, values in
            got[name] = Array(values)
        }
        let names = expected.names.filter { $0.hasPrefix("vision.") }
        #expect(!names.isEmpty, "\(label): no vision.* tensors recorded")
        for name in names {
            let want = try expected.floats(name)
            let have = try #require(got[name], "no trace for \(name)")
            let err = maxAbsDifference(have, want)
            print("[\(label)] \(name): max abs error \(err) (tolerance \(Tolerance.forward))")
            #expect(err <= Tolerance.forward, "\(label) \(name): \(err)")
        }
        return features
    }

    /// One prompt of an expected file (`input_ids`, `token_type_ids`, ...): position ids and the
    /// vision-expert mask exactly; every `lm.*` trace and the logits at every position; then, when
    /// the file records a generation, greedy decoding with the KV cache (tokens exactly, each
    /// step's logits, positions continuing +1) and, when `gen_nocache.new_token_ids` is there,
    /// without the cache. `imageFeatures` is called only when the prompt has image slots.
    /// Returns the largest float error seen.
    @discardableResult
    static func checkPrompt(
        _ model: CogVLMModel, expected: ExpectedTensors, label: String,
        imageFeatures: () throws -> [Float]
    ) throws -> Float {
        let ids = try expected.ints("input_ids")
        let types = try expected.ints("token_type_ids").map { TokenType(rawValue: $0) ?? .language }
        #expect(SequenceLayout.positionIDs(tokenTypes: types) == (try expected.ints("position_ids")), "\(label) position_ids")
        #expect(SequenceLayout.visionExpertMask(tokenTypes: types).map { $0 ? 1 : 0 } == (try expected.ints("vision_expert_mask")),
                "\(label) vision_expert_mask")

        let features = types.contains(.vision) ? try imageFeatures() : nil
        let session = model.makeSession()
        var got: [String: [Float]] = [:]
        let logits = try session.prefill(inputIDs: ids, tokenTypes: types, imageFeatures: features, allLogits: true) { name, _, v in
            got[name] = Array(v)
        }
        #expect(got["logits"] == logits)
        var worst: Float = 0
        let traced = expected.names.filter { $0.hasPrefix("lm.") } + ["logits"]
        for name in traced {
            let err = maxAbsDifference(try #require(got[name], "no trace for \(name)"), try expected.floats(name))
            print("[\(label)] \(name): max abs error \(err)")
            #expect(err <= Tolerance.forward, "\(label) \(name): \(err)")
            worst = max(worst, err)
        }

        // Greedy generation with the KV cache: step 0 is the prompt's last row.
        guard expected.shape("gen.new_token_ids") != nil else { return worst }
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
        print("[\(label)] gen.step_logits: max abs error \(worstStep); tokens \(tokens)")
        #expect(tokens == wantTokens, "\(label) greedy tokens")
        #expect(worstStep <= Tolerance.forward, "\(label) gen.step_logits: \(worstStep)")
        worst = max(worst, worstStep)
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
            print("[\(label)] uncached vs cached step logits: max abs error \(worstAgreement)")
            #expect(uncached == noCache)
            #expect(uncached == tokens)
            #expect(worstAgreement <= Tolerance.forward)
            worst = max(worst, worstAgreement)
        }
        return worst
    }
}

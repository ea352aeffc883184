import CogTensor
import CogTestSupport
import CogVLM
import CogWeights
import Foundation
import Testing

/// Converted checkpoints against the official f32 outputs. The tiny fixture's weights are random
/// and its top-1 logit margins are sometimes below 0.01 (logits have RMS ≈ 1), so any weight
/// quantization can flip such near-ties: q8 must keep every greedy token whose reference margin is
/// clearly above its measured noise, and all tokens of the image prompts; q4's error is printed.
/// Both are bounded by relative RMS error, so a broken kernel still fails.
@Suite("Quantized formats", .serialized)
struct QuantizedParityTests {
    /// Converts `fixture` into a temporary directory, runs `body` on it, then removes it.
    static func withConverted<T>(_ fixture: URL, _ format: QuantizedFormat, vision: QuantizedFormat?,
                                 lmHead: QuantizedFormat? = nil, _ body: (URL) throws -> T) throws -> T {
        try Fixtures.withTemporaryDirectory("convert-\(format.rawValue)") { out in
            try ModelConverter.convert(from: fixture, to: out,
                                       options: .init(format: format, visionFormat: vision, lmHeadFormat: lmHead,
                                                      shardBytes: 3_000_000))
            return try body(out)
        }
    }

    struct Run {
        var tokens: [Int] = [], want: [Int] = [], margins: [Float] = []
        var error: Float = 0           // max abs logit error over all steps
        var relativeRMS: Double = 0     // RMS(error) / RMS(reference logits)
    }

    /// Greedy tokens and logit errors (vs the fixture) over all recorded steps, decoding along the
    /// reference's own tokens so every step is compared on the same prefix.
    static func greedy(_ model: CogVLMModel, fixture: URL, prompt: String,
                       precision: MatmulPrecision = .exact) throws -> Run {
        let expected = try ExpectedTensors(fixture.appendingPathComponent("expected/\(prompt).safetensors"))
        let types = try expected.ints("token_type_ids").map { TokenType(rawValue: $0) ?? .language }
        let session = model.makeSession()
        session.context.precision = precision
        // The official fixtures keep the pixels in preprocess.safetensors, the shape fixtures in the prompt's file.
        func pixels() throws -> [Float] {
            let preprocess = fixture.appendingPathComponent("expected/preprocess.safetensors")
            guard FileManager.default.fileExists(atPath: preprocess.path) else { return try expected.floats("pixel_values") }
            return try ExpectedTensors(preprocess).floats("pixel_values")
        }
        let features = types.contains(.vision)
            ? try model.encodeImage(pixelValues: try pixels(), context: session.context) : nil
        var logits = try session.prefill(inputIDs: try expected.ints("input_ids"), tokenTypes: types, imageFeatures: features)
        let want = try expected.ints("gen.new_token_ids")
        let steps = try expected.floats("gen.step_logits")
        let vocab = model.config.vocabSize
        var run = Run(want: want)
        var errorSquares = 0.0, referenceSquares = 0.0
        for i in want.indices {
            let reference = Array(steps[(i * vocab)..<((i + 1) * vocab)])
            run.error = max(run.error, maxAbsDifference(logits, reference))
            for j in 0..<vocab {
                errorSquares += Double(logits[j] - reference[j]) * Double(logits[j] - reference[j])
                referenceSquares += Double(reference[j]) * Double(reference[j])
            }
            let sorted = reference.sorted(by: >)
            run.margins.append(sorted[0] - sorted[1])
            run.tokens.append(Greedy.argmax(logits))
            if i + 1 < want.count { logits = try session.decode(token: want[i]) }
        }
        run.relativeRMS = (errorSquares / referenceSquares).squareRoot()
        return run
    }

    @Test(arguments: ["mm_a", "mm_b", "text_only"])
    func q8KeepsGreedyTokens(prompt: String) throws {
        try Self.withConverted(Fixtures.cogvlmTiny, .q8, vision: .q8) { dir in
            let model = try CogVLMModel.load(directory: dir)
            #expect(model.weights.layers[0].language.gate.formatName == "q8")
            #expect(model.weights.vision.layers[0].fc1.formatName == "q8")
            #expect(model.weights.vision.patchWeight.formatName == "bf16")  // K = 588 stays as stored
            let r = try Self.greedy(model, fixture: Fixtures.cogvlmTiny, prompt: prompt)
            let same = zip(r.tokens, r.want).filter { $0 == $1 }.count
            let margins = r.margins.map { ($0 * 1000).rounded() / 1000 }
            print("[q8 cogvlm-tiny/\(prompt)] step logits: max abs error \(r.error), relative RMS \(r.relativeRMS); "
                  + "\(same)/\(r.want.count) greedy tokens identical; reference margins \(margins)")
            #expect(r.relativeRMS < 0.05)
            for i in r.want.indices where r.margins[i] > 0.05 {
                #expect(r.tokens[i] == r.want[i], "step \(i): margin \(r.margins[i]) yet the token changed")
            }
            if prompt != "text_only" { #expect(r.tokens == r.want) }
        }
    }

    /// `lm_head` in q8 as well (what `cogjobs convert` writes by default): the q8 rule above still
    /// holds on the exact path, and the q4 model's error stays at its own level.
    @Test(arguments: QuantizedFormat.allCases)
    func q8LmHeadKeepsTheRules(format: QuantizedFormat) throws {
        try Self.withConverted(Fixtures.cogvlmTiny, format, vision: .q8, lmHead: .q8) { dir in
            let model = try CogVLMModel.load(directory: dir)
            #expect(model.weights.lmHead.formatName == "q8")
            for prompt in ["mm_a", "mm_b", "text_only"] {
                let r = try Self.greedy(model, fixture: Fixtures.cogvlmTiny, prompt: prompt)
                let same = zip(r.tokens, r.want).filter { $0 == $1 }.count
                print("[\(format.rawValue) + q8 lm_head cogvlm-tiny/\(prompt)] step logits: max abs error \(r.error), "
                      + "relative RMS \(r.relativeRMS); \(same)/\(r.want.count) greedy tokens identical")
                switch format {
                case .q8:
                    #expect(r.relativeRMS < 0.05)
                    for i in r.want.indices where r.margins[i] > 0.05 {
                        #expect(r.tokens[i] == r.want[i], "step \(i): margin \(r.margins[i]) yet the token changed")
                    }
                    if prompt != "text_only" { #expect(r.tokens == r.want) }
                case .q4:
                    #expect(r.relativeRMS < 0.3, "q4 error far beyond 4-bit quantization noise")
                }
            }
        }
    }

    /// The `fast` precision on q8 (bf16 activations in prefill, int8 activations in decode, fp16 KV):
    /// its error is printed and bounded; near-tied tokens of the random fixture may flip.
    @Test func q8FastErrorIsReported() throws {
        try Self.withConverted(Fixtures.cogvlmTiny, .q8, vision: .q8) { dir in
            let model = try CogVLMModel.load(directory: dir)
            for prompt in ["mm_a", "mm_b", "text_only"] {
                let r = try Self.greedy(model, fixture: Fixtures.cogvlmTiny, prompt: prompt, precision: .fast)
                let same = zip(r.tokens, r.want).filter { $0 == $1 }.count
                print("[q8 fast cogvlm-tiny/\(prompt)] step logits: max abs error \(r.error), relative RMS "
                      + "\(r.relativeRMS); \(same)/\(r.want.count) greedy tokens identical")
                #expect(r.relativeRMS < 0.06, "q8 fast error beyond bf16/int8 activation rounding")
            }
        }
    }

    @Test func q4ErrorIsReported() throws {
        try Self.withConverted(Fixtures.cogvlmTiny, .q4, vision: .q8) { dir in
            let model = try CogVLMModel.load(directory: dir)
            #expect(model.weights.layers[1].vision.gate.formatName == "q4")
            #expect(model.weights.layers[1].vision.down.formatName == "bf16")  // K = 176 is not a multiple of 32
            #expect(model.weights.lmHead.formatName == "bf16")  // kept as stored by default
            for prompt in ["mm_a", "text_only"] {
                let r = try Self.greedy(model, fixture: Fixtures.cogvlmTiny, prompt: prompt)
                let same = zip(r.tokens, r.want).filter { $0 == $1 }.count
                print("[q4 cogvlm-tiny/\(prompt)] step logits: max abs error \(r.error), "
                      + "relative RMS \(r.relativeRMS); \(same)/\(r.want.count) greedy tokens identical")
                #expect(r.relativeRMS < 0.3, "q4 error far beyond 4-bit quantization noise")
            }
        }
    }

    /// `exact` batched decode on a quantized model gives every sequence the bits it gets decoding
    /// alone (the small-batch kernels run each activation row through its GEMV's operations).
    @Test(arguments: QuantizedFormat.allCases)
    func exactBatchedDecodeIsBitIdentical(format: QuantizedFormat) throws {
        try Self.withConverted(Fixtures.cogvlmTiny, format, vision: nil) { dir in
            let model = try CogVLMModel.load(directory: dir)
            let features = try PrefixAndBatchTests.features(model)
            let prompts = try ["mm_a", "mm_b", "text_only"].map { try PrefixAndBatchTests.prompt($0) }
            func prefilled() throws -> [CogVLMSession] {
                try prompts.map { p in
                    let s = model.makeSession()
                    _ = try s.prefill(inputIDs: p.ids, tokenTypes: p.types,
                                      imageFeatures: p.types.contains(.vision) ? features : nil)
                    return s
                }
            }
            let single = try prefilled(), batched = try prefilled()
            var identical = true
            let worst = try PrefixAndBatchTests.teacherForced(single: single, batched: batched, prompts: prompts,
                                                              steps: 6) { _, _, batchLogits, alone in
                identical = identical && zip(batchLogits, alone).allSatisfy { $0.bitPattern == $1.bitPattern }
            }
            print("[\(format.rawValue) exact] batched vs single decode: max abs logit difference \(worst)")
            #expect(identical)
        }
    }

    @Test func cogvlm2ConvertsAndKeepsTokens() throws {
        try Self.withConverted(Fixtures.cogvlm2Tiny, .q8, vision: .q8) { dir in
            let model = try CogVLMModel.load(directory: dir)
            let r = try Self.greedy(model, fixture: Fixtures.cogvlm2Tiny, prompt: "mm_a")
            print("[q8 cogvlm2-tiny/mm_a] step logits: max abs error \(r.error), relative RMS \(r.relativeRMS)")
            #expect(r.relativeRMS < 0.05)
            #expect(r.tokens == r.want)
        }
    }

    /// The q8 rule on a shape the official fixtures lack: grouped-query attention with 4 query heads
    /// per KV head, head_dim 8 (`Tests/Fixtures/shapes`; its widths 64 and 32 quantize, the MLP's
    /// K = 144 stays bf16).
    @Test(arguments: ["mm", "text_only"])
    func q8KeepsGreedyTokensWithGroupedQueries(prompt: String) throws {
        let fixture = Fixtures.shapes("cogvlm2-d64gqa4")
        try Self.withConverted(fixture, .q8, vision: .q8, lmHead: .q8) { dir in
            let model = try CogVLMModel.load(directory: dir)
            #expect(model.config.numAttentionHeads == 4 * model.config.numKeyValueHeads)
            #expect(model.weights.layers[0].language.qkv.formatName == "q8")
            #expect(model.weights.vision.layers[0].fc1.formatName == "q8")
            let r = try Self.greedy(model, fixture: fixture, prompt: prompt)
            let same = zip(r.tokens, r.want).filter { $0 == $1 }.count
            print("[q8 shapes/cogvlm2-d64gqa4/\(prompt)] step logits: max abs error \(r.error), relative RMS "
                  + "\(r.relativeRMS); \(same)/\(r.want.count) greedy tokens identical")
            #expect(r.relativeRMS < 0.05)
            for i in r.want.indices where r.margins[i] > 0.05 {
                #expect(r.tokens[i] == r.want[i], "step \(i): margin \(r.margins[i]) yet the token changed")
            }
        }
    }

    @Test func convertedFilesAreSelfDescribing() throws {
        try Self.withConverted(Fixtures.cogvlmTiny, .q4, vision: nil) { dir in
            let checkpoint = try Checkpoint(directory: dir)
            #expect(checkpoint.metadata["cogjobs.format"] == "q4")
            #expect(checkpoint.metadata["cogjobs.vision_format"] == "as-stored")
            #expect(checkpoint.metadata["cogjobs.lm_head_format"] == "as-stored")
            #expect(checkpoint.shards.count > 1, "small shard limit gives several shards")
            let model = try CogVLMModel.load(directory: dir)
            #expect(model.weights.vision.layers[0].fc1.formatName == "bf16")
        }
    }

    /// A converted checkpoint is refused as a source (its quantized tensors would be copied under
    /// metadata naming the new format), before anything is written.
    @Test func convertingAConversionIsRefused() throws {
        try Self.withConverted(Fixtures.cogvlmTiny, .q4, vision: .q8) { dir in
            try Fixtures.withTemporaryDirectory("reconvert") { parent in
                let out = parent.appendingPathComponent("q8-of-q4")
                let error = #expect(throws: WeightsError.self) {
                    try ModelConverter.convert(from: dir, to: out, options: .init(format: .q8))
                }
                #expect(error?.code == .alreadyQuantized)
                #expect(error?.description.contains("language q4, vision q8") == true, "\(String(describing: error))")
                #expect(error?.key?.hasSuffix(".q4") == true || error?.key?.hasSuffix(".q8") == true)
                #expect(!FileManager.default.fileExists(atPath: out.path), "nothing written")
            }
        }
    }

    /// The output named through a symbolic link (or `..`) to the model directory: refused before
    /// anything is deleted, even with `overwrite` (it once removed the source's config and index).
    @Test func convertingIntoTheSourceThroughALinkIsRefused() throws {
        try Fixtures.withTemporaryDirectory("convert-link") { parent in
            let fm = FileManager.default
            let source = parent.appendingPathComponent("model")
            try fm.copyItem(at: Fixtures.cogvlmTiny, to: source)
            let before = try fm.contentsOfDirectory(atPath: source.path).sorted()
            let link = parent.appendingPathComponent("link")
            try fm.createSymbolicLink(at: link, withDestinationURL: source)
            let dotted = parent.appendingPathComponent("model/../model")
            for (from, to) in [(source, link), (link, source), (source, dotted)] {
                let error = #expect(throws: WeightsError.self) {
                    try ModelConverter.convert(from: from, to: to, options: .init(format: .q8, overwrite: true))
                }
                #expect(error?.code == .outputExists && error?.description.contains("is the model directory") == true,
                        "\(String(describing: error))")
                #expect(try fm.contentsOfDirectory(atPath: source.path).sorted() == before, "\(from.path) -> \(to.path)")
            }
            _ = try Checkpoint(directory: source)  // still loads
        }
    }
}

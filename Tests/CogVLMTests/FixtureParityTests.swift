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
        return try ParityChecks.checkedImageFeatures(model, pixelValues: try pre.floats("pixel_values"),
                                                     expected: vision, label: fixture)
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
        try ParityChecks.checkPrompt(model, expected: expected, label: "\(fixture)/\(prompt)") {
            try Self.checkedImageFeatures(model, fixture: fixture)
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

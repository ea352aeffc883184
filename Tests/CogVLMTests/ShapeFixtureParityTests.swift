import CogTestSupport
import CogVLM
import Foundation
import Testing

/// The forward pass on shapes the two official tiny fixtures do not have (head_dim 8, five heads,
/// 7-pixel patches, grouped-query attention with 4 query heads per KV head, a small vocab holding
/// the special tokens), against an independent numpy reference that reproduces the official
/// fixtures to 1.4e-5 (`Tests/Fixtures/shapes/README.md`). Per prompt: position ids and expert
/// mask exactly, every vision intermediate, per-layer hidden states and logits at every position
/// within `Tolerance.forward`, then 6 greedy tokens exactly, with and without the KV cache.
@Suite("Shape fixture parity", .serialized)
struct ShapeFixtureParityTests {
    static let models = ["cogvlm-d40h5", "cogvlm2-d64gqa4"]
    static let cases: [(String, String)] = models.flatMap { m in ["mm", "text_only"].map { (m, $0) } }

    @Test("the fixtures have the shapes they are meant to cover", arguments: models)
    func shapes(fixture: String) throws {
        let config = try CogVLMModel.load(directory: Fixtures.shapes(fixture)).config
        switch fixture {
        case "cogvlm-d40h5":
            #expect(config.version == .v1)
            #expect(config.numAttentionHeads == 5 && config.numKeyValueHeads == 5 && config.headDim == 8)
            #expect(config.vision.patchSize == 7 && config.vision.gridSize == 4 && config.vision.headDim == 8)
            #expect(config.imageTokenCount == 18)
        default:
            #expect(config.version == .v2)
            #expect(config.numAttentionHeads == 8 && config.numKeyValueHeads == 2 && config.headDim == 8)
            #expect(config.vision.patchSize == 7 && config.vision.gridSize == 8)
            #expect(config.imageTokenCount == 4 * 4 + 2)
            #expect(([config.bosTokenID, config.padTokenID] + config.eosTokenIDs).allSatisfy { $0 < config.vocabSize })
        }
    }

    @Test("numpy-reference forward pass and greedy generation", arguments: cases)
    func prompt(fixture: String, prompt: String) throws {
        let model = try CogVLMModel.load(directory: Fixtures.shapes(fixture))
        let expected = try ExpectedTensors(Fixtures.shapes(fixture).appendingPathComponent("expected/\(prompt).safetensors"))
        let label = "shapes/\(fixture)/\(prompt)"
        let worst = try ParityChecks.checkPrompt(model, expected: expected, label: label) {
            // The multimodal file carries its own seeded pixel values and vision intermediates.
            try ParityChecks.checkedImageFeatures(model, pixelValues: try expected.floats("pixel_values"),
                                                  expected: expected, label: label)
        }
        print("[\(label)] worst LM / logits / step-logits error \(worst) (tolerance \(Tolerance.forward))")
    }
}

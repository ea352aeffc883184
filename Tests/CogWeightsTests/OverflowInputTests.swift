import CogTestSupport
import CogVLM
import CogWeights
import Foundation
import Testing

/// Sizes in a checkpoint or config.json whose products do not fit in an Int: each is an error
/// with its code, never an arithmetic-overflow trap or a huge allocation (found by fuzzing
/// `cogjobs check`, `run` and `convert`).
@Suite("Checkpoint sizes that overflow")
struct OverflowInputTests {
    @Test("a shape whose element count fits but whose byte size does not is bad_offsets")
    func byteSizeOverflows() {
        // 4e15 × 1000 = 4e18 elements fit in an Int; × 4 bytes do not.
        let header = #"{"a": {"dtype": "F32", "shape": [4000000000000000, 1000], "data_offsets": [0, 0]}}"#
        BadInputTests.expectError(.badOffsets, key: "a") { _ = try BadInputTests.open(BadInputTests.rawFile(header: header)) }
    }

    @Test("a zero-sized tensor whose other dimensions overflow is bad_offsets")
    func zeroSizedTensorWithOverflowingDimensions() {
        // 0 elements, but [2^52, 2^52] (a matrix view's columns, say) overflows.
        let header = #"{"a": {"dtype": "BF16", "shape": [0, 4000000000000000, 4000000000000000], "data_offsets": [0, 0]}}"#
        BadInputTests.expectError(.badOffsets, key: "a") { _ = try BadInputTests.open(BadInputTests.rawFile(header: header)) }
    }

    @Test("convert copies zero-sized weight matrices instead of quantizing them", arguments: [[5, 0], [0, 5], [0, 4_000_000_000_000_000]])
    func convertCopiesZeroSizedMatrices(shape: [Int]) throws {
        try BadInputTests.withFixtureCopy { dir in
            try BadInputTests.rewriteShard2(dir) { $0["extra.weight"] = (.bf16, shape, Data()) }
            try Fixtures.withTemporaryDirectory("convert-zero") { out in
                try ModelConverter.convert(from: dir, to: out, options: .init(format: .q4))
                let converted = try Checkpoint(directory: out)
                #expect(converted.tensors["extra.weight"]?.shape == shape)
                #expect(converted.tensors["extra.weight"]?.byteCount == 0)
            }
        }
    }

    /// The tiny fixture's config.json with `edit` applied to its vision_config.
    static func configData(vision edit: (inout [String: Any]) -> Void) throws -> Data {
        var config = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Fixtures.cogvlmTiny.appendingPathComponent("config.json"))) as! [String: Any]
        var vision = config["vision_config"] as! [String: Any]
        edit(&vision)
        config["vision_config"] = vision
        return try JSONSerialization.data(withJSONObject: config)
    }

    static func expectBadConfig(key: String, vision edit: (inout [String: Any]) -> Void) throws {
        let data = try configData(vision: edit)
        let error = #expect(throws: WeightsError.self) { _ = try CogVLMConfiguration.parse(data, version: .v1) }
        #expect(error?.code == .badConfig, "\(String(describing: error))")
        #expect(error?.key == key, "\(String(describing: error))")
    }

    @Test("a patch grid whose square overflows is bad_config")
    func gridSquareOverflows() throws {
        try Self.expectBadConfig(key: "vision_config.image_size") { v in
            v["image_size"] = 1 << 40
            v["patch_size"] = 1
        }
    }

    @Test("in_channels × patch_size² overflowing is bad_config")
    func patchLengthOverflows() throws {
        try Self.expectBadConfig(key: "vision_config.in_channels") { v in
            v["image_size"] = 1 << 20
            v["patch_size"] = 1 << 20
            v["num_positions"] = 2
            v["in_channels"] = 1 << 30
        }
    }

    @Test("in_channels × image_size² overflowing is bad_config")
    func pixelCountOverflows() throws {
        try Self.expectBadConfig(key: "vision_config.image_size") { v in
            v["image_size"] = 1 << 31
            v["patch_size"] = 1 << 16
            v["num_positions"] = (1 << 30) + 1
            v["in_channels"] = 3
        }
    }

    @Test("a vision geometry past the working-memory bounds is bad_config before anything runs")
    func hugeVisionGeometryIsRefused() throws {
        // Consistent but huge: 300 patches of 300 px per side (the fuzzer's 53 MB checkpoint
        // asked `run` for 24 GB).
        try Self.expectBadConfig(key: "vision_config.image_size") { v in
            v["image_size"] = 90_000
            v["patch_size"] = 300
            v["num_positions"] = 300 * 300 + 1
        }
        try Self.expectBadConfig(key: "vision_config.patch_size") { v in
            v["image_size"] = 4096
            v["patch_size"] = 16
            v["num_positions"] = 256 * 256 + 1
        }
        // The largest accepted grid still loads.
        let data = try Self.configData { v in
            v["image_size"] = CogVLMConfiguration.maxPatchGrid * 7
            v["patch_size"] = 7
            v["num_positions"] = CogVLMConfiguration.maxPatchGrid * CogVLMConfiguration.maxPatchGrid + 1
        }
        #expect(try CogVLMConfiguration.parse(data, version: .v1).vision.gridSize == CogVLMConfiguration.maxPatchGrid)
    }

    @Test("config.json values of the wrong kind are shown as written: a quoted number, a boolean, a huge integer")
    func wrongKindsAreShownAsWritten() throws {
        let cases: [(Any, String)] = [("64", #"must be an integer, got "64" (a string)"#), (true, "must be an integer, got true"),
                                      (4_611_686_018_427_387_904 as Int64, "is too large")]
        for (value, message) in cases {
            var config = try JSONSerialization.jsonObject(
                with: Data(contentsOf: Fixtures.cogvlmTiny.appendingPathComponent("config.json"))) as! [String: Any]
            config["hidden_size"] = value
            let error = #expect(throws: WeightsError.self) {
                _ = try CogVLMConfiguration.parse(try JSONSerialization.data(withJSONObject: config), version: .v1)
            }
            #expect(error?.key == "hidden_size" && error?.message.contains(message) == true, "\(String(describing: error))")
        }
    }

    @Test("normalization epsilons must be positive and finite")
    func epsilonsMustBePositive() throws {
        for (key, value) in [("rms_norm_eps", -1.0), ("rms_norm_eps", 0.0)] {
            var config = try JSONSerialization.jsonObject(
                with: Data(contentsOf: Fixtures.cogvlmTiny.appendingPathComponent("config.json"))) as! [String: Any]
            config[key] = value
            let error = #expect(throws: WeightsError.self) {
                _ = try CogVLMConfiguration.parse(try JSONSerialization.data(withJSONObject: config), version: .v1)
            }
            #expect(error?.code == .badConfig && error?.key == key, "\(String(describing: error))")
        }
        let data = try Self.configData { v in v["layer_norm_eps"] = -1e-6 }
        let error = #expect(throws: WeightsError.self) { _ = try CogVLMConfiguration.parse(data, version: .v1) }
        #expect(error?.key == "vision_config.layer_norm_eps", "\(String(describing: error))")
    }

    @Test("max_position_embeddings must be positive")
    func contextLengthMustBePositive() throws {
        for value in [0, -5] {
            var config = try JSONSerialization.jsonObject(
                with: Data(contentsOf: Fixtures.cogvlmTiny.appendingPathComponent("config.json"))) as! [String: Any]
            config["max_position_embeddings"] = value
            let error = #expect(throws: WeightsError.self) {
                _ = try CogVLMConfiguration.parse(try JSONSerialization.data(withJSONObject: config), version: .v1)
            }
            #expect(error?.code == .badConfig && error?.key == "max_position_embeddings", "\(String(describing: error))")
        }
    }
}

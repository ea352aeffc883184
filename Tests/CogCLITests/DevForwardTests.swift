import ArgumentParser
import CogVLM
@testable import CogCLI
import CogTestSupport
import CogWeights
import Foundation
import Testing

/// `cogjobs dev forward` reproduces the fixtures' numbers from the command line.
@Suite("cogjobs dev forward")
struct DevForwardTests {
    static func runCLI(_ arguments: [String]) async throws {
        var command = try CogJobsCommand.parseAsRoot(arguments)
        if var async = command as? any AsyncParsableCommand {
            try await async.run()
        } else {
            try command.run()
        }
    }

    @Test(arguments: [("cogvlm-tiny", "mm_b"), ("cogvlm2-tiny", "mm_a")])
    func reproducesFixture(fixture: String, prompt: String) async throws {
        let dir = Fixtures.root.appendingPathComponent(fixture)
        let expected = try ExpectedTensors(dir.appendingPathComponent("expected/\(prompt).safetensors"))
        let pre = try ExpectedTensors(dir.appendingPathComponent("expected/preprocess.safetensors"))
        let vision = try ExpectedTensors(dir.appendingPathComponent("expected/vision.safetensors"))
        let tmp = try Fixtures.temporaryDirectory("devforward")
        defer { Fixtures.removeTemporaryDirectory(tmp) }
        let input = tmp.appendingPathComponent("in.safetensors"), output = tmp.appendingPathComponent("out.safetensors")
        var w = SafetensorsWriter()
        let ids = try expected.ints("input_ids")
        w.add("input_ids", shape: [ids.count], int64s: ids)
        w.add("token_type_ids", shape: [ids.count], int64s: try expected.ints("token_type_ids"))
        w.add("pixel_values", shape: pre.shape("pixel_values") ?? [], floats: try pre.floats("pixel_values"))
        try w.write(to: input)

        try await Self.runCLI(["dev", "forward", "--model", dir.path, "--input", input.path, "--output", output.path, "--generate", "12"])

        let got = try ExpectedTensors(output)
        for name in ["input_ids", "token_type_ids", "position_ids", "vision_expert_mask", "gen.new_token_ids", "gen.position_ids_full"] {
            #expect(try got.ints(name) == (try expected.ints(name)), "\(name)")
        }
        for (source, names) in [(expected, expected.names.filter { $0.hasPrefix("lm.") } + ["logits", "gen.step_logits"]),
                                (vision, vision.names)] {
            for name in names {
                let err = maxAbsDifference(try got.floats(name), try source.floats(name))
                print("[dev forward \(fixture)/\(prompt)] \(name): max abs error \(err)")
                #expect(err <= Tolerance.forward, "\(name): \(err)")
            }
        }
    }

    @Test func missingPixelValuesIsAClearError() async throws {
        try await Fixtures.withTemporaryDirectory("devforward") { tmp in
            let input = tmp.appendingPathComponent("in.safetensors")
            var w = SafetensorsWriter()
            w.add("input_ids", shape: [3], int64s: [1, 0, 0])
            w.add("token_type_ids", shape: [3], int64s: [0, 1, 1])
            try w.write(to: input)
            await #expect(throws: CLIError.self) {
                try await Self.runCLI(["dev", "forward", "--model", Fixtures.cogvlmTiny.path, "--input", input.path,
                                       "--output", tmp.appendingPathComponent("o.safetensors").path])
            }
        }
    }
}

@Suite("cogjobs dev make-model")
struct DevMakeModelTests {
    @Test func tinySyntheticModelLoadsRunsAndIsDeterministic() async throws {
        let tmp = try Fixtures.temporaryDirectory("makemodel")
        defer { Fixtures.removeTemporaryDirectory(tmp) }
        let a = tmp.appendingPathComponent("a"), b = tmp.appendingPathComponent("b")
        try await DevForwardTests.runCLI(["dev", "make-model", "--preset", "tiny", "--seed", "7", a.path])
        try await DevForwardTests.runCLI(["dev", "make-model", "--preset", "tiny", "--seed", "7", b.path])
        let files = try FileManager.default.contentsOfDirectory(atPath: a.path).sorted()
        #expect(files == ["config.json", "model-00001-of-00001.safetensors", "model.safetensors.index.json"])
        for f in files { #expect(FileManager.default.contentsEqual(atPath: a.appendingPathComponent(f).path, andPath: b.appendingPathComponent(f).path)) }

        let model = try CogVLMModel.load(directory: a)
        #expect(model.config.hiddenSize == 64 && model.config.version == .v1)
        let pixels = [Float](repeating: 0.1, count: 3 * 56 * 56)
        let features = try model.encodeImage(pixelValues: pixels)
        #expect(features.count == model.config.imageTokenCount * 64)
        let types: [TokenType] = [.language] + Array(repeating: .vision, count: model.config.imageTokenCount) + [.language, .language]
        let ids = [1] + Array(repeating: 0, count: model.config.imageTokenCount) + [300, 400]
        let logits = try model.makeSession().prefill(inputIDs: ids, tokenTypes: types, imageFeatures: features)
        #expect(logits.count == 32000 && logits.allSatisfy(\.isFinite))
    }

    /// `--format` writes exactly what `convert` makes of the bf16 checkpoint: same tensors, same bytes.
    /// lm_head follows `--lm-head-format` (q8 by default; bf16 keeps it as stored).
    @Test(arguments: [("q4", "q8", nil), ("q8", "bf16", "bf16")] as [(String, String, String?)])
    func quantizedWhileWritingEqualsConvert(format: String, visionFormat: String, lmHeadFormat: String?) async throws {
        let tmp = try Fixtures.temporaryDirectory("makemodel-q")
        defer { Fixtures.removeTemporaryDirectory(tmp) }
        let bf16 = tmp.appendingPathComponent("bf16"), converted = tmp.appendingPathComponent("converted")
        let direct = tmp.appendingPathComponent("direct")
        try await DevForwardTests.runCLI(["dev", "make-model", "--preset", "tiny", "--seed", "3", bf16.path])
        let lmHead = lmHeadFormat.map { ["--lm-head-format", $0] } ?? []
        try await DevForwardTests.runCLI(["convert", bf16.path, converted.path, "--format", format, "--vision-format", visionFormat]
                                         + lmHead)
        try await DevForwardTests.runCLI(["dev", "make-model", "--preset", "tiny", "--seed", "3", "--format", format,
                                          "--vision-format", visionFormat] + lmHead + [direct.path])
        func tensors(_ dir: URL) throws -> [String: (DType, [Int], [UInt8])] {
            let checkpoint = try Checkpoint(directory: dir)
            var out: [String: (DType, [Int], [UInt8])] = [:]
            for shard in checkpoint.shards {
                for (name, view) in shard.tensors {
                    out[name] = (view.dtype, view.shape, Array(UnsafeRawBufferPointer(start: view.rawPointer, count: view.byteCount)))
                }
            }
            return out
        }
        let a = try tensors(converted), b = try tensors(direct)
        #expect(a.count > 0 && Set(a.keys) == Set(b.keys))
        var quantized = 0
        for (name, (dtype, shape, bytes)) in a {
            guard let other = b[name] else { continue }
            #expect(dtype == other.0 && shape == other.1 && bytes == other.2, "\(name)")
            if name.hasSuffix(".\(format)") { quantized += 1 }
        }
        #expect(quantized > 0)
        let headFormat = lmHeadFormat ?? "q8"
        #expect(a[headFormat == "bf16" ? "lm_head.weight" : "lm_head.weight.\(headFormat)"] != nil,
                "lm_head should be \(headFormat): \(a.keys.filter { $0.hasPrefix("lm_head") })")
        let model = try CogVLMModel.load(directory: direct)
        #expect(model.config.hiddenSize == 64)
    }
}

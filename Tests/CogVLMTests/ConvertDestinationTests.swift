import CogTestSupport
import CogVLM
import CogWeights
import Foundation
import Testing

/// Where `cogjobs convert` and `cogjobs dev make-model` write: a new checkpoint is never mixed into
/// an old one (`CheckpointDestination`).
@Suite("Checkpoint output directory")
struct ConvertDestinationTests {
    static func shards(in directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".safetensors") }.sorted()
    }

    @Test("a directory holding a checkpoint is refused, and left as it was")
    func existingCheckpointIsRefused() throws {
        try Fixtures.withTemporaryDirectory("convert-dest") { out in
            try ModelConverter.convert(from: Fixtures.cogvlmTiny, to: out, options: .init(format: .q8, shardBytes: 3_000_000))
            let before = try Self.shards(in: out)
            let error = #expect(throws: WeightsError.self) {
                try ModelConverter.convert(from: Fixtures.cogvlmTiny, to: out, options: .init(format: .q4))
            }
            #expect(error?.code == .outputExists)
            #expect(error?.description.contains("--overwrite") == true, "\(String(describing: error))")
            #expect(error?.file == out.path)
            #expect(try Self.shards(in: out) == before)
            #expect(try Checkpoint(directory: out).metadata["cogjobs.format"] == "q8")
        }
    }

    @Test("--overwrite replaces the checkpoint: stale shards go, other files stay")
    func overwriteRemovesStaleShards() throws {
        try Fixtures.withTemporaryDirectory("convert-dest") { out in
            // Several small shards first, then one large one over them.
            try ModelConverter.convert(from: Fixtures.cogvlmTiny, to: out, options: .init(format: .q8, shardBytes: 1_000_000))
            let notes = out.appendingPathComponent("NOTES.txt")
            try Data("mine".utf8).write(to: notes)
            let old = try Self.shards(in: out)
            #expect(old.count > 1, "the first conversion should write several shards: \(old)")

            try ModelConverter.convert(from: Fixtures.cogvlmTiny, to: out, options: .init(format: .q4, overwrite: true))
            let new = try Self.shards(in: out)
            let checkpoint = try Checkpoint(directory: out)
            #expect(new == checkpoint.shards.map { URL(fileURLWithPath: $0.path).lastPathComponent }.sorted(), "only the index's shards remain: \(new)")
            #expect(new.count == 1)
            #expect(checkpoint.metadata["cogjobs.format"] == "q4")
            #expect(try String(contentsOf: notes, encoding: .utf8) == "mine")
            _ = try CogVLMModel.load(directory: out)
        }
    }

    @Test("an interrupted overwrite leaves a directory that does not load, not a mix of two checkpoints")
    func interruptedOverwriteDoesNotLoad() throws {
        try Fixtures.withTemporaryDirectory("convert-dest") { out in
            try ModelConverter.convert(from: Fixtures.cogvlmTiny, to: out, options: .init(format: .q8, shardBytes: 1_000_000))
            // What a conversion killed right after it started leaves behind.
            _ = try CheckpointDestination(out, overwrite: true)
            let error = #expect(throws: WeightsError.self) { try Checkpoint(directory: out) }
            #expect(error?.code == .missingFile)
            // Running it again finishes the job.
            try ModelConverter.convert(from: Fixtures.cogvlmTiny, to: out, options: .init(format: .q8, overwrite: true))
            #expect(try Checkpoint(directory: out).metadata["cogjobs.format"] == "q8")
        }
    }

    @Test("a single-file checkpoint counts too")
    func singleFileCheckpointIsRefused() throws {
        try Fixtures.withTemporaryDirectory("convert-dest") { out in
            try FileManager.default.copyItem(at: Fixtures.cogvlmTiny.appendingPathComponent("model-00001-of-00002.safetensors"),
                                             to: out.appendingPathComponent("model.safetensors"))
            let error = #expect(throws: WeightsError.self) {
                try SyntheticCheckpoint.write(preset: .tiny, layers: nil, visionLayers: nil, to: out)
            }
            #expect(error?.code == .outputExists)
            try SyntheticCheckpoint.write(preset: .tiny, layers: nil, visionLayers: nil, to: out, overwrite: true)
            #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
            _ = try CogVLMModel.load(directory: out)
        }
    }
}

/// What `convert` reports it did: `cogjobs convert` prints it as its last line.
@Suite("Conversion summary")
struct ConversionSummaryTests {
    /// The tiny fixture's down projections: K = intermediate size 176.
    static let downProjections = (0..<2).flatMap { l in
        ["language_mlp", "vision_mlp"].map { "model.layers.\(l).mlp.\($0).down_proj.weight" }
    }

    @Test("counts the matrices per format and names those kept as stored for their width")
    func summaryMatchesTheWrittenCheckpoint() throws {
        try Fixtures.withTemporaryDirectory("convert-summary") { out in
            let summary = try ModelConverter.convert(from: Fixtures.cogvlmTiny, to: out,
                                                     options: .init(format: .q4, visionFormat: .q8, lmHeadFormat: .q8))
            let written = try Checkpoint(directory: out).tensors
            for format in QuantizedFormat.allCases {
                let stored = written.keys.filter { $0.hasSuffix(".\(format.rawValue)") }.count
                #expect(summary.quantized[format, default: 0] == stored, "\(format): \(summary.quantized)")
            }
            #expect(summary.quantized[.q4, default: 0] > 0 && summary.quantized[.q8, default: 0] > 0)
            // Widths that are not multiples of 32 here: the patch embedding's 3·14·14 = 588 and the
            // tiny model's MLP inner width 176 (every down_proj, and the adapter's dense_4h_to_h).
            let unaligned = Self.downProjections + ["model.vision.linear_proj.dense_4h_to_h.weight",
                                                    "model.vision.patch_embedding.proj.weight"]
            #expect(summary.keptUnaligned.sorted() == unaligned.sorted())
            for name in unaligned { #expect(written[name]?.dtype == .bf16, "\(name)") }
            #expect(summary.bytes == written.values.reduce(0) { $0 + $1.byteCount })
        }
    }

    @Test("a group kept as stored (vision, lm_head) is not reported as kept for its width")
    func keptGroupIsNotUnaligned() throws {
        try Fixtures.withTemporaryDirectory("convert-summary") { out in
            let summary = try ModelConverter.convert(from: Fixtures.cogvlmTiny, to: out,
                                                     options: .init(format: .q8, visionFormat: nil, lmHeadFormat: nil))
            #expect(summary.keptUnaligned.sorted() == Self.downProjections.sorted())
            #expect(summary.quantized[.q4] == nil)
            #expect(try Checkpoint(directory: out).tensors.keys.allSatisfy { !$0.hasPrefix("model.vision.") || QuantizedFormat.of(storedName: $0) == nil })
        }
    }
}

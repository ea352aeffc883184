import ArgumentParser
import CogVLM
import CogWeights
import Foundation

/// `cogjobs dev make-model`: random weights in the exact release layout, for measuring speed and
/// memory at real shapes without downloading the real checkpoints.
struct DevMakeModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-model",
        abstract: "Write a random-weight checkpoint in the Hugging Face release layout.",
        discussion: "Presets: \(SyntheticCheckpoint.Preset.allCases.map(\.rawValue).joined(separator: ", ")). "
            + "The full cogvlm-chat-17b preset writes 35 GB of bf16 shards (cogvlm2-19b: 39 GB); make sure the disk has "
            + "room, or pass --format q8|q4 to write what `cogjobs convert` would make of them directly "
            + "(17B: ≈ 19 / 12 GB), without the bf16 intermediate.")

    @Option(name: .long, help: "Shape preset.")
    var preset: String = "tiny"

    @Option(name: .long, help: "Number of language decoder layers (default: the preset's).")
    var layers: Int?

    @Option(name: .long, help: "Number of vision transformer layers (default: the preset's).")
    var visionLayers: Int?

    @Option(name: .long, help: "Random seed.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Quantize while writing, as `cogjobs convert --format` would: q8 | q4 (default: bf16 shards).")
    var format: String?

    @Option(name: .long, help: "With --format: the vision tower's format, q8 | q4 | bf16 (keep bf16).")
    var visionFormat: String = "q8"

    @Option(name: .long, help: "With --format: lm_head's format, q8 | q4 | bf16 (keep bf16).")
    var lmHeadFormat: String = "q8"

    @Flag(name: .long, help: "Replace a checkpoint already in the output directory (its shards and index; other files stay).")
    var overwrite = false

    @Argument(help: "Output directory.")
    var output: String

    func validate() throws {
        // An empty argument (an unset shell variable) would mean the current folder.
        if output.isEmpty { throw ValidationError("OUT is empty; name the output directory") }
        guard SyntheticCheckpoint.Preset(rawValue: preset) != nil else {
            throw ValidationError("unknown preset '\(preset)'; choose one of \(SyntheticCheckpoint.Preset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let layers, layers < 1 { throw ValidationError("--layers must be at least 1") }
        if let visionLayers, visionLayers < 1 { throw ValidationError("--vision-layers must be at least 1") }
        if let format, QuantizedFormat(rawValue: format) == nil { throw ValidationError("--format must be q8 or q4") }
        _ = try keptOrQuantized(visionFormat, option: "vision-format")
        _ = try keptOrQuantized(lmHeadFormat, option: "lm-head-format")
    }

    func run() async throws {
        guard let preset = SyntheticCheckpoint.Preset(rawValue: preset) else { return }
        let bar = ProgressBar(label: "writing")
        let vision = try keptOrQuantized(visionFormat, option: "vision-format")
        let lmHead = try keptOrQuantized(lmHeadFormat, option: "lm-head-format")
        let convert = format.flatMap(QuantizedFormat.init(rawValue:)).map {
            ModelConverter.Options(format: $0, visionFormat: vision, lmHeadFormat: lmHead)
        }
        try SyntheticCheckpoint.write(preset: preset, layers: layers, visionLayers: visionLayers,
                                      to: URL(fileURLWithPath: output), seed: seed, convert: convert, overwrite: overwrite) { done, total in
            bar.update(Double(done), of: Double(total), unit: "GB", scale: 1e-9)
        }
        bar.finish()
        print("wrote \(output)")
    }
}

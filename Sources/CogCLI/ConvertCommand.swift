import ArgumentParser
import CogVLM
import CogWeights
import Foundation

/// `cogjobs convert`: quantize a checkpoint so the 17B/19B models fit in memory and decode faster.
struct ConvertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Write a block-quantized (q8 / q4) copy of a model directory.",
        discussion: """
            The language model's matrices become --format; the vision tower's become --vision-format \
            (q8 by default: 4-bit hurts ViTs; 'bf16' keeps them as stored); lm_head becomes --lm-head-format \
            (q8 by default: its errors go straight into the logits, so it never goes below 8 bits unless asked; \
            q8 halves what each decoded token reads from it: 262 → 139 MB for CogVLM-17B, 1.05 → 0.53 GB for \
            CogVLM2-19B). Norms, biases, \
            embeddings and the patch embedding are copied unchanged. An output directory that already holds \
            a checkpoint is refused unless --overwrite (then the old shards and index are replaced; an \
            interrupted run leaves no index, so a half-written directory never loads). Streams tensor by tensor (a few MB of \
            working memory), so a 35 GB checkpoint converts on a 24 GB machine. Sizes of the full CogVLM-17B: \
            bf16 35 GB, q8 ≈ 19 GB, q4 (vision q8) ≈ 12 GB.
            """
    )

    @Argument(help: "Source model directory (Hugging Face layout).")
    var model: String

    @Argument(help: "Output directory.")
    var output: String

    @Option(name: .long, help: "q8 | q4")
    var format: String

    @Option(name: .long, help: "q8 | q4 | bf16 (keep as stored)")
    var visionFormat: String = "q8"

    @Option(name: .long, help: "Format of lm_head: q8 | q4 | bf16 (keep as stored)")
    var lmHeadFormat: String = "q8"

    @Flag(name: .long, help: "Replace a checkpoint already in the output directory (its shards and index; other files stay).")
    var overwrite = false

    func validate() throws {
        // An empty argument (an unset shell variable) would mean the current folder.
        if model.isEmpty { throw ValidationError("MODEL is empty; name the source model directory") }
        if output.isEmpty { throw ValidationError("OUT is empty; name the output directory") }
        guard QuantizedFormat(rawValue: format) != nil else { throw ValidationError("--format must be q8 or q4") }
        _ = try keptOrQuantized(visionFormat, option: "vision-format")
        _ = try keptOrQuantized(lmHeadFormat, option: "lm-head-format")
    }

    func run() async throws {
        guard let format = QuantizedFormat(rawValue: format) else { return }
        let options = ModelConverter.Options(format: format,
                                             visionFormat: try keptOrQuantized(visionFormat, option: "vision-format"),
                                             lmHeadFormat: try keptOrQuantized(lmHeadFormat, option: "lm-head-format"),
                                             overwrite: overwrite)
        let bar = ProgressBar(label: "converting")
        let started = Date()
        let summary: ModelConverter.Summary
        do {
            summary = try ModelConverter.convert(from: URL(fileURLWithPath: model), to: URL(fileURLWithPath: output), options: options) { done, total in
                bar.update(Double(done), of: Double(total), unit: "GB", scale: 1e-9)
            }
        } catch {
            bar.finish()
            throw error
        }
        bar.finish()
        print(String(format: "wrote %@ (%@, vision %@, lm_head %@) in %.1f s", output, format.rawValue, visionFormat, lmHeadFormat, Date().timeIntervalSince(started)))
        print(Self.describe(summary))
    }

    /// "577 matrices quantized (q8 257, q4 320), 1 kept as stored: width not a multiple of 32 (…); 12.39 GB of tensors".
    static func describe(_ summary: ModelConverter.Summary) -> String {
        let total = summary.quantized.values.reduce(0, +)
        let perFormat = QuantizedFormat.allCases.compactMap { f in summary.quantized[f].map { "\(f.rawValue) \($0)" } }
        var line = "\(total) \(total == 1 ? "matrix" : "matrices") quantized"
        if !perFormat.isEmpty { line += " (\(perFormat.joined(separator: ", ")))" }
        let kept = summary.keptUnaligned
        if !kept.isEmpty {
            let named = kept.prefix(3).joined(separator: ", ") + (kept.count > 3 ? ", …" : "")
            line += ", \(kept.count) kept as stored: width not a multiple of \(QuantizedFormat.blockSize) (\(named))"
        }
        return line + String(format: "; %.2f GB of tensors", Double(summary.bytes) / 1e9)
    }
}

import ArgumentParser
import CogTensor
import CogVLM
import CogWeights
import Foundation

/// `cogjobs dev forward`: runs the model on explicit token ids (and optionally pixels) and writes
/// every named intermediate to a safetensors file — the Swift counterpart of hooking the
/// reference model, like llama.cpp's eval callback. Names follow the fixtures' expected files.
struct DevForwardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Run one forward pass on given ids/pixels and dump every intermediate tensor.",
        discussion: """
            INPUT is a safetensors file with `input_ids` (I64 [L]), `token_type_ids` (I64 [L], 1 = image slot) \
            and, when there are image slots, `pixel_values` (F32 [3,S,S]). OUTPUT receives `input_ids`, \
            `token_type_ids`, `position_ids`, `vision_expert_mask`, the `vision.*` intermediates, `lm.inputs_embeds`, \
            `lm.layers.N.out`, `lm.final_norm_out` and `logits` [L, vocab]; with --generate N also `gen.new_token_ids`, \
            `gen.step_logits` [N, vocab] and `gen.position_ids_full` (greedy, KV-cached).
            """
    )

    @Option(name: .long, help: "Model directory (Hugging Face layout: config.json + safetensors).")
    var model: String

    @Option(name: .long, help: "Input safetensors file.")
    var input: String

    @Option(name: .long, help: "Safetensors file holding `pixel_values` (default: the input file).")
    var pixels: String?

    @Option(name: .long, help: "Output safetensors file to write.")
    var output: String

    @Option(name: .long, help: "Also generate N tokens greedily with the KV cache.")
    var generate: Int = 0

    func validate() throws {
        if generate < 0 { throw ValidationError("--generate must be 0 or more") }
        let out = URL(fileURLWithPath: output)
        for (option, path) in [("--input", input), ("--pixels", pixels)] {
            if let path, FileIdentity.same(out, URL(fileURLWithPath: path)) {
                throw ValidationError("--output \(output) is the \(option) file; choose another output file")
            }
        }
    }

    func run() async throws {
        try runForward()
    }

    private func runForward() throws {
        let started = Date()
        let model = try CogVLMModel.load(directory: URL(fileURLWithPath: self.model))
        let loadSeconds = Date().timeIntervalSince(started)
        let inputs = try SafetensorsFile(path: input)
        func ints(_ name: String) throws -> [Int] {
            guard let t = inputs.tensors[name] else {
                throw CLIError(.badInput, "\(input): missing tensor '\(name)' (I64 [L])")
            }
            guard t.dtype == .i64 || t.dtype == .i32, t.shape.count == 1 else {
                throw CLIError(.badInput, "\(input): '\(name)' must be a 1-D integer tensor, got \(t.dtype.rawValue) \(t.shape)")
            }
            return t.toIntArray()
        }
        let ids = try ints("input_ids")
        let rawTypes = try ints("token_type_ids")
        guard rawTypes.count == ids.count else {
            throw CLIError(.badInput, "\(input): input_ids has \(ids.count) entries, token_type_ids \(rawTypes.count)")
        }
        let types = try rawTypes.enumerated().map { i, t -> TokenType in
            guard let type = TokenType(rawValue: t) else {
                throw CLIError(.badInput, "\(input): token_type_ids[\(i)] = \(t); only 0 (text) and 1 (image) exist")
            }
            return type
        }

        var writer = SafetensorsWriter()
        writer.metadata = ["producer": "cogjobs dev forward", "model": self.model]
        writer.add("input_ids", shape: [ids.count], int64s: ids)
        writer.add("token_type_ids", shape: [ids.count], int64s: rawTypes)
        writer.add("position_ids", shape: [ids.count], int64s: SequenceLayout.positionIDs(tokenTypes: types))
        writer.add("vision_expert_mask", shape: [ids.count],
                   int64s: SequenceLayout.visionExpertMask(tokenTypes: types).map { $0 ? 1 : 0 })
        let record: ForwardTrace = { name, shape, values in writer.add(name, shape: shape, floats: Array(values)) }

        var features: [Float]? = nil
        if types.contains(.vision) {
            let pixelFile = try pixels.map { try SafetensorsFile(path: $0) } ?? inputs
            guard let pixels = pixelFile.tensors["pixel_values"] else {
                throw CLIError(.badInput, "\(pixelFile.path): the sequence has image slots but no 'pixel_values' (F32 [3,S,S])")
            }
            features = try model.encodeImage(pixelValues: pixels.toFloatArray(), trace: record)
        }
        let session = model.makeSession()
        let forwardStart = Date()
        let logits = try session.prefill(inputIDs: ids, tokenTypes: types, imageFeatures: features, allLogits: true,
                                         trace: record)
        let forwardSeconds = Date().timeIntervalSince(forwardStart)
        if generate > 0 {
            let vocab = model.config.vocabSize
            var step = Array(logits.suffix(vocab))
            var tokens: [Int] = []
            var steps: [Float] = []
            for i in 0..<generate {
                steps.append(contentsOf: step)
                let next = Greedy.argmax(step)
                tokens.append(next)
                if i + 1 < generate { step = try session.decode(token: next) }
            }
            print("generated token ids: \(tokens)")
            writer.add("gen.new_token_ids", shape: [generate], int64s: tokens)
            writer.add("gen.step_logits", shape: [generate, vocab], floats: steps)
            writer.add("gen.position_ids_full", shape: [ids.count + generate],
                       int64s: SequenceLayout.positionIDs(tokenTypes: types + Array(repeating: .language, count: generate)))
        }
        do {
            try writer.write(to: URL(fileURLWithPath: output))
        } catch {
            throw CLIError(.outputFailed, "cannot write \(output): \(FileErrors.reason(error))")
        }
        let msg = String(format: "wrote %@ (load %.3f s, forward of %d tokens %.3f s)\n", output, loadSeconds, ids.count, forwardSeconds)
        FileHandle.standardError.write(Data(msg.utf8))
    }
}

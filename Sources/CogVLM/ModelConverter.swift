import CogTensor
import CogWeights
import Foundation

/// `cogjobs convert`: rewrites a checkpoint with its weight matrices block-quantized (q8 / q4, see
/// `QuantizedFormat`), streaming tensor by tensor within a bounded memory budget. Everything else
/// (norms, biases, embeddings, the patch embedding whose K = 588 is not a multiple of 32) stays
/// as stored. The output is a normal Hugging Face directory: `config.json` and friends copied,
/// safetensors shards ≤ `shardBytes`, `model.safetensors.index.json`.
public enum ModelConverter {
    public struct Options: Sendable {
        /// Format of the language model's matrices (both experts).
        public var format: QuantizedFormat
        /// Format of the vision tower and adapter matrices; nil keeps them as stored (bf16).
        /// Defaults to q8: 4-bit hurts ViTs (architecture doc §7.9).
        public var visionFormat: QuantizedFormat?
        /// Format of `lm_head`; nil keeps it as stored. Its errors go straight into the logits.
        public var lmHeadFormat: QuantizedFormat?
        public var shardBytes: Int
        /// Replace a checkpoint already in the output directory (see `CheckpointDestination`);
        /// false refuses such a directory.
        public var overwrite: Bool

        public init(format: QuantizedFormat, visionFormat: QuantizedFormat? = .q8, lmHeadFormat: QuantizedFormat? = nil,
                    shardBytes: Int = 5_000_000_000, overwrite: Bool = false) {
            self.format = format
            self.visionFormat = visionFormat
            self.lmHeadFormat = lmHeadFormat
            self.shardBytes = shardBytes
            self.overwrite = overwrite
        }
    }

    /// What a conversion wrote, for the command's last line.
    public struct Summary: Sendable, Equatable {
        /// Matrices quantized, per format (`q8`, `q4`).
        public var quantized: [QuantizedFormat: Int] = [:]
        /// Weight matrices of a quantized group kept as stored because their width is not a
        /// multiple of the 32-element block (e.g. the patch embedding, K = 588), by tensor name.
        public var keptUnaligned: [String] = []
        /// Bytes of tensor data written.
        public var bytes = 0
    }

    /// One output tensor and where its bytes come from.
    private struct Output {
        let name: String
        let dtype: DType
        let shape: [Int]
        let source: TensorView
        let role: Role
        enum Role { case copy, quants(QuantizedFormat, rows: Int, cols: Int), scales(QuantizedFormat, rows: Int, cols: Int) }
        var byteCount: Int { shape.reduce(1, *) * dtype.size }
    }

    /// The format a tensor of this name, type and shape is converted to, or nil to copy it.
    static func target(name: String, dtype: DType, shape: [Int], options: Options) -> (QuantizedFormat, rows: Int, cols: Int)? {
        if case .quantize(let format, let rows, let cols) = plan(name: name, dtype: dtype, shape: shape, options: options) {
            return (format, rows, cols)
        }
        return nil
    }

    /// What becomes of one source tensor.
    enum Plan: Equatable {
        case quantize(QuantizedFormat, rows: Int, cols: Int)
        /// Not a matrix the options quantize (norms, biases, embeddings, a group kept as stored).
        case copy
        /// A matrix of a group the options quantize, copied because its width is not a whole
        /// number of 32-element blocks (e.g. the patch embedding, K = 588).
        case copyUnaligned
    }

    static func plan(name: String, dtype: DType, shape: [Int], options: Options) -> Plan {
        // A tensor with a zero dimension has no values to quantize (and its other dimensions
        // may be anything: [0, 2^52] is a valid 0-byte tensor), so it is copied as it is.
        guard name.hasSuffix(".weight"), dtype.isFloat, shape.count >= 2, shape.allSatisfy({ $0 > 0 }) else { return .copy }
        if name == "model.embed_tokens.weight" || name.hasSuffix("position_embedding.weight") { return .copy }
        let rows = shape[0]
        let cols = shape.dropFirst().reduce(1, *)
        let format: QuantizedFormat?
        if name == "lm_head.weight" {
            format = options.lmHeadFormat
        } else if name.hasPrefix("model.vision.") {
            format = options.visionFormat
        } else {
            format = options.format
        }
        guard let format else { return .copy }
        guard cols % QuantizedFormat.blockSize == 0, cols % 2 == 0 else { return .copyUnaligned }
        return .quantize(format, rows: rows, cols: cols)
    }

    /// The file metadata of a converted checkpoint.
    static func metadata(_ options: Options, source: String) -> [String: String] {
        ["format": "pt", QuantizedFormat.metadataKey: options.format.rawValue,
         "cogjobs.vision_format": options.visionFormat?.rawValue ?? "as-stored",
         "cogjobs.lm_head_format": options.lmHeadFormat?.rawValue ?? "as-stored", "cogjobs.source": source]
    }

    /// Throws `.alreadyQuantized` when `checkpoint` holds block-quantized tensors (a previous
    /// conversion): their matrices would be copied as they are under metadata that names the new
    /// format, and quantizing quantized weights again could only add error.
    static func refuseQuantized(_ checkpoint: Checkpoint, source: URL) throws {
        let names = checkpoint.shards.flatMap { $0.tensors.keys }
        guard let quantized = names.sorted().first(where: { QuantizedFormat.of(storedName: $0) != nil }) else { return }
        let stored = QuantizedFormat.of(checkpoint: checkpoint).map { " (language \($0), vision "
            + (checkpoint.metadata["cogjobs.vision_format"] ?? "?") + ", lm_head " + (checkpoint.metadata["cogjobs.lm_head_format"] ?? "?") + ")" } ?? ""
        throw WeightsError(.alreadyQuantized,
                           "this checkpoint is already block-quantized\(stored); convert from the original checkpoint "
                           + "(bf16, as released) — quantizing quantized weights again only adds error",
                           file: source.path, key: quantized)
    }

    /// Converts `source` into `destination` (created; must not be the source; a checkpoint already
    /// there is refused unless `options.overwrite`, see `CheckpointDestination`).
    /// - Returns: how many matrices were quantized in each format, which matrices stayed as stored
    ///   for their width, and the bytes written.
    @discardableResult
    public static func convert(from source: URL, to destination: URL, options: Options,
                               progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> Summary {
        let fm = FileManager.default
        guard !FileIdentity.same(source, destination) else {
            throw WeightsError(.outputExists, "the output directory is the model directory (\(source.path)): converting in "
                                   + "place would delete the weights it reads; choose another output directory",
                               file: destination.path)
        }
        let checkpoint = try Checkpoint(directory: source)
        try refuseQuantized(checkpoint, source: source)
        // The converted copy carries this config.json: one the loader refuses would give an
        // unloadable output after minutes of work.
        _ = try CogVLMConfiguration.load(from: source.appendingPathComponent("config.json"),
                                         version: CogVLMVersion.of(checkpoint))
        let output = try CheckpointDestination(destination, overwrite: options.overwrite)
        // Source tensors in file order (sequential reads of the mapped shards).
        let sources = checkpoint.shards.flatMap { shard in shard.tensors.values.sorted { $0.offset < $1.offset } }
        var outputs: [Output] = []
        var summary = Summary()
        for view in sources {
            let plan = plan(name: view.name, dtype: view.dtype, shape: view.shape, options: options)
            if case .quantize(let format, let rows, let cols) = plan {
                summary.quantized[format, default: 0] += 1
                let (qType, qShape) = format.quantsLayout(rows: rows, cols: cols)
                outputs.append(Output(name: format.quantsName(view.name), dtype: qType, shape: qShape, source: view,
                                      role: .quants(format, rows: rows, cols: cols)))
                outputs.append(Output(name: format.scalesName(view.name), dtype: .f16, shape: format.scalesShape(rows: rows, cols: cols),
                                      source: view, role: .scales(format, rows: rows, cols: cols)))
            } else {
                if plan == .copyUnaligned { summary.keptUnaligned.append(view.name) }
                outputs.append(Output(name: view.name, dtype: view.dtype, shape: view.shape, source: view, role: .copy))
            }
        }
        summary.bytes = outputs.reduce(0) { $0 + $1.byteCount }
        // Greedy sharding in order.
        var shards: [[Output]] = [[]]
        var size = 0
        for o in outputs {
            if size > 0 && size + o.byteCount > options.shardBytes {
                shards.append([])
                size = 0
            }
            shards[shards.count - 1].append(o)
            size += o.byteCount
        }
        let total = sources.reduce(0) { $0 + $1.byteCount }
        var done = 0
        var weightMap: [String: String] = [:]
        let metadata = Self.metadata(options, source: source.lastPathComponent)
        // Scales of the matrix being converted: written right after its quants.
        var pendingScales: [UInt16] = []
        for (s, shard) in shards.enumerated() {
            let name = String(format: "model-%05d-of-%05d.safetensors", s + 1, shards.count)
            let writer = try SafetensorsStreamWriter(url: destination.appendingPathComponent(name),
                                                     plan: shard.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) },
                                                     metadata: metadata)
            for o in shard {
                weightMap[o.name] = name
                switch o.role {
                case .copy:
                    try writer.append(UnsafeRawBufferPointer(start: o.source.rawPointer, count: o.byteCount))
                    done += o.byteCount
                case .quants(let format, let rows, let cols):
                    let view = o.source
                    pendingScales = try quantize(format: format, rows: rows, cols: cols, writer: writer, file: view.file.path,
                                                 tensor: view.name) { dst, elements in
                        view.convertToFloat(into: dst, elements: elements)
                    }
                    done += o.source.byteCount
                case .scales:
                    try pendingScales.withUnsafeBytes { try writer.append($0) }
                    pendingScales = []
                }
                o.source.file.adviseDontNeed(offset: o.source.offset, count: o.source.byteCount)
                progress(done, total)
            }
            try writer.finish()
        }
        // Config and tokenizer files first: the index, written last, marks the checkpoint complete.
        do {
            for extra in ["config.json", "generation_config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                          "special_tokens_map.json"] {
                let from = source.appendingPathComponent(extra), to = destination.appendingPathComponent(extra)
                guard fm.fileExists(atPath: from.path) else { continue }
                if fm.fileExists(atPath: to.path) { try fm.removeItem(at: to) }
                try fm.copyItem(at: from, to: to)
            }
        } catch {
            throw WeightsError(.io, "cannot copy the config and tokenizer files: \(SystemErrorText.reason(error))", file: destination.path)
        }
        try output.finish(weightMap: weightMap, totalBytes: summary.bytes)
        return summary
    }

    /// Streams the quantized values of one matrix to `writer` in row chunks (≈ 4 MiB of f32 at a
    /// time) and returns its scales `[rows, cols/32]`. `source(dst, elements)` writes the matrix's
    /// elements `elements` (row-major, f32) to `dst`; chunks are requested in order.
    static func quantize(format: QuantizedFormat, rows: Int, cols: Int, writer: SafetensorsStreamWriter,
                         file: String, tensor: String,
                         source: (UnsafeMutablePointer<Float>, Range<Int>) -> Void) throws -> [UInt16] {
        let chunkRows = max(1, (1 << 20) / cols)
        let blocksPerRow = cols / QuantizedFormat.blockSize
        var scales = [UInt16](repeating: 0, count: rows * blocksPerRow)  // [rows, cols/32] fp16
        var f32 = [Float](repeating: 0, count: chunkRows * cols)           // [chunk, cols]
        var q8 = [Int8](repeating: 0, count: format == .q8 ? chunkRows * cols : 0)
        var q4 = [UInt8](repeating: 0, count: format == .q4 ? chunkRows * cols / 2 : 0)
        var r0 = 0
        while r0 < rows {
            let r1 = min(rows, r0 + chunkRows)
            let n = (r1 - r0) * cols
            try f32.withUnsafeMutableBufferPointer { fb in
                guard let src = fb.baseAddress else { return }
                source(src, r0 * cols ..< r1 * cols)
                try scales.withUnsafeMutableBufferPointer { sb in
                    guard let sc = sb.baseAddress else { return }
                    do {
                        switch format {
                        case .q8:
                            try q8.withUnsafeMutableBufferPointer { qb in
                                guard let q = qb.baseAddress else { return }
                                try Quantizer.q8(src, count: n, quants: q, scales: sc + r0 * blocksPerRow)
                                try writer.append(UnsafeRawBufferPointer(start: q, count: n))
                            }
                        case .q4:
                            try q4.withUnsafeMutableBufferPointer { qb in
                                guard let q = qb.baseAddress else { return }
                                try Quantizer.q4(src, count: n, quants: q, scales: sc + r0 * blocksPerRow)
                                try writer.append(UnsafeRawBufferPointer(start: q, count: n / 2))
                            }
                        }
                    } catch let failure as Quantizer.Failure {
                        throw WeightsError(.io, "cannot quantize rows \(r0)..<\(r1): \(failure)", file: file, key: tensor)
                    }
                }
            }
            r0 = r1
        }
        return scales
    }
}

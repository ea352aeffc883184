import CogWeights
import Foundation

/// Writes random-weight checkpoints in the exact Hugging Face release layout (bf16 shards of at
/// most `shardBytes`, `model.safetensors.index.json`, `config.json`), so that speed and memory can
/// be measured at the real shapes without the real weights. Weights are uniform with the variance
/// of N(0, 1/fan_in) (activations stay in a realistic range through 32 layers); norm gains near 1;
/// `inv_freq` as the reference stores it (f32 formula rounded to bf16).
public enum SyntheticCheckpoint {
    /// A named shape preset.
    public enum Preset: String, CaseIterable, Sendable {
        /// The shapes of the bundled tiny v1 fixture.
        case tiny
        /// THUDM/cogvlm-chat-hf (CogVLM-17B v1.1).
        case cogvlmChat17B = "cogvlm-chat-17b"
        /// THUDM/cogvlm2-llama3-chat-19B.
        case cogvlm2_19B = "cogvlm2-19b"

        /// The release's `config.json` contents for this preset.
        public func configJSON(layers: Int?, visionLayers: Int?) -> [String: Any] {
            switch self {
            case .tiny:
                return Self.config(v2: false, hidden: 64, inter: 176, layers: layers ?? 2, heads: 4, vocab: 32000,
                                   image: 56, vHidden: 64, vLayers: visionLayers ?? 2, vHeads: 4, vInter: 128)
            case .cogvlmChat17B:
                return Self.config(v2: false, hidden: 4096, inter: 11008, layers: layers ?? 32, heads: 32, vocab: 32000,
                                   image: 490, vHidden: 1792, vLayers: visionLayers ?? 63, vHeads: 16, vInter: 15360)
            case .cogvlm2_19B:
                return Self.config(v2: true, hidden: 4096, inter: 14336, layers: layers ?? 32, heads: 32, vocab: 128256,
                                   image: 1344, vHidden: 1792, vLayers: visionLayers ?? 63, vHeads: 16, vInter: 15360)
            }
        }

        private static func config(v2: Bool, hidden: Int, inter: Int, layers: Int, heads: Int, vocab: Int,
                                   image: Int, vHidden: Int, vLayers: Int, vHeads: Int, vInter: Int) -> [String: Any] {
            let grid = image / 14
            return [
                "architectures": ["CogVLMForCausalLM"],
                "hidden_size": hidden, "intermediate_size": inter, "num_hidden_layers": layers,
                "num_attention_heads": heads, "hidden_act": "silu", "rms_norm_eps": 1e-5,
                "max_position_embeddings": v2 ? 8192 : 2048, "vocab_size": vocab,
                "bos_token_id": v2 ? 128000 : 1, "eos_token_id": v2 ? [128001, 128009] as [Any] : 2 as Any,
                "pad_token_id": v2 ? 128002 : 0, "template_version": "chat", "initializer_range": 0.02, "use_cache": true,
                "vision_config": [
                    "dropout_prob": 0.0, "hidden_act": "gelu", "hidden_size": vHidden, "image_size": image, "in_channels": 3,
                    "intermediate_size": vInter, "layer_norm_eps": 1e-6, "num_heads": vHeads, "num_hidden_layers": vLayers,
                    "num_positions": grid * grid + 1, "patch_size": 14,
                ] as [String: Any],
            ]
        }
    }

    /// Every tensor of a checkpoint with this configuration: name, shape, and fan-in for the
    /// initialisation (0 = norm gain, -1 = bias / small vector, -2 = inv_freq buffer).
    public static func tensorPlan(_ c: CogVLMConfiguration) -> [(name: String, shape: [Int], fanIn: Int)] {
        let h = c.hiddenSize, inter = c.intermediateSize, dv = c.vision.hiddenSize, iv = c.vision.intermediateSize
        let qkv = (c.numAttentionHeads + 2 * c.numKeyValueHeads) * c.headDim
        var plan: [(String, [Int], Int)] = [("model.embed_tokens.weight", [c.vocabSize, h], 4)]
        for i in 0..<c.numHiddenLayers {
            let p = "model.layers.\(i)."
            plan += [
                (p + "input_layernorm.weight", [h], 0),
                (p + "post_attention_layernorm.weight", [h], 0),
                (p + "self_attn.language_expert_query_key_value.weight", [qkv, h], h),
                (p + "self_attn.vision_expert_query_key_value.weight", [qkv, h], h),
                (p + "self_attn.language_expert_dense.weight", [h, h], h),
                (p + "self_attn.vision_expert_dense.weight", [h, h], h),
                (p + "self_attn.rotary_emb.inv_freq", [c.headDim / 2], -2),
                (p + "mlp.language_mlp.gate_proj.weight", [inter, h], h),
                (p + "mlp.language_mlp.up_proj.weight", [inter, h], h),
                (p + "mlp.language_mlp.down_proj.weight", [h, inter], inter),
                (p + "mlp.vision_mlp.gate_proj.weight", [inter, h], h),
                (p + "mlp.vision_mlp.up_proj.weight", [inter, h], h),
                (p + "mlp.vision_mlp.down_proj.weight", [h, inter], inter),
            ]
            if c.version == .v2 { plan.append((p + "self_attn.vision_expert_query_key_value.bias", [qkv], -1)) }
        }
        plan += [("model.norm.weight", [h], 0)]
        let v = "model.vision."
        plan += [
            (v + "patch_embedding.proj.weight", [dv, c.vision.inChannels, c.vision.patchSize, c.vision.patchSize],
             c.vision.inChannels * c.vision.patchSize * c.vision.patchSize),
            (v + "patch_embedding.proj.bias", [dv], -1),
            (v + "patch_embedding.cls_embedding", [1, dv], 4),
            (v + "patch_embedding.position_embedding.weight", [c.vision.numPositions, dv], 4),
        ]
        for j in 0..<c.vision.numHiddenLayers {
            let p = v + "transformer.layers.\(j)."
            plan += [
                (p + "input_layernorm.weight", [dv], 0), (p + "input_layernorm.bias", [dv], -1),
                (p + "attention.query_key_value.weight", [3 * dv, dv], dv), (p + "attention.query_key_value.bias", [3 * dv], -1),
                (p + "attention.dense.weight", [dv, dv], dv), (p + "attention.dense.bias", [dv], -1),
                (p + "mlp.fc1.weight", [iv, dv], dv), (p + "mlp.fc1.bias", [iv], -1),
                (p + "mlp.fc2.weight", [dv, iv], iv), (p + "mlp.fc2.bias", [dv], -1),
                (p + "post_attention_layernorm.weight", [dv], 0), (p + "post_attention_layernorm.bias", [dv], -1),
            ]
        }
        if c.version == .v2 { plan += [(v + "conv.weight", [dv, dv, 2, 2], dv * 4), (v + "conv.bias", [dv], -1)] }
        plan += [
            (v + "linear_proj.linear_proj.weight", [h, dv], dv),
            (v + "linear_proj.norm1.weight", [h], 0), (v + "linear_proj.norm1.bias", [h], -1),
            (v + "linear_proj.gate_proj.weight", [inter, h], h),
            (v + "linear_proj.dense_h_to_4h.weight", [inter, h], h),
            (v + "linear_proj.dense_4h_to_h.weight", [h, inter], inter),
            (v + "boi", [1, 1, h], 4), (v + "eoi", [1, 1, h], 4),
            ("lm_head.weight", [c.vocabSize, h], h),
        ]
        return plan
    }

    /// Writes the checkpoint into `directory` (created if needed; a checkpoint already there is
    /// refused unless `overwrite`, see `CheckpointDestination`). `progress(bytesDone, bytesTotal)`
    /// is called as data is written (bytes of the bf16 tensors generated).
    /// - Parameter convert: quantize while writing, exactly as `cogjobs convert` with these options
    ///   would convert the bf16 checkpoint (same values, same files' tensors), without the bf16
    ///   intermediate on disk; nil writes the bf16 release layout.
    public static func write(preset: Preset, layers: Int?, visionLayers: Int?, to directory: URL, seed: UInt64 = 1,
                             shardBytes: Int = 5_000_000_000, convert: ModelConverter.Options? = nil, overwrite: Bool = false,
                             progress: (Int, Int) -> Void = { _, _ in }) throws {
        let output = try CheckpointDestination(directory, overwrite: overwrite)
        let configObject = preset.configJSON(layers: layers, visionLayers: visionLayers)
        let configData = try JSONSerialization.data(withJSONObject: configObject, options: [.prettyPrinted, .sortedKeys])
        do { try configData.write(to: directory.appendingPathComponent("config.json")) } catch {
            throw WeightsError(.io, "cannot write config.json: \(SystemErrorText.reason(error))", file: directory.path)
        }
        let config = try CogVLMConfiguration.parse(configData, version: preset == .cogvlm2_19B ? .v2 : .v1)
        let plan = tensorPlan(config)

        // Output tensors: the bf16 tensor, or its quants and scales.
        struct Output {
            let name: String, dtype: DType, shape: [Int]
            let tensor: Int  // index into plan
            let quantized: (QuantizedFormat, rows: Int, cols: Int)?
            let isScales: Bool
            var bytes: Int { shape.reduce(1, *) * dtype.size }
        }
        var outputs: [Output] = []
        for (i, t) in plan.enumerated() {
            if let options = convert, let q = ModelConverter.target(name: t.name, dtype: .bf16, shape: t.shape, options: options) {
                let (qType, qShape) = q.0.quantsLayout(rows: q.rows, cols: q.cols)
                outputs.append(Output(name: q.0.quantsName(t.name), dtype: qType, shape: qShape, tensor: i, quantized: q, isScales: false))
                outputs.append(Output(name: q.0.scalesName(t.name), dtype: .f16, shape: q.0.scalesShape(rows: q.rows, cols: q.cols),
                                      tensor: i, quantized: q, isScales: true))
            } else {
                outputs.append(Output(name: t.name, dtype: .bf16, shape: t.shape, tensor: i, quantized: nil, isScales: false))
            }
        }
        // Greedy sharding in plan order, like the reference's `save_pretrained(max_shard_size=…)`.
        var shards: [[Output]] = [[]]
        var current = 0
        for o in outputs {
            if current > 0 && current + o.bytes > shardBytes {
                shards.append([])
                current = 0
            }
            shards[shards.count - 1].append(o)
            current += o.bytes
        }
        let total = plan.reduce(0) { $0 + $1.shape.reduce(1, *) * 2 }
        var done = 0
        var weightMap: [String: String] = [:]
        var rng = SplitMix64(seed: seed)
        let chunk = 1 << 20  // elements generated per write
        var buffer = [UInt16](repeating: 0, count: chunk)
        var pendingScales: [UInt16] = []
        let metadata = convert.map { ModelConverter.metadata($0, source: "synthetic \(preset.rawValue)") } ?? ["format": "pt"]
        for (s, shard) in shards.enumerated() {
            let name = String(format: "model-%05d-of-%05d.safetensors", s + 1, shards.count)
            let writer = try SafetensorsStreamWriter(
                url: directory.appendingPathComponent(name),
                plan: shard.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) },
                metadata: metadata)
            for o in shard {
                weightMap[o.name] = name
                let t = plan[o.tensor]
                let count = t.shape.reduce(1, *)
                if o.isScales {
                    try pendingScales.withUnsafeBytes { try writer.append($0) }
                    pendingScales = []
                } else if let (format, rows, cols) = o.quantized {
                    // The same bf16 values as the plain layout, widened to f32 and quantized.
                    var generated = 0
                    pendingScales = try ModelConverter.quantize(format: format, rows: rows, cols: cols, writer: writer,
                                                                file: name, tensor: t.name) { dst, elements in
                        var at = elements.lowerBound
                        while at < elements.upperBound {
                            let n = min(chunk, elements.upperBound - at)
                            fill(&buffer, count: n, fanIn: t.fanIn, offset: at, headDim: config.headDim, base: config.ropeBase, rng: &rng)
                            for j in 0..<n { dst[at - elements.lowerBound + j] = Float(bitPattern: UInt32(buffer[j]) << 16) }
                            at += n
                        }
                        generated = elements.upperBound
                        done += elements.count * 2
                        progress(done, total)
                    }
                    precondition(generated == count, "quantize asked for \(generated) of \(count) elements")  // our own plan
                } else {
                    var written = 0
                    while written < count {
                        let n = min(chunk, count - written)
                        fill(&buffer, count: n, fanIn: t.fanIn, offset: written, headDim: config.headDim, base: config.ropeBase, rng: &rng)
                        try buffer.withUnsafeBytes { try writer.append(UnsafeRawBufferPointer(rebasing: $0[0..<(n * 2)])) }
                        written += n
                        done += n * 2
                        progress(done, total)
                    }
                }
            }
            try writer.finish()
        }
        try output.finish(weightMap: weightMap, totalBytes: outputs.reduce(0) { $0 + $1.bytes })
    }

    /// Fills `buffer[0..<count]` with bf16 values for one chunk of a tensor.
    private static func fill(_ buffer: inout [UInt16], count: Int, fanIn: Int, offset: Int, headDim: Int, base: Double,
                             rng: inout SplitMix64) {
        switch fanIn {
        case -2:
            for j in 0..<count {
                let f = Float(1.0) / powf(Float(base), Float(2 * (offset + j)) / Float(headDim))
                buffer[j] = floatToBF16(f)
            }
        case 0, -1:
            // Norm gains 1 ± 0.1, biases ± 0.05 (uniform).
            let center: Float = fanIn == 0 ? 1 : 0, spread: Float = fanIn == 0 ? 0.1 : 0.05
            for j in 0..<count { buffer[j] = floatToBF16(center + spread * rng.nextSignedUnit()) }
        default:
            // Uniform(−a, a) with a = √(3 / fanIn) has the variance of N(0, 1/fanIn).
            let a = (3 / Float(fanIn)).squareRoot()
            for j in 0..<count { buffer[j] = floatToBF16(a * rng.nextSignedUnit()) }
        }
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast, seedable generator for synthetic data.
public struct SplitMix64: Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    @inline(__always)
    public mutating func nextSignedUnit() -> Float {
        Float(Int32(truncatingIfNeeded: next() >> 32)) * (1 / 2_147_483_648)
    }
}

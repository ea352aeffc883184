import Foundation
import CogTensor
import CogWeights

/// Every weight of a CogVLM checkpoint, as typed views into the memory-mapped shards.
/// Immutable and shared by all sessions. Checkpoint keys are written next to each property.
/// ref: architecture doc §2 (tensor list), modeling_cogvlm.py / visual.py module names.
public struct CogVLMWeights: Sendable {
    /// One EVA2-CLIP transformer layer (`model.vision.transformer.layers.{j}.`).
    public struct VisionLayer: Sendable {
        public let qkv: WeightMatrix        // attention.query_key_value.weight  [3·Dv, Dv]
        public let qkvBias: [Float]         // attention.query_key_value.bias    [3·Dv]
        public let dense: WeightMatrix      // attention.dense.weight            [Dv, Dv]
        public let denseBias: [Float]       // attention.dense.bias              [Dv]
        public let inputNormWeight: [Float] // input_layernorm.weight  [Dv] (normalizes the attention OUTPUT)
        public let inputNormBias: [Float]   // input_layernorm.bias    [Dv]
        public let fc1: WeightMatrix        // mlp.fc1.weight  [Iv, Dv]
        public let fc1Bias: [Float]         // mlp.fc1.bias    [Iv]
        public let fc2: WeightMatrix        // mlp.fc2.weight  [Dv, Iv]
        public let fc2Bias: [Float]         // mlp.fc2.bias    [Dv]
        public let postNormWeight: [Float]  // post_attention_layernorm.weight [Dv] (normalizes the MLP OUTPUT)
        public let postNormBias: [Float]    // post_attention_layernorm.bias   [Dv]
    }

    /// The vision tower plus adapter (`model.vision.`).
    public struct Vision: Sendable {
        public let patchWeight: WeightMatrix     // patch_embedding.proj.weight [Dv, C, p, p] viewed as [Dv, C·p·p]
        public let patchBias: [Float]            // patch_embedding.proj.bias [Dv]
        public let clsEmbedding: [Float]         // patch_embedding.cls_embedding [1, Dv]
        public let positionEmbedding: [Float]    // patch_embedding.position_embedding.weight [G²+1, Dv]
        public let layers: [VisionLayer]
        public let conv: WeightMatrix?           // conv.weight [Dv, Dv, 2, 2] viewed as [Dv, Dv·4] (v2 only)
        public let convBias: [Float]?            // conv.bias [Dv] (v2 only)
        public let linearProj: WeightMatrix      // linear_proj.linear_proj.weight [H, Dv]
        public let norm1Weight: [Float]          // linear_proj.norm1.weight [H]
        public let norm1Bias: [Float]            // linear_proj.norm1.bias   [H]
        public let gateProj: WeightMatrix        // linear_proj.gate_proj.weight     [I, H]
        public let denseHTo4H: WeightMatrix      // linear_proj.dense_h_to_4h.weight [I, H]
        public let dense4HToH: WeightMatrix      // linear_proj.dense_4h_to_h.weight [H, I]
        public let boi: [Float]                  // boi [1, 1, H]
        public let eoi: [Float]                  // eoi [1, 1, H]
    }

    /// One expert's weights inside a decoder layer.
    public struct Expert: Sendable {
        public let qkv: WeightMatrix             // self_attn.{language,vision}_expert_query_key_value.weight [(nH+2·nKV)·hd, H]
        public let qkvBias: [Float]?             // self_attn.vision_expert_query_key_value.bias (v2 vision expert only)
        public let dense: WeightMatrix           // self_attn.{language,vision}_expert_dense.weight [H, H]
        public let gate: WeightMatrix            // mlp.{language,vision}_mlp.gate_proj.weight [I, H]
        public let up: WeightMatrix              // mlp.{language,vision}_mlp.up_proj.weight   [I, H]
        public let down: WeightMatrix            // mlp.{language,vision}_mlp.down_proj.weight [H, I]
    }

    /// One decoder layer (`model.layers.{i}.`).
    public struct DecoderLayer: Sendable {
        public let inputNorm: [Float]            // input_layernorm.weight [H]
        public let postAttentionNorm: [Float]    // post_attention_layernorm.weight [H]
        public let language: Expert
        public let vision: Expert
    }

    public let vision: Vision
    public let embedTokens: TensorView           // model.embed_tokens.weight [V, H]
    public let layers: [DecoderLayer]
    public let finalNorm: [Float]                // model.norm.weight [H]
    public let lmHead: WeightMatrix              // lm_head.weight [V, H]
    /// `[headDim / 2]` rotary inverse frequencies: the checkpoint's bf16 buffer as f32.
    public let invFreq: [Float]
    /// True when the checkpoint lacked `rotary_emb.inv_freq` and it was rebuilt as the reference
    /// would have (f32 formula, then rounded to bf16 with the rest of the model).
    public let invFreqReconstructed: Bool
}

extension CogVLMWeights {
    /// Binds every tensor of `checkpoint`, checking shapes and dtypes against `config`. Any
    /// tensor left over afterwards is an error: it means a different architecture.
    public static func bind(_ checkpoint: Checkpoint, config c: CogVLMConfiguration) throws -> CogVLMWeights {
        var used = Set<String>()
        func view(_ name: String, _ shape: [Int]) throws -> TensorView {
            used.insert(name)
            return try checkpoint.tensor(name, shape: shape)
        }
        func matrix(_ name: String, _ rows: Int, _ cols: Int, shape: [Int]? = nil) throws -> WeightMatrix {
            // A converted checkpoint stores NAME.q8 / NAME.q4 plus scales instead of NAME.
            if checkpoint.tensorIfPresent(name) == nil,
               let format = QuantizedFormat.allCases.first(where: { checkpoint.tensorIfPresent($0.quantsName(name)) != nil }) {
                let (dtype, quantShape) = format.quantsLayout(rows: rows, cols: cols)
                used.insert(format.quantsName(name))
                used.insert(format.scalesName(name))
                let q = try checkpoint.tensor(format.quantsName(name), shape: quantShape, dtypes: [dtype])
                let s = try checkpoint.tensor(format.scalesName(name), shape: format.scalesShape(rows: rows, cols: cols), dtypes: [.f16])
                guard cols % QuantizedFormat.blockSize == 0 else {
                    throw WeightsError(.shapeMismatch, "a quantized matrix needs K divisible by 32, got \(cols)",
                                       file: q.file.path, key: q.name)
                }
                let storage: WeightMatrix.Storage = format == .q8
                    ? .q8(quants: q.rawPointer.assumingMemoryBound(to: Int8.self), scales: s.uint16Pointer)
                    : .q4(quants: q.rawPointer.assumingMemoryBound(to: UInt8.self), scales: s.uint16Pointer)
                return WeightMatrix(rows: rows, cols: cols, storage: storage, owner: QuantizedOwner(quants: q.file, scales: s.file))
            }
            let v = try view(name, shape ?? [rows, cols])
            let storage: WeightMatrix.Storage
            switch v.dtype {
            case .bf16: storage = .bf16(v.uint16Pointer)
            case .f16: storage = .f16(v.uint16Pointer)
            default: storage = .f32(v.floatPointer)
            }
            return WeightMatrix(rows: rows, cols: cols, storage: storage, owner: v.file)
        }
        func vector(_ name: String, _ shape: [Int]) throws -> [Float] { try view(name, shape).toFloatArray() }

        let h = c.hiddenSize, inter = c.intermediateSize
        let dv = c.vision.hiddenSize, iv = c.vision.intermediateSize, p = c.vision.patchSize
        let hd = c.headDim
        let qkvRows = (c.numAttentionHeads + 2 * c.numKeyValueHeads) * hd

        // Vision tower.
        let vp = "model.vision."
        var visionLayers: [VisionLayer] = []
        for j in 0..<c.vision.numHiddenLayers {
            let lp = vp + "transformer.layers.\(j)."
            visionLayers.append(VisionLayer(
                qkv: try matrix(lp + "attention.query_key_value.weight", 3 * dv, dv),
                qkvBias: try vector(lp + "attention.query_key_value.bias", [3 * dv]),
                dense: try matrix(lp + "attention.dense.weight", dv, dv),
                denseBias: try vector(lp + "attention.dense.bias", [dv]),
                inputNormWeight: try vector(lp + "input_layernorm.weight", [dv]),
                inputNormBias: try vector(lp + "input_layernorm.bias", [dv]),
                fc1: try matrix(lp + "mlp.fc1.weight", iv, dv),
                fc1Bias: try vector(lp + "mlp.fc1.bias", [iv]),
                fc2: try matrix(lp + "mlp.fc2.weight", dv, iv),
                fc2Bias: try vector(lp + "mlp.fc2.bias", [dv]),
                postNormWeight: try vector(lp + "post_attention_layernorm.weight", [dv]),
                postNormBias: try vector(lp + "post_attention_layernorm.bias", [dv])))
        }
        let channels = c.vision.inChannels
        let vision = Vision(
            patchWeight: try matrix(vp + "patch_embedding.proj.weight", dv, channels * p * p, shape: [dv, channels, p, p]),
            patchBias: try vector(vp + "patch_embedding.proj.bias", [dv]),
            clsEmbedding: try vector(vp + "patch_embedding.cls_embedding", [1, dv]),
            positionEmbedding: try vector(vp + "patch_embedding.position_embedding.weight", [c.vision.numPositions, dv]),
            layers: visionLayers,
            conv: c.version == .v2 ? try matrix(vp + "conv.weight", dv, dv * 4, shape: [dv, dv, 2, 2]) : nil,
            convBias: c.version == .v2 ? try vector(vp + "conv.bias", [dv]) : nil,
            linearProj: try matrix(vp + "linear_proj.linear_proj.weight", h, dv),
            norm1Weight: try vector(vp + "linear_proj.norm1.weight", [h]),
            norm1Bias: try vector(vp + "linear_proj.norm1.bias", [h]),
            gateProj: try matrix(vp + "linear_proj.gate_proj.weight", inter, h),
            denseHTo4H: try matrix(vp + "linear_proj.dense_h_to_4h.weight", inter, h),
            dense4HToH: try matrix(vp + "linear_proj.dense_4h_to_h.weight", h, inter),
            boi: try vector(vp + "boi", [1, 1, h]),
            eoi: try vector(vp + "eoi", [1, 1, h]))

        // Decoder layers.
        var layers: [DecoderLayer] = []
        var invFreq: [Float]? = nil
        var reconstructed = false
        for i in 0..<c.numHiddenLayers {
            let lp = "model.layers.\(i)."
            func expert(_ kind: String) throws -> Expert {
                let biasName = lp + "self_attn.\(kind)_expert_query_key_value.bias"
                let wantsBias = c.version == .v2 && kind == "vision"
                return Expert(
                    qkv: try matrix(lp + "self_attn.\(kind)_expert_query_key_value.weight", qkvRows, h),
                    qkvBias: wantsBias ? try vector(biasName, [qkvRows]) : nil,
                    dense: try matrix(lp + "self_attn.\(kind)_expert_dense.weight", h, h),
                    gate: try matrix(lp + "mlp.\(kind)_mlp.gate_proj.weight", inter, h),
                    up: try matrix(lp + "mlp.\(kind)_mlp.up_proj.weight", inter, h),
                    down: try matrix(lp + "mlp.\(kind)_mlp.down_proj.weight", h, inter))
            }
            layers.append(DecoderLayer(
                inputNorm: try vector(lp + "input_layernorm.weight", [h]),
                postAttentionNorm: try vector(lp + "post_attention_layernorm.weight", [h]),
                language: try expert("language"),
                vision: try expert("vision")))
            // The rotary buffer: same values in every layer; use the stored bf16 ones.
            let invName = lp + "self_attn.rotary_emb.inv_freq"
            if checkpoint.tensorIfPresent(invName) != nil {
                let values = try vector(invName, [hd / 2])
                if let first = invFreq, first != values {
                    throw WeightsError(.shapeMismatch, "inv_freq differs from layer 0's; the rotary buffers must agree",
                                       file: checkpoint.directory.path, key: invName)
                }
                invFreq = values
            } else if invFreq != nil {
                throw WeightsError(.missingTensor, "present in other layers but not in this one", file: checkpoint.directory.path, key: invName)
            }
        }
        if invFreq == nil {
            // Reference behaviour without the buffer: `1 / base^(arange(0, d, 2) / d)` in f32, then the
            // whole model (buffers included) cast to bf16.
            reconstructed = true
            invFreq = (0..<(hd / 2)).map { j in
                let f = Float(1.0) / powf(Float(c.ropeBase), Float(2 * j) / Float(hd))
                return Float(bitPattern: UInt32(floatToBF16(f)) << 16)
            }
        }

        let weights = CogVLMWeights(
            vision: vision,
            embedTokens: try view("model.embed_tokens.weight", [c.vocabSize, h]),
            layers: layers,
            finalNorm: try vector("model.norm.weight", [h]),
            lmHead: try matrix("lm_head.weight", c.vocabSize, h),
            invFreq: invFreq ?? [],
            invFreqReconstructed: reconstructed)

        let leftovers = checkpoint.unusedTensorNames(used: used)
        if !leftovers.isEmpty {
            let shown = leftovers.prefix(5).joined(separator: ", ") + (leftovers.count > 5 ? ", … (\(leftovers.count) in all)" : "")
            throw WeightsError(.unexpectedTensor,
                "the checkpoint has tensors a \(c.version.rawValue) CogVLM does not use: \(shown); is this the right model directory?",
                file: checkpoint.directory.path, key: leftovers[0])
        }
        return weights
    }
}

/// Keeps both files of a quantized matrix mapped (values and scales may sit in different shards).
final class QuantizedOwner: Sendable {
    let quants: MappedFile
    let scales: MappedFile
    init(quants: MappedFile, scales: MappedFile) {
        self.quants = quants
        self.scales = scales
    }
}

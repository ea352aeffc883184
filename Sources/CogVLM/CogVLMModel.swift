import CogTensor
import CogWeights
import Foundation

/// Receives named intermediate tensors during a forward pass (like llama.cpp's eval callback):
/// `name` follows the fixtures' expected files (`vision.out`, `lm.layers.3.out`, `logits`, …),
/// `shape` is row-major, `values` is valid only during the call.
public typealias ForwardTrace = (_ name: String, _ shape: [Int], _ values: UnsafeBufferPointer<Float>) -> Void

/// A loaded CogVLM / CogVLM2 model: configuration plus memory-mapped weights. Immutable and
/// `Sendable` — load once, share between worker threads, and give each thread its own
/// `CogVLMSession` (KV cache and buffers).
public final class CogVLMModel: Sendable {
    public let config: CogVLMConfiguration
    public let weights: CogVLMWeights
    public let checkpoint: Checkpoint
    public let rotary: Rotary

    public init(config: CogVLMConfiguration, checkpoint: Checkpoint) throws {
        try BLAS.load()
        self.config = config
        self.checkpoint = checkpoint
        self.weights = try CogVLMWeights.bind(checkpoint, config: config)
        self.rotary = Rotary(invFreq: weights.invFreq)
    }

    /// Loads `config.json` and the safetensors weights from a Hugging Face model directory. The
    /// family (v1 / v2) is read from the checkpoint (`CogVLMVersion.of`).
    public static func load(directory: URL) throws -> CogVLMModel {
        let checkpoint = try Checkpoint(directory: directory)
        let version = CogVLMVersion.of(checkpoint)
        let config = try CogVLMConfiguration.load(from: directory.appendingPathComponent("config.json"), version: version)
        return try CogVLMModel(config: config, checkpoint: checkpoint)
    }

    /// A fresh per-thread session over this model, computing with `threads` threads.
    public func makeSession(threads: Int = 1) -> CogVLMSession { CogVLMSession(model: self, threads: threads) }

    // MARK: - Vision tower (EVA2-CLIP) and GLU adapter

    /// Runs the vision tower and adapter on normalized pixels.
    /// - Parameter pixelValues: `[C, S, S]` f32, CLIP-normalized (see CogImage).
    /// - Returns: `[imageTokenCount, hiddenSize]` rows to insert at the image slots: boi, image
    ///   tokens, eoi.
    /// ref: visual.py `EVA2CLIPModel.forward`; architecture doc §3.2.
    public func encodeImage(pixelValues: [Float], context: ComputeContext? = nil, trace: ForwardTrace? = nil) throws -> [Float] {
        let vc = config.vision
        let s = vc.imageSize, p = vc.patchSize, g = vc.gridSize, ch = vc.inChannels
        let dv = vc.hiddenSize, h = config.hiddenSize
        guard pixelValues.count == ch * s * s else {
            throw InferenceError(.badInput, "pixel_values has \(pixelValues.count) values; this model takes [\(ch), \(s), \(s)] = \(ch * s * s)")
        }
        let w = weights.vision
        let context = context ?? ComputeContext()
        let tokens = g * g + 1  // L: cls + patches

        // 1. Patch embedding as a GEMM: patch vectors ordered (c, ky, kx), conv weight [Dv, C·p·p].
        let patches = FloatBuffer(count: g * g * ch * p * p)  // [G², C·p·p]
        pixelValues.withUnsafeBufferPointer { px in
            for row in 0..<g {
                for col in 0..<g {
                    let dst = patches.pointer + (row * g + col) * ch * p * p
                    var i = 0
                    for c in 0..<ch {
                        for ky in 0..<p {
                            let src = (c * s + row * p + ky) * s + col * p
                            for kx in 0..<p { dst[i] = px[src + kx]; i += 1 }
                        }
                    }
                }
            }
        }
        let x = FloatBuffer(count: tokens * dv)  // [L, Dv] residual stream
        w.patchWeight.apply(patches.pointer, rows: g * g, into: x.pointer + dv, bias: w.patchBias, context: context)
        // 2. Prepend cls, 3. add the learned position embedding (row 0 → cls).
        for i in 0..<dv { x.pointer[i] = w.clsEmbedding[i] }
        w.positionEmbedding.withUnsafeBufferPointer { pos in
            for i in 0..<(tokens * dv) { x.pointer[i] += pos[i] }
        }
        trace?("vision.patch_embedding_out", [tokens, dv], x.bufferPointer)

        // 4. Transformer layers in res-post-norm form.
        let qkv = FloatBuffer(count: tokens * 3 * dv)     // [L, 3·Dv]
        let attn = FloatBuffer(count: tokens * dv)        // [L, Dv]
        let branch = FloatBuffer(count: tokens * dv)      // [L, Dv]
        let hidden = FloatBuffer(count: tokens * vc.intermediateSize)  // [L, Iv]
        let hdv = vc.headDim
        for (j, layer) in w.layers.enumerated() {
            layer.qkv.apply(x.pointer, rows: tokens, into: qkv.pointer, bias: layer.qkvBias, context: context)
            if context.precision == .fast && tokens >= MatmulAttention.minimumSelfAttentionQueries {
                MatmulAttention.forward(q: qkv.pointer, qStride: 3 * dv,
                                        kv: .f32(k: qkv.pointer + dv, v: qkv.pointer + 2 * dv), kvStride: 3 * dv,
                                        out: attn.pointer, outStride: dv,
                                        queries: tokens, keys: tokens, qHeads: vc.numHeads, kvHeads: vc.numHeads,
                                        headDim: hdv, scale: 1 / Float(hdv).squareRoot(), causalOffset: nil,
                                        context: context)
            } else {
                try Attention.forward(q: qkv.pointer, qStride: 3 * dv,
                                      k: qkv.pointer + dv, v: qkv.pointer + 2 * dv, kvStride: 3 * dv,
                                      out: attn.pointer, outStride: dv,
                                      queries: tokens, keys: tokens, qHeads: vc.numHeads, kvHeads: vc.numHeads,
                                      headDim: hdv, scale: 1 / Float(hdv).squareRoot(), causalOffset: nil,
                                      runner: context.runner)
            }
            layer.dense.apply(attn.pointer, rows: tokens, into: branch.pointer, bias: layer.denseBias, context: context)
            Ops.layerNorm(branch.pointer, weight: layer.inputNormWeight, bias: layer.inputNormBias, eps: vc.layerNormEps,
                          rows: tokens, dim: dv, out: branch.pointer, runner: context.runner)
            Ops.add(branch.pointer, into: x.pointer, count: tokens * dv, runner: context.runner)
            layer.fc1.apply(x.pointer, rows: tokens, into: hidden.pointer, bias: layer.fc1Bias, context: context)
            Ops.geluErf(hidden.pointer, count: tokens * vc.intermediateSize, runner: context.runner)
            layer.fc2.apply(hidden.pointer, rows: tokens, into: branch.pointer, bias: layer.fc2Bias, context: context)
            Ops.layerNorm(branch.pointer, weight: layer.postNormWeight, bias: layer.postNormBias, eps: vc.layerNormEps,
                          rows: tokens, dim: dv, out: branch.pointer, runner: context.runner)
            Ops.add(branch.pointer, into: x.pointer, count: tokens * dv, runner: context.runner)
            trace?("vision.transformer.layers.\(j).out", [tokens, dv], x.bufferPointer)
        }

        // 5. Drop cls; 6. (v2) 2×2 stride-2 conv over the patch grid, as a GEMM over gathered
        // [c, di, dj] windows (conv weight [Dv, Dv, 2, 2] viewed as [Dv, Dv·4]).
        var features = FloatBuffer(count: g * g * dv)  // [N, Dv]
        features.pointer.update(from: x.pointer + dv, count: g * g * dv)
        var n = g * g
        if let conv = w.conv, let convBias = w.convBias {
            let half = g / 2
            let windows = FloatBuffer(count: half * half * dv * 4)  // [(G/2)², Dv·4] ordered (c, di, dj)
            for i in 0..<half {
                for j in 0..<half {
                    let dst = windows.pointer + (i * half + j) * dv * 4
                    for di in 0..<2 {
                        for dj in 0..<2 {
                            let src = features.pointer + ((2 * i + di) * g + (2 * j + dj)) * dv
                            for c in 0..<dv { dst[c * 4 + di * 2 + dj] = src[c] }
                        }
                    }
                }
            }
            n = half * half
            let down = FloatBuffer(count: n * dv)  // [(G/2)², Dv]
            conv.apply(windows.pointer, rows: n, into: down.pointer, bias: convBias, context: context)
            features = down
        }
        trace?("vision.linear_proj_in", [n, dv], features.bufferPointer)

        // 7. GLU adapter: linear_proj → LayerNorm(1e-5) → GELU → dense_4h_to_h(silu(gate) ⊙ h_to_4h).
        // ref: visual.py `GLU.forward`.
        let inter = config.intermediateSize
        let hProj = FloatBuffer(count: n * h)        // [N, H]
        let gate = FloatBuffer(count: n * inter)     // [N, I]
        let up = FloatBuffer(count: n * inter)       // [N, I]
        w.linearProj.apply(features.pointer, rows: n, into: hProj.pointer, context: context)
        Ops.layerNorm(hProj.pointer, weight: w.norm1Weight, bias: w.norm1Bias, eps: 1e-5, rows: n, dim: h,
                      out: hProj.pointer, runner: context.runner)
        Ops.geluErf(hProj.pointer, count: n * h, runner: context.runner)
        w.gateProj.apply(hProj.pointer, rows: n, into: gate.pointer, context: context)
        w.denseHTo4H.apply(hProj.pointer, rows: n, into: up.pointer, context: context)
        Ops.siluMul(gate.pointer, up.pointer, count: n * inter, out: gate.pointer, runner: context.runner)
        // 8. [boi; y; eoi]
        var out = [Float](repeating: 0, count: (n + 2) * h)  // [N + 2, H]
        out.withUnsafeMutableBufferPointer { o in
            guard let base = o.baseAddress else { return }
            w.dense4HToH.apply(gate.pointer, rows: n, into: base + h, context: context)
            trace?("vision.linear_proj_out", [n, h], UnsafeBufferPointer(start: base + h, count: n * h))
            for i in 0..<h {
                base[i] = w.boi[i]
                base[(n + 1) * h + i] = w.eoi[i]
            }
            trace?("vision.out", [n + 2, h], UnsafeBufferPointer(o))
        }
        return out
    }
}

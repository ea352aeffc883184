import Foundation

/// GPT-NeoX ("half-split") rotary position embedding over the full head dimension, driven by an
/// explicit `invFreq` vector — the checkpoint's stored bf16 `rotary_emb.inv_freq` converted to
/// f32, not a recomputed formula (ref: modeling_cogvlm.py `RotaryEmbedding` / `rotate_half`;
/// CogVLM2 util.py rotary kernel with `interleaved=False`).
///
/// For `j < d/2` with `θ = position · invFreq[j]` (one f32 multiply, as `t * inv_freq` in f32):
/// `x'[j] = x[j]·cosθ − x[j+d/2]·sinθ`, `x'[j+d/2] = x[j+d/2]·cosθ + x[j]·sinθ`.
public struct Rotary: Sendable {
    /// `[headDim / 2]` inverse frequencies.
    public let invFreq: [Float]
    public let headDim: Int

    public init(invFreq: [Float]) {
        self.invFreq = invFreq
        self.headDim = invFreq.count * 2
    }

    /// Rotates `heads` heads of every row in place.
    /// - Parameters: `x` `[rows, stride]` with head `h` at columns `offset + h·headDim ..< +headDim`;
    ///   `positions` `[rows]` (CogVLM position ids, not sequence indices).
    public func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, stride: Int, offset: Int, heads: Int,
                      positions: UnsafePointer<Int>) {
        let half = headDim / 2
        var cosTable = [Float](repeating: 0, count: half)  // [half]
        var sinTable = [Float](repeating: 0, count: half)  // [half]
        for r in 0..<rows {
            let pos = Float(positions[r])
            for j in 0..<half {
                let angle = pos * invFreq[j]
                cosTable[j] = cos(angle)
                sinTable[j] = sin(angle)
            }
            for h in 0..<heads {
                let base = x + r * stride + offset + h * headDim
                for j in 0..<half {
                    let a = base[j], b = base[j + half]
                    base[j] = a * cosTable[j] - b * sinTable[j]
                    base[j + half] = b * cosTable[j] + a * sinTable[j]
                }
            }
        }
    }
}

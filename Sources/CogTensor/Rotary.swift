import CKernels
import Foundation

/// GPT-NeoX ("half-split") rotary position embedding over the full head dimension, driven by an
/// explicit `invFreq` vector — the checkpoint's stored bf16 `rotary_emb.inv_freq` converted to
/// f32, not a recomputed formula (ref: modeling_cogvlm.py `RotaryEmbedding` / `rotate_half`;
/// CogVLM2 util.py rotary kernel with `interleaved=False`).
///
/// For `j < d/2` with `θ = position · invFreq[j]` (one f32 multiply, as `t * inv_freq` in f32):
/// `x'[j] = x[j]·cosθ − x[j+d/2]·sinθ`, `x'[j+d/2] = x[j+d/2]·cosθ + x[j]·sinθ`.
/// Runs `ck_rope_f32` (vector sin/cos within ≈ 1e-7 of `cosf`/`sinf`; see `ckernels.h`).
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
        let positions32 = Self.narrow(positions, count: rows)  // [rows] i32
        rotate(x, rows: 0..<rows, stride: stride, offset: offset, heads: heads, positions: positions32)
    }

    /// `apply` with the rows split across `runner`'s threads (same results).
    public func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, stride: Int, offset: Int, heads: Int,
                      positions: UnsafePointer<Int>, runner: ParallelRunner) {
        let positions32 = Self.narrow(positions, count: rows)  // [rows] i32
        Ops.forEachRowRange(rows: rows, dim: heads * headDim, runner: runner) { r in
            self.rotate(x, rows: r, stride: stride, offset: offset, heads: heads, positions: positions32)
        }
    }

    /// Position ids as the kernel's `int`. Positions are token indices of one sequence, far below 2³¹.
    private static func narrow(_ positions: UnsafePointer<Int>, count: Int) -> [Int32] {
        (0..<count).map { i in
            precondition(positions[i] >= 0 && positions[i] <= Int(Int32.max),
                         "position id \(positions[i]) out of range")
            return Int32(positions[i])
        }
    }

    private func rotate(_ x: UnsafeMutablePointer<Float>, rows: Range<Int>, stride: Int, offset: Int, heads: Int,
                        positions: [Int32]) {
        guard !rows.isEmpty, heads > 0 else { return }
        let status = positions.withUnsafeBufferPointer { pos in
            invFreq.withUnsafeBufferPointer { freq in
                guard let p = pos.baseAddress, let f = freq.baseAddress else { return CK_ERR_SHAPE }
                return ck_rope_f32(x + rows.lowerBound * stride, rows.count, stride, offset, heads, headDim,
                                   p + rows.lowerBound, f)
            }
        }
        // The kernel's only possible failure here is its per-thread cos/sin table (headDim floats)
        // not being allocatable (or an empty invFreq): rotate with the portable loop instead.
        if status != CK_OK {
            rotatePortable(x, rows: rows, stride: stride, offset: offset, heads: heads, positions: positions)
        }
    }

    /// Plain-Swift rotary (the kernel's scalar semantics), used only if the kernel cannot run.
    private func rotatePortable(_ x: UnsafeMutablePointer<Float>, rows: Range<Int>, stride: Int, offset: Int,
                                heads: Int, positions: [Int32]) {
        let half = headDim / 2
        for r in rows {
            let pos = Float(positions[r])
            for h in 0..<heads {
                let base = x + r * stride + offset + h * headDim
                for j in 0..<half {
                    let angle = pos * invFreq[j]
                    let c = cos(angle), s = sin(angle)
                    let a = base[j], b = base[j + half]
                    base[j] = a * c - b * s
                    base[j + half] = b * c + a * s
                }
            }
        }
    }
}

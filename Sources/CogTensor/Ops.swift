import CKernels
import Foundation

/// Row-wise numeric kernels on packed `[rows, dim]` f32 buffers. Each mirrors one PyTorch op of
/// the reference code in float32 and runs the CKernels implementation (AVX-512 / AVX2 / portable,
/// chosen at run time; see `ckernels.h` for the numerics and measured accuracy). Norm sums
/// accumulate in double, so results do not depend on summation order more than the reference's
/// own rounding.
///
/// Every op has a single-threaded form and a form that takes a `ParallelRunner` and splits the
/// rows (norms) or elements (GELU, SiLU, add) across its threads. Both give bit-identical results:
/// each row or element is computed by exactly one thread with the same code.
public enum Ops {
    /// Work (elements) below which the threaded forms stay on the calling thread: waking the
    /// helper threads costs more than they save (≈ 10-20 µs per handoff).
    public static let parallelThreshold = 1 << 15

    /// Element ranges split on multiples of this many floats (a cache line is 16).
    static let elementAlignment = 64

    // MARK: - RMSNorm

    /// RMSNorm as CogVLM's `RMSNorm.forward`: `w · (x · rsqrt(mean(x²) + eps))`, in f32, weight
    /// multiplied before any cast (ref: modeling_cogvlm.py `RMSNorm`).
    /// - Parameters: `x` `[rows, dim]`, `weight` `[dim]`, `out` `[rows, dim]` (may alias `x`).
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
                               rows: Int, dim: Int, out: UnsafeMutablePointer<Float>) {
        ck_rmsnorm_f32(x, weight, eps, rows, dim, out)
    }

    /// `rmsNorm` with the rows split across `runner`'s threads.
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
                               rows: Int, dim: Int, out: UnsafeMutablePointer<Float>, runner: ParallelRunner) {
        forEachRowRange(rows: rows, dim: dim, runner: runner) { r in
            ck_rmsnorm_f32(x + r.lowerBound * dim, weight, eps, r.count, dim, out + r.lowerBound * dim)
        }
    }

    // MARK: - LayerNorm

    /// LayerNorm with affine weight and bias (ref: torch.nn.LayerNorm; biased variance).
    /// - Parameters: `x` `[rows, dim]`, `weight`/`bias` `[dim]`, `out` `[rows, dim]` (may alias `x`).
    public static func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                 eps: Float, rows: Int, dim: Int, out: UnsafeMutablePointer<Float>) {
        ck_layernorm_f32(x, weight, bias, eps, rows, dim, out)
    }

    /// `layerNorm` with the rows split across `runner`'s threads.
    public static func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                 eps: Float, rows: Int, dim: Int, out: UnsafeMutablePointer<Float>,
                                 runner: ParallelRunner) {
        forEachRowRange(rows: rows, dim: dim, runner: runner) { r in
            ck_layernorm_f32(x + r.lowerBound * dim, weight, bias, eps, r.count, dim, out + r.lowerBound * dim)
        }
    }

    // MARK: - Activations

    /// Exact (erf) GELU in place: `0.5 · x · (1 + erf(x / √2))` (ref: torch `F.gelu`, approximate='none').
    /// - Parameter x: `[count]` f32.
    public static func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
        ck_gelu_erf_f32(x, count)
    }

    /// `geluErf` with the elements split across `runner`'s threads.
    public static func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int, runner: ParallelRunner) {
        forEachElementRange(count: count, runner: runner) { r in
            ck_gelu_erf_f32(x + r.lowerBound, r.count)
        }
    }

    /// SiLU gate times up, the SwiGLU core: `out[i] = silu(gate[i]) · up[i]` (may alias `gate`).
    /// - Parameters: `gate`, `up`, `out` `[count]` f32.
    public static func siluMul(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, count: Int,
                               out: UnsafeMutablePointer<Float>) {
        ck_silu_mul_f32(gate, up, out, count)
    }

    /// `siluMul` with the elements split across `runner`'s threads.
    public static func siluMul(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, count: Int,
                               out: UnsafeMutablePointer<Float>, runner: ParallelRunner) {
        forEachElementRange(count: count, runner: runner) { r in
            ck_silu_mul_f32(gate + r.lowerBound, up + r.lowerBound, out + r.lowerBound, r.count)
        }
    }

    // MARK: - Elementwise arithmetic

    /// `y += x` over `count` elements.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    /// `add` with the elements split across `runner`'s threads.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int,
                           runner: ParallelRunner) {
        forEachElementRange(count: count, runner: runner) { r in
            add(x + r.lowerBound, into: y + r.lowerBound, count: r.count)
        }
    }

    /// Numerically stable softmax of one row in place (ref: torch.softmax, dtype float32): max
    /// subtracted, f32 exp, f32 sum.
    /// - Parameter x: `[count]` f32.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        ck_softmax_f32(x, count)
    }

    // MARK: - Splitting

    /// Runs `body` on contiguous element ranges covering `0..<count`, one per thread of `runner`
    /// (or once, inline, for small counts).
    static func forEachElementRange(count: Int, runner: ParallelRunner, _ body: @escaping (Range<Int>) -> Void) {
        guard count > 0 else { return }
        guard runner.threads > 1, count >= parallelThreshold else { return body(0..<count) }
        runner.run { part, parts in
            let r = ParallelRunner.range(part: part, parts: parts, count: count, alignment: elementAlignment)
            if !r.isEmpty { body(r) }
        }
    }

    /// Runs `body` on contiguous row ranges covering `0..<rows`, one per thread of `runner` (or
    /// once, inline, when `rows · dim` is small).
    static func forEachRowRange(rows: Int, dim: Int, runner: ParallelRunner, _ body: @escaping (Range<Int>) -> Void) {
        guard rows > 0 else { return }
        guard runner.threads > 1, rows > 1, rows * dim >= parallelThreshold else { return body(0..<rows) }
        runner.run { part, parts in
            let r = ParallelRunner.range(part: part, parts: parts, count: rows)
            if !r.isEmpty { body(r) }
        }
    }
}

import Foundation

/// Row-wise numeric kernels on packed `[rows, dim]` f32 buffers. Each mirrors one PyTorch op of
/// the reference code in float32; sums accumulate in `Double` so results do not depend on
/// summation order more than the reference's own rounding.
public enum Ops {
    /// RMSNorm as CogVLM's `RMSNorm.forward`: `w · (x · rsqrt(mean(x²) + eps))`, in f32, weight
    /// multiplied before any cast (ref: modeling_cogvlm.py `RMSNorm`).
    /// - Parameters: `x` `[rows, dim]`, `weight` `[dim]`, `out` `[rows, dim]` (may alias `x`).
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
                               rows: Int, dim: Int, out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let xr = x + r * dim, yr = out + r * dim
            var ss: Double = 0
            for i in 0..<dim { ss += Double(xr[i]) * Double(xr[i]) }
            let variance = Float(ss / Double(dim))
            let inv = 1 / (variance + eps).squareRoot()
            for i in 0..<dim { yr[i] = weight[i] * (xr[i] * inv) }
        }
    }

    /// LayerNorm with affine weight and bias (ref: torch.nn.LayerNorm; biased variance).
    /// - Parameters: `x` `[rows, dim]`, `weight`/`bias` `[dim]`, `out` `[rows, dim]` (may alias `x`).
    public static func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                                 eps: Float, rows: Int, dim: Int, out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let xr = x + r * dim, yr = out + r * dim
            var sum: Double = 0
            for i in 0..<dim { sum += Double(xr[i]) }
            let mean = sum / Double(dim)
            var sq: Double = 0
            for i in 0..<dim { let d = Double(xr[i]) - mean; sq += d * d }
            let inv = Float(1 / (sq / Double(dim) + Double(eps)).squareRoot())
            let meanF = Float(mean)
            for i in 0..<dim { yr[i] = (xr[i] - meanF) * inv * weight[i] + bias[i] }
        }
    }

    /// Exact (erf) GELU in place: `0.5 · x · (1 + erf(x / √2))` (ref: torch `F.gelu`, approximate='none').
    public static func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let invSqrt2: Float = 0.70710678118654752440
        for i in 0..<count { let v = x[i]; x[i] = 0.5 * v * (1 + erf(v * invSqrt2)) }
    }

    /// SiLU gate times up, the SwiGLU core: `out[i] = silu(gate[i]) · up[i]` (may alias `gate`).
    public static func siluMul(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, count: Int,
                               out: UnsafeMutablePointer<Float>) {
        for i in 0..<count { let g = gate[i]; out[i] = g / (1 + exp(-g)) * up[i] }
    }

    /// `y += x` over `count` elements.
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    /// Numerically stable softmax of one row in place (ref: torch.softmax, dtype float32).
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        var maxValue = -Float.infinity
        for i in 0..<count where x[i] > maxValue { maxValue = x[i] }
        var sum: Float = 0
        for i in 0..<count { let e = exp(x[i] - maxValue); x[i] = e; sum += e }
        let inv = 1 / sum
        for i in 0..<count { x[i] *= inv }
    }
}

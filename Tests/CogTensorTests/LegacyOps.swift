// LegacyOps — the plain-Swift elementwise code that CogTensor ran before the CKernels versions
// (CogTensor/Ops.swift and Rotary.swift at commit 8f76ac4), kept verbatim as a second reference
// (it calls glibc's erff/expf/cosf/sinf) and as the "old path" of the kernel benchmark; plus the
// former Attention.forward with that softmax.
import CogTensor
import Foundation

enum LegacyOps {
    static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
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
    static func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
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
    static func geluErf(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let invSqrt2: Float = 0.70710678118654752440
        for i in 0..<count { let v = x[i]; x[i] = 0.5 * v * (1 + erf(v * invSqrt2)) }
    }

    /// SiLU gate times up, the SwiGLU core: `out[i] = silu(gate[i]) · up[i]` (may alias `gate`).
    static func siluMul(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, count: Int,
                        out: UnsafeMutablePointer<Float>) {
        for i in 0..<count { let g = gate[i]; out[i] = g / (1 + exp(-g)) * up[i] }
    }

    /// `y += x` over `count` elements.
    static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    /// Numerically stable softmax of one row in place (ref: torch.softmax, dtype float32).
    static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) {
        guard count > 0 else { return }
        var maxValue = -Float.infinity
        for i in 0..<count where x[i] > maxValue { maxValue = x[i] }
        var sum: Float = 0
        for i in 0..<count { let e = exp(x[i] - maxValue); x[i] = e; sum += e }
        let inv = 1 / sum
        for i in 0..<count { x[i] *= inv }
    }

    /// Old `Rotary.apply`: cos/sin per row from `cosf`/`sinf`, NeoX half-split rotation.
    static func rotary(_ x: UnsafeMutablePointer<Float>, rows: Int, stride: Int, offset: Int, heads: Int,
                       headDim: Int, positions: UnsafePointer<Int>, invFreq: [Float]) {
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

    /// Old `Attention.forward` (sgemm scores and weighted sum per head and query block), with the
    /// old Swift softmax.
    static func attention(
        q: UnsafePointer<Float>, qStride: Int,
        k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int,
        queries: Int, keys: Int, qHeads: Int, kvHeads: Int, headDim: Int,
        scale: Float, causalOffset: Int?, scores: inout [Float]
    ) {
        let group = qHeads / kvHeads
        let block = min(queries, Attention.queryBlock)
        if scores.count < block * keys { scores = [Float](repeating: 0, count: block * keys) }
        scores.withUnsafeMutableBufferPointer { sbuf in
            guard let s = sbuf.baseAddress else { return }  // [block, keys]
            for h in 0..<qHeads {
                let kvh = h / group
                var i0 = 0
                while i0 < queries {
                    let i1 = min(queries, i0 + block)
                    let rows = i1 - i0
                    let visible = causalOffset.map { min(keys, $0 + i1) } ?? keys
                    BLAS.sgemm(m: rows, n: visible, k: headDim,
                               a: q + i0 * qStride + h * headDim, lda: qStride,
                               b: k + kvh * headDim, ldb: kvStride, transposeB: true,
                               c: s, ldc: visible, alpha: scale)
                    for r in 0..<rows {
                        let row = s + r * visible
                        let limit = causalOffset.map { min(visible, $0 + i0 + r + 1) } ?? visible
                        for j in limit..<visible { row[j] = -Float.infinity }
                        softmax(row, count: limit)
                        for j in limit..<visible { row[j] = 0 }
                    }
                    BLAS.sgemm(m: rows, n: headDim, k: visible,
                               a: s, lda: visible,
                               b: v + kvh * headDim, ldb: kvStride, transposeB: false,
                               c: out + i0 * outStride + h * headDim, ldc: outStride)
                    i0 = i1
                }
            }
        }
    }
}

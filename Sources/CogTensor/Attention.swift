/// Scaled dot-product attention over packed head-major buffers, with optional causal masking and
/// grouped-query sharing. Scores for a block of query rows are computed with `sgemm`, so the
/// vision tower's long sequences and the language prefill both run at BLAS speed, and at most
/// `queryBlock × keys` scores exist at once.
public enum Attention {
    /// Query rows processed per block (bounds the score buffer to `queryBlock × keys` floats).
    public static let queryBlock = 256

    /// `out[i, h·d ..< (h+1)·d] = softmax(q_i,h · K_hᵀ · scale) · V_h`.
    ///
    /// - Parameters:
    ///   - q: `[queries, qHeads · headDim]` (row stride `qStride`)
    ///   - k, v: `[keys, kvHeads · headDim]` (row stride `kvStride`)
    ///   - out: `[queries, qHeads · headDim]` (row stride `outStride`)
    ///   - causalOffset: when non-nil, query row `i` sits at absolute index `causalOffset + i` and
    ///     sees keys `0 ... causalOffset + i` only; nil means full bidirectional attention.
    ///   - scores: scratch, grown as needed.
    /// Query head `h` uses key/value head `h / (qHeads / kvHeads)` (repeat-interleave, ref:
    /// modeling_cogvlm.py CogVLM2 `unsqueeze(2).expand(...)`).
    public static func forward(
        q: UnsafePointer<Float>, qStride: Int,
        k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int,
        queries: Int, keys: Int, qHeads: Int, kvHeads: Int, headDim: Int,
        scale: Float, causalOffset: Int?, scores: inout [Float]
    ) {
        let group = qHeads / kvHeads
        let block = min(queries, queryBlock)
        if scores.count < block * keys { scores = [Float](repeating: 0, count: block * keys) }
        scores.withUnsafeMutableBufferPointer { sbuf in
            guard let s = sbuf.baseAddress else { return }  // [block, keys]
            for h in 0..<qHeads {
                let kvh = h / group
                var i0 = 0
                while i0 < queries {
                    let i1 = min(queries, i0 + block)
                    let rows = i1 - i0
                    // Keys any row of this block may see.
                    let visible = causalOffset.map { min(keys, $0 + i1) } ?? keys
                    // s[rows, visible] = q_blk · k_hᵀ · scale
                    BLAS.sgemm(m: rows, n: visible, k: headDim,
                               a: q + i0 * qStride + h * headDim, lda: qStride,
                               b: k + kvh * headDim, ldb: kvStride, transposeB: true,
                               c: s, ldc: visible, alpha: scale)
                    for r in 0..<rows {
                        let row = s + r * visible
                        let limit = causalOffset.map { min(visible, $0 + i0 + r + 1) } ?? visible
                        for j in limit..<visible { row[j] = -Float.infinity }
                        Ops.softmax(row, count: limit)
                        for j in limit..<visible { row[j] = 0 }
                    }
                    // out_blk[:, h] = s · v_h
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

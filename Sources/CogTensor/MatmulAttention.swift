import CKernels

/// Prefill attention as two bf16 matrix products per head on the CKernels GEMM (AMX tiles where
/// the CPU has them): `S = (scale·Q_h)·K_hᵀ`, a row softmax over each query's visible keys, then
/// `O_h = P·V_h`. This is the `fast` precision's attention for long query blocks (the vision
/// tower and language prefill): the same arithmetic as a bf16 PyTorch model — queries, keys,
/// probabilities and values rounded to bf16, products accumulated in f32, softmax in f32 — at
/// matrix-unit speed, where the f32 kernel (`Attention.forward(…, runner:)`) runs at FMA speed.
/// (On Intel CPUs without AMX the products go to sgemm on the bf16-rounded operands widened to
/// f32, see `ck_bf16_gemm_prefers_sgemm`: vdpbf16ps runs at half the FMA rate there.)
///
/// Scores exist for one block of `queryBlock` query rows of one head at a time. Causal blocks
/// compute only the keys their last row may see.
/// ref: modeling_cogvlm.py attention (softmax(q·kᵀ·scale)·v, causal mask, GQA repeat-interleave).
public enum MatmulAttention {
    /// Keys and values as the caller stores them: `[keys, kvHeads · headDim]`, row stride
    /// `kvStride` elements.
    public enum KeyValues {
        case f32(k: UnsafePointer<Float>, v: UnsafePointer<Float>)
        /// fp16 bits (the `fast` KV cache).
        case f16(k: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>)
        /// fp16 keys in two segments: rows `0 ..< firstKeys` from `first` (a shared prefix), the
        /// rest from `rest` (its row 0 is key `firstKeys`); one row stride.
        case f16Split(first: (k: UnsafePointer<UInt16>?, v: UnsafePointer<UInt16>?), firstKeys: Int,
                      rest: (k: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>))
    }

    /// Query rows per score block: bounds the scores to `queryBlock × keys` floats.
    public static let queryBlock = 512

    /// Queries from which this path beats the f32 kernels when the keys are a long KV cache:
    /// packing K and V costs O(keys · headDim) per kv head whatever the number of queries, so a
    /// short continuation (a second question after a cached image prefix: ~16 tokens over ~1250
    /// keys) is faster on `Attention.forwardF16KV` (measured: 3.5 s vs 2.2 s per question on the
    /// 17B model).
    public static let minimumQueries = 64
    /// The same when queries and keys are the same rows (the vision tower): packing is then
    /// O(queries · headDim), always small next to the products.
    public static let minimumSelfAttentionQueries = 16

    /// `out[i, h·d ..< (h+1)·d] = softmax(q_i,h · K_hᵀ · scale) · V_h`.
    ///
    /// - Parameters:
    ///   - q: `[queries, qHeads · headDim]` f32 (row stride `qStride`)
    ///   - kv: keys and values, `[keys, kvHeads · headDim]` (row stride `kvStride`)
    ///   - out: `[queries, qHeads · headDim]` f32 (row stride `outStride`)
    ///   - causalOffset: when non-nil, query row `i` sits at absolute index `causalOffset + i` and
    ///     sees keys `0 ... causalOffset + i` only; nil means full bidirectional attention.
    ///   - context: threads for the products and the softmax (its precision is not consulted:
    ///     calling this *is* choosing bf16 arithmetic).
    /// Query head `h` uses key/value head `h / (qHeads / kvHeads)`.
    public static func forward(
        q: UnsafePointer<Float>, qStride: Int,
        kv: KeyValues, kvStride: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int,
        queries: Int, keys: Int, qHeads: Int, kvHeads: Int, headDim hd: Int,
        scale: Float, causalOffset: Int?, context: ComputeContext
    ) {
        precondition(qHeads > 0 && kvHeads > 0 && qHeads % kvHeads == 0 && hd > 0, "bad attention head shape")
        precondition((causalOffset ?? 0) >= 0, "negative causal offset")
        guard queries > 0 else { return }
        precondition(keys > 0, "attention over zero keys")
        let group = qHeads / kvHeads
        let block = min(queries, queryBlock)
        let keysF32 = FloatBuffer(count: keys * hd)        // [keys, hd] f32 K_h, then V_h
        let valuesT = FloatBuffer(count: hd * keys)        // [hd, keys] f32 V_hᵀ
        let keysBF16 = UnsafeMutablePointer<UInt16>.allocate(capacity: keys * hd)    // [keys, hd] bf16 K_h
        let valuesBF16 = UnsafeMutablePointer<UInt16>.allocate(capacity: hd * keys)  // [hd, visible] bf16 V_hᵀ
        defer {
            keysBF16.deallocate()
            valuesBF16.deallocate()
        }
        let queriesScaled = FloatBuffer(count: block * hd)  // [block, hd] f32 scale · Q_h rows
        let scores = FloatBuffer(count: block * keys)       // [block, visible] f32 scores, then probabilities
        let headOut = FloatBuffer(count: block * hd)        // [block, hd] f32 O_h rows

        for kvh in 0..<kvHeads {
            // K_h as bf16 rows; V_hᵀ as f32 (its bf16 copy is cut to each block's visible keys).
            gather(kv, key: true, head: kvh, stride: kvStride, keys: keys, hd: hd, into: keysF32.pointer)
            ck_f32_to_bf16_rne(keysF32.pointer, keysBF16, keys * hd)
            gather(kv, key: false, head: kvh, stride: kvStride, keys: keys, hd: hd, into: keysF32.pointer)
            for j in 0..<keys {
                let src = keysF32.pointer + j * hd
                for d in 0..<hd { valuesT.pointer[d * keys + j] = src[d] }
            }
            var packedVisible = -1  // keys in valuesBF16's current packing
            for h in (kvh * group)..<((kvh + 1) * group) {
                var i0 = 0
                while i0 < queries {
                    let rows = min(block, queries - i0)
                    let visible = causalOffset.map { min(keys, $0 + i0 + rows) } ?? keys
                    if visible != packedVisible {
                        for d in 0..<hd { ck_f32_to_bf16_rne(valuesT.pointer + d * keys, valuesBF16 + d * visible, visible) }
                        packedVisible = visible
                    }
                    for r in 0..<rows {
                        let src = q + (i0 + r) * qStride + h * hd, dst = queriesScaled.pointer + r * hd
                        for d in 0..<hd { dst[d] = src[d] * scale }
                    }
                    // scores[rows, visible] = (scale · Q) · K_visibleᵀ
                    WeightMatrix(rows: visible, cols: hd, storage: .bf16(keysBF16), owner: nil)
                        .apply(queriesScaled.pointer, rows: rows, into: scores.pointer, context: context)
                    softmaxRows(scores.pointer, rows: rows, visible: visible, firstRow: i0, causalOffset: causalOffset,
                                runner: context.runner)
                    // headOut[rows, hd] = P · V_visible
                    WeightMatrix(rows: hd, cols: visible, storage: .bf16(valuesBF16), owner: nil)
                        .apply(scores.pointer, rows: rows, into: headOut.pointer, context: context)
                    for r in 0..<rows {
                        (out + (i0 + r) * outStride + h * hd).update(from: headOut.pointer + r * hd, count: hd)
                    }
                    i0 += rows
                }
            }
        }
    }

    /// Copies keys (or values) of kv head `head` into `dst` `[keys, hd]` f32.
    private static func gather(_ kv: KeyValues, key: Bool, head: Int, stride: Int, keys: Int, hd: Int,
                               into dst: UnsafeMutablePointer<Float>) {
        switch kv {
        case .f32(let k, let v):
            let src = (key ? k : v) + head * hd
            for j in 0..<keys { (dst + j * hd).update(from: src + j * stride, count: hd) }
        case .f16(let k, let v):
            let src = (key ? k : v) + head * hd
            for j in 0..<keys { ck_f16_to_f32(src + j * stride, dst + j * hd, hd) }
        case .f16Split(let first, let firstKeys, let rest):
            let shared = min(firstKeys, keys)
            if shared > 0, let base = key ? first.k : first.v {
                let src = base + head * hd
                for j in 0..<shared { ck_f16_to_f32(src + j * stride, dst + j * hd, hd) }
            }
            let src = (key ? rest.k : rest.v) + head * hd
            for j in shared..<keys { ck_f16_to_f32(src + (j - firstKeys) * stride, dst + j * hd, hd) }
        }
    }

    /// Softmax of each score row over its visible keys (`[rows, visible]`, row stride `visible`),
    /// zeros beyond; rows split across the runner's threads.
    private static func softmaxRows(_ s: UnsafeMutablePointer<Float>, rows: Int, visible: Int, firstRow: Int,
                                    causalOffset: Int?, runner: ParallelRunner) {
        runner.run { part, parts in
            for r in ParallelRunner.range(part: part, parts: parts, count: rows) {
                let row = s + r * visible
                let limit = causalOffset.map { min(visible, $0 + firstRow + r + 1) } ?? visible
                ck_softmax_f32_flush(row, limit)  // no subnormal probabilities (bf16 P follows)
                if limit < visible { (row + limit).update(repeating: 0, count: visible - limit) }
            }
        }
    }
}

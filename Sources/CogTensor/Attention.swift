import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// Scaled dot-product attention over packed head-major buffers, with optional causal masking and
/// grouped-query sharing.
/// - `forward`: f32 keys/values; scores for a block of query rows come from `sgemm`, so the
///   vision tower's long sequences run at BLAS speed, and at most `queryBlock × keys` scores exist
///   at once.
/// - `forwardF16KV`: keys/values in fp16 (the KV cache), CKernels `ck_attention_f16kv` with the
///   heads split across a `ParallelRunner`; for decode and language prefill.
/// - `forward(…, runner:)`: the same CKernels algorithm on f32 keys/values (vision tower).
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

    /// `out[i, h·d ..< (h+1)·d] = softmax(q_i,h · K_hᵀ · scale) · V_h` with keys and values in fp16,
    /// the query heads split across `runner`'s threads (results do not depend on the split).
    ///
    /// - Parameters:
    ///   - q: `[queries, qHeads · headDim]` f32 (row stride `qStride`)
    ///   - k, v: `[keys, kvHeads · headDim]` fp16 bits (row stride `kvStride` elements)
    ///   - out: `[queries, qHeads · headDim]` f32 (row stride `outStride`)
    ///   - causalOffset: when non-nil, query row `i` sits at absolute index `causalOffset + i` and
    ///     sees keys `0 ... causalOffset + i` only; nil means full bidirectional attention.
    /// Query head `h` uses key/value head `h / (qHeads / kvHeads)`. Scores, softmax and the weighted
    /// sum are f32 (see `ck_attention_f16kv` in `ckernels.h`).
    /// - Throws: `TensorError.scratchUnavailable` if a thread's scratch (≈ 64 · keys floats) cannot
    ///   be allocated.
    public static func forwardF16KV(
        q: UnsafePointer<Float>, qStride: Int,
        k: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>, kvStride: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int,
        queries: Int, keys: Int, qHeads: Int, kvHeads: Int, headDim: Int,
        scale: Float, causalOffset: Int?, runner: ParallelRunner
    ) throws {
        try splitHeads(queries: queries, keys: keys, qHeads: qHeads, kvHeads: kvHeads, headDim: headDim,
                       causalOffset: causalOffset, runner: runner) { offset, h0, h1 in
            ck_attention_f16kv(q, qStride, k, v, kvStride, out, outStride, queries, keys, qHeads, kvHeads, headDim,
                               scale, offset, h0, h1)
        }
    }

    /// `forward` on f32 keys and values with the CKernels attention (`ck_attention_f32kv`, the same
    /// algorithm as `forwardF16KV`) instead of `sgemm`, the query heads split across `runner`'s
    /// threads. Same parameters and result as `forward`; scratch is per thread inside the kernel.
    /// - Throws: `TensorError.scratchUnavailable` if a thread's scratch cannot be allocated.
    public static func forward(
        q: UnsafePointer<Float>, qStride: Int,
        k: UnsafePointer<Float>, v: UnsafePointer<Float>, kvStride: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int,
        queries: Int, keys: Int, qHeads: Int, kvHeads: Int, headDim: Int,
        scale: Float, causalOffset: Int?, runner: ParallelRunner
    ) throws {
        try splitHeads(queries: queries, keys: keys, qHeads: qHeads, kvHeads: kvHeads, headDim: headDim,
                       causalOffset: causalOffset, runner: runner) { offset, h0, h1 in
            ck_attention_f32kv(q, qStride, k, v, kvStride, out, outStride, queries, keys, qHeads, kvHeads, headDim,
                               scale, offset, h0, h1)
        }
    }

    /// Keys and values in up to two segments with one row stride: rows `0 ..< firstKeys` from
    /// `first` (e.g. a prefix shared by several sequences), the rest from `rest` (its row 0 is key
    /// `firstKeys`). A segment without rows may be nil.
    public enum SplitKeyValues {
        case f32(first: (k: UnsafePointer<Float>?, v: UnsafePointer<Float>?)?, firstKeys: Int,
                 rest: (k: UnsafePointer<Float>, v: UnsafePointer<Float>)?)
        /// fp16 bits (the `fast` KV cache).
        case f16(first: (k: UnsafePointer<UInt16>?, v: UnsafePointer<UInt16>?)?, firstKeys: Int,
                 rest: (k: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>)?)
    }

    /// Where a partial attention writes each (query row, head)'s softmax statistics:
    /// `[rows, qHeads]` f32 maxima of the scaled scores and sums of e^(score − max).
    public struct SoftmaxStats {
        public let max: UnsafeMutablePointer<Float>
        public let sum: UnsafeMutablePointer<Float>
        public init(max: UnsafeMutablePointer<Float>, sum: UnsafeMutablePointer<Float>) {
            self.max = max
            self.sum = sum
        }
    }

    /// `forwardF16KV` / `forward(…, runner:)` over keys in two segments (`ck_attention_*kv_split`;
    /// bit-identical to one contiguous array of the same rows), optionally writing each row's
    /// softmax statistics so that partial results over disjoint keys can be merged
    /// (`mergePartials`).
    public static func forwardSplit(
        q: UnsafePointer<Float>, qStride: Int, keys kv: SplitKeyValues, kvStride: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int,
        queries: Int, keys: Int, qHeads: Int, kvHeads: Int, headDim: Int,
        scale: Float, causalOffset: Int?, stats: SoftmaxStats?, runner: ParallelRunner
    ) throws {
        try splitHeads(queries: queries, keys: keys, qHeads: qHeads, kvHeads: kvHeads, headDim: headDim,
                       causalOffset: causalOffset, runner: runner) { offset, h0, h1 in
            switch kv {
            case .f32(let first, let firstKeys, let rest):
                ck_attention_f32kv_split(q, qStride, first?.k, first?.v, firstKeys, rest?.k, rest?.v, kvStride, out,
                                         outStride, queries, keys, qHeads, kvHeads, headDim, scale, offset, h0, h1,
                                         stats?.max, stats?.sum)
            case .f16(let first, let firstKeys, let rest):
                ck_attention_f16kv_split(q, qStride, first?.k, first?.v, firstKeys, rest?.k, rest?.v, kvStride, out,
                                         outStride, queries, keys, qHeads, kvHeads, headDim, scale, offset, h0, h1,
                                         stats?.max, stats?.sum)
            }
        }
    }

    /// Merges two attention results over disjoint key sets of the same query rows into `a`:
    /// per (row, head), with M the larger max and weights w = sum · e^(max − M),
    /// `a = (w_a·a + w_b·b) / (w_a + w_b)` — the softmax over the union of the keys.
    /// a, b: `[rows, qHeads · headDim]` (row strides `aStride`, `bStride`); statistics `[rows, qHeads]`.
    /// ref: the log-sum-exp merge of partial softmaxes (Milakov & Gimelshein 2018, "Online
    ///      normalizer calculation for softmax"; as in split-K "flash decoding").
    public static func mergePartials(into a: UnsafeMutablePointer<Float>, aStride: Int, aStats: SoftmaxStats,
                                     from b: UnsafePointer<Float>, bStride: Int, bStats: SoftmaxStats,
                                     rows: Int, qHeads: Int, headDim: Int) {
        for r in 0..<rows {
            for h in 0..<qHeads {
                let s = r * qHeads + h
                let m = max(aStats.max[s], bStats.max[s])
                let wa = aStats.sum[s] * expf(aStats.max[s] - m), wb = bStats.sum[s] * expf(bStats.max[s] - m)
                let inv = 1 / (wa + wb)
                let ca = wa * inv, cb = wb * inv
                let pa = a + r * aStride + h * headDim, pb = b + r * bStride + h * headDim
                for d in 0..<headDim { pa[d] = ca * pa[d] + cb * pb[d] }
                aStats.max[s] = m
                aStats.sum[s] = wa + wb
            }
        }
    }

    /// Runs `kernel(causalOffset or -1, h0, h1)` on one head range per thread of `runner` and
    /// turns its status into an error.
    private static func splitHeads(
        queries: Int, keys: Int, qHeads: Int, kvHeads: Int, headDim: Int, causalOffset: Int?,
        runner: ParallelRunner, _ kernel: @escaping (_ offset: Int, _ h0: Int, _ h1: Int) -> ck_status
    ) throws {
        precondition(qHeads > 0 && kvHeads > 0 && qHeads % kvHeads == 0 && headDim > 0, "bad attention head shape")
        precondition((causalOffset ?? 0) >= 0, "negative causal offset")
        guard queries > 0 else { return }
        precondition(keys > 0, "attention over zero keys")
        let group = qHeads / kvHeads
        // Whole kv-head groups per thread when there are enough of them: each kv head's keys and
        // values are then widened by one thread only.
        let alignment = kvHeads >= runner.threads ? group : 1
        let parts = runner.threads
        let statuses = UnsafeMutablePointer<ck_status>.allocate(capacity: parts)  // [parts]
        statuses.initialize(repeating: CK_OK, count: parts)
        defer { statuses.deallocate() }
        let offset = causalOffset ?? -1
        runner.run { part, parts in
            let heads = ParallelRunner.range(part: part, parts: parts, count: qHeads, alignment: alignment)
            guard !heads.isEmpty else { return }
            statuses[part] = kernel(offset, heads.lowerBound, heads.upperBound)
        }
        for part in 0..<parts where statuses[part] != CK_OK {
            if statuses[part] == CK_ERR_NOMEM {
                throw TensorError(.scratchUnavailable,
                                  "attention over \(keys) keys could not allocate its \(64 * keys * 4 / 1024) KiB "
                                      + "scratch; free memory or use a shorter sequence")
            }
            preconditionFailure("attention kernel rejected its shape (status \(statuses[part]))")  // checked above
        }
    }
}

extension TensorError.Code {
    /// A kernel's per-thread scratch memory could not be allocated.
    public static let scratchUnavailable = TensorError.Code(rawValue: "tensor.scratch_unavailable")
}

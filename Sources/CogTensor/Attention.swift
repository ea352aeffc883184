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
/// - `forwardSplit`: keys in two segments (a shared prefix and a sequence's own rows), for the KV
///   cache; an fp16 decode row over `keyHalvesMinimum` keys or more is split by keys, not heads.
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
                       causalOffset: causalOffset, runner: runner) { offset, h0, h1, _ in
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
                       causalOffset: causalOffset, runner: runner) { offset, h0, h1, _ in
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
    /// (`mergePartials`). Exception: one fp16 query row that sees every key, from
    /// `keyHalvesMinimum` keys on (decode in the `fast` precision), is computed over two halves of
    /// its keys and merged (`forwardKeyHalves`) — a few roundings from one pass, the same bits on
    /// any thread count. f32 keys (the `exact` precision) always take one pass.
    public static func forwardSplit(
        q: UnsafePointer<Float>, qStride: Int, keys kv: SplitKeyValues, kvStride: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int,
        queries: Int, keys: Int, qHeads: Int, kvHeads: Int, headDim: Int,
        scale: Float, causalOffset: Int?, stats: SoftmaxStats?, runner: ParallelRunner
    ) throws {
        if case .f16(let first, let firstKeys, let rest) = kv, queries == 1, keys >= keyHalvesMinimum,
           (causalOffset ?? keys) + 1 >= keys {
            return try forwardKeyHalves(q: q, qStride: qStride, first: first, firstKeys: firstKeys, rest: rest, kvStride: kvStride,
                                        out: out, outStride: outStride, keys: keys, qHeads: qHeads, kvHeads: kvHeads,
                                        headDim: headDim, scale: scale, stats: stats, runner: runner)
        }
        try splitHeads(queries: queries, keys: keys, qHeads: qHeads, kvHeads: kvHeads, headDim: headDim,
                       causalOffset: causalOffset, runner: runner) { offset, h0, h1, _ in
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

    /// Keys from which one fp16 decode row is computed as two halves of its keys (`forwardSplit`).
    public static let keyHalvesMinimum = 256

    /// One query row that sees every key, over fp16 keys and values: the keys are cut in two halves,
    /// each attended to for all heads (up to `runner.threads / 2` head ranges per half, so two
    /// threads each read one contiguous half of every row they touch), and the halves are merged
    /// (`mergePartials`, second into first). With the heads split instead, each thread reads every
    /// other half-row of the cache: 27.5 GB/s against 30 GB/s for the halves in the kernel harness
    /// (4 sequences × 32 layers of CogVLM-17B's KV at depth 1244, 2 threads; the read probe gives
    /// 34 there). The cut depends on `keys` only, so the result does not depend on the thread count;
    /// it is a few roundings away from one pass over all keys (the merge), as the `fast` precision
    /// allows. `stats` (when given) receives the merged statistics.
    /// ref: split-K decode attention ("flash decoding", Dao et al. 2023) with the merge of
    ///      `mergePartials`.
    private static func forwardKeyHalves(
        q: UnsafePointer<Float>, qStride: Int, first: (k: UnsafePointer<UInt16>?, v: UnsafePointer<UInt16>?)?,
        firstKeys: Int,
        rest: (k: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>)?, kvStride: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int, keys: Int, qHeads: Int, kvHeads: Int, headDim: Int,
        scale: Float, stats: SoftmaxStats?, runner: ParallelRunner
    ) throws {
        let width = qHeads * headDim
        // [width] the second half's output, then [4, qHeads] statistics: max and sum of each half.
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: width + 4 * qHeads)
        defer { scratch.deallocate() }
        let firstStats = stats ?? SoftmaxStats(max: scratch + width, sum: scratch + width + qHeads)
        let secondStats = SoftmaxStats(max: scratch + width + 2 * qHeads, sum: scratch + width + 3 * qHeads)
        let cut = keys / 2
        try splitHeads(queries: 1, keys: keys, qHeads: qHeads, kvHeads: kvHeads, headDim: headDim, causalOffset: nil,
                       keyParts: 2, runner: runner) { _, h0, h1, half in
            let k0 = half == 0 ? 0 : cut, k1 = half == 0 ? cut : keys
            // Rows [k0, k1) as the kernel's two segments: those in `first`, then those in `rest`.
            let inFirst = max(0, min(firstKeys, k1) - k0)
            let skipFirst = min(k0, firstKeys) * kvStride, skipRest = max(0, k0 - firstKeys) * kvStride
            let o = half == 0 ? out : scratch, oStride = half == 0 ? outStride : width
            let st = half == 0 ? firstStats : secondStats
            return ck_attention_f16kv_split(q, qStride, inFirst > 0 ? first?.k.map { $0 + skipFirst } : nil,
                                            inFirst > 0 ? first?.v.map { $0 + skipFirst } : nil, inFirst,
                                            rest.map { $0.k + skipRest }, rest.map { $0.v + skipRest }, kvStride,
                                            o, oStride, 1, k1 - k0, qHeads, kvHeads, headDim, scale, -1, h0, h1,
                                            st.max, st.sum)
        }
        mergePartials(into: out, aStride: outStride, aStats: firstStats, from: scratch, bStride: width,
                      bStats: secondStats, rows: 1, qHeads: qHeads, headDim: headDim)
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

    /// Runs `kernel(causalOffset or -1, h0, h1, keyPart)` for every key part (`keyParts`: 1, or
    /// 2 for `forwardKeyHalves`) and head range: `runner.threads / keyParts` head ranges per part
    /// (at least one), the tasks dealt round-robin to the threads. Turns a status into an error.
    private static func splitHeads(
        queries: Int, keys: Int, qHeads: Int, kvHeads: Int, headDim: Int, causalOffset: Int?, keyParts: Int = 1,
        runner: ParallelRunner,
        _ kernel: @escaping (_ offset: Int, _ h0: Int, _ h1: Int, _ keyPart: Int) -> ck_status
    ) throws {
        precondition(qHeads > 0 && kvHeads > 0 && qHeads % kvHeads == 0 && headDim > 0, "bad attention head shape")
        precondition((causalOffset ?? 0) >= 0, "negative causal offset")
        guard queries > 0 else { return }
        precondition(keys > 0, "attention over zero keys")
        let group = qHeads / kvHeads
        let headRanges = max(1, runner.threads / keyParts)
        // Whole kv-head groups per range when there are enough of them: each kv head's keys and
        // values are then widened by one thread only.
        let alignment = kvHeads >= headRanges ? group : 1
        let tasks = keyParts * headRanges
        let statuses = UnsafeMutablePointer<ck_status>.allocate(capacity: tasks)  // [tasks]
        statuses.initialize(repeating: CK_OK, count: tasks)
        defer { statuses.deallocate() }
        let offset = causalOffset ?? -1
        runner.run { part, parts in
            for task in stride(from: part, to: tasks, by: parts) {
                let heads = ParallelRunner.range(part: task % headRanges, parts: headRanges, count: qHeads,
                                                 alignment: alignment)
                guard !heads.isEmpty else { continue }
                statuses[task] = kernel(offset, heads.lowerBound, heads.upperBound, task / headRanges)
            }
        }
        for task in 0..<tasks where statuses[task] != CK_OK {
            if statuses[task] == CK_ERR_NOMEM {
                throw TensorError(.scratchUnavailable,
                                  "attention over \(keys) keys could not allocate its \(64 * keys * 4 / 1024) KiB "
                                      + "scratch; free memory or use a shorter sequence")
            }
            preconditionFailure("attention kernel rejected its shape (status \(statuses[task]))")  // checked above
        }
    }
}

extension TensorError.Code {
    /// A kernel's per-thread scratch memory could not be allocated.
    public static let scratchUnavailable = TensorError.Code(rawValue: "tensor.scratch_unavailable")
}

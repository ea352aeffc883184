// AttentionF16KVTests — ck_attention_f16kv / Attention.forwardF16KV (fp16 KV cache) at every ISA
// level against a double-precision reference on the same fp16 keys and values: decode and
// prefill, causal and not, grouped-query heads, long key counts, head ranges; the threaded
// wrapper against the direct kernel; and agreement with the f32 sgemm path.
import CKernels
import CogTensor
import Foundation
import Testing

/// Allowed |out − reference| / max|V| for attention (f32 scores, softmax and weighted sum).
enum AttentionTolerance {
    static let absolute = 2e-6
    /// Two partial softmaxes merged (`Attention.mergePartials`): a few more f32 roundings.
    static let merged = 4e-6
}

/// One attention shape.
struct AttentionCase: CustomStringConvertible, Sendable {
    let queries: Int, keys: Int, qHeads: Int, kvHeads: Int, headDim: Int
    let causalOffset: Int?
    let heads: Range<Int>
    var description: String {
        let causal = causalOffset.map(String.init) ?? "none"
        return "q=\(queries) keys=\(keys) heads=\(qHeads)/\(kvHeads) d=\(headDim) causal=\(causal) "
            + "h=\(heads.lowerBound)..<\(heads.upperBound)"
    }
}

/// Random q, k, v for a case, with padded row strides, k/v stored as fp16 bits.
struct AttentionData {
    let c: AttentionCase
    let qStride: Int, kvStride: Int, outStride: Int
    let q: [Float]       // [queries, qStride] f32
    let k: [UInt16]      // [keys, kvStride] fp16
    let v: [UInt16]      // [keys, kvStride] fp16
    let kf: [Float], vf: [Float]  // the same keys/values decoded to f32

    init(_ c: AttentionCase, seed: UInt64) {
        self.c = c
        qStride = c.qHeads * c.headDim + 3
        kvStride = c.kvHeads * c.headDim + 5
        outStride = c.qHeads * c.headDim + 1
        var rng = SplitMix64(seed: seed)
        q = rng.gaussians(c.queries * qStride)
        k = rng.gaussians(c.keys * kvStride).map { Float16($0).bitPattern }
        v = rng.gaussians(c.keys * kvStride).map { Float16($0).bitPattern }
        kf = k.map(decodeF16)
        vf = v.map(decodeF16)
    }

    /// Double-precision attention for heads in `c.heads`: [queries, outStride], NaN elsewhere.
    func reference() -> [Double] {
        var out = [Double](repeating: .nan, count: c.queries * outStride)
        let group = c.qHeads / c.kvHeads
        let scale = 1 / Double(c.headDim).squareRoot()
        var scores = [Double](repeating: 0, count: c.keys)
        for h in c.heads {
            let kvh = h / group
            for i in 0..<c.queries {
                let limit = c.causalOffset.map { min(c.keys, $0 + i + 1) } ?? c.keys
                var maxScore = -Double.infinity
                for j in 0..<limit {
                    var dot = 0.0
                    let qi = i * qStride + h * c.headDim, kj = j * kvStride + kvh * c.headDim
                    for d in 0..<c.headDim { dot += Double(q[qi + d]) * Double(kf[kj + d]) }
                    scores[j] = dot * Double(Float(scale))
                    maxScore = max(maxScore, scores[j])
                }
                var sum = 0.0
                for j in 0..<limit { scores[j] = Foundation.exp(scores[j] - maxScore); sum += scores[j] }
                for d in 0..<c.headDim {
                    var acc = 0.0
                    for j in 0..<limit { acc += scores[j] * Double(vf[j * kvStride + kvh * c.headDim + d]) }
                    out[i * outStride + h * c.headDim + d] = acc / sum
                }
            }
        }
        return out
    }

    /// Runs the kernel directly over `heads` into a NaN-filled output.
    func kernel(heads: Range<Int>) -> (ck_status, [Float]) {
        var out = [Float](repeating: .nan, count: c.queries * outStride)
        let status = ck_attention_f16kv(q, qStride, k, v, kvStride, &out, outStride, c.queries, c.keys, c.qHeads,
                                        c.kvHeads, c.headDim, 1 / Float(c.headDim).squareRoot(),
                                        c.causalOffset ?? -1, heads.lowerBound, heads.upperBound)
        return (status, out)
    }

    /// Max |got − want| / max|V| over the reference's heads; infinity if NaN-ness differs (a head
    /// outside the range was written, or one inside was not).
    func error(_ got: [Float], _ want: [Double]) -> Double {
        let vmax = Double(vf.map(abs).max() ?? 1)
        var worst = 0.0
        for i in got.indices {
            if want[i].isNaN != got[i].isNaN { return .infinity }
            if !want[i].isNaN { worst = max(worst, abs(Double(got[i]) - want[i]) / vmax) }
        }
        return worst
    }
}

/// Equal element by element, NaN matching NaN (padding columns are never written).
func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
    a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern || ($0.isNaN && $1.isNaN) }
}

@Suite("CKernels fp16-KV attention")
struct AttentionF16KVTests {
    static let cases: [AttentionCase] = [
        AttentionCase(queries: 1, keys: 37, qHeads: 4, kvHeads: 4, headDim: 16, causalOffset: 36, heads: 0..<4),
        AttentionCase(queries: 1, keys: 300, qHeads: 4, kvHeads: 1, headDim: 64, causalOffset: 299, heads: 0..<4),
        AttentionCase(queries: 1, keys: 2500, qHeads: 8, kvHeads: 2, headDim: 128, causalOffset: 2499, heads: 3..<8),
        AttentionCase(queries: 5, keys: 70, qHeads: 4, kvHeads: 2, headDim: 40, causalOffset: 65, heads: 1..<3),
        AttentionCase(queries: 33, keys: 33, qHeads: 4, kvHeads: 4, headDim: 23, causalOffset: 0, heads: 0..<4),
        AttentionCase(queries: 20, keys: 2100, qHeads: 4, kvHeads: 1, headDim: 128, causalOffset: 2080, heads: 0..<4),
        AttentionCase(queries: 70, keys: 90, qHeads: 2, kvHeads: 1, headDim: 32, causalOffset: 20, heads: 0..<2),
        AttentionCase(queries: 3, keys: 130, qHeads: 6, kvHeads: 2, headDim: 112, causalOffset: nil, heads: 2..<5),
        AttentionCase(queries: 40, keys: 40, qHeads: 2, kvHeads: 2, headDim: 8, causalOffset: nil, heads: 0..<2),
        AttentionCase(queries: 4, keys: 10, qHeads: 2, kvHeads: 1, headDim: 16, causalOffset: 20, heads: 0..<2),
        AttentionCase(queries: 1, keys: 1, qHeads: 2, kvHeads: 2, headDim: 8, causalOffset: 0, heads: 0..<2),
    ]

    @Test("matches the double reference at every ISA level", arguments: cases)
    func matchesReference(_ c: AttentionCase) throws {
        let data = AttentionData(c, seed: UInt64(c.keys * 31 + c.queries))
        let want = data.reference()
        var report: [String] = []
        try atEveryLevel { isa in
            let (status, got) = data.kernel(heads: c.heads)
            try #require(status == CK_OK, "\(c) at \(levelName(isa)): status \(status)")
            let error = data.error(got, want)
            report.append("\(levelName(isa)) \(formatted(error))")
            #expect(error <= AttentionTolerance.absolute, "\(c) at \(levelName(isa))")
        }
        print("CKernels attention \(c): max |Δ|/max|V| " + report.joined(separator: ", ")
            + " (tol \(AttentionTolerance.absolute))")
    }

    @Test("the f32 K/V kernel gives the same bits as the fp16 one on the same values, at every ISA level",
          arguments: [cases[0], cases[3], cases[5], cases[7]])
    func f32Variant(_ c: AttentionCase) throws {
        let data = AttentionData(c, seed: 3)
        try atEveryLevel { isa in
            let (status, f16Out) = data.kernel(heads: c.heads)
            var f32Out = [Float](repeating: .nan, count: f16Out.count)
            let f32Status = ck_attention_f32kv(data.q, data.qStride, data.kf, data.vf, data.kvStride, &f32Out,
                                               data.outStride, c.queries, c.keys, c.qHeads, c.kvHeads, c.headDim,
                                               1 / Float(c.headDim).squareRoot(), c.causalOffset ?? -1,
                                               c.heads.lowerBound, c.heads.upperBound)
            try #require(status == CK_OK && f32Status == CK_OK)
            #expect(sameBits(f32Out, f16Out), "\(c) at \(levelName(isa))")
        }
    }

    @Test("head splits and the threaded wrapper give the same bits as one call")
    func splitsAgree() throws {
        for c in [Self.cases[2], Self.cases[5], Self.cases[6], Self.cases[7]] {
            let full = AttentionCase(queries: c.queries, keys: c.keys, qHeads: c.qHeads, kvHeads: c.kvHeads,
                                     headDim: c.headDim, causalOffset: c.causalOffset, heads: 0..<c.qHeads)
            let data = AttentionData(full, seed: 5)
            let (status, whole) = data.kernel(heads: 0..<c.qHeads)
            try #require(status == CK_OK)
            // Direct calls on a ragged split (cuts through kv-head groups).
            var pieces = [Float](repeating: .nan, count: whole.count)
            for range in [0..<1, 1..<(c.qHeads - 1), (c.qHeads - 1)..<c.qHeads] {
                let (s, part) = data.kernel(heads: range)
                try #require(s == CK_OK)
                for i in part.indices where !part[i].isNaN { pieces[i] = part[i] }
            }
            #expect(sameBits(pieces, whole), "\(full): ragged split")
            for threads in [1, 2] {
                var out = [Float](repeating: .nan, count: whole.count)
                try Attention.forwardF16KV(
                    q: data.q, qStride: data.qStride, k: data.k, v: data.v, kvStride: data.kvStride,
                    out: &out, outStride: data.outStride, queries: c.queries, keys: c.keys, qHeads: c.qHeads,
                    kvHeads: c.kvHeads, headDim: c.headDim, scale: 1 / Float(c.headDim).squareRoot(),
                    causalOffset: c.causalOffset, runner: ParallelRunner(threads: threads))
                #expect(sameBits(out, whole), "\(full): \(threads) threads")
            }
        }
    }

    @Test("agrees with the f32 sgemm attention on the same (fp16-rounded) keys and values")
    func agreesWithSgemmPath() throws {
        try BLAS.load()
        for c in [Self.cases[3], Self.cases[6], Self.cases[7]] {
            let full = AttentionCase(queries: c.queries, keys: c.keys, qHeads: c.qHeads, kvHeads: c.kvHeads,
                                     headDim: c.headDim, causalOffset: c.causalOffset, heads: 0..<c.qHeads)
            let data = AttentionData(full, seed: 11)
            var sgemmOut = [Float](repeating: 0, count: c.queries * data.outStride)
            var scores: [Float] = []
            Attention.forward(q: data.q, qStride: data.qStride, k: data.kf, v: data.vf, kvStride: data.kvStride,
                              out: &sgemmOut, outStride: data.outStride, queries: c.queries, keys: c.keys,
                              qHeads: c.qHeads, kvHeads: c.kvHeads, headDim: c.headDim,
                              scale: 1 / Float(c.headDim).squareRoot(), causalOffset: c.causalOffset, scores: &scores)
            let (status, f16Out) = data.kernel(heads: 0..<c.qHeads)
            try #require(status == CK_OK)
            var kernelOut = [Float](repeating: 0, count: sgemmOut.count)  // Attention.forward(…, runner:)
            try Attention.forward(q: data.q, qStride: data.qStride, k: data.kf, v: data.vf, kvStride: data.kvStride,
                                  out: &kernelOut, outStride: data.outStride, queries: c.queries, keys: c.keys,
                                  qHeads: c.qHeads, kvHeads: c.kvHeads, headDim: c.headDim,
                                  scale: 1 / Float(c.headDim).squareRoot(), causalOffset: c.causalOffset,
                                  runner: ParallelRunner(threads: 2))
            var worst: Float = 0, worstF32: Float = 0
            for i in 0..<c.queries {
                for j in 0..<(c.qHeads * c.headDim) {
                    worst = max(worst, abs(sgemmOut[i * data.outStride + j] - f16Out[i * data.outStride + j]))
                    worstF32 = max(worstF32, abs(sgemmOut[i * data.outStride + j] - kernelOut[i * data.outStride + j]))
                }
            }
            print("CKernels attention \(full): vs the f32 sgemm path max |Δ| fp16-KV kernel \(worst), "
                + "Attention.forward(runner:) \(worstF32)")
            let bound = 2 * AttentionTolerance.absolute * Double(data.vf.map(abs).max() ?? 1)
            #expect(Double(worst) <= bound)
            #expect(Double(worstF32) <= bound)
        }
    }

    /// Up to 4 rows per kv head (decode, a shared-prefix batch, GQA decode) read K and V in place;
    /// more rows go through widened tiles. Both must give every row the same bits: rows of a
    /// 7-query call (tiles) against the same rows asked for 1–4 at a time.
    @Test("few-row (in-place) decode gives the same bits as the same rows of a query block, at every ISA level",
          arguments: [(qHeads: 4, kvHeads: 4, headDim: 128), (qHeads: 8, kvHeads: 2, headDim: 64),
                      (qHeads: 4, kvHeads: 2, headDim: 48), (qHeads: 3, kvHeads: 3, headDim: 40)])
    func fewRowsMatchBlockRows(_ shape: (qHeads: Int, kvHeads: Int, headDim: Int)) throws {
        let block = 7, keys = 75
        for causal in [true, false] {
            let offset = causal ? keys - block : nil  // row i sees keys [0, keys − block + i]
            let c = AttentionCase(queries: block, keys: keys, qHeads: shape.qHeads, kvHeads: shape.kvHeads,
                                  headDim: shape.headDim, causalOffset: offset, heads: 0..<shape.qHeads)
            let data = AttentionData(c, seed: UInt64(shape.headDim))
            let scale = 1 / Float(c.headDim).squareRoot()
            try atEveryLevel { isa in
                let (status, whole) = data.kernel(heads: c.heads)
                try #require(status == CK_OK)
                for rows in 1...4 {
                    for first in stride(from: 0, to: block - rows + 1, by: 2) {
                        var out = [Float](repeating: .nan, count: rows * data.outStride)
                        let s = data.q.withUnsafeBufferPointer { q in
                            ck_attention_f16kv(q.baseAddress! + first * data.qStride, data.qStride, data.k, data.v,
                                               data.kvStride, &out, data.outStride, rows, keys, c.qHeads, c.kvHeads,
                                               c.headDim, scale, offset.map { $0 + first } ?? -1, 0, c.qHeads)
                        }
                        try #require(s == CK_OK)
                        let want = Array(whole[(first * data.outStride)..<((first + rows) * data.outStride)])
                        #expect(sameBits(out, want), "\(c) rows \(first)..<\(first + rows) at \(levelName(isa))")
                    }
                }
            }
        }
    }

    @Test("bad shapes give CK_ERR_SHAPE; nothing to do is CK_OK")
    func badShapes() {
        let q = [Float](repeating: 0, count: 64), kv = [UInt16](repeating: 0, count: 64)
        var out = [Float](repeating: 0, count: 64)
        func call(_ queries: Int, _ keys: Int, _ qh: Int, _ kvh: Int, _ off: Int, _ h0: Int, _ h1: Int) -> ck_status {
            ck_attention_f16kv(q, 8, kv, kv, 8, &out, 8, queries, keys, qh, kvh, 4, 0.5, off, h0, h1)
        }
        #expect(call(1, 4, 3, 2, -1, 0, 3) == CK_ERR_SHAPE)  // q_heads % kv_heads != 0
        #expect(call(1, 4, 2, 2, -1, 0, 3) == CK_ERR_SHAPE)  // h1 > q_heads
        #expect(call(1, 4, 2, 2, -1, 2, 1) == CK_ERR_SHAPE)  // h0 > h1
        #expect(call(1, 4, 2, 2, -2, 0, 2) == CK_ERR_SHAPE)  // causal offset < -1
        #expect(call(1, 0, 2, 2, -1, 0, 2) == CK_ERR_SHAPE)  // no keys
        #expect(call(0, 4, 2, 2, -1, 0, 2) == CK_OK)         // no queries
        #expect(call(1, 4, 2, 2, -1, 1, 1) == CK_OK)         // empty head range
        #expect(out.allSatisfy { $0 == 0 })
    }
}

/// Keys in two segments (a shared prefix and a sequence's own rows) and partial softmaxes merged.
@Suite("CKernels split-KV attention")
struct AttentionSplitTests {
    /// The keys of `data` cut at `cut` into two separately allocated arrays (fp16 and f32).
    struct Segments {
        let firstK: [UInt16], firstV: [UInt16], restK: [UInt16], restV: [UInt16]
        let firstKf: [Float], firstVf: [Float], restKf: [Float], restVf: [Float]
        init(_ data: AttentionData, cut: Int) {
            let split = cut * data.kvStride
            firstK = Array(data.k[..<split]); firstV = Array(data.v[..<split])
            restK = Array(data.k[split...]); restV = Array(data.v[split...])
            firstKf = Array(data.kf[..<split]); firstVf = Array(data.vf[..<split])
            restKf = Array(data.kf[split...]); restVf = Array(data.vf[split...])
        }
    }

    static let cases: [(AttentionCase, cut: Int)] = [
        (AttentionCase(queries: 1, keys: 300, qHeads: 4, kvHeads: 1, headDim: 64, causalOffset: 299, heads: 0..<4), 290),
        (AttentionCase(queries: 4, keys: 70, qHeads: 4, kvHeads: 2, headDim: 40, causalOffset: nil, heads: 1..<3), 17),
        (AttentionCase(queries: 5, keys: 70, qHeads: 4, kvHeads: 2, headDim: 40, causalOffset: 65, heads: 0..<4), 64),
        (AttentionCase(queries: 1, keys: 37, qHeads: 2, kvHeads: 2, headDim: 16, causalOffset: 36, heads: 0..<2), 1),
    ]

    @Test("two segments give the same bits as one array, fp16 and f32, at every ISA level")
    func segmentsMatchContiguous() throws {
        for (c, cut) in Self.cases {
            let data = AttentionData(c, seed: UInt64(c.keys + cut))
            let seg = Segments(data, cut: cut)
            let scale = 1 / Float(c.headDim).squareRoot()
            try atEveryLevel { isa in
                let (status, whole) = data.kernel(heads: c.heads)
                try #require(status == CK_OK)
                var f16Out = [Float](repeating: .nan, count: whole.count)
                var f32Out = f16Out
                let s16 = ck_attention_f16kv_split(data.q, data.qStride, seg.firstK, seg.firstV, cut, seg.restK, seg.restV,
                                                   data.kvStride, &f16Out, data.outStride, c.queries, c.keys, c.qHeads,
                                                   c.kvHeads, c.headDim, scale, c.causalOffset ?? -1, c.heads.lowerBound,
                                                   c.heads.upperBound, nil, nil)
                let s32 = ck_attention_f32kv_split(data.q, data.qStride, seg.firstKf, seg.firstVf, cut, seg.restKf,
                                                   seg.restVf, data.kvStride, &f32Out, data.outStride, c.queries, c.keys,
                                                   c.qHeads, c.kvHeads, c.headDim, scale, c.causalOffset ?? -1,
                                                   c.heads.lowerBound, c.heads.upperBound, nil, nil)
                try #require(s16 == CK_OK && s32 == CK_OK)
                #expect(sameBits(f16Out, whole), "\(c) cut \(cut) fp16 at \(levelName(isa))")
                #expect(sameBits(f32Out, whole), "\(c) cut \(cut) f32 at \(levelName(isa))")
            }
        }
    }

    @Test("attention over the prefix and over the rest, merged, equals attention over all keys")
    func partialsMerge() throws {
        var report: [String] = []
        for (c, cut) in Self.cases where c.causalOffset == nil || c.queries == 1 {
            // Every query sees every key (the decode layout: a new row attends to all cached rows).
            let full = AttentionCase(queries: c.queries, keys: c.keys, qHeads: c.qHeads, kvHeads: c.kvHeads,
                                     headDim: c.headDim, causalOffset: nil, heads: 0..<c.qHeads)
            let data = AttentionData(full, seed: UInt64(7 + cut))
            let want = data.reference()
            let seg = Segments(data, cut: cut)
            let scale = 1 / Float(c.headDim).squareRoot()
            let rows = c.queries * c.qHeads
            try atEveryLevel { isa in
                var a = [Float](repeating: .nan, count: c.queries * data.outStride)
                var b = a
                var aMax = [Float](repeating: 0, count: rows), aSum = aMax, bMax = aMax, bSum = aMax
                let sa = ck_attention_f16kv_split(data.q, data.qStride, seg.firstK, seg.firstV, cut, nil, nil, data.kvStride,
                                                  &a, data.outStride, c.queries, cut, c.qHeads, c.kvHeads, c.headDim, scale,
                                                  -1, 0, c.qHeads, &aMax, &aSum)
                let sb = ck_attention_f16kv_split(data.q, data.qStride, nil, nil, 0, seg.restK, seg.restV, data.kvStride,
                                                  &b, data.outStride, c.queries, c.keys - cut, c.qHeads, c.kvHeads,
                                                  c.headDim, scale, -1, 0, c.qHeads, &bMax, &bSum)
                try #require(sa == CK_OK && sb == CK_OK)
                #expect(aSum.allSatisfy { $0 >= 1 } && bSum.allSatisfy { $0 >= 1 }, "a row's sum includes e^0 for its max")
                aMax.withUnsafeMutableBufferPointer { am in
                    aSum.withUnsafeMutableBufferPointer { asum in
                        bMax.withUnsafeMutableBufferPointer { bm in
                            bSum.withUnsafeMutableBufferPointer { bsum in
                                Attention.mergePartials(into: &a, aStride: data.outStride,
                                                        aStats: .init(max: am.baseAddress!, sum: asum.baseAddress!),
                                                        from: b, bStride: data.outStride,
                                                        bStats: .init(max: bm.baseAddress!, sum: bsum.baseAddress!),
                                                        rows: c.queries, qHeads: c.qHeads, headDim: c.headDim)
                            }
                        }
                    }
                }
                let error = data.error(a, want)
                report.append("\(full) cut \(cut) at \(levelName(isa)): \(formatted(error))")
                #expect(error <= AttentionTolerance.merged, "\(full) cut \(cut) at \(levelName(isa))")
            }
        }
        print("CKernels merged partial attention, max |Δ|/max|V|: " + report.joined(separator: "; ")
            + " (tol \(AttentionTolerance.merged))")
    }

    /// `Attention.forwardSplit` computes one fp16 decode row that sees every key (from
    /// `keyHalvesMinimum` keys on) as two halves of its keys merged: the result must match the
    /// reference, not depend on the thread count, handle a cut of the halves on either side of the
    /// segment boundary (or no prefix, or no own rows), and report the merged statistics.
    @Test("one fp16 decode row over two halves of its keys: reference, thread counts, segments, statistics")
    func decodeKeyHalves() throws {
        let shapes: [(keys: Int, cut: Int, qHeads: Int, kvHeads: Int, headDim: Int)] = [
            (300, 0, 4, 4, 64), (300, 100, 4, 4, 64), (300, 150, 8, 2, 32), (301, 290, 4, 1, 64), (600, 600, 4, 4, 16),
            (Attention.keyHalvesMinimum, 7, 2, 2, 128),
        ]
        var report: [String] = []
        for shape in shapes {
            let c = AttentionCase(queries: 1, keys: shape.keys, qHeads: shape.qHeads, kvHeads: shape.kvHeads,
                                  headDim: shape.headDim, causalOffset: shape.keys - 1, heads: 0..<shape.qHeads)
            let data = AttentionData(c, seed: UInt64(shape.keys * 31 + shape.cut))
            let want = data.reference()
            let seg = Segments(data, cut: shape.cut)
            let scale = 1 / Float(c.headDim).squareRoot()
            // One pass over all keys (the kernel, head by head) for its statistics.
            var oneMax = [Float](repeating: 0, count: c.qHeads), oneSum = oneMax
            var onePass = [Float](repeating: .nan, count: data.outStride)  // [outStride] f32
            try #require(ck_attention_f16kv_split(data.q, data.qStride, nil, nil, 0, data.k, data.v, data.kvStride, &onePass,
                                                  data.outStride, 1, c.keys, c.qHeads, c.kvHeads, c.headDim, scale, -1, 0,
                                                  c.qHeads, &oneMax, &oneSum) == CK_OK)
            var first: [Float]? = nil
            for threads in [1, 2, 3] {
                var out = [Float](repeating: .nan, count: data.outStride)  // [outStride] f32
                var maxes = [Float](repeating: .nan, count: c.qHeads), sums = maxes
                try seg.firstK.withUnsafeBufferPointer { fk in
                    try seg.firstV.withUnsafeBufferPointer { fv in
                        try seg.restK.withUnsafeBufferPointer { rk in
                            try seg.restV.withUnsafeBufferPointer { rv in
                                try maxes.withUnsafeMutableBufferPointer { mx in
                                    try sums.withUnsafeMutableBufferPointer { sm in
                                        let prefix = shape.cut > 0 ? (k: fk.baseAddress, v: fv.baseAddress) : nil
                                        let rest = shape.cut < shape.keys ? (k: rk.baseAddress!, v: rv.baseAddress!) : nil
                                        try Attention.forwardSplit(
                                            q: data.q, qStride: data.qStride,
                                            keys: .f16(first: prefix, firstKeys: shape.cut, rest: rest),
                                            kvStride: data.kvStride, out: &out, outStride: data.outStride, queries: 1,
                                            keys: c.keys, qHeads: c.qHeads, kvHeads: c.kvHeads, headDim: c.headDim,
                                            scale: scale, causalOffset: c.causalOffset,
                                            stats: .init(max: mx.baseAddress!, sum: sm.baseAddress!),
                                            runner: ParallelRunner(threads: threads))
                                    }
                                }
                            }
                        }
                    }
                }
                let what = "keys \(c.keys) cut \(shape.cut) heads \(c.qHeads)/\(c.kvHeads) d \(c.headDim), \(threads) thread(s)"
                let error = data.error(out, want)
                report.append("\(what): \(formatted(error))")
                #expect(error <= AttentionTolerance.merged, "\(what)")
                if let first { #expect(sameBits(out, first), "\(what): not the bits of 1 thread") } else { first = out }
                // The merged maximum is the larger half's, which is the one-pass maximum exactly;
                // the merged sum is a few roundings from the one-pass sum.
                #expect(maxes == oneMax, "\(what): merged maxima")
                for (got, expected) in zip(sums, oneSum) {
                    #expect(abs(got - expected) <= 1e-5 * expected, "\(what): merged sum \(got) vs \(expected)")
                }
            }
        }
        print("Attention decode over two key halves, max |Δ|/max|V|: " + report.joined(separator: "; ")
            + " (tol \(AttentionTolerance.merged))")
    }

    @Test("a missing segment or half the statistics is a shape error, not a crash")
    func badArguments() {
        let c = Self.cases[1].0
        let data = AttentionData(c, seed: 1)
        var out = [Float](repeating: 0, count: c.queries * data.outStride)
        var stats = [Float](repeating: 0, count: c.queries * c.qHeads)
        #expect(ck_attention_f16kv_split(data.q, data.qStride, nil, nil, 10, data.k, data.v, data.kvStride, &out,
                                         data.outStride, c.queries, c.keys, c.qHeads, c.kvHeads, c.headDim, 1, -1, 0,
                                         c.qHeads, nil, nil) == CK_ERR_SHAPE)
        #expect(ck_attention_f16kv_split(data.q, data.qStride, data.k, data.v, c.keys, nil, nil, data.kvStride, &out,
                                         data.outStride, c.queries, c.keys + 1, c.qHeads, c.kvHeads, c.headDim, 1, -1, 0,
                                         c.qHeads, nil, nil) == CK_ERR_SHAPE)
        #expect(ck_attention_f16kv_split(data.q, data.qStride, nil, nil, 0, data.k, data.v, data.kvStride, &out,
                                         data.outStride, c.queries, c.keys, c.qHeads, c.kvHeads, c.headDim, 1, -1, 0,
                                         c.qHeads, &stats, nil) == CK_ERR_SHAPE)
    }
}

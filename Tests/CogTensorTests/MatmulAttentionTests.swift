// MatmulAttentionTests — the `fast` precision's prefill attention (bf16 matrix products on the
// CKernels GEMM) against a double-precision reference on the same fp16/f32 keys and values:
// causal and not, grouped-query heads, head sizes that are not multiples of 32, a query count
// past one score block, and both key/value storages.
import CKernels
import CogTensor
import Foundation
import Testing

/// Allowed |out − reference| / max|V| for bf16 queries, keys, probabilities and values with f32
/// accumulation (≈ a few bf16 ulps of the output scale).
enum MatmulAttentionTolerance {
    static let absolute = 6e-3
}

@Suite("Matmul (bf16) attention")
struct MatmulAttentionTests {
    static let cases: [AttentionCase] = [
        AttentionCase(queries: 40, keys: 40, qHeads: 4, kvHeads: 4, headDim: 24, causalOffset: nil, heads: 0..<4),
        AttentionCase(queries: 33, keys: 33, qHeads: 4, kvHeads: 4, headDim: 23, causalOffset: 0, heads: 0..<4),
        AttentionCase(queries: 20, keys: 150, qHeads: 8, kvHeads: 2, headDim: 64, causalOffset: 130, heads: 0..<8),
        AttentionCase(queries: 70, keys: 90, qHeads: 2, kvHeads: 1, headDim: 112, causalOffset: 20, heads: 0..<2),
        AttentionCase(queries: MatmulAttention.queryBlock + 37, keys: MatmulAttention.queryBlock + 37, qHeads: 1,
                      kvHeads: 1, headDim: 16, causalOffset: 0, heads: 0..<1),
    ]

    @Test("matches the double reference (fp16 and f32 keys/values, 1 and 2 threads)", arguments: cases)
    func matchesReference(_ c: AttentionCase) throws {
        let data = AttentionData(c, seed: UInt64(c.keys * 17 + c.queries))
        let want = data.reference()
        var report: [String] = []
        for threads in [1, 2] {
            let context = ComputeContext(threads: threads, precision: .fast)
            for storage in ["f16", "f32"] {
                var out = [Float](repeating: .nan, count: c.queries * data.outStride)
                data.q.withUnsafeBufferPointer { q in
                    data.k.withUnsafeBufferPointer { k16 in
                        data.v.withUnsafeBufferPointer { v16 in
                            data.kf.withUnsafeBufferPointer { kf in
                                data.vf.withUnsafeBufferPointer { vf in
                                    out.withUnsafeMutableBufferPointer { o in
                                        let kv: MatmulAttention.KeyValues = storage == "f16"
                                            ? .f16(k: k16.baseAddress!, v: v16.baseAddress!)
                                            : .f32(k: kf.baseAddress!, v: vf.baseAddress!)
                                        MatmulAttention.forward(
                                            q: q.baseAddress!, qStride: data.qStride, kv: kv, kvStride: data.kvStride,
                                            out: o.baseAddress!, outStride: data.outStride, queries: c.queries,
                                            keys: c.keys, qHeads: c.qHeads, kvHeads: c.kvHeads, headDim: c.headDim,
                                            scale: 1 / Float(c.headDim).squareRoot(), causalOffset: c.causalOffset,
                                            context: context)
                                    }
                                }
                            }
                        }
                    }
                }
                let error = data.error(out, want)
                report.append("\(storage)/\(threads)t \(String(format: "%.1e", error))")
                #expect(error <= MatmulAttentionTolerance.absolute, "\(c) \(storage) on \(threads) thread(s)")
            }
        }
        print("MatmulAttention \(c): max |Δ|/max|V| " + report.joined(separator: ", ")
            + " (tol \(MatmulAttentionTolerance.absolute))")
    }
}

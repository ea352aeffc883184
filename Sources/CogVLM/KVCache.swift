import CKernels
import CogTensor

/// Keys (after rotary) and values of every layer for one sequence, appended as the sequence grows.
/// Owned by one session; snapshots share it copy-on-write.
///
/// Stored in f32 for `.exact` sessions (the reference's arithmetic) or fp16 for `.fast` ones
/// (half the memory and the bytes each decode step reads; keys and values are rounded to fp16's
/// 11-bit mantissa, as llama.cpp's default KV cache does).
public struct KVCache: Sendable {
    public enum Precision: Sendable { case f32, f16 }

    public let precision: Precision
    /// Per layer: `[length, kvHeads · headDim]` f32 keys / values (`.f32`).
    var keys: [[Float]]
    var values: [[Float]]
    /// Per layer: `[length, kvHeads · headDim]` fp16 keys / values (`.f16`).
    var keys16: [[UInt16]]
    var values16: [[UInt16]]
    /// Floats per cached token per layer (kvHeads · headDim).
    let width: Int
    /// Tokens cached so far.
    public private(set) var length = 0

    init(layers: Int, width: Int, precision: Precision = .f32) {
        self.width = width
        self.precision = precision
        keys = Array(repeating: [], count: precision == .f32 ? layers : 0)
        values = keys
        keys16 = Array(repeating: [], count: precision == .f16 ? layers : 0)
        values16 = keys16
    }

    /// Reserves room for `tokens` in every layer (avoids regrowth during a long prefill).
    mutating func reserve(tokens: Int) {
        for l in keys.indices {
            keys[l].reserveCapacity(tokens * width)
            values[l].reserveCapacity(tokens * width)
        }
        for l in keys16.indices {
            keys16[l].reserveCapacity(tokens * width)
            values16[l].reserveCapacity(tokens * width)
        }
    }

    /// Appends `count` rows to layer `layer` from strided sources (`[count, stride]`, taking
    /// `width` floats at each row's start).
    mutating func append(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, stride: Int, count: Int) {
        switch precision {
        case .f32:
            for r in 0..<count {
                keys[layer].append(contentsOf: UnsafeBufferPointer(start: k + r * stride, count: width))
                values[layer].append(contentsOf: UnsafeBufferPointer(start: v + r * stride, count: width))
            }
        case .f16:
            let w = width
            for r in 0..<count {
                let old = keys16[layer].count
                keys16[layer].append(contentsOf: repeatElement(0, count: w))
                values16[layer].append(contentsOf: repeatElement(0, count: w))
                keys16[layer].withUnsafeMutableBufferPointer { b in
                    if let base = b.baseAddress { ck_f32_to_f16(k + r * stride, base + old, w) }
                }
                values16[layer].withUnsafeMutableBufferPointer { b in
                    if let base = b.baseAddress { ck_f32_to_f16(v + r * stride, base + old, w) }
                }
            }
        }
    }

    /// Attention of `queries` new rows (already appended) over layer `layer`'s cache:
    /// `out[i] = softmax(q_i · Kᵀ · scale) · V` causally, the new rows sitting at
    /// `length ..< length + queries` (before `commit`). An fp16 cache belongs to a `fast` session:
    /// long query blocks (prefill) then run as bf16 matrix products (`MatmulAttention`), short ones
    /// (decode) on the fp16-KV kernel.
    func attend(layer: Int, q: UnsafePointer<Float>, qStride: Int, out: UnsafeMutablePointer<Float>, outStride: Int,
                queries: Int, qHeads: Int, kvHeads: Int, headDim: Int, scores: inout [Float], context: ComputeContext) throws {
        let total = length + queries
        let scale = 1 / Float(headDim).squareRoot()
        switch precision {
        case .f32:
            keys[layer].withUnsafeBufferPointer { kb in
                values[layer].withUnsafeBufferPointer { vb in
                    guard let k = kb.baseAddress, let v = vb.baseAddress else { return }
                    Attention.forward(q: q, qStride: qStride, k: k, v: v, kvStride: width, out: out, outStride: outStride,
                                      queries: queries, keys: total, qHeads: qHeads, kvHeads: kvHeads, headDim: headDim,
                                      scale: scale, causalOffset: length, scores: &scores)
                }
            }
        case .f16:
            try keys16[layer].withUnsafeBufferPointer { kb in
                try values16[layer].withUnsafeBufferPointer { vb in
                    guard let k = kb.baseAddress, let v = vb.baseAddress else { return }
                    if queries >= MatmulAttention.minimumQueries {
                        MatmulAttention.forward(q: q, qStride: qStride, kv: .f16(k: k, v: v), kvStride: width, out: out,
                                                outStride: outStride, queries: queries, keys: total, qHeads: qHeads,
                                                kvHeads: kvHeads, headDim: headDim, scale: scale, causalOffset: length,
                                                context: context)
                        return
                    }
                    try Attention.forwardF16KV(q: q, qStride: qStride, k: k, v: v, kvStride: width, out: out, outStride: outStride,
                                               queries: queries, keys: total, qHeads: qHeads, kvHeads: kvHeads, headDim: headDim,
                                               scale: scale, causalOffset: length, runner: context.runner)
                }
            }
        }
    }

    /// Marks `count` more tokens as cached (after every layer appended them).
    mutating func commit(_ count: Int) { length += count }

    /// Drops everything after the first `tokens` entries.
    mutating func truncate(to tokens: Int) {
        for l in keys.indices {
            keys[l].removeSubrange((tokens * width)...)
            values[l].removeSubrange((tokens * width)...)
        }
        for l in keys16.indices {
            keys16[l].removeSubrange((tokens * width)...)
            values16[l].removeSubrange((tokens * width)...)
        }
        length = tokens
    }

    /// Bytes held.
    public var byteCount: Int {
        (keys.reduce(0) { $0 + $1.count * 4 } + keys16.reduce(0) { $0 + $1.count * 2 }) * 2
    }
}

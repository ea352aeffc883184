import CKernels
import CogTensor

/// Keys and values of a sequence's first `length` tokens, frozen: one copy shared read-only by
/// every cache that continues from them — a snapshot, the sessions restored from it, a prefix-cache
/// entry — so restoring costs nothing and N jobs on one image hold its KV once, not N times.
/// Batched decode also reads it once per step for all the sequences that share it.
public final class KVPrefix: Sendable {
    /// Per layer: `[length, width]` f32 (`.f32` caches) or fp16 bits (`.f16`) keys / values.
    let keys: [[Float]], values: [[Float]]
    let keys16: [[UInt16]], values16: [[UInt16]]
    /// Tokens held.
    let length: Int

    init(keys: [[Float]], values: [[Float]], keys16: [[UInt16]], values16: [[UInt16]], length: Int) {
        self.keys = keys
        self.values = values
        self.keys16 = keys16
        self.values16 = values16
        self.length = length
    }

    var byteCount: Int { (keys.reduce(0) { $0 + $1.count * 4 } + keys16.reduce(0) { $0 + $1.count * 2 }) * 2 }
}

/// Keys (after rotary) and values of every layer for one sequence, appended as the sequence grows.
/// Owned by one session. The first tokens may live in a shared, frozen `KVPrefix` (after a
/// snapshot or a restore); the session's own arrays hold the tokens after it.
///
/// Stored in f32 for `.exact` sessions (the reference's arithmetic) or fp16 for `.fast` ones
/// (half the memory and the bytes each decode step reads; keys and values are rounded to fp16's
/// 11-bit mantissa, as llama.cpp's default KV cache does).
public struct KVCache: Sendable {
    public enum Precision: Sendable { case f32, f16 }

    public let precision: Precision
    /// Tokens `0 ..< prefixLength`, shared (nil: none).
    private(set) var prefix: KVPrefix?
    /// Per layer: `[length - prefixLength, kvHeads · headDim]` f32 keys / values (`.f32`).
    var keys: [[Float]]
    var values: [[Float]]
    /// Per layer: `[length - prefixLength, kvHeads · headDim]` fp16 keys / values (`.f16`).
    var keys16: [[UInt16]]
    var values16: [[UInt16]]
    /// Floats per cached token per layer (kvHeads · headDim).
    let width: Int
    /// Tokens cached so far (prefix included).
    public private(set) var length = 0

    init(layers: Int, width: Int, precision: Precision = .f32) {
        self.width = width
        self.precision = precision
        keys = Array(repeating: [], count: precision == .f32 ? layers : 0)
        values = keys
        keys16 = Array(repeating: [], count: precision == .f16 ? layers : 0)
        values16 = keys16
    }

    /// Tokens in the shared prefix.
    var prefixLength: Int { prefix?.length ?? 0 }

    /// Moves every cached token into a new shared prefix, so that this cache and every copy of it
    /// share one frozen array per layer: without a prefix the own arrays are moved in (no copy);
    /// with one, old prefix and own rows are concatenated once. Does nothing when there are no own
    /// rows.
    mutating func freeze() {
        let own = length - prefixLength
        guard own > 0 else { return }
        func joined<T>(_ shared: [[T]]?, _ mine: [[T]]) -> [[T]] {
            guard let shared else { return mine }
            return zip(shared, mine).map { $0 + $1 }
        }
        prefix = KVPrefix(keys: joined(prefix?.keys, keys), values: joined(prefix?.values, values),
                          keys16: joined(prefix?.keys16, keys16), values16: joined(prefix?.values16, values16),
                          length: length)
        for l in keys.indices {
            keys[l] = []
            values[l] = []
        }
        for l in keys16.indices {
            keys16[l] = []
            values16[l] = []
        }
    }

    /// This cache with its own copy of every row (prefix included, in a new `KVPrefix`): the
    /// memory and the reads of a sequence that shares nothing (benchmarks of distinct images).
    func independentCopy() -> KVCache {
        var copy = self
        func fresh<T>(_ arrays: [[T]]) -> [[T]] { arrays.map { a in a.withUnsafeBufferPointer { Array($0) } } }
        if let shared = prefix {
            copy.prefix = KVPrefix(keys: fresh(shared.keys), values: fresh(shared.values), keys16: fresh(shared.keys16),
                                   values16: fresh(shared.values16), length: shared.length)
        }
        copy.keys = fresh(keys)
        copy.values = fresh(values)
        copy.keys16 = fresh(keys16)
        copy.values16 = fresh(values16)
        return copy
    }

    /// Reserves room for `tokens` in every layer, prefix included (avoids regrowth during a long
    /// prefill).
    mutating func reserve(tokens: Int) {
        let own = max(0, tokens - prefixLength)
        for l in keys.indices {
            keys[l].reserveCapacity(own * width)
            values[l].reserveCapacity(own * width)
        }
        for l in keys16.indices {
            keys16[l].reserveCapacity(own * width)
            values16[l].reserveCapacity(own * width)
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
    /// (decode) on the fp16-KV kernel, a decode row over 256 keys or more as two halves of its keys
    /// merged (`Attention.forwardSplit`: each thread then reads whole rows). A shared prefix is read
    /// in place (the kernels take keys in two segments).
    func attend(layer: Int, q: UnsafePointer<Float>, qStride: Int, out: UnsafeMutablePointer<Float>, outStride: Int,
                queries: Int, qHeads: Int, kvHeads: Int, headDim: Int, scores: inout [Float], context: ComputeContext) throws {
        let total = length + queries
        let scale = 1 / Float(headDim).squareRoot()
        let first = prefixLength
        switch precision {
        case .f32:
            try withPrefixRows(prefix?.keys, prefix?.values, layer) { pk, pv in
                try keys[layer].withUnsafeBufferPointer { kb in
                    try values[layer].withUnsafeBufferPointer { vb in
                        guard let k = kb.baseAddress, let v = vb.baseAddress else { return }
                        guard first > 0 else {
                            return Attention.forward(q: q, qStride: qStride, k: k, v: v, kvStride: width, out: out,
                                                     outStride: outStride, queries: queries, keys: total, qHeads: qHeads,
                                                     kvHeads: kvHeads, headDim: headDim, scale: scale, causalOffset: length,
                                                     scores: &scores)
                        }
                        try Attention.forwardSplit(q: q, qStride: qStride, keys: .f32(first: (pk, pv), firstKeys: first, rest: (k, v)),
                                                   kvStride: width, out: out, outStride: outStride, queries: queries, keys: total,
                                                   qHeads: qHeads, kvHeads: kvHeads, headDim: headDim, scale: scale,
                                                   causalOffset: length, stats: nil, runner: context.runner)
                    }
                }
            }
        case .f16:
            try withPrefixRows(prefix?.keys16, prefix?.values16, layer) { pk, pv in
                try keys16[layer].withUnsafeBufferPointer { kb in
                    try values16[layer].withUnsafeBufferPointer { vb in
                        guard let k = kb.baseAddress, let v = vb.baseAddress else { return }
                        if queries >= MatmulAttention.minimumQueries {
                            let kv: MatmulAttention.KeyValues = first > 0
                                ? .f16Split(first: (pk, pv), firstKeys: first, rest: (k, v)) : .f16(k: k, v: v)
                            MatmulAttention.forward(q: q, qStride: qStride, kv: kv, kvStride: width, out: out,
                                                    outStride: outStride, queries: queries, keys: total, qHeads: qHeads,
                                                    kvHeads: kvHeads, headDim: headDim, scale: scale, causalOffset: length,
                                                    context: context)
                            return
                        }
                        try Attention.forwardSplit(q: q, qStride: qStride, keys: .f16(first: (pk, pv), firstKeys: first, rest: (k, v)),
                                                   kvStride: width, out: out, outStride: outStride, queries: queries, keys: total,
                                                   qHeads: qHeads, kvHeads: kvHeads, headDim: headDim, scale: scale,
                                                   causalOffset: length, stats: nil, runner: context.runner)
                    }
                }
            }
        }
    }

    /// Attention of one query row per cache over the prefix they all share (`caches[i].prefix` is
    /// one object; `q` row i belongs to cache i), reading the prefix once for all of them: writes
    /// the partial result over the prefix and its softmax statistics (`stats` `[rows, qHeads]`),
    /// to be merged with each cache's own rows by `Attention.mergePartials`. fp16 caches only.
    static func attendSharedPrefix(_ prefix: KVPrefix, layer: Int, q: UnsafePointer<Float>, qStride: Int,
                                   out: UnsafeMutablePointer<Float>, outStride: Int, rows: Int, qHeads: Int, kvHeads: Int,
                                   headDim: Int, stats: Attention.SoftmaxStats, context: ComputeContext) throws {
        let scale = 1 / Float(headDim).squareRoot()
        try prefix.keys16[layer].withUnsafeBufferPointer { kb in
            try prefix.values16[layer].withUnsafeBufferPointer { vb in
                guard let k = kb.baseAddress, let v = vb.baseAddress else { return }
                try Attention.forwardSplit(q: q, qStride: qStride, keys: .f16(first: (k, v), firstKeys: prefix.length, rest: nil),
                                           kvStride: kvHeads * headDim, out: out, outStride: outStride, queries: rows, keys: prefix.length,
                                           qHeads: qHeads, kvHeads: kvHeads, headDim: headDim, scale: scale,
                                           causalOffset: nil, stats: stats, runner: context.runner)
            }
        }
    }

    /// Attention of one new row (already appended, before `commit`) over this cache's own rows only
    /// (not the prefix), with its softmax statistics (`stats` `[1, qHeads]`). fp16 caches only.
    func attendOwnRows(layer: Int, q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, qHeads: Int, kvHeads: Int,
                       headDim: Int, stats: Attention.SoftmaxStats, context: ComputeContext) throws {
        let scale = 1 / Float(headDim).squareRoot()
        let own = length + 1 - prefixLength
        try keys16[layer].withUnsafeBufferPointer { kb in
            try values16[layer].withUnsafeBufferPointer { vb in
                guard let k = kb.baseAddress, let v = vb.baseAddress else { return }
                try Attention.forwardSplit(q: q, qStride: qHeads * headDim, keys: .f16(first: nil, firstKeys: 0, rest: (k, v)),
                                           kvStride: width, out: out, outStride: qHeads * headDim, queries: 1, keys: own,
                                           qHeads: qHeads, kvHeads: kvHeads, headDim: headDim, scale: scale,
                                           causalOffset: nil, stats: stats, runner: context.runner)
            }
        }
    }

    /// Calls `body` with layer `layer`'s prefix rows (nil pointers when there is no prefix).
    private func withPrefixRows<T, R>(_ keys: [[T]]?, _ values: [[T]]?, _ layer: Int,
                                      _ body: (UnsafePointer<T>?, UnsafePointer<T>?) throws -> R) rethrows -> R {
        guard let keys, let values else { return try body(nil, nil) }
        return try keys[layer].withUnsafeBufferPointer { kb in
            try values[layer].withUnsafeBufferPointer { vb in try body(kb.baseAddress, vb.baseAddress) }
        }
    }

    /// Marks `count` more tokens as cached (after every layer appended them).
    mutating func commit(_ count: Int) { length += count }

    /// Drops everything after the first `tokens` entries. Cutting into a shared prefix copies the
    /// rows kept into this cache's own arrays.
    mutating func truncate(to tokens: Int) {
        let first = prefixLength
        if tokens < first, let shared = prefix {
            keys = shared.keys.map { Array($0[0..<(tokens * width)]) }
            values = shared.values.map { Array($0[0..<(tokens * width)]) }
            keys16 = shared.keys16.map { Array($0[0..<(tokens * width)]) }
            values16 = shared.values16.map { Array($0[0..<(tokens * width)]) }
            prefix = nil
            length = tokens
            return
        }
        let own = tokens - first
        for l in keys.indices {
            keys[l].removeSubrange((own * width)...)
            values[l].removeSubrange((own * width)...)
        }
        for l in keys16.indices {
            keys16[l].removeSubrange((own * width)...)
            values16[l].removeSubrange((own * width)...)
        }
        length = tokens
    }

    /// Bytes of keys and values this cache reads (its own rows plus the shared prefix).
    public var byteCount: Int { ownByteCount + (prefix?.byteCount ?? 0) }

    /// Bytes of this cache's own rows (not counting a shared prefix).
    public var ownByteCount: Int {
        (keys.reduce(0) { $0 + $1.count * 4 } + keys16.reduce(0) { $0 + $1.count * 2 }) * 2
    }
}

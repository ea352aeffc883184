/// Keys (after rotary) and values of every layer for one sequence, f32, appended as the sequence
/// grows. Owned by one session; never shared.
public struct KVCache: Sendable {
    /// Per layer: `[length, kvHeads · headDim]` keys.
    var keys: [[Float]]
    /// Per layer: `[length, kvHeads · headDim]` values.
    var values: [[Float]]
    /// Floats per cached token per layer (kvHeads · headDim).
    let width: Int
    /// Tokens cached so far.
    public private(set) var length = 0

    init(layers: Int, width: Int) {
        self.width = width
        keys = Array(repeating: [], count: layers)
        values = Array(repeating: [], count: layers)
    }

    /// Reserves room for `tokens` in every layer (avoids regrowth during a long prefill).
    mutating func reserve(tokens: Int) {
        for l in keys.indices {
            keys[l].reserveCapacity(tokens * width)
            values[l].reserveCapacity(tokens * width)
        }
    }

    /// Appends `count` rows to layer `layer` from strided sources (`[count, stride]`, taking
    /// `width` floats at each row's start).
    mutating func append(layer: Int, keys k: UnsafePointer<Float>, values v: UnsafePointer<Float>, stride: Int, count: Int) {
        for r in 0..<count {
            keys[layer].append(contentsOf: UnsafeBufferPointer(start: k + r * stride, count: width))
            values[layer].append(contentsOf: UnsafeBufferPointer(start: v + r * stride, count: width))
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
        length = tokens
    }

    /// Bytes held.
    public var byteCount: Int { keys.reduce(0) { $0 + $1.count * 4 } * 2 }
}

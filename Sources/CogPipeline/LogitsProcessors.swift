import Foundation

/// The logits processors Hugging Face `generate` applies, one function each, reproducing the
/// transformers implementations (`generation/logits_process.py`) in f32. `generate` runs them in
/// this order (ref: `GenerationMixin._get_logits_processor` then `_get_logits_warper`, merged
/// into one list in later versions with the same order): the repetition penalty (a processor,
/// applied for greedy decoding too), then — when sampling only — temperature, top-k, top-p.
/// Filtered tokens are set to −∞ (`filter_value`). `minTokensToKeep` is 1 for sampling without
/// beams, as in `generate`.
public enum LogitsProcessors {
    /// `RepetitionPenaltyLogitsProcessor`: for every distinct token already in the sequence,
    /// `score < 0 ? score · penalty : score / penalty` (each token once, however often it
    /// occurred). The sequence is HF's `input_ids`: the whole prompt (BOS, the image pad ids,
    /// the text) and the generated tokens.
    /// - Parameters: `logits` `[vocab]` f32, updated in place; `present` `[vocab]` flags.
    public static func applyRepetitionPenalty(_ logits: inout [Float], penalty: Double, present: [Bool]) {
        let p = Float(penalty)
        for i in logits.indices where i < present.count && present[i] {
            let s = logits[i]
            logits[i] = s < 0 ? s * p : s / p
        }
    }

    /// The same for the token ids of `sequence` (ids outside the vocabulary are ignored).
    public static func applyRepetitionPenalty(_ logits: inout [Float], penalty: Double, sequence: [Int]) {
        var present = [Bool](repeating: false, count: logits.count)  // [vocab]
        for id in sequence where id >= 0 && id < present.count { present[id] = true }
        applyRepetitionPenalty(&logits, penalty: penalty, present: present)
    }

    /// `TemperatureLogitsWarper`: `scores / temperature` (the Python float rounded to f32, as a
    /// scalar operand of an f32 tensor).
    public static func applyTemperature(_ logits: inout [Float], temperature: Double) {
        let t = Float(temperature)
        for i in logits.indices { logits[i] /= t }
    }

    /// `TopKLogitsWarper`: `k = min(max(topK, minTokensToKeep), vocab)`; every score strictly
    /// below the k-th largest becomes −∞ (ties with the k-th largest are kept).
    public static func applyTopK(_ logits: inout [Float], topK: Int, minTokensToKeep: Int = 1) {
        let k = min(max(topK, minTokensToKeep), logits.count)
        guard k > 0, k < logits.count else { return }
        let threshold = kthLargest(logits, k)
        for i in logits.indices where logits[i] < threshold { logits[i] = -.infinity }
    }

    /// `TopPLogitsWarper`: sort ascending, softmax, cumulative sum; remove the tokens whose
    /// cumulative probability is `<= 1 - topP` (the low tail), but never the `minTokensToKeep`
    /// most likely. `1 - topP` is computed in double (Python) and compared in f32; the cumulative
    /// sum accumulates in double and is rounded to f32, as PyTorch's CPU `cumsum`. Ties sort by
    /// index (PyTorch's sort order among equal values is unspecified).
    public static func applyTopP(_ logits: inout [Float], topP: Double, minTokensToKeep: Int = 1) {
        guard topP < 1, !logits.isEmpty else { return }
        let order = ascendingOrder(logits)                         // [vocab] token ids
        let sorted = order.map { logits[$0] }                      // [vocab] ascending
        let probabilities = softmax(sorted)                        // [vocab]
        let threshold = Float(1 - topP)
        let keepFrom = order.count - min(max(minTokensToKeep, 1), order.count)
        // The cumulative sum only grows, so the removed tokens are a prefix of `order`.
        var cumulative: Double = 0
        for rank in 0..<keepFrom {
            cumulative += Double(probabilities[rank])
            if Float(cumulative) > threshold { break }
            logits[order[rank]] = -.infinity
        }
    }

    /// f32 softmax as PyTorch computes it: `exp(x - max) / sum(exp(x - max))`; −∞ gives 0.
    public static func softmax(_ x: [Float]) -> [Float] {
        guard let m = x.max(), m.isFinite else { return x.map { _ in 0 } }
        var e = x.map { expf($0 - m) }  // [n]
        var sum: Float = 0
        for v in e { sum += v }
        for i in e.indices { e[i] /= sum }
        return e
    }

    /// Token ids sorted by ascending score, ties by id: a stable LSD radix sort (4 passes of 8
    /// bits) over an order-preserving map of the f32 bits (negative values bit-inverted, positive
    /// values with the sign bit set). O(n), and fast even in debug builds, where the generic
    /// library sort of a 128k vocabulary takes a good fraction of a second.
    static func ascendingOrder(_ values: [Float]) -> [Int] {
        let n = values.count
        var keys = [UInt32](repeating: 0, count: n)     // [n] ordered bits
        var ids = [Int32](repeating: 0, count: n)       // [n] token ids, in key order after the passes
        var keysOut = [UInt32](repeating: 0, count: n)  // [n] scratch
        var idsOut = [Int32](repeating: 0, count: n)    // [n] scratch
        for i in 0..<n {
            let bits = values[i].bitPattern
            keys[i] = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
            ids[i] = Int32(truncatingIfNeeded: i)
        }
        var counts = [Int](repeating: 0, count: 257)    // [257] bucket starts
        for shift in stride(from: UInt32(0), to: 32, by: 8) {
            for b in counts.indices { counts[b] = 0 }
            for k in keys { counts[Int((k >> shift) & 0xFF) + 1] += 1 }
            for b in 1..<257 { counts[b] += counts[b - 1] }
            for i in 0..<n {
                let bucket = Int((keys[i] >> shift) & 0xFF)
                let slot = counts[bucket]
                counts[bucket] = slot + 1
                keysOut[slot] = keys[i]
                idsOut[slot] = ids[i]
            }
            swap(&keys, &keysOut)
            swap(&ids, &idsOut)
        }
        return ids.map { Int($0) }
    }

    /// The k-th largest value (1-based), k < count.
    static func kthLargest(_ values: [Float], _ k: Int) -> Float {
        // A bounded min-heap of the k largest seen so far; O(n log k).
        var heap: [Float] = []
        heap.reserveCapacity(k)
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var smallest = i
                if l < heap.count && heap[l] < heap[smallest] { smallest = l }
                if r < heap.count && heap[r] < heap[smallest] { smallest = r }
                if smallest == i { return }
                heap.swapAt(i, smallest)
                i = smallest
            }
        }
        for v in values {
            if heap.count < k {
                heap.append(v)
                var i = heap.count - 1
                while i > 0 {
                    let parent = (i - 1) / 2
                    if heap[parent] <= heap[i] { break }
                    heap.swapAt(i, parent)
                    i = parent
                }
            } else if v > heap[0] {
                heap[0] = v
                siftDown(0)
            }
        }
        return heap[0]
    }
}

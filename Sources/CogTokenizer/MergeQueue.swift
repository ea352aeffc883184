/// A binary min-heap of candidate merges for one word, ordered by rank and then by position (leftmost first).
// ref: huggingface/tokenizers models/bpe/word.rs (Merge ordering); sentencepiece bpe_model.cc (agenda)
struct MergeQueue {
    /// One candidate: merge the symbol at `left` with the symbol at `right` into `result`.
    struct Candidate {
        var rank: Int32  // lower merges first
        var left: Int32  // symbol index of the left part
        var right: Int32  // symbol index of the right part when the candidate was made
        var leftID: Int32  // token id of the left part when the candidate was made
        var rightID: Int32  // token id of the right part when the candidate was made
        var result: Int32  // token id of the merged symbol

        @inline(__always)
        func precedes(_ other: Candidate) -> Bool {
            rank != other.rank ? rank < other.rank : left < other.left
        }
    }

    private var heap: [Candidate] = []  // [count] binary heap, heap[0] is the next merge

    var isEmpty: Bool { heap.isEmpty }

    mutating func removeAll() { heap.removeAll(keepingCapacity: true) }

    mutating func push(_ candidate: Candidate) {
        heap.append(candidate)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popFirst() -> Candidate? {
        guard let first = heap.first else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            let count = heap.count
            while true {
                let leftChild = 2 * parent + 1
                guard leftChild < count else { break }
                var best = leftChild
                let rightChild = leftChild + 1
                if rightChild < count && heap[rightChild].precedes(heap[leftChild]) { best = rightChild }
                guard heap[best].precedes(heap[parent]) else { break }
                heap.swapAt(best, parent)
                parent = best
            }
        }
        return first
    }
}

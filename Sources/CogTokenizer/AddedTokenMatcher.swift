/// Finds added (special) tokens such as `<s>` or `<|eot_id|>` in raw text, before normalization and BPE.
///
/// Matching is leftmost-longest on the exact UTF-8 bytes of each token's content, as Hugging Face tokenizers
/// does for tokens with `normalized: false`.
// ref: huggingface/tokenizers tokenizer/added_vocabulary.rs (split_with_indices, LeftmostLongest)
struct AddedTokenMatcher: Sendable {
    /// A piece of the input text: plain text to tokenize, or an added token's id.
    enum Segment: Equatable {
        case text(Range<Int>)  // byte range in the text
        case token(Int)
    }

    /// A byte trie node.
    private struct Node: Sendable {
        var children: [UInt8: Int32] = [:]
        var tokenID: Int32 = -1  // the token ending here, or -1
    }

    private var nodes: [Node] = [Node()]  // [nodes] trie, nodes[0] is the root
    private var rootChildren = [Int32](repeating: -1, count: 256)  // [256] child of the root per first byte

    /// An empty matcher finds nothing.
    var isEmpty: Bool { nodes.count == 1 }

    /// Builds a matcher for `tokens` (content, id). Empty contents are ignored; a later duplicate wins.
    init(tokens: [(content: String, id: Int)]) {
        for (content, id) in tokens where !content.isEmpty {
            var node = 0
            for (depth, byte) in content.utf8.enumerated() {
                if let child = nodes[node].children[byte] {
                    node = Int(child)
                } else {
                    nodes.append(Node())
                    let child = Int32(nodes.count - 1)
                    nodes[node].children[byte] = child
                    if depth == 0 { rootChildren[Int(byte)] = child }
                    node = Int(child)
                }
            }
            nodes[node].tokenID = Int32(id)
        }
    }

    /// Cuts `text` into plain-text ranges and added tokens, in order. Empty text ranges are left out.
    func split(_ text: UnsafeBufferPointer<UInt8>) -> [Segment] {
        var segments: [Segment] = []
        var textStart = 0
        var position = 0
        let count = text.count
        while position < count {
            var node = rootChildren[Int(text[position])]
            guard node >= 0 else {
                position += 1
                continue
            }
            // Walk the trie for the longest token starting here.
            var matchEnd = -1
            var matchID: Int32 = -1
            var cursor = position + 1
            while true {
                let current = nodes[Int(node)]
                if current.tokenID >= 0 {
                    matchEnd = cursor
                    matchID = current.tokenID
                }
                guard cursor < count, let child = current.children[text[cursor]] else { break }
                node = child
                cursor += 1
            }
            guard matchEnd >= 0 else {
                position += 1
                continue
            }
            if textStart < position { segments.append(.text(textStart..<position)) }
            segments.append(.token(Int(matchID)))
            position = matchEnd
            textStart = matchEnd
        }
        if textStart < count { segments.append(.text(textStart..<count)) }
        return segments
    }
}

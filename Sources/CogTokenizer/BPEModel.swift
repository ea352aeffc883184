/// The BPE merge engine shared by both tokenizer families.
///
/// A word (a run of UTF-8 bytes) starts as one symbol per character (SentencePiece-style vocabularies) or one
/// symbol per byte (byte-level vocabularies). Adjacent pairs that have a merge are put in a priority queue; the
/// best merge is applied, its neighbours get new candidates, and so on until no pair can merge.
///
/// Two merge orders are supported:
/// - ``MergeOrder/mergeRank`` (`tokenizer.json`): lowest rank first, ties on the leftmost pair. A queued
///   candidate is still valid when the pair now at its position merges into the same token.
/// - ``MergeOrder/pieceScore`` (SentencePiece `tokenizer.model`): highest score of the merged piece first, with
///   scores turned into dense ranks so that equal scores tie and the leftmost pair wins. A queued candidate is
///   valid when neither of its two symbols has changed.
// ref: huggingface/tokenizers models/bpe/word.rs merge_all; sentencepiece src/bpe_model.cc Model::Encode
struct BPEModel: Sendable {
    /// How a word is cut into its first symbols.
    enum Symbolization: Sendable {
        /// One symbol per Unicode character (SentencePiece vocabularies with `▁`).
        case characters
        /// One symbol per byte (byte-level vocabularies with `Ġ`).
        case bytes
    }

    /// Which queued merge goes first, and when a queued merge is stale.
    enum MergeOrder: Sendable {
        case mergeRank
        case pieceScore
    }

    /// The result of merging one pair.
    struct Merge: Sendable {
        var rank: Int32  // dense rank, lower merges first
        var result: Int32  // token id of the merged symbol
    }

    let symbolization: Symbolization
    let mergeOrder: MergeOrder
    /// Merges keyed by `pairKey(left, right)`.
    let merges: [UInt64: Merge]
    /// Token id of each single character (used with `.characters`).
    let characterIDs: [UInt32: Int32]
    /// Token id standing for each byte: the byte token itself (`.bytes`) or its `<0xXX>` fallback piece
    /// (`.characters` with byte fallback); -1 where there is none.  // [256] token id or -1
    let byteIDs: [Int32]
    /// Whether characters missing from the vocabulary become their UTF-8 bytes (`<0xXX>` pieces).
    let byteFallback: Bool
    /// The unknown token, used for characters that have no id and no byte fallback.
    let unknownID: Int32?
    /// Whether consecutive unknown symbols become a single unknown token.
    let fuseUnknown: Bool
    /// With `ignore_merges`, a whole word found here is emitted as this one token.
    let wholeWordIDs: [ArraySlice<UInt8>: Int32]?
    /// Whether no merge can join a symbol ending in a non-`▁` character to one starting with `▁`, so that a
    /// text can be cut before each run of `▁` and the pieces encoded (and cached) independently.
    let splitsBeforeMetaspace: Bool

    static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    /// Working memory for one encode call: symbol lists, the merge queue and a cache of encoded words.
    struct Scratch {
        fileprivate var ids: [Int32] = []  // [symbols] token id of each symbol, -1 once merged away
        fileprivate var previous: [Int32] = []  // [symbols] index of the previous live symbol or -1
        fileprivate var next: [Int32] = []  // [symbols] index of the next live symbol or -1
        fileprivate var queue = MergeQueue()
        fileprivate var cache: [ArraySlice<UInt8>: [Int32]] = [:]
        /// Words longer than this many bytes are not cached (they rarely repeat).
        fileprivate static let longestCachedWord = 128
    }

    /// Encodes `text` (normalized, valid UTF-8) and appends the token ids to `output`.
    func encode(_ text: ArraySlice<UInt8>, into output: inout [Int], scratch: inout Scratch) {
        guard splitsBeforeMetaspace else {
            encodeWord(text, into: &output, scratch: &scratch)
            return
        }
        // Cut before every `▁` (E2 96 81) that follows a character other than `▁`.
        var wordStart = text.startIndex
        var index = text.startIndex
        let end = text.endIndex
        while index + 2 < end {
            if text[index] == 0xE2 && text[index + 1] == 0x96 && text[index + 2] == 0x81 {
                let followsMetaspace =
                    index - 3 >= text.startIndex && text[index - 3] == 0xE2 && text[index - 2] == 0x96
                    && text[index - 1] == 0x81
                if index > wordStart && !followsMetaspace {
                    encodeWord(text[wordStart..<index], into: &output, scratch: &scratch)
                    wordStart = index
                }
                index += 3
            } else {
                index += 1
            }
        }
        if wordStart < end { encodeWord(text[wordStart..<end], into: &output, scratch: &scratch) }
    }

    /// Encodes one word, using and filling the cache.
    private func encodeWord(_ word: ArraySlice<UInt8>, into output: inout [Int], scratch: inout Scratch) {
        if let id = wholeWordIDs?[word] {
            output.append(Int(id))
            return
        }
        let cacheable = word.count <= Scratch.longestCachedWord
        if cacheable, let cached = scratch.cache[word] {
            for id in cached { output.append(Int(id)) }
            return
        }
        makeSymbols(word, scratch: &scratch)
        mergeSymbols(scratch: &scratch)
        let start = output.count
        for id in scratch.ids where id >= 0 { output.append(Int(id)) }
        if cacheable { scratch.cache[word] = output[start...].map { Int32($0) } }
    }

    /// Fills the symbol lists with the word's first symbols.
    private func makeSymbols(_ word: ArraySlice<UInt8>, scratch: inout Scratch) {
        scratch.ids.removeAll(keepingCapacity: true)
        switch symbolization {
        case .bytes:
            for byte in word { scratch.ids.append(byteIDs[Int(byte)]) }
        case .characters:
            var index = word.startIndex
            let end = word.endIndex
            while index < end {
                let lead = word[index]
                let length = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
                let characterEnd = min(index + length, end)
                var value = UInt32(lead)
                if length > 1 {
                    value &= length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07
                    for position in (index + 1)..<characterEnd { value = value << 6 | UInt32(word[position] & 0x3F) }
                }
                if let id = characterIDs[value] {
                    scratch.ids.append(id)
                } else {
                    appendUnknown(word[index..<characterEnd], scratch: &scratch)
                }
                index = characterEnd
            }
        }
        let count = scratch.ids.count
        scratch.previous.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        for index in 0..<count {
            scratch.previous.append(Int32(index - 1))
            scratch.next.append(index + 1 < count ? Int32(index + 1) : -1)
        }
    }

    /// Appends the symbols for a character that is not in the vocabulary: its bytes, or the unknown token.
    private func appendUnknown(_ character: ArraySlice<UInt8>, scratch: inout Scratch) {
        if byteFallback && character.allSatisfy({ byteIDs[Int($0)] >= 0 }) {
            for byte in character { scratch.ids.append(byteIDs[Int(byte)]) }
            return
        }
        // Loading guarantees an unknown token whenever a character can end up here.
        guard let unknownID else { return }
        if fuseUnknown && scratch.ids.last == unknownID { return }
        scratch.ids.append(unknownID)
    }

    /// Applies merges until none is left.
    private func mergeSymbols(scratch: inout Scratch) {
        let count = scratch.ids.count
        guard count > 1 else { return }
        scratch.queue.removeAll()
        for left in 0..<(count - 1) {
            addCandidate(left: Int32(left), right: Int32(left + 1), scratch: &scratch)
        }
        while let candidate = scratch.queue.popFirst() {
            let left = Int(candidate.left)
            let leftID = scratch.ids[left]
            let rightIndex = scratch.next[left]
            guard leftID >= 0, rightIndex >= 0 else { continue }
            let right = Int(rightIndex)
            switch mergeOrder {
            case .mergeRank:
                guard merges[Self.pairKey(leftID, scratch.ids[right])]?.result == candidate.result else { continue }
            case .pieceScore:
                guard rightIndex == candidate.right, leftID == candidate.leftID,
                    scratch.ids[right] == candidate.rightID
                else { continue }
            }
            // Merge the right symbol into the left one and unlink it.
            scratch.ids[left] = candidate.result
            scratch.ids[right] = -1
            let afterRight = scratch.next[right]
            scratch.next[left] = afterRight
            if afterRight >= 0 { scratch.previous[Int(afterRight)] = Int32(left) }
            let beforeLeft = scratch.previous[left]
            if beforeLeft >= 0 { addCandidate(left: beforeLeft, right: Int32(left), scratch: &scratch) }
            if afterRight >= 0 { addCandidate(left: Int32(left), right: afterRight, scratch: &scratch) }
        }
    }

    @inline(__always)
    private func addCandidate(left: Int32, right: Int32, scratch: inout Scratch) {
        let leftID = scratch.ids[Int(left)]
        let rightID = scratch.ids[Int(right)]
        guard let merge = merges[Self.pairKey(leftID, rightID)] else { return }
        scratch.queue.push(
            .init(rank: merge.rank, left: left, right: right, leftID: leftID, rightID: rightID, result: merge.result))
    }
}

/// The normalization steps applied to each plain-text segment before BPE: the subset of Hugging Face
/// normalizers (`Prepend`, `Replace` with a string pattern) and SentencePiece normalizer flags that the
/// LLaMA tokenizers use.
// ref: huggingface/tokenizers normalizers/prepend.rs, normalizers/replace.rs;
//      sentencepiece src/normalizer.cc Normalizer::Normalize (remove_extra_whitespaces, add_dummy_prefix)
struct TextNormalizer: Sendable {
    enum Step: Sendable, Equatable {
        /// Removes leading and trailing spaces and collapses runs of spaces into one (SentencePiece
        /// `remove_extra_whitespaces`; only U+0020 counts, as with an identity normalization rule).
        case collapseSpaces
        /// Puts `bytes` in front of a non-empty segment (the SentencePiece dummy prefix `▁`).
        case prepend([UInt8])
        /// Replaces every occurrence of `pattern` (non-empty) with `content`.
        case replace(pattern: [UInt8], content: [UInt8])
    }

    var steps: [Step]
    /// When true (transformers' `legacy: false` for LLaMA), `prepend` steps apply only to a segment that starts
    /// the text, not to text that follows an added token.
    var prependsOnlyAtTextStart = false

    /// Whether there is nothing to do.
    var isIdentity: Bool { steps.isEmpty }

    /// Returns the normalized bytes of `segment`; `atTextStart` tells whether it begins the whole text.
    func normalize(_ segment: ArraySlice<UInt8>, atTextStart: Bool) -> [UInt8] {
        var text = Array(segment)
        for step in steps {
            switch step {
            case .collapseSpaces:
                text = Self.collapsingSpaces(text)
            case .prepend(let prefix):
                if !text.isEmpty && (atTextStart || !prependsOnlyAtTextStart) { text.insert(contentsOf: prefix, at: 0) }
            case .replace(let pattern, let content):
                text = Self.replacing(pattern, with: content, in: text)
            }
        }
        return text
    }

    private static func collapsingSpaces(_ text: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(text.count)
        var pendingSpace = false
        for byte in text {
            if byte == 0x20 {
                pendingSpace = !result.isEmpty
            } else {
                if pendingSpace { result.append(0x20) }
                pendingSpace = false
                result.append(byte)
            }
        }
        return result
    }

    static func replacing(_ pattern: [UInt8], with content: [UInt8], in text: [UInt8]) -> [UInt8] {
        guard let first = pattern.first, text.contains(first) else { return text }
        var result: [UInt8] = []
        result.reserveCapacity(text.count + text.count / 2)
        var index = 0
        let count = text.count
        let patternCount = pattern.count
        while index < count {
            if text[index] == first && index + patternCount <= count
                && (patternCount == 1 || text[index..<(index + patternCount)].elementsEqual(pattern))
            {
                result.append(contentsOf: content)
                index += patternCount
            } else {
                result.append(text[index])
                index += 1
            }
        }
        return result
    }
}

/// The Llama-3 pre-tokenizer: splits text into pieces with the regular expression below (`Split`, behaviour
/// `Isolated`), written out by hand over Unicode scalars.
///
/// ```
/// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
/// ```
///
/// Why by hand: the reference runs this pattern with Oniguruma (tokenizers) or Rust `regex` (tiktoken), where `\s`
/// is the Unicode `White_Space` property. ICU, which backs `NSRegularExpression`, defines `\s` as
/// `[\t\n\f\r\p{Z}]`, leaving out U+000B and U+0085, so it splits some texts differently. A hand-written matcher
/// also avoids UTF-16 offset conversion and is several times faster.
///
/// Classes: `\p{L}` is general category L (Lu Ll Lt Lm Lo), `\p{N}` is N (Nd Nl No), `\s` is `White_Space`;
/// `(?i:…)` folds ASCII case plus U+017F LATIN SMALL LETTER LONG S, which simple case folding maps to `s`.
/// The categories are those of Unicode ``unicodeVersion`` (see there), not of the Swift runtime's newer tables.
// ref: huggingface/tokenizers pre_tokenizers/split.rs (Isolated); openai/tiktoken cl100k pattern (same regex)
struct Llama3PreTokenizer: Sendable {
    /// The `Split` pattern this matcher implements, exactly as written in `tokenizer.json`.
    static let pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"#
        + #"|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// Class bits of one scalar.
    private struct CharacterClass: OptionSet {
        let rawValue: UInt8
        static let letter = CharacterClass(rawValue: 1)  // \p{L}
        static let number = CharacterClass(rawValue: 2)  // \p{N}
        static let whitespace = CharacterClass(rawValue: 4)  // \s
        static let lineBreak = CharacterClass(rawValue: 8)  // [\r\n]
    }

    /// Reusable buffers for one text; keep one per encode call to avoid reallocating.
    struct Scratch {
        fileprivate var scalars: [UInt32] = []  // [n] scalar values
        fileprivate var classes: [UInt8] = []  // [n] CharacterClass bits
        fileprivate var offsets: [Int] = []  // [n + 1] byte offset where each scalar starts, then the end
    }

    /// Class bits for ASCII, computed once.  // [128] CharacterClass bits
    private static let asciiClasses: [UInt8] = (0..<128).map { classify(UInt32($0)).rawValue }

    /// The Unicode version whose letters and numbers `\p{L}` and `\p{N}` match: 14.0, the tables of the Oniguruma
    /// that tokenizers 0.19 bundles (with transformers 4.44: the fixture vectors' reference). A scalar
    /// assigned later, such as CJK Extension I or the Kawi digits, is unassigned there and so "other"; Swift's own
    /// tables (Unicode 17 in Swift 6.3) would make it a letter or number and cut the text elsewhere
    /// (`"\u{1E030}'ll"`, `" \u{11F50}123"`). No `White_Space` scalar was added after 14.0. Later tokenizers
    /// releases bundle newer tables (0.23.3: Unicode 16.0); change this to match one of them instead.
    static let unicodeVersion: Unicode.Version = (major: 14, minor: 0)

    private static func classify(_ value: UInt32) -> CharacterClass {
        guard let scalar = Unicode.Scalar(value) else { return [] }
        var result: CharacterClass = []
        let assigned = scalar.properties.age.map { ($0.major, $0.minor) <= unicodeVersion } ?? false
        switch assigned ? scalar.properties.generalCategory : .unassigned {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            result.insert(.number)
        default:
            break
        }
        if scalar.properties.isWhitespace { result.insert(.whitespace) }
        if value == 0x0A || value == 0x0D { result.insert(.lineBreak) }
        return result
    }

    /// Splits `bytes` (valid UTF-8) into pre-tokens and calls `body` with the byte range of each, in order.
    /// The ranges cover `bytes` without gaps.
    func split(_ bytes: UnsafeBufferPointer<UInt8>, scratch: inout Scratch, _ body: (Range<Int>) -> Void) {
        Self.decode(bytes, into: &scratch)
        let count = scratch.scalars.count
        var index = 0
        while index < count {
            let end = scratch.classes.withUnsafeBufferPointer { classes in
                scratch.scalars.withUnsafeBufferPointer { scalars in
                    Self.matchEnd(at: index, scalars: scalars, classes: classes)
                }
            }
            body(scratch.offsets[index]..<scratch.offsets[end])
            index = end
        }
    }

    /// Decodes UTF-8 into scalars, their classes and their byte offsets.
    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>, into scratch: inout Scratch) {
        scratch.scalars.removeAll(keepingCapacity: true)
        scratch.classes.removeAll(keepingCapacity: true)
        scratch.offsets.removeAll(keepingCapacity: true)
        var position = 0
        let count = bytes.count
        while position < count {
            let lead = bytes[position]
            scratch.offsets.append(position)
            if lead < 0x80 {
                scratch.scalars.append(UInt32(lead))
                scratch.classes.append(asciiClasses[Int(lead)])
                position += 1
                continue
            }
            // The input comes from a Swift String, so it is valid UTF-8; a malformed byte would be taken as
            // one "other" character rather than read past the end.
            let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
            var value: UInt32
            if length == 1 || position + length > count {
                value = 0xFFFD
                position += 1
            } else {
                value = UInt32(lead) & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07)
                for offset in 1..<length { value = (value << 6) | (UInt32(bytes[position + offset]) & 0x3F) }
                position += length
            }
            scratch.scalars.append(value)
            scratch.classes.append(classify(value).rawValue)
        }
        scratch.offsets.append(count)
    }

    /// The end (exclusive scalar index) of the pattern's match at `start`; the alternatives are tried in order,
    /// as a backtracking regex engine does.
    private static func matchEnd(
        at start: Int, scalars: UnsafeBufferPointer<UInt32>, classes: UnsafeBufferPointer<UInt8>
    ) -> Int {
        let count = scalars.count
        func has(_ index: Int, _ flag: CharacterClass) -> Bool {
            index < count && CharacterClass(rawValue: classes[index]).contains(flag)
        }
        // [^\s\p{L}\p{N}]
        func isOther(_ index: Int) -> Bool { index < count && classes[index] & 0b0111 == 0 }
        func lowercased(_ index: Int) -> UInt32 {
            guard index < count else { return 0 }
            let value = scalars[index]
            if value == 0x17F { return UInt32(UInt8(ascii: "s")) }  // ſ folds to s
            return (0x41...0x5A).contains(value) ? value + 0x20 : value
        }

        // 1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if scalars[start] == UInt32(UInt8(ascii: "'")) {
            let second = lowercased(start + 2)
            switch lowercased(start + 1) {
            case 0x73, 0x74, 0x6D, 0x64: return start + 2  // 's 't 'm 'd
            case 0x72, 0x76: if second == 0x65 { return start + 3 }  // 're 've
            case 0x6C: if second == 0x6C { return start + 3 }  // 'll
            default: break
            }
        }
        // 2. [^\r\n\p{L}\p{N}]?\p{L}+
        var letterStart = -1
        if has(start, .letter) {
            letterStart = start
        } else if !has(start, .lineBreak) && !has(start, .number) && has(start + 1, .letter) {
            letterStart = start + 1
        }
        if letterStart >= 0 {
            var end = letterStart + 1
            while has(end, .letter) { end += 1 }
            return end
        }
        // 3. \p{N}{1,3}
        if has(start, .number) {
            var end = start + 1
            while end < start + 3 && has(end, .number) { end += 1 }
            return end
        }
        // 4. ` ?[^\s\p{L}\p{N}]+[\r\n]*`
        var otherStart = start
        if scalars[start] == 0x20 && isOther(start + 1) { otherStart = start + 1 }
        if isOther(otherStart) {
            var end = otherStart + 1
            while isOther(end) { end += 1 }
            while has(end, .lineBreak) { end += 1 }
            return end
        }
        guard has(start, .whitespace) else {
            return start + 1  // unreachable: every scalar is a letter, a number, whitespace or "other"
        }
        var runEnd = start + 1
        while has(runEnd, .whitespace) { runEnd += 1 }
        // 5. \s*[\r\n]+ : greedy \s* backs off to the last line break of the run; [\r\n]+ then takes just it.
        var lastBreak = runEnd - 1
        while lastBreak >= start && !has(lastBreak, .lineBreak) { lastBreak -= 1 }
        if lastBreak >= start { return lastBreak + 1 }
        // 6. \s+(?!\S) : the whole run at the end of the text, else the run minus its last scalar.
        if runEnd == count { return runEnd }
        if runEnd - start >= 2 { return runEnd - 1 }
        // 7. \s+
        return runEnd
    }
}

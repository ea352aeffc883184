import Foundation
import Testing

@testable import CogTokenizer

/// The hand-written Llama-3 split against ICU's regex engine (`NSRegularExpression`) running the same pattern.
///
/// ICU defines `\s` as `[\t\n\f\r\p{Z}]`, which leaves out U+000B and U+0085; Oniguruma (tokenizers) and Rust
/// `regex` (tiktoken) use `White_Space`, which includes them. The comparison therefore avoids those two
/// characters, and a separate test pins what the reference engines do with them.
@Suite("Llama-3 pre-tokenizer")
struct Llama3PreTokenizerTests {
    /// The pre-tokens of `text` from the hand-written matcher.
    static func split(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        var scratch = Llama3PreTokenizer.Scratch()
        var pieces: [String] = []
        bytes.withUnsafeBufferPointer { buffer in
            Llama3PreTokenizer().split(buffer, scratch: &scratch) { range in
                pieces.append(String(decoding: buffer[range], as: UTF8.self))
            }
        }
        return pieces
    }

    /// The pre-tokens of `text` from ICU; matches cover the text without gaps for this pattern.
    static func splitWithICU(_ text: String) throws -> [String] {
        let regex = try NSRegularExpression(pattern: Llama3PreTokenizer.pattern)
        let nsText = text as NSString
        return regex.matches(in: text, range: NSRange(location: 0, length: nsText.length)).map {
            nsText.substring(with: $0.range)
        }
    }

    @Test("agrees with ICU on every vector text")
    func vectorTexts() throws {
        let texts =
            try TokenizerVectors.llama3.get().cases.map(\.text)
            + TokenizerVectors.llama3.get().specialTokenText.map(\.text)
        for text in texts where !text.unicodeScalars.contains(where: { $0 == "\u{0B}" || $0 == "\u{85}" }) {
            #expect(Self.split(text).map(Exact.init) == (try Self.splitWithICU(text)).map(Exact.init))
        }
    }

    @Test("agrees with ICU on random mixed text")
    func randomText() throws {
        let ascii = "aZ ſ'sStTrReEvVmMlLdD09.,!?-_\"()[]{}<|>@#\t\r\n\u{0C} "
        let unicode = "٣Ⅻ½\u{A0}\u{3000}\u{2028}\u{2029}\u{200B}é\u{301}中ト한ก\u{0E31}Жλ🦙👍\u{1F3FD}\u{FE0F}\u{0}"
        let alphabet = Array((ascii + unicode).unicodeScalars)
        var generator = SplitMix64(seed: 42)
        for _ in 0..<2000 {
            var text = String.UnicodeScalarView()
            for _ in 0..<Int(generator.next() % 16) {
                text.append(alphabet[Int(generator.next() % UInt64(alphabet.count))])
            }
            let string = String(text)
            #expect(Self.split(string).map(Exact.init) == (try Self.splitWithICU(string)).map(Exact.init))
        }
    }

    /// `\s` is `White_Space` in the reference engines, so U+000B and U+0085 behave like a space or tab: a run
    /// of them before a word gives back its last character to the word (`\s+(?!\S)`), where ICU would instead
    /// take the run as punctuation.
    @Test("U+000B and U+0085 are whitespace")
    func whitespaceControls() {
        #expect(Self.split("a\u{0B}\u{0B}b") == ["a", "\u{0B}", "\u{0B}b"])
        #expect(Self.split("a\u{85}\u{85}b") == ["a", "\u{85}", "\u{85}b"])
        #expect(Self.split("a\t\tb") == ["a", "\t", "\tb"])  // the same shape as a tab run
        #expect(Self.split("x\u{0B}\n") == ["x", "\u{0B}\n"])
    }

    @Test("contractions fold case, including ſ")
    func contractions() {
        #expect(Self.split("I'M") == ["I", "'M"])
        #expect(Self.split("we'Re") == ["we", "'Re"])
        #expect(Self.split("it'ſa") == ["it", "'ſ", "a"])  // a letter run would have taken "'ſa"
        #expect(Self.split("'x") == ["'x"])
    }
}

/// `\p{L}` and `\p{N}` follow Unicode 14.0, the tables of the Oniguruma in tokenizers 0.19.1 (transformers
/// 4.44.2), not the Swift runtime's newer ones: a scalar assigned after 14.0 is "other" there. Pre-tokens and ids
/// were recorded with tokenizers 0.19.1 (`Split(Regex(pattern), "isolated")` and `encode(add_special_tokens=False)`
/// on the fixture `tokenizer.json`).
@Suite("Llama-3 pre-tokenizer: Unicode version")
struct Llama3UnicodeVersionTests {
    @Test("scalars assigned after Unicode 14.0 are neither letters nor numbers")
    func newerScalarsAreOther() throws {
        let cases: [(text: String, preTokens: [String], ids: [Int])] = [
            // U+1E030 MODIFIER LETTER CYRILLIC SMALL A (Unicode 15.0): punctuation-like, so it takes the apostrophe.
            ("\u{1E030}'ll", ["\u{1E030}'", "ll"], [172, 252, 222, 108, 6, 657]),
            ("I\u{1E030}'m", ["I", "\u{1E030}'", "m"], [40, 172, 252, 222, 108, 6, 76]),
            // U+2EBF0, CJK Unified Ideographs Extension I (Unicode 15.1).
            ("\u{2EBF0}'s", ["\u{2EBF0}'", "s"], [172, 106, 107, 108, 6, 82]),
            // U+11F50 KAWI DIGIT ZERO (Unicode 15.0) and U+16130 GURUNG KHEMA DIGIT ZERO (Unicode 16.0) do not
            // join the groups of three digits.
            (" \u{11F50}123", [" \u{11F50}", "123"], [109697, 239, 121, 238, 4513]),
            ("\u{16130}1234", ["\u{16130}", "123", "4"], [172, 244, 226, 108, 4513, 19]),
            // Older letters and digits are unchanged.
            ("\u{4E00}'ll", ["\u{4E00}", "'ll"], [15120, 3358]),
            (" \u{661}123", [" ", "\u{661}12", "3"], [220, 109610, 717, 18]),
        ]
        let tokenizer = try FixtureTokenizers.llama3()
        for (text, preTokens, ids) in cases {
            #expect(Llama3PreTokenizerTests.split(text).map(Exact.init) == preTokens.map(Exact.init))
            #expect(tokenizer.encode(text, addSpecialTokens: false) == ids)
        }
    }
}

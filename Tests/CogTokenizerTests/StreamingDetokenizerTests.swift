import CogTestSupport
import CogTokenizer
import Foundation
import Testing

/// The streaming decoder: fed one id at a time, its pieces must join to the full decode, and no piece may end
/// inside a UTF-8 character.
@Suite("Streaming detokenizer")
struct StreamingDetokenizerTests {
    /// Every id sequence in a vectors file: the cases, the single-token decodes and the byte sequences.
    static func idSequences(_ vectors: Result<TokenizerVectors, any Error>) throws -> [[Int]] {
        let vectors = try vectors.get()
        return vectors.cases.map(\.ids) + vectors.singleTokenDecodes.map(\.ids) + vectors.byteSequences.map(\.ids)
    }

    /// Streams `ids` and returns the pieces, `finish()` last.
    static func stream(_ ids: [Int], _ tokenizer: Tokenizer, skipSpecialTokens: Bool) -> [String] {
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: skipSpecialTokens)
        var pieces = ids.map { detokenizer.append($0) }
        pieces.append(detokenizer.finish())
        return pieces
    }

    /// Checks one sequence both ways (with and without special tokens).
    static func check(_ ids: [Int], _ tokenizer: Tokenizer, sourceLocation: SourceLocation = #_sourceLocation) {
        for skip in [false, true] {
            let full = tokenizer.decode(ids, skipSpecialTokens: skip)
            let pieces = stream(ids, tokenizer, skipSpecialTokens: skip)
            #expect(Exact(pieces.joined()) == Exact(full), "skipSpecialTokens: \(skip)", sourceLocation: sourceLocation)
            // A piece cut inside a character would decode to U+FFFD; text without one must never show it.
            if !full.unicodeScalars.contains("\u{FFFD}") {
                #expect(
                    !pieces.contains { $0.unicodeScalars.contains("\u{FFFD}") }, "ids \(ids)",
                    sourceLocation: sourceLocation)
            }
        }
    }

    @Test("LLaMA-2 vectors", arguments: FixtureTokenizers.LlamaSource.allCases)
    func llama2(source: FixtureTokenizers.LlamaSource) throws {
        let tokenizer = try FixtureTokenizers.llama2(source)
        for ids in try Self.idSequences(TokenizerVectors.llama2) { Self.check(ids, tokenizer) }
    }

    @Test("Llama-3 vectors")
    func llama3() throws {
        let tokenizer = try FixtureTokenizers.llama3()
        for ids in try Self.idSequences(TokenizerVectors.llama3) { Self.check(ids, tokenizer) }
    }

    @Test("a multi-byte character is held until complete")
    func holdsIncompleteCharacters() throws {
        // Llama-3: "🦙" as four single-byte tokens (from the byte_sequences vectors).
        let llama3 = try FixtureTokenizers.llama3()
        let bytes = try #require(
            try TokenizerVectors.llama3.get().byteSequences.first { $0.ids.count == 4 && $0.decoded == "🦙" })
        #expect(Self.stream(bytes.ids, llama3, skipSpecialTokens: false) == ["", "", "", "🦙", ""])
        // LLaMA-2: "🦙" as four byte-fallback pieces after "▁Hello"; the run ends at "▁world".
        let llama2 = try FixtureTokenizers.llama2(.tokenizerJSON)
        let run = try #require(
            try TokenizerVectors.llama2.get().byteSequences.first { $0.ids.count == 6 && $0.decoded.contains("🦙") })
        #expect(Self.stream(run.ids, llama2, skipSpecialTokens: false) == ["Hello", "", "", "", "", "🦙 world", ""])
    }

    /// Random id sequences, biased towards byte tokens and special tokens, compared with the full decode.
    @Test("random id sequences", arguments: [false, true])
    func randomSequences(llama3: Bool) throws {
        let tokenizer = llama3 ? try FixtureTokenizers.llama3() : try FixtureTokenizers.llama2(.tokenizerJSON)
        // Byte tokens: LLaMA-2 <0x00>…<0xFF> are ids 3…258; Llama-3 single bytes are the first 256 ids.
        let byteIDs = llama3 ? Array(0..<256) : Array(3..<259)
        let specialIDs = llama3 ? [128_000, 128_001, 128_009, 128_255] : [0, 1, 2]
        var generator = SplitMix64(seed: 0x5EED)
        for _ in 0..<300 {
            let length = Int(generator.next() % 24)
            let ids = (0..<length).map { _ -> Int in
                switch generator.next() % 10 {
                case 0..<5: byteIDs[Int(generator.next() % UInt64(byteIDs.count))]
                case 5: specialIDs[Int(generator.next() % UInt64(specialIDs.count))]
                case 6: -1 - Int(generator.next() % 3)  // ids without a token are skipped
                default: Int(generator.next() % UInt64(tokenizer.vocabularySize + 10))
                }
            }
            let full = tokenizer.decode(ids)
            let pieces = Self.stream(ids, tokenizer, skipSpecialTokens: false)
            #expect(Exact(pieces.joined()) == Exact(full), "ids \(ids)")
            let fullSkipping = tokenizer.decode(ids, skipSpecialTokens: true)
            #expect(Exact(Self.stream(ids, tokenizer, skipSpecialTokens: true).joined()) == Exact(fullSkipping))
        }
    }
}

/// A small deterministic random number generator (SplitMix64), so that failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

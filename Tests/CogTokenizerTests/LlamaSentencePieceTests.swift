import CogTestSupport
import CogTokenizer
import Foundation
import Testing

/// LLaMA-2 / Vicuna SentencePiece BPE against `Tests/Fixtures/tokenizers/llama2-spm/vectors.json`, loaded from
/// both `tokenizer.json` and `tokenizer.model`.
@Suite("LLaMA-2 SentencePiece tokenizer")
struct LlamaSentencePieceTests {
    typealias Source = FixtureTokenizers.LlamaSource

    @Test("encode gives the reference ids", arguments: try TokenizerVectors.llama2.get().cases, Source.allCases)
    func encode(_ vector: TokenizerVectors.Case, source: Source) throws {
        let tokenizer = try FixtureTokenizers.llama2(source)
        let ids = tokenizer.encode(vector.text, addSpecialTokens: false)
        #expect(ids == vector.ids)
        #expect(ids.map { Exact(tokenizer.tokenString($0)) } == vector.tokenStrings.map(Exact.init))
    }

    @Test("encode with special tokens prepends BOS", arguments: try TokenizerVectors.llama2.get().cases)
    func encodeWithBOS(_ vector: TokenizerVectors.Case) throws {
        let bos = try #require(try TokenizerVectors.llama2.get().specialIDs["bos"] ?? nil)
        for source in Source.allCases {
            let tokenizer = try FixtureTokenizers.llama2(source)
            #expect(tokenizer.encode(vector.text, addSpecialTokens: true) == [bos] + vector.ids, "\(source)")
        }
    }

    @Test("decode gives the reference text", arguments: try TokenizerVectors.llama2.get().cases, Source.allCases)
    func decode(_ vector: TokenizerVectors.Case, source: Source) throws {
        let tokenizer = try FixtureTokenizers.llama2(source)
        #expect(Exact(tokenizer.decode(vector.ids)) == Exact(vector.decoded))
        #expect(Exact(tokenizer.decode(vector.ids)) == Exact(vector.decodedHFTokenizers))
        #expect(Exact(tokenizer.decode(vector.ids, skipSpecialTokens: true)) == Exact(vector.decoded))
    }

    @Test(
        "decode of single ids and byte runs matches tokenizers",
        arguments: try TokenizerVectors.llama2.get().singleTokenDecodes + TokenizerVectors.llama2.get().byteSequences,
        Source.allCases)
    func decodeSequences(_ vector: TokenizerVectors.Decoding, source: Source) throws {
        let tokenizer = try FixtureTokenizers.llama2(source)
        #expect(Exact(tokenizer.decode(vector.ids)) == Exact(vector.decodedHFTokenizers))
        let withoutSpecial = vector.ids.filter { !tokenizer.isSpecialToken($0) }
        #expect(Exact(tokenizer.decode(vector.ids, skipSpecialTokens: true)) == Exact(tokenizer.decode(withoutSpecial)))
    }

    @Test("skipping special tokens drops <s> and </s> as sentencepiece does", arguments: Source.allCases)
    func skipControlTokens(source: Source) throws {
        let tokenizer = try FixtureTokenizers.llama2(source)
        let vector = try #require(
            try TokenizerVectors.llama2.get().byteSequences.first { $0.ids.first == 1 && $0.ids.last == 2 })
        // sentencepiece decodes control ids to "", which is what skipping them gives.
        #expect(Exact(tokenizer.decode(vector.ids, skipSpecialTokens: true)) == Exact(vector.decoded))
    }

    /// Special-token strings inside the text: vicuna's `legacy: false`, the tokenizers behaviour (`legacy`
    /// true or no configuration) and sentencepiece (special strings as plain text).
    @Test("special-token text", arguments: try TokenizerVectors.llama2.get().specialTokenText, Source.allCases)
    func specialTokenText(_ vector: TokenizerVectors.SpecialTokenText, source: Source) throws {
        let vicuna = try FixtureTokenizers.llama2(source)
        #expect(
            vicuna.encode(vector.text, addSpecialTokens: false) == vector.variants["ids_transformers_slow_legacy_false"]
        )
        #expect(
            vicuna.encode(vector.text, addSpecialTokens: false, parseSpecialTokens: false)
                == vector.variants["ids_sentencepiece"])

        let legacy = try FixtureTokenizers.llama2(source, .legacy)
        #expect(
            legacy.encode(vector.text, addSpecialTokens: false) == vector.variants["ids_transformers_slow_legacy_true"])
        let bare = try FixtureTokenizers.llama2(source, .none)
        #expect(bare.encode(vector.text, addSpecialTokens: false) == vector.variants["ids_hf_tokenizers"])
    }

    @Test("special ids and sizes", arguments: Source.allCases)
    func specialIDs(source: Source) throws {
        let tokenizer = try FixtureTokenizers.llama2(source)
        let expected = try TokenizerVectors.llama2.get().specialIDs
        #expect(tokenizer.bosTokenID == expected["bos"] ?? nil)
        #expect(tokenizer.eosTokenIDs == [try #require(expected["eos"] ?? nil)])
        #expect(tokenizer.unknownTokenID == expected["unk"] ?? nil)
        // special_tokens_map.json names "<unk>" as the pad token, which transformers uses over the null in
        // tokenizer_config.json.
        #expect(tokenizer.padTokenID == tokenizer.unknownTokenID)
        #expect(tokenizer.vocabularySize == 32000)
        #expect(tokenizer.cleansUpTokenizationSpaces == false)
        #expect(tokenizer.tokenString(32000) == nil)
        #expect(tokenizer.tokenString(-1) == nil)
        #expect(tokenizer.tokenID("▁Hello") == 15043)
    }

    /// Merge by rank (tokenizer.json) and merge by piece score (tokenizer.model) must give the same ids, on
    /// random text and on random runs of vocabulary pieces (which exercise ties and long merge chains).
    @Test("tokenizer.json and tokenizer.model agree on random text")
    func sourcesAgreeOnRandomText() throws {
        let json = try FixtureTokenizers.llama2(.tokenizerJSON)
        let model = try FixtureTokenizers.llama2(.sentencePieceModel)
        let alphabet = Array("ab eTh.,'\n\t  0123中文ẞé\u{301}🦙\u{2581}<s>".unicodeScalars)
        var generator = SplitMix64(seed: 7)
        for round in 0..<600 {
            var text = ""
            for _ in 0..<Int(generator.next() % 12) {
                if round % 2 == 0 {
                    text.unicodeScalars.append(alphabet[Int(generator.next() % UInt64(alphabet.count))])
                } else {
                    // A piece of the vocabulary (skipping the control and byte pieces), with ▁ as a space.
                    let id = 259 + Int(generator.next() % UInt64(json.vocabularySize - 259))
                    text += (json.tokenString(id) ?? "").replacingOccurrences(of: "\u{2581}", with: " ")
                }
            }
            for parse in [false, true] {
                let fromJSON = json.encode(text, addSpecialTokens: false, parseSpecialTokens: parse)
                let fromModel = model.encode(text, addSpecialTokens: false, parseSpecialTokens: parse)
                #expect(fromJSON == fromModel, "\(text.debugDescription)")
            }
        }
    }

    @Test("tokenizer.json and tokenizer.model agree on every id's token string")
    func sourcesAgree() throws {
        let json = try FixtureTokenizers.llama2(.tokenizerJSON)
        let model = try FixtureTokenizers.llama2(.sentencePieceModel)
        #expect(json.vocabularySize == model.vocabularySize)
        let mismatches = (0..<json.vocabularySize).filter { json.tokenString($0) != model.tokenString($0) }
        #expect(mismatches.isEmpty)
        let specialMismatches = (0..<json.vocabularySize).filter { json.isSpecialToken($0) != model.isSpecialToken($0) }
        #expect(specialMismatches.isEmpty)
    }
}

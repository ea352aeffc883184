import CogTestSupport
import CogTokenizer
import Foundation
import Testing

/// Llama-3 byte-level BPE against `Tests/Fixtures/tokenizers/llama3-bpe/vectors.json`.
@Suite("Llama-3 byte-level tokenizer")
struct Llama3ByteLevelTests {
    @Test("encode gives the reference ids", arguments: try TokenizerVectors.llama3.get().cases)
    func encode(_ vector: TokenizerVectors.Case) throws {
        let tokenizer = try FixtureTokenizers.llama3()
        let ids = tokenizer.encode(vector.text, addSpecialTokens: false)
        #expect(ids == vector.ids)
        #expect(ids.map { Exact(tokenizer.tokenString($0)) } == vector.tokenStrings.map(Exact.init))
        let bos = try #require(try TokenizerVectors.llama3.get().specialIDs["begin_of_text"] ?? nil)
        #expect(tokenizer.encode(vector.text, addSpecialTokens: true) == [bos] + vector.ids)
    }

    @Test("decode gives the reference text", arguments: try TokenizerVectors.llama3.get().cases)
    func decode(_ vector: TokenizerVectors.Case) throws {
        let tokenizer = try FixtureTokenizers.llama3()
        #expect(Exact(tokenizer.decode(vector.ids)) == Exact(vector.decoded))
        #expect(Exact(tokenizer.decode(vector.ids)) == Exact(vector.text))  // every Llama-3 case round-trips
        #expect(Exact(tokenizer.decode(vector.ids, skipSpecialTokens: true)) == Exact(vector.decodedSkipSpecial))
        #expect(
            Exact(Tokenizer.cleanUpTokenizationSpaces(tokenizer.decode(vector.ids)))
                == Exact(vector.decodedTransformers))
    }

    @Test(
        "decode of single ids and byte sequences",
        arguments: try TokenizerVectors.llama3.get().singleTokenDecodes + TokenizerVectors.llama3.get().byteSequences)
    func decodeSequences(_ vector: TokenizerVectors.Decoding) throws {
        let tokenizer = try FixtureTokenizers.llama3()
        #expect(Exact(tokenizer.decode(vector.ids)) == Exact(vector.decoded))
        #expect(Exact(tokenizer.decode(vector.ids, skipSpecialTokens: true)) == Exact(vector.decodedSkipSpecial))
        #expect(
            Exact(Tokenizer.cleanUpTokenizationSpaces(tokenizer.decode(vector.ids)))
                == Exact(vector.decodedTransformers))
    }

    @Test("special-token text", arguments: try TokenizerVectors.llama3.get().specialTokenText)
    func specialTokenText(_ vector: TokenizerVectors.SpecialTokenText) throws {
        let tokenizer = try FixtureTokenizers.llama3()
        let parsed = tokenizer.encode(vector.text, addSpecialTokens: false)
        #expect(parsed == vector.variants["ids_special_parsed"])
        #expect(parsed == vector.variants["ids_transformers"])
        #expect(
            tokenizer.encode(vector.text, addSpecialTokens: false, parseSpecialTokens: false)
                == vector.variants["ids_special_as_text"])
    }

    @Test("special ids, sizes and settings")
    func specialIDs() throws {
        let tokenizer = try FixtureTokenizers.llama3()
        let expected = try TokenizerVectors.llama3.get().specialIDs
        #expect(tokenizer.bosTokenID == expected["begin_of_text"] ?? nil)
        #expect(tokenizer.eosTokenIDs == [try #require(expected["end_of_text"] ?? nil)])
        #expect(tokenizer.tokenID("<|eot_id|>") == expected["eot_id"] ?? nil)
        #expect(tokenizer.padTokenID == nil)  // CogVLM2 sets 128002 in its own code, not in the tokenizer files
        #expect(tokenizer.unknownTokenID == nil)
        #expect(tokenizer.vocabularySize == 128_256)
        #expect(tokenizer.cleansUpTokenizationSpaces)
        #expect(tokenizer.isSpecialToken(128_009))
        #expect(!tokenizer.isSpecialToken(9906))
    }
}

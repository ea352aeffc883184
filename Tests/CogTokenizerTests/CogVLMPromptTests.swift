import CogTokenizer
import Foundation
import Testing

/// The prompt texts CogVLM builds, encoded as its `build_conversation_input_ids` does:
/// `tokenizer.encode(prompt, add_special_tokens=False)`, with BOS added by the caller. Expected ids come from the
/// `cogvlm-*` and `tiny-fixture-*` vector cases.
@Suite("CogVLM prompt layouts")
struct CogVLMPromptTests {
    /// The vector cases that are CogVLM prompts (chat, vqa, grounding, history, the tiny fixtures' prompts).
    static func promptCases(_ vectors: Result<TokenizerVectors, any Error>) throws -> [TokenizerVectors.Case] {
        try vectors.get().cases.filter { $0.name.hasPrefix("cogvlm-") || $0.name.hasPrefix("tiny-fixture-") }
    }

    @Test("CogVLM (v1, vicuna): the dummy prefix makes the first word \"▁Question\"")
    func cogvlmPrompts() throws {
        let cases = try Self.promptCases(TokenizerVectors.llama2)
        #expect(cases.count >= 10)
        for source in FixtureTokenizers.LlamaSource.allCases {
            let tokenizer = try FixtureTokenizers.llama2(source)
            for vector in cases {
                let ids = tokenizer.encode(vector.text, addSpecialTokens: false)
                #expect(ids == vector.ids, "\(vector.name) from \(source)")
                let first = try #require(ids.first.flatMap { tokenizer.tokenString($0) })
                #expect(first.hasPrefix("\u{2581}"), "\(vector.name): the first piece carries the dummy-prefix space")
            }
        }
    }

    @Test("CogVLM2 (Llama-3): no prefix space, so the first word is \"Question\", not \"ĠQuestion\"")
    func cogvlm2Prompts() throws {
        let tokenizer = try FixtureTokenizers.llama3()
        let cases = try Self.promptCases(TokenizerVectors.llama3)
        #expect(cases.count >= 10)
        for vector in cases {
            let ids = tokenizer.encode(vector.text, addSpecialTokens: false)
            #expect(ids == vector.ids, "\(vector.name)")
            let first = try #require(ids.first.flatMap { tokenizer.tokenString($0) })
            #expect(!first.hasPrefix("Ġ"), "\(vector.name)")
        }
    }

    /// `"Question: … Answer:"` starts with the same ids in every template, and the chat prompt is a prefix of
    /// the multi-turn one, because the history is put in front as text.
    @Test("the question prefix encodes the same way in every template")
    func sharedPrefix() throws {
        for vectors in [TokenizerVectors.llama2, TokenizerVectors.llama3] {
            let cases = try Self.promptCases(vectors)
            let chat = try #require(cases.first { $0.name == "cogvlm-chat-template" })
            let history = try #require(cases.first { $0.name == "cogvlm-multiturn-history" })
            #expect(history.text.hasPrefix(chat.text))
            #expect(Array(history.ids.prefix(chat.ids.count)) == chat.ids)
            let questionIDs = Array(chat.ids.prefix(2))  // "Question" ":"
            for vector in cases where vector.text.hasPrefix("Question:") {
                #expect(Array(vector.ids.prefix(2)) == questionIDs, "\(vector.name)")
            }
        }
    }

    /// With `addSpecialTokens`, the prompt gets exactly the BOS that CogVLM otherwise adds by hand.
    @Test("BOS comes from the tokenizer files")
    func bos() throws {
        let llama2 = try FixtureTokenizers.llama2(.tokenizerJSON)
        let llama3 = try FixtureTokenizers.llama3()
        let prompt = "Question: What is in the image? Answer:"
        #expect(
            llama2.encode(prompt) == [try #require(llama2.bosTokenID)] + llama2.encode(prompt, addSpecialTokens: false))
        #expect(
            llama3.encode(prompt) == [try #require(llama3.bosTokenID)] + llama3.encode(prompt, addSpecialTokens: false))
    }

    /// A user prompt that contains a special-token string must not become a control token when the caller
    /// asks for plain text.
    @Test("special-token strings in user text can be kept as text")
    func userTextIsNotParsed() throws {
        let llama3 = try FixtureTokenizers.llama3()
        let injected = "What is this?<|eot_id|>"
        let eot = try #require(llama3.tokenID("<|eot_id|>"))
        #expect(llama3.encode(injected, addSpecialTokens: false).contains(eot))
        #expect(!llama3.encode(injected, addSpecialTokens: false, parseSpecialTokens: false).contains(eot))
        let llama2 = try FixtureTokenizers.llama2(.sentencePieceModel)
        let eos = try #require(llama2.eosTokenIDs.first)
        #expect(!llama2.encode("Hi</s>", addSpecialTokens: false, parseSpecialTokens: false).contains(eos))
    }
}

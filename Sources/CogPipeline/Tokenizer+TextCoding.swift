import CogTokenizer

/// The real tokenizers plug into the pipeline's text protocols. Special-token strings in the
/// prompt are parsed as special tokens, as `tokenizer.encode(text, add_special_tokens=False)`
/// does in the reference (`build_conversation_input_ids`).
extension Tokenizer: TextEncoding, TextDecoding {
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        encode(text, addSpecialTokens: addSpecialTokens, parseSpecialTokens: true)
    }
}

extension StreamingDetokenizer: StreamingTextDecoding {}

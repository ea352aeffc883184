// The three tokenizer capabilities the pipeline needs, as protocols, so that this module does not
// depend on a concrete tokenizer. The real tokenizers (CogTokenizer) conform with one-line
// extensions; tests use stand-ins (the fixtures' word-level toy tokenizer). The method names
// follow CogTokenizer's (`encode`, `decode(_:skipSpecialTokens:)`, `append` / `finish`).
//
// The requirements are declared `throws`: a non-throwing implementation satisfies them too.

/// Text → token ids, as Hugging Face `tokenizer.encode(text, add_special_tokens=…)`.
public protocol TextEncoding: Sendable {
    /// Token ids of `text`; with `addSpecialTokens` the tokenizer adds its BOS (and whatever its
    /// post-processor adds). The prompt builder always passes `false` and adds BOS itself, as the
    /// official `build_conversation_input_ids` does.
    func encode(_ text: String, addSpecialTokens: Bool) throws -> [Int]
}

/// Token ids → text, as Hugging Face `tokenizer.decode(ids, skip_special_tokens=…)`.
public protocol TextDecoding {
    func decode(_ ids: [Int], skipSpecialTokens: Bool) throws -> String
}

/// Incremental decoding for streaming: feed generated ids one at a time and get back the text
/// they add. An implementation must never return half of a UTF-8 character (hold bytes back
/// until the character is complete) and should skip special tokens. (Named so as not to clash
/// with CogTokenizer's concrete `StreamingDetokenizer`, which can conform as it is.)
public protocol StreamingTextDecoding {
    /// Adds one generated id; returns the newly completed text (possibly empty).
    mutating func append(_ id: Int) throws -> String
    /// Returns whatever is still held back at the end of generation (e.g. an incomplete
    /// character, rendered the way the full decode would render it).
    mutating func finish() throws -> String
}

extension StreamingTextDecoding {
    /// Default: nothing held back.
    public mutating func finish() throws -> String { "" }
}

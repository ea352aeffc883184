import CogVLM

/// What the generator needs from a model: run a prompt, then one token at a time, returning the
/// next-token logits. `CogVLMSession` conforms; tests can use a scripted stand-in.
public protocol GenerationSession: AnyObject {
    /// Length of the logits vectors.
    var vocabularySize: Int { get }
    /// Longest sequence (prompt + generated) generation may reach.
    var contextLimit: Int { get }
    /// Runs the prompt; returns the logits `[vocab]` after its last token.
    func prefillPrompt(inputIDs: [Int], tokenTypes: [TokenType], imageFeatures: [Float]?) throws -> [Float]
    /// Feeds one generated token; returns the logits `[vocab]` for the token after it.
    func decodeNext(token: Int) throws -> [Float]
}

extension CogVLMSession: GenerationSession {
    public var vocabularySize: Int { model.config.vocabSize }
    /// `max_position_embeddings`: the sequence length the official demos cap generation at
    /// (`max_length=2048` for v1).
    public var contextLimit: Int { model.config.maxPositionEmbeddings }

    public func prefillPrompt(inputIDs: [Int], tokenTypes: [TokenType], imageFeatures: [Float]?) throws -> [Float] {
        try prefill(inputIDs: inputIDs, tokenTypes: tokenTypes, imageFeatures: imageFeatures)
    }

    public func decodeNext(token: Int) throws -> [Float] {
        try decode(token: token)
    }
}

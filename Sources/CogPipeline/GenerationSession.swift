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

    /// Runs the prompt. A session restored from a prefix snapshot (`restore(_:)`, e.g. BOS + image
    /// from the `PrefixCache`) only computes the tokens after that prefix; the prefix must match
    /// the prompt's first tokens exactly.
    public func prefillPrompt(inputIDs: [Int], tokenTypes: [TokenType], imageFeatures: [Float]?) throws -> [Float] {
        let done = length
        guard done > 0 else {
            return try prefill(inputIDs: inputIDs, tokenTypes: tokenTypes, imageFeatures: imageFeatures)
        }
        guard done < inputIDs.count, Array(inputIDs.prefix(done)) == self.tokenIDs,
              Array(tokenTypes.prefix(done)) == self.tokenTypes else {
            throw PipelineError(.badParameter, "the session holds \(done) tokens that are not a prefix of this prompt",
                                field: "prompt")
        }
        return try prefill(inputIDs: Array(inputIDs[done...]), tokenTypes: Array(tokenTypes[done...]), imageFeatures: nil)
    }

    public func decodeNext(token: Int) throws -> [Float] {
        try decode(token: token)
    }
}

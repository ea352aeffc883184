import CogVLM

/// A `CogVLMSession` whose decode steps go through a shared `DecodeBatcher`, so its sequence
/// advances together with the other workers' sequences (one pass over the weights per step for
/// all). The prompt is prefilled on the session alone, with its own threads; the first decode
/// step joins the batch. Call `leave()` when generation ends — `defer { batched.leave() }` right
/// after creating it — so steps stop waiting for it; `deinit` leaves too, as a safety net.
///
/// Not `Sendable`, like the session it wraps: it belongs to the thread that generates with it.
public final class BatchedDecodeSession: GenerationSession {
    /// The sequence itself (KV cache, history, prefill threads).
    public let session: CogVLMSession
    /// Where decode steps go.
    public let batcher: DecodeBatcher
    private var joined = false

    public init(session: CogVLMSession, batcher: DecodeBatcher) {
        self.session = session
        self.batcher = batcher
    }

    deinit { leave() }

    public var vocabularySize: Int { session.vocabularySize }
    public var contextLimit: Int { session.contextLimit }

    /// Runs the prompt on the session alone (see `CogVLMSession.prefillPrompt`); prefill is never batched.
    public func prefillPrompt(inputIDs: [Int], tokenTypes: [TokenType], imageFeatures: [Float]?) throws -> [Float] {
        try session.prefillPrompt(inputIDs: inputIDs, tokenTypes: tokenTypes, imageFeatures: imageFeatures)
    }

    /// Feeds one token through the batcher (joining the batch on the first call) and returns the
    /// logits `[vocab]` for the token after it.
    public func decodeNext(token: Int) throws -> [Float] {
        joined = true
        return try batcher.decode(session, token: token)
    }

    /// Leaves the batch (steps stop waiting for this sequence). Idempotent.
    public func leave() {
        guard joined else { return }
        joined = false
        batcher.leave(session)
    }
}

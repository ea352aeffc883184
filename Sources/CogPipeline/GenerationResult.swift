/// Why generation stopped.
public enum FinishReason: String, Sendable, Equatable, Codable {
    /// The model produced one of its end-of-sequence ids (not included in the output).
    case eos
    /// `maxNewTokens` tokens were generated.
    case maxTokens = "max_tokens"
    /// The per-token callback asked to stop.
    case cancelled
    /// The sequence reached the model's context limit.
    case contextFull = "context_full"
}

/// Wall-clock time of each phase, in milliseconds.
public struct GenerationTimings: Sendable, Equatable, Codable {
    /// Vision tower + adapter (0 without an image).
    public var visionMilliseconds: Double = 0
    /// The prompt's forward pass.
    public var prefillMilliseconds: Double = 0
    /// From the end of prefill to the last token (decode steps, token choice, detokenizing,
    /// callbacks).
    public var decodeMilliseconds: Double = 0
    /// Single-token forward passes run (one fewer than the tokens generated, when generation
    /// did not stop on an end-of-sequence id).
    public var decodeSteps: Int = 0

    public init() {}

    /// Decode steps per second (0 when there were none).
    public var tokensPerSecond: Double {
        decodeSteps > 0 && decodeMilliseconds > 0 ? Double(decodeSteps) / (decodeMilliseconds / 1000) : 0
    }
}

/// The outcome of one generation.
public struct GenerationResult: Sendable, Equatable {
    /// Generated ids, without the end-of-sequence id.
    public var tokenIDs: [Int]
    /// Their text (everything the detokenizer returned, including `unstreamedText`); empty
    /// without a detokenizer.
    public var text: String
    /// Text the detokenizer released only at the end (held-back bytes), not delivered through
    /// the per-token events.
    public var unstreamedText: String
    public var finishReason: FinishReason
    /// The end-of-sequence id that stopped generation, when `finishReason == .eos`.
    public var stopTokenID: Int?
    /// Tokens in the prompt (BOS, image slots and text).
    public var promptTokenCount: Int
    public var timings: GenerationTimings
}

/// Reported to the per-token callback for every generated token (not for the end-of-sequence
/// id).
public struct GenerationEvent: Sendable, Equatable {
    /// 0-based position among the generated tokens.
    public var index: Int
    public var tokenID: Int
    /// The text this token completed (may be empty: a partial character or a special token).
    public var textDelta: String
    /// Time to produce this token: the forward pass its logits came from (prefill for the
    /// first) plus choosing it.
    public var stepMilliseconds: Double
}

/// The per-token callback's answer.
public enum GenerationControl: Sendable, Equatable {
    case `continue`
    /// Stop after this token; the result has `finishReason == .cancelled`.
    case stop
}

/// Phases reported to the progress callback, for a CLI progress display.
public enum GenerationProgress: Sendable, Equatable {
    case visionEncodeStarted
    case visionEncodeFinished(milliseconds: Double)
    case prefillStarted(tokens: Int)
    case prefillFinished(tokens: Int, milliseconds: Double)
    case decodeFinished(tokens: Int, milliseconds: Double, reason: FinishReason)
}

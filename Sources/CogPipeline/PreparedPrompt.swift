import CogVLM

/// A prompt laid out for the model: what `build_conversation_input_ids` returns plus the
/// position ids HF derives from it (architecture doc §3.3–3.4). All arrays have one entry per
/// token: `[BOS] + [PAD] × imageSlots + text ids`.
public struct PreparedPrompt: Sendable, Equatable {
    /// `[T]` token ids; the image slots hold the pad id (their embeddings are replaced).
    public var inputIDs: [Int]
    /// `[T]` language / vision token types.
    public var tokenTypes: [TokenType]
    /// `[T]` CogVLM position ids (all image patches share one position).
    public var positionIDs: [Int]
    /// The prompt text that was tokenized (after the template).
    public var text: String

    public init(inputIDs: [Int], tokenTypes: [TokenType], positionIDs: [Int], text: String) {
        self.inputIDs = inputIDs
        self.tokenTypes = tokenTypes
        self.positionIDs = positionIDs
        self.text = text
    }

    /// Number of image slots (vision token types) in the prompt.
    public var imageSlotCount: Int { tokenTypes.lazy.filter { $0 == .vision }.count }
    /// Tokens in the prompt.
    public var count: Int { inputIDs.count }
}

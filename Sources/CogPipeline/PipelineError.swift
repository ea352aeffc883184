/// Problems with what a caller asked the pipeline to do: a task without the text it needs, a
/// box that cannot be described, generation settings outside their valid range, a prompt longer
/// than the model's context. (Problems in the checkpoint are `WeightsError`s; problems inside the
/// forward pass are `InferenceError`s.) The `code` is stable; the `message` says what to change;
/// `field` names the setting or input concerned.
public struct PipelineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable machine-readable error code.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A task needs a prompt (the question, the referring expression) and none was given.
        public static let missingPrompt = Code(rawValue: "pipeline.missing_prompt")
        /// The describe-box task needs a box and none was given.
        public static let missingBox = Code(rawValue: "pipeline.missing_box")
        /// A box is malformed, inverted or outside the 0–999 range.
        public static let badBox = Code(rawValue: "pipeline.bad_box")
        /// A prompt template name is not `base`, `chat` or `vqa`, or a custom task wording lacks
        /// its placeholder.
        public static let badTemplate = Code(rawValue: "pipeline.bad_template")
        /// A generation setting is outside its valid range.
        public static let badParameter = Code(rawValue: "pipeline.bad_parameter")
        /// The prompt is already as long as (or longer than) the model's context.
        public static let contextOverflow = Code(rawValue: "pipeline.context_overflow")
        /// The tokenizer failed on the prompt text.
        public static let tokenizerFailed = Code(rawValue: "pipeline.tokenizer_failed")
        /// The tokenizer is not the model's (vocabulary size or beginning-of-sequence id differ).
        public static let tokenizerMismatch = Code(rawValue: "pipeline.tokenizer_mismatch")
        /// The model folder has no tokenizer and none was given (CogVLM v1 ships none).
        public static let tokenizerMissing = Code(rawValue: "pipeline.tokenizer_missing")
        /// A batched decode step failed while computing (`DecodeBatcher`): every sequence in the
        /// step receives this error. It says nothing about the request itself: retry it.
        public static let decodeStepFailed = Code(rawValue: "pipeline.decode_step_failed")
        /// The model produced NaN logits: its weights (or config.json's numbers) cannot be computed
        /// with; the checkpoint is damaged. Retrying does not help.
        public static let nonFiniteLogits = Code(rawValue: "pipeline.non_finite_logits")
    }

    public let code: Code
    public let message: String
    /// The setting, option or input the problem concerns (`top_p`, `prompt`, `box`), if any.
    public let field: String?

    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(code): \(detail)" }

    /// The message without the code: what the description shows after `code: ` (the CLI prints
    /// `Error: <code>: <detail>`).
    public var detail: String { field.map { "'\($0)': \(message)" } ?? message }
}

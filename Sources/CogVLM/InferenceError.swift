/// Problems with what a caller asked the model to compute (as opposed to problems with the
/// checkpoint, which are `WeightsError`s). Stable codes, messages that say what to fix.
public struct InferenceError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// Input arrays disagree in length or shape (ids vs token types, pixel count).
        public static let badInput = Code(rawValue: "inference.bad_input")
        /// A token id is outside the vocabulary.
        public static let tokenOutOfRange = Code(rawValue: "inference.token_out_of_range")
        /// The number of image slots differs from the vision features supplied.
        public static let imageSlotMismatch = Code(rawValue: "inference.image_slot_mismatch")
        /// The sequence would exceed the context the model supports.
        public static let contextOverflow = Code(rawValue: "inference.context_overflow")
        /// The caller cancelled generation.
        public static let cancelled = Code(rawValue: "inference.cancelled")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(detail)" }

    /// The message without the code: what the description shows after `code: ` (the CLI prints
    /// `Error: <code>: <detail>`).
    public var detail: String { message }
}

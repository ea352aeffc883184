import Foundation

/// An error from loading tokenizer files.
///
/// Every error carries a stable ``code`` (the string that is stored in job records and that tests match on),
/// a ``message`` that says what is wrong and what to do about it, the ``file`` it concerns and, where one
/// exists, the ``key`` inside that file (a JSON path such as `model.merges[12]`, or a protobuf field name
/// such as `trainer_spec.model_type`).
///
/// Encoding and decoding never fail: only loading does.
public struct TokenizerError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A stable, machine-readable error code.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// No tokenizer file where one was expected.
        public static let missingFile = Code(rawValue: "tokenizer.missing_file")
        /// The file exists but could not be read.
        public static let unreadableFile = Code(rawValue: "tokenizer.unreadable_file")
        /// The file is not valid JSON (for example, truncated).
        public static let badJSON = Code(rawValue: "tokenizer.bad_json")
        /// The JSON is valid, but a key is missing, has the wrong type, or holds an inconsistent value.
        public static let invalidField = Code(rawValue: "tokenizer.invalid_field")
        /// The `tokenizer.model` file is not a readable SentencePiece protobuf (for example, truncated).
        public static let badProtobuf = Code(rawValue: "tokenizer.bad_protobuf")
        /// The tokenization model (`model.type`, or SentencePiece `model_type`) is not supported.
        public static let unsupportedModel = Code(rawValue: "tokenizer.unsupported_model")
        /// A normalizer type or setting is not supported.
        public static let unsupportedNormalizer = Code(rawValue: "tokenizer.unsupported_normalizer")
        /// A pre-tokenizer type, pattern or setting is not supported.
        public static let unsupportedPreTokenizer = Code(rawValue: "tokenizer.unsupported_pre_tokenizer")
        /// A post-processor type or template is not supported.
        public static let unsupportedPostProcessor = Code(rawValue: "tokenizer.unsupported_post_processor")
        /// A decoder type or sequence of decoders is not supported.
        public static let unsupportedDecoder = Code(rawValue: "tokenizer.unsupported_decoder")
        /// An added token uses an option that is not supported (`lstrip`, `rstrip`, `single_word`, …).
        public static let unsupportedAddedToken = Code(rawValue: "tokenizer.unsupported_added_token")
    }

    /// The stable error code.
    public var code: Code
    /// What went wrong and what to do about it.
    public var message: String
    /// The path of the file concerned, if any.
    public var file: String?
    /// The key (JSON path or protobuf field) inside ``file`` that is concerned, if any.
    public var key: String?

    /// Creates an error.
    public init(code: Code, message: String, file: String? = nil, key: String? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.key = key
    }

    public var description: String { "\(code): \(detail)" }

    /// The message without the code: what the description shows after `code: ` (the CLI prints
    /// `Error: <code>: <detail>`).
    public var detail: String {
        var text = message
        if let file {
            text += " (file: \(file)" + (key.map { ", key: \($0)" } ?? "") + ")"
        } else if let key {
            text += " (key: \(key))"
        }
        return text
    }

    /// Returns this error with ``file`` set, unless it already names one.
    func inFile(_ path: String) -> TokenizerError {
        var copy = self
        if copy.file == nil { copy.file = path }
        return copy
    }
}

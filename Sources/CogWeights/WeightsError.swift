/// Every problem found while reading a checkpoint: a safetensors file, its shard index or the
/// model's `config.json`. The `code` is stable (it is what logs and the job table store); the
/// `message` says what is wrong and what to do; `file` and `key` name the place.
public struct WeightsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A stable machine-readable error code.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A file the checkpoint needs does not exist or cannot be opened.
        public static let missingFile = Code(rawValue: "weights.missing_file")
        /// The file is shorter than its header says (copy interrupted, disk full).
        public static let truncated = Code(rawValue: "weights.truncated")
        /// The 8-byte header length points past the end of the file or is absurd.
        public static let badHeaderLength = Code(rawValue: "weights.bad_header_length")
        /// The header is not valid JSON of the safetensors shape.
        public static let malformedHeader = Code(rawValue: "weights.malformed_header")
        /// A tensor's dtype string is not one safetensors defines.
        public static let unknownDType = Code(rawValue: "weights.unknown_dtype")
        /// A tensor's data offsets are out of range, overlap another tensor, or disagree with
        /// shape × dtype.
        public static let badOffsets = Code(rawValue: "weights.bad_offsets")
        /// The shard index is malformed or names a tensor its shard does not contain.
        public static let badIndex = Code(rawValue: "weights.bad_index")
        /// A tensor the model needs is absent.
        public static let missingTensor = Code(rawValue: "weights.missing_tensor")
        /// Tensors the model does not use are present (wrong model directory or architecture).
        public static let unexpectedTensor = Code(rawValue: "weights.unexpected_tensor")
        /// A tensor has a different shape than the configuration implies.
        public static let shapeMismatch = Code(rawValue: "weights.shape_mismatch")
        /// A tensor has a dtype the model cannot use there.
        public static let dtypeMismatch = Code(rawValue: "weights.dtype_mismatch")
        /// `config.json` is missing a key, has a key of the wrong type, or an impossible value.
        public static let badConfig = Code(rawValue: "weights.bad_config")
        /// An I/O error (mmap, read) other than a missing file.
        public static let io = Code(rawValue: "weights.io")
        /// `convert` was given a checkpoint that is already block-quantized.
        public static let alreadyQuantized = Code(rawValue: "weights.already_quantized")
        /// A checkpoint writer's output directory already holds a checkpoint (and overwriting was
        /// not asked for).
        public static let outputExists = Code(rawValue: "weights.output_exists")
    }

    public let code: Code
    public let message: String
    /// The file the problem is in, when there is one.
    public let file: String?
    /// The tensor name or configuration key concerned, when there is one.
    public let key: String?

    public init(_ code: Code, _ message: String, file: String? = nil, key: String? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.key = key
    }

    public var description: String { "\(code): \(detail)" }

    /// The message without the code: what the description shows after `code: ` (the CLI prints
    /// `Error: <code>: <detail>`).
    public var detail: String {
        var parts: [String] = []
        if let file { parts.append("\(file):") }
        if let key { parts.append("'\(key)':") }
        parts.append(message)
        return parts.joined(separator: " ")
    }
}

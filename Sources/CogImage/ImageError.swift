/// Why an image could not be decoded, resized or encoded.
///
/// `code` is stable (scripts and tests match on it); `message` says what happened and what to do;
/// `file` names the image when it came from a file; `decoderMessage` is libjpeg's or libpng's own
/// text when the library reported the problem.
public struct ImageError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A stable error code, `image.<something>`.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The file or data holds zero bytes.
        public static let emptyFile = Code(rawValue: "image.empty_file")
        /// The bytes are not JPEG or PNG (detected by magic bytes, never by file name).
        public static let unknownFormat = Code(rawValue: "image.unknown_format")
        /// A recognised format or variant that is not supported (GIF, WebP, 12-bit JPEG, ...).
        public static let unsupported = Code(rawValue: "image.unsupported")
        /// The data ends before the image is complete.
        public static let truncated = Code(rawValue: "image.truncated")
        /// The decoder rejected the data (bad marker, CRC mismatch, invalid header, ...).
        public static let corrupt = Code(rawValue: "image.corrupt")
        /// The header's dimensions exceed the pixel limit (decompression-bomb guard).
        public static let tooManyPixels = Code(rawValue: "image.too_many_pixels")
        /// The file could not be read (missing, no permission, a directory, ...).
        public static let unreadable = Code(rawValue: "image.unreadable")
        /// Memory for the image could not be allocated by the codec.
        public static let outOfMemory = Code(rawValue: "image.out_of_memory")
        /// JPEG encoding failed.
        public static let encodeFailed = Code(rawValue: "image.encode_failed")
        /// A caller-supplied parameter is out of range (a size, a quality, a limit).
        public static let invalidArgument = Code(rawValue: "image.invalid_argument")
    }

    /// What kind of failure this is.
    public var code: Code
    /// What happened and what to do about it.
    public var message: String
    /// The image file concerned, when decoding from a file.
    public var file: String?
    /// libjpeg's or libpng's own message, when the library reported the failure.
    public var decoderMessage: String?
    /// The dimensions from the image header, when known (always set for `.tooManyPixels`).
    public var width: Int?
    public var height: Int?

    public init(
        _ code: Code, _ message: String, file: String? = nil, decoderMessage: String? = nil,
        width: Int? = nil, height: Int? = nil
    ) {
        self.code = code
        self.message = message
        self.file = file
        self.decoderMessage = decoderMessage
        self.width = width
        self.height = height
    }

    /// `code: file: message (decoder: ...)`.
    public var description: String { "\(code): \(detail)" }

    /// The message without the code: what the description shows after `code: ` (the CLI prints
    /// `Error: <code>: <detail>`).
    public var detail: String {
        var text = ""
        if let file { text += "\(file): " }
        text += message
        if let decoderMessage, !decoderMessage.isEmpty { text += " (decoder: \(decoderMessage))" }
        return text
    }

    /// The same error, naming `file`.
    func naming(file: String) -> ImageError {
        var copy = self
        copy.file = file
        return copy
    }
}

/// Errors of the numeric layer (missing math libraries). Stable codes, actionable messages.
public struct TensorError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
        /// OpenBLAS could not be loaded.
        public static let blasUnavailable = Code(rawValue: "tensor.blas_unavailable")
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

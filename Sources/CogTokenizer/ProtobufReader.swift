/// A minimal reader for the protobuf wire format: varints, 32/64-bit fixed values and length-delimited fields.
///
/// It reads one message's fields in order and lets the caller pick the ones it knows; unknown fields are
/// skipped. Every read is bounds-checked: truncated or malformed input throws `TokenizerError.badProtobuf`
/// naming the message being read.
// ref: https://protobuf.dev/programming-guides/encoding/ (wire types 0, 1, 2, 5)
struct ProtobufReader {
    /// One field as found on the wire.
    enum Value {
        case varint(UInt64)
        case fixed64(UInt64)
        case bytes(ArraySlice<UInt8>)
        case fixed32(UInt32)
    }

    private let data: ArraySlice<UInt8>
    private var position: Int
    /// The name of the message being read, for error messages (for example `trainer_spec`).
    let context: String

    init(_ data: ArraySlice<UInt8>, context: String) {
        self.data = data
        self.position = data.startIndex
        self.context = context
    }

    /// Reads the next field, or returns `nil` at the end of the message.
    mutating func nextField() throws(TokenizerError) -> (number: Int, value: Value)? {
        guard position < data.endIndex else { return nil }
        let tag = try readVarint()
        let number = Int(tag >> 3)
        guard number > 0 else { throw malformed("a field number of 0") }
        switch tag & 7 {
        case 0:
            return (number, .varint(try readVarint()))
        case 1:
            let bytes = try take(8, field: number)
            let value = bytes.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            return (number, .fixed64(value))
        case 2:
            let length = try readVarint()
            guard length <= UInt64(data.endIndex - position) else {
                throw truncated("field \(number) claims \(length) bytes")
            }
            return (number, .bytes(try take(Int(length), field: number)))
        case 5:
            let bytes = try take(4, field: number)
            let value = bytes.reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return (number, .fixed32(value))
        case let wireType:
            throw malformed("wire type \(wireType) in field \(number)")
        }
    }

    private mutating func readVarint() throws(TokenizerError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < data.endIndex else { throw truncated("a varint runs past the end") }
            let byte = data[position]
            position += 1
            guard shift < 64 else { throw malformed("a varint longer than 10 bytes") }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    private mutating func take(_ count: Int, field: Int) throws(TokenizerError) -> ArraySlice<UInt8> {
        guard count <= data.endIndex - position else { throw truncated("field \(field) runs past the end") }
        defer { position += count }
        return data[position..<(position + count)]
    }

    private func truncated(_ detail: String) -> TokenizerError {
        TokenizerError(
            code: .badProtobuf,
            message: "The SentencePiece model is truncated or corrupt (\(detail)); copy tokenizer.model again "
                + "from the model repository.",
            key: context)
    }

    private func malformed(_ detail: String) -> TokenizerError {
        TokenizerError(
            code: .badProtobuf,
            message: "The SentencePiece model is not a valid protobuf (\(detail)); check that the file is a "
                + "SentencePiece tokenizer.model and not, for example, a Git LFS pointer or a tiktoken file.",
            key: context)
    }
}

extension ProtobufReader.Value {
    /// The value of a `bool` / `int32` / `enum` field, or `nil` for another wire type.
    var integer: Int64? {
        if case .varint(let raw) = self { return Int64(bitPattern: raw) }
        return nil
    }

    /// The value of a `float` field, or `nil` for another wire type.
    var float: Float? {
        if case .fixed32(let raw) = self { return Float(bitPattern: raw) }
        return nil
    }

    /// The payload of a `string` / `bytes` / message field, or `nil` for another wire type.
    var bytes: ArraySlice<UInt8>? {
        if case .bytes(let payload) = self { return payload }
        return nil
    }
}

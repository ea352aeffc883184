/// The GPT-2 byte-to-character table used by byte-level BPE vocabularies (`Ġ` = space, `Ċ` = newline).
///
/// Printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for themselves; the other 68 bytes are given
/// the characters U+0100, U+0101, … in byte order, so that every token string is printable.
// ref: openai/gpt-2 src/encoder.py bytes_to_unicode; huggingface/tokenizers pre_tokenizers/byte_level.rs
enum ByteLevelAlphabet {
    /// The character that stands for each byte.  // [256] scalars
    static let characterForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let isPrintable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if isPrintable {
                table[byte] = Unicode.Scalar(UInt8(byte))
            } else {
                // Every value in 256..<324 is a valid scalar; the fallback is never taken.
                table[byte] = Unicode.Scalar(next) ?? " "
                next += 1
            }
        }
        return table
    }()

    /// The byte each table character stands for, indexed by scalar value; -1 where a scalar is not in the table.
    static let byteForCharacter: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)  // [324] byte or -1, indexed by scalar value
        for (byte, scalar) in characterForByte.enumerated() {
            table[Int(scalar.value)] = Int16(byte)
        }
        return table
    }()

    /// The bytes a token string stands for, or `nil` if a character is not in the table.
    static func bytes(of token: String) -> [UInt8]? {
        var result: [UInt8] = []
        result.reserveCapacity(token.utf8.count)
        for scalar in token.unicodeScalars {
            let value = Int(scalar.value)
            guard value < byteForCharacter.count, byteForCharacter[value] >= 0 else { return nil }
            result.append(UInt8(byteForCharacter[value]))
        }
        return result
    }

    /// The token string for raw bytes.
    static func string(of bytes: some Sequence<UInt8>) -> String {
        var text = String.UnicodeScalarView()
        for byte in bytes { text.append(characterForByte[Int(byte)]) }
        return String(text)
    }
}

/// Decodes token ids one at a time, for showing generated text as it comes.
///
/// Each ``append(_:)`` returns the text that became final with that token; ``finish()`` returns what is left.
/// The pieces joined equal ``Tokenizer/decode(_:skipSpecialTokens:)`` of all the ids, and no piece ever ends in
/// the middle of a UTF-8 character:
/// - SentencePiece byte tokens (`<0xE2>` …) are held until their run ends, because tokenizers reads a whole run
///   at once (an invalid run becomes one U+FFFD per byte, even where a prefix was valid);
/// - byte-level bytes are held while they could still be the start of a valid character.
///
/// ```swift
/// var stream = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
/// for id in generatedIDs { print(stream.append(id), terminator: "") }
/// print(stream.finish())
/// ```
public struct StreamingDetokenizer: Sendable {
    private let decoder: TokenDecoder
    private let skipSpecialTokens: Bool
    private var pending: [UInt8] = []  // [held bytes] fallback-byte run (SentencePiece) or incomplete UTF-8 tail
    private var leadingSpacesLeft: Int  // SentencePiece: spaces that may still be stripped from the very start

    /// Creates a decoder for `tokenizer`'s ids.
    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool = false) {
        decoder = tokenizer.decoder
        self.skipSpecialTokens = skipSpecialTokens
        if case .sentencePiece(let strip) = tokenizer.decoder.kind {
            leadingSpacesLeft = strip
        } else {
            leadingSpacesLeft = 0
        }
    }

    /// Adds one token id and returns the text it completes (often empty while bytes are held).
    public mutating func append(_ id: Int) -> String {
        guard decoder.includes(id, skipSpecialTokens: skipSpecialTokens) else { return "" }
        switch decoder.kind {
        case .byteLevel:
            pending.append(contentsOf: decoder.tokenBytes[id])
            let cut = Self.completePrefixLength(pending)
            defer { pending.removeFirst(cut) }
            return String(decoding: pending[..<cut], as: UTF8.self)
        case .sentencePiece:
            if decoder.fallbackByte[id] >= 0 {
                pending.append(UInt8(decoder.fallbackByte[id]))
                return ""
            }
            var output: [UInt8] = []
            TokenDecoder.appendByteRun(&pending, to: &output)
            output.append(contentsOf: decoder.tokenBytes[id])
            return emitSentencePiece(output)
        }
    }

    /// Returns the text still held back (an unfinished byte run or character) and resets the decoder's buffer.
    public mutating func finish() -> String {
        switch decoder.kind {
        case .byteLevel:
            defer { pending.removeAll() }
            return String(decoding: pending, as: UTF8.self)
        case .sentencePiece:
            var output: [UInt8] = []
            TokenDecoder.appendByteRun(&pending, to: &output)
            return emitSentencePiece(output)
        }
    }

    /// Strips the leading spaces the `Strip` decoder removes from the start of the whole text.
    private mutating func emitSentencePiece(_ bytes: [UInt8]) -> String {
        var start = 0
        while leadingSpacesLeft > 0 && start < bytes.count {
            if bytes[start] == 0x20 {
                start += 1
                leadingSpacesLeft -= 1
            } else {
                leadingSpacesLeft = 0
            }
        }
        return String(decoding: bytes[start...], as: UTF8.self)
    }

    /// The length of the longest prefix of `bytes` whose lossy UTF-8 decoding cannot change when more bytes
    /// follow: everything except a trailing, so far valid, incomplete multi-byte sequence.
    // ref: Unicode 15 §3.9 Table 3-7 (well-formed UTF-8 byte sequences)
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let count = bytes.count
        var start = count - 1
        while start >= 0 && count - start < 4 && bytes[start] & 0xC0 == 0x80 { start -= 1 }
        guard start >= 0 else { return count }
        let lead = bytes[start]
        let expected =
            lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 1
        let available = count - start
        guard expected > available else { return count }
        if available >= 2 {
            // The second byte has a narrower range after some lead bytes.
            let second = bytes[start + 1]
            let valid: ClosedRange<UInt8> =
                switch lead {
                case 0xE0: 0xA0...0xBF
                case 0xED: 0x80...0x9F
                case 0xF0: 0x90...0xBF
                case 0xF4: 0x80...0x8F
                default: 0x80...0xBF
                }
            guard valid.contains(second) else { return count }
        }
        return start
    }
}

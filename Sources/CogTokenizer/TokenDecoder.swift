/// Turns token ids back into text, the way the Hugging Face tokenizers decoders do.
///
/// Two pipelines are supported:
/// - SentencePiece (`Replace("▁", " ")`, `ByteFallback`, `Fuse`, `Strip(" ", n, 0)`): each token's text with `▁`
///   turned into a space; each run of consecutive `<0xXX>` byte tokens becomes its bytes read as UTF-8, or, if
///   the run is not valid UTF-8, one U+FFFD per byte; then up to `n` leading spaces of the result are removed.
/// - Byte-level: the bytes of all tokens concatenated and read as UTF-8 lossily (each maximal invalid
///   subsequence becomes one U+FFFD, as Rust `from_utf8_lossy` does).
///
/// Ids that have no token are skipped, as tokenizers does.
// ref: huggingface/tokenizers decoders/byte_fallback.rs, decoders/strip.rs, decoders/fuse.rs,
//      pre_tokenizers/byte_level.rs (ByteLevel decoder)
struct TokenDecoder: Sendable {
    enum Kind: Sendable, Equatable {
        case sentencePiece(stripLeadingSpaces: Int)
        case byteLevel
    }

    let kind: Kind
    /// The text bytes of each token (after `▁` → space for SentencePiece; the raw bytes for byte-level).
    let tokenBytes: [[UInt8]]  // [vocabularySize] bytes; empty for ids without a token
    /// For SentencePiece byte-fallback tokens (`<0xXX>`), the byte; -1 otherwise.
    let fallbackByte: [Int16]  // [vocabularySize] byte or -1
    /// Whether each id is a special token (left out when decoding with `skipSpecialTokens`).
    let isSpecial: [Bool]  // [vocabularySize]
    /// Whether each id has a token at all.
    let exists: [Bool]  // [vocabularySize]

    /// Whether `id` is decoded at all under `skipSpecialTokens`.
    @inline(__always)
    func includes(_ id: Int, skipSpecialTokens: Bool) -> Bool {
        id >= 0 && id < exists.count && exists[id] && !(skipSpecialTokens && isSpecial[id])
    }

    /// Decodes a whole sequence at once.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        var output: [UInt8] = []
        switch kind {
        case .byteLevel:
            for id in ids where includes(id, skipSpecialTokens: skipSpecialTokens) {
                output.append(contentsOf: tokenBytes[id])
            }
            return String(decoding: output, as: UTF8.self)
        case .sentencePiece(let stripLeadingSpaces):
            var byteRun: [UInt8] = []
            for id in ids where includes(id, skipSpecialTokens: skipSpecialTokens) {
                if fallbackByte[id] >= 0 {
                    byteRun.append(UInt8(fallbackByte[id]))
                } else {
                    Self.appendByteRun(&byteRun, to: &output)
                    output.append(contentsOf: tokenBytes[id])
                }
            }
            Self.appendByteRun(&byteRun, to: &output)
            var start = 0
            while start < min(stripLeadingSpaces, output.count) && output[start] == 0x20 { start += 1 }
            return String(decoding: output[start...], as: UTF8.self)
        }
    }

    /// Appends a run of fallback bytes: as is when it is valid UTF-8, else as one U+FFFD per byte. Empties it.
    static func appendByteRun(_ run: inout [UInt8], to output: inout [UInt8]) {
        guard !run.isEmpty else { return }
        if String(validating: run, as: UTF8.self) != nil {
            output.append(contentsOf: run)
        } else {
            for _ in run { output.append(contentsOf: [0xEF, 0xBF, 0xBD]) }  // U+FFFD
        }
        run.removeAll(keepingCapacity: true)
    }
}

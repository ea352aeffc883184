/// A `StreamingTextDecoding` built on any full decoder: after each new id it decodes the whole
/// generated sequence (special tokens skipped) and returns what was added since the last call.
/// Text ending in U+FFFD (an incomplete UTF-8 sequence from byte-fallback tokens) is held back
/// until a later id completes the character, so half a character is never emitted.
///
/// This is the approach of Hugging Face's `TextStreamer` (ref: transformers
/// `generation/streamers.py`, which re-decodes the token cache and prints the new suffix),
/// without its word-boundary buffering. Cost is O(n) per token; a tokenizer with a native
/// incremental decoder should conform to `StreamingTextDecoding` directly.
public struct DecodingStreamer<Decoder: TextDecoding>: StreamingTextDecoding {
    public let decoder: Decoder
    /// Every id appended so far.
    public private(set) var ids: [Int] = []
    /// Unicode scalars of the text already returned.
    private var emitted: [Unicode.Scalar] = []

    public init(decoder: Decoder) {
        self.decoder = decoder
    }

    public mutating func append(_ id: Int) throws -> String {
        ids.append(id)
        let text = try decoder.decode(ids, skipSpecialTokens: true)
        if text.unicodeScalars.last == "\u{FFFD}" { return "" }
        return take(text)
    }

    public mutating func finish() throws -> String {
        take(try decoder.decode(ids, skipSpecialTokens: true))
    }

    /// Returns the part of `text` after what was already emitted. Decoders are prefix-stable in
    /// practice; if one rewrites earlier text anyway, only the part after the common prefix is
    /// returned (emitted text cannot be taken back).
    private mutating func take(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var common = 0
        while common < min(scalars.count, emitted.count) && scalars[common] == emitted[common] { common += 1 }
        var delta = String.UnicodeScalarView()
        delta.append(contentsOf: scalars[common...])
        emitted = scalars
        return String(delta)
    }
}

extension DecodingStreamer: Sendable where Decoder: Sendable {}

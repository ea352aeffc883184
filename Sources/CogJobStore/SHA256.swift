/// One-shot SHA-256 of a byte string, for migration checksums and deduplication keys: a wrapper
/// over `StreamingSHA256` (tested against the FIPS 180-4 example vectors).
public enum SHA256 {
    /// The 32-byte digest of `bytes`.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = StreamingSHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The digest as 64 lower-case hex digits.
    public static func hexDigest(_ bytes: [UInt8]) -> String {
        StreamingSHA256.hex(digest(bytes))
    }

    /// The digest of the UTF-8 bytes of `text`, as hex.
    public static func hexDigest(_ text: String) -> String { hexDigest(Array(text.utf8)) }
}

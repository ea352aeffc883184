import Foundation

/// The container formats CogImage can decode, recognised by their magic bytes.
public enum ImageFormat: String, Sendable, Equatable {
    case jpeg
    case png

    /// JPEG: SOI marker followed by the start of another marker (`FF D8 FF`).
    static let jpegMagic: [UInt8] = [0xFF, 0xD8, 0xFF]
    /// PNG: the 8-byte signature.
    static let pngMagic: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Detects the format from the first bytes of `data`; the file name is never consulted.
    ///
    /// - Throws: `ImageError` `.emptyFile` for zero bytes, `.unsupported` for a recognised format
    ///   we do not decode (GIF, WebP, BMP, TIFF, HEIF/AVIF), `.unknownFormat` otherwise.
    public static func detect(_ data: Data) throws -> ImageFormat {
        if data.isEmpty {
            throw ImageError(.emptyFile, "the image is empty (0 bytes); pass a JPEG or PNG file")
        }
        let head = [UInt8](data.prefix(32))
        if head.starts(with: jpegMagic) { return .jpeg }
        if head.starts(with: pngMagic) { return .png }
        if let other = recognisedUnsupportedFormat(head) {
            throw ImageError(
                .unsupported, "\(other) images are not supported; convert the image to JPEG or PNG")
        }
        throw ImageError(
            .unknownFormat,
            "not a JPEG or PNG image (first bytes: \(hexPrefix(head))); pass a JPEG or PNG file")
    }

    /// Names formats that people commonly pass by mistake, so the error can say what it is.
    private static func recognisedUnsupportedFormat(_ head: [UInt8]) -> String? {
        func matches(_ bytes: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + bytes.count && Array(head[offset..<offset + bytes.count]) == bytes
        }
        if matches(Array("GIF8".utf8)) { return "GIF" }
        if matches(Array("RIFF".utf8)) && matches(Array("WEBP".utf8), at: 8) { return "WebP" }
        // BMP: "BM", then the DIB header size (a few known values) at byte 14.
        if matches(Array("BM".utf8)) && head.count >= 18 && [12, 40, 52, 56, 108, 124].contains(Int(head[14]))
            && head[15] == 0 && head[16] == 0 && head[17] == 0
        {
            return "BMP"
        }
        if matches([0x49, 0x49, 0x2A, 0x00]) || matches([0x4D, 0x4D, 0x00, 0x2A]) { return "TIFF" }
        if matches(Array("ftyp".utf8), at: 4) { return "HEIF/AVIF" }
        if matches([0xFF, 0x4F, 0xFF, 0x51]) || matches([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50]) {
            return "JPEG 2000"
        }
        return nil
    }

    private static func hexPrefix(_ bytes: [UInt8]) -> String {
        bytes.prefix(8).map { String(format: "%02x", $0) }.joined(separator: " ")
    }
}

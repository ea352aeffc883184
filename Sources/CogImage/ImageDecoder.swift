import Foundation

/// The size and format of an image, read from its header without decoding pixels.
public struct ImageHeader: Sendable, Equatable {
    public let format: ImageFormat
    public let width: Int
    public let height: Int
}

/// Decodes JPEG and PNG files into `RGBImage`s with the pixels Pillow's
/// `Image.open(f).convert("RGB")` gives.
///
/// The format is detected from magic bytes, never from the file name. Before any pixel is
/// decoded the header's dimensions are checked against `maxPixels` (decompression-bomb guard), so
/// a small file claiming a huge image is rejected without allocating it.
///
/// Decoding is synchronous, CPU-bound work: call it from a dedicated thread or a blocking-work
/// pool, not from the Swift cooperative thread pool.
public enum ImageDecoder {
    /// 50 megapixels: an 8660x5773 image, larger than any camera photo people usually send.
    public static let defaultMaxPixels = 50_000_000

    /// Decodes an in-memory JPEG or PNG.
    /// - Parameter maxPixels: the largest `width * height` accepted (must be > 0).
    /// - Throws: `ImageError` (`.emptyFile`, `.unknownFormat`, `.unsupported`, `.truncated`,
    ///   `.corrupt`, `.tooManyPixels`, `.outOfMemory`, `.invalidArgument`).
    public static func decode(data: Data, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        guard maxPixels > 0 else {
            throw ImageError(.invalidArgument, "the pixel limit must be positive, got \(maxPixels)")
        }
        let format = try ImageFormat.detect(data)
        if format == .png, let (width, height) = pngDimensions(data) {
            // The size is known from the first 24 bytes: refuse a bomb before libpng reads anything
            // else (a file that claims 30000 × 30000 is rejected even if the rest is missing).
            try checkPixelLimit(width: width, height: height, maxPixels: maxPixels)
        }
        return try data.withUnsafeBytes { bytes in
            switch format {
            case .jpeg: return try JPEGDecoder.decode(bytes, maxPixels: maxPixels)
            case .png: return try PNGDecoder.decode(bytes, maxPixels: maxPixels)
            }
        }
    }

    /// Reads and decodes an image file. Every error names the file.
    /// - Throws: `ImageError`, as `decode(data:maxPixels:)`, plus `.unreadable` when the file
    ///   cannot be read.
    public static func decode(contentsOf url: URL, maxPixels: Int = defaultMaxPixels) throws -> RGBImage {
        let data = try readFile(url)
        do {
            return try decode(data: data, maxPixels: maxPixels)
        } catch let error as ImageError {
            throw error.naming(file: url.path)
        }
    }

    /// Format and dimensions from the header alone (no pixel data is decoded).
    /// - Throws: `ImageError` for empty, unknown, truncated or corrupt headers.
    public static func header(of data: Data) throws -> ImageHeader {
        let format = try ImageFormat.detect(data)
        return try data.withUnsafeBytes { bytes in
            switch format {
            case .jpeg:
                let info = try JPEGDecoder.readInfo(bytes)
                return ImageHeader(format: .jpeg, width: Int(info.width), height: Int(info.height))
            case .png:
                let info = try PNGDecoder.readInfo(bytes)
                return ImageHeader(format: .png, width: Int(info.width), height: Int(info.height))
            }
        }
    }

    /// Format and dimensions of an image file from its header. Every error names the file.
    public static func header(contentsOf url: URL) throws -> ImageHeader {
        let data = try readFile(url)
        do {
            return try header(of: data)
        } catch let error as ImageError {
            throw error.naming(file: url.path)
        }
    }

    /// Width and height from a PNG's IHDR chunk, which the format requires to come first
    /// (signature 8 bytes, length 4, "IHDR" 4, then big-endian width and height). ref: PNG spec §11.2.2.
    static func pngDimensions(_ data: Data) -> (Int, Int)? {
        guard data.count >= 24 else { return nil }
        let bytes = [UInt8](data.prefix(24))
        guard bytes[12...15] == [0x49, 0x48, 0x44, 0x52] else { return nil }
        func be32(_ i: Int) -> Int { Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3]) }
        return (be32(16), be32(20))
    }

    /// Throws `.tooManyPixels` when `width * height` exceeds `maxPixels`.
    static func checkPixelLimit(width: Int, height: Int, maxPixels: Int) throws {
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        if overflow || pixels > maxPixels {
            throw ImageError(
                .tooManyPixels,
                "the image header says \(width)x\(height) = \(overflow ? "more than " + pixelCount(Int.max) : pixelCount(pixels)), "
                    + "more than the limit of \(pixelCount(maxPixels)); downscale the image or raise the limit",
                width: width, height: height)
        }
    }

    /// `5,917 pixels`, or `900,000,000 pixels (900.0 megapixels)` from a million on: exact, so a
    /// small limit never reads as "0.0 megapixels".
    static func pixelCount(_ pixels: Int) -> String {
        var digits = String(pixels.magnitude)
        var grouped = ""
        while digits.count > 3 {
            grouped = "," + digits.suffix(3) + grouped
            digits.removeLast(3)
        }
        let text = (pixels < 0 ? "-" : "") + digits + grouped + " pixels"
        return pixels >= 1_000_000 ? text + String(format: " (%.1f megapixels)", Double(pixels) / 1_000_000) : text
    }

    private static func readFile(_ url: URL) throws -> Data {
        // A folder or a pipe named by mistake: say so (reading a FIFO would also block).
        var status = stat()
        if stat(url.path, &status) == 0 {
            switch status.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFDIR:
                throw ImageError(.unreadable, "this is a folder, not an image file; pass the image files in it",
                                 file: url.path)
            default:
                throw ImageError(.unreadable, "not a regular file (a pipe, socket or device); pass an image file",
                                 file: url.path)
            }
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw ImageError(
                .unreadable,
                "cannot read the image file (\(error.localizedDescription)); check the path and permissions",
                file: url.path)
        }
    }
}

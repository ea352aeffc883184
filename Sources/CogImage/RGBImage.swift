/// An 8-bit RGB image held in memory.
///
/// `pixels` is `[height, width, 3]` row-major, channels interleaved R, G, B — the layout of
/// `numpy.asarray(pil_image.convert("RGB"))`.
public struct RGBImage: Sendable, Equatable {
    /// Width in pixels (> 0).
    public let width: Int
    /// Height in pixels (> 0).
    public let height: Int
    /// Samples, `[height, width, 3]` u8 row-major.
    public let pixels: [UInt8]

    /// Wraps existing samples. `pixels.count` must be `width * height * 3` with both sides > 0:
    /// a mismatch is a programming error in the caller, not a property of some input file.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width > 0 && height > 0, "RGBImage needs a positive size, got \(width)x\(height)")
        precondition(
            pixels.count == width * height * 3,
            "RGBImage \(width)x\(height) needs \(width * height * 3) samples, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// The colour at column `x`, row `y` (both zero-based, inside the image).
    public func pixel(x: Int, y: Int) -> (red: UInt8, green: UInt8, blue: UInt8) {
        precondition(x >= 0 && x < width && y >= 0 && y < height, "pixel (\(x), \(y)) is outside the image")
        let offset = (y * width + x) * 3
        return (pixels[offset], pixels[offset + 1], pixels[offset + 2])
    }
}

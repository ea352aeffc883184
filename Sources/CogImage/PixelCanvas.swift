/// A mutable copy of an `RGBImage`'s pixels with clipped rectangle filling, used for drawing.
struct PixelCanvas {
    let width: Int
    let height: Int
    /// `[height, width, 3]` u8
    private(set) var pixels: [UInt8]

    /// An RGB colour.
    struct Color: Equatable, Sendable {
        var red: UInt8
        var green: UInt8
        var blue: UInt8
    }

    init(_ image: RGBImage) {
        width = image.width
        height = image.height
        pixels = image.pixels
    }

    var image: RGBImage { RGBImage(width: width, height: height, pixels: pixels) }

    /// Fills columns `x0..<x1` of rows `y0..<y1`, clipped to the image (empty or outside: no-op).
    mutating func fill(x0: Int, y0: Int, x1: Int, y1: Int, color: Color) {
        let left = max(x0, 0)
        let right = min(x1, width)
        let top = max(y0, 0)
        let bottom = min(y1, height)
        guard left < right, top < bottom else { return }
        for y in top..<bottom {
            var offset = (y * width + left) * 3
            for _ in left..<right {
                pixels[offset] = color.red
                pixels[offset + 1] = color.green
                pixels[offset + 2] = color.blue
                offset += 3
            }
        }
    }
}

import CImageCodecs

/// Decodes PNG through libpng (CImageCodecs) and converts to RGB the way Pillow does.
enum PNGDecoder {
    /// PNG colour types (IHDR).
    private static let gray: Int32 = 0
    private static let rgb: Int32 = 2
    private static let palette: Int32 = 3
    private static let grayAlpha: Int32 = 4
    private static let rgba: Int32 = 6

    /// Parses the signature and the chunks before the first IDAT; nothing image-sized allocated.
    static func readInfo(_ bytes: UnsafeRawBufferPointer) throws -> cic_png_info {
        var info = cic_png_info()
        let (status, message) = CodecCall.withMessageBuffer { buffer, capacity in
            cic_png_read_info(
                bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &info, buffer, capacity)
        }
        guard status == CIC_OK else {
            throw CodecCall.error(status: status, message: message, format: "PNG")
        }
        return info
    }

    /// Header check against `maxPixels`, then a full decode and Pillow's conversion to RGB for
    /// the PNG's colour type and bit depth (see `PillowRGBConversion`).
    /// ref: Pillow src/PIL/PngImagePlugin.py _MODES (mode and rawmode per bit depth / colour type)
    static func decode(_ bytes: UnsafeRawBufferPointer, maxPixels: Int) throws -> RGBImage {
        let header = try readInfo(bytes)
        let width = Int(header.width)
        let height = Int(header.height)
        try ImageDecoder.checkPixelLimit(width: width, height: height, maxPixels: maxPixels)
        let byteCount = Int(header.row_bytes) * height
        var info = header
        // [height, width, channels] u8, or u16 big-endian when output_bit_depth == 16
        let samples = try CodecCall.decodeSamples(byteCount: byteCount, format: "PNG") { buffer, messageBuffer, capacity in
            cic_png_decode(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, buffer, byteCount, &info,
                 messageBuffer, capacity)
        }
        let rgbPixels = try samples.withUnsafeBufferPointer { raw in
            try convertToRGB(raw, info: info, pixelCount: width * height)
        }
        return RGBImage(width: width, height: height, pixels: rgbPixels)
    }

    private static func convertToRGB(
        _ raw: UnsafeBufferPointer<UInt8>, info: cic_png_info, pixelCount: Int
    ) throws -> [UInt8] {
        let sixteenBit = info.output_bit_depth == 16
        switch info.color_type {
        case gray:
            return sixteenBit
                ? PillowRGBConversion.fromGray16BigEndian(raw, pixelCount: pixelCount)
                : PillowRGBConversion.fromGray8(raw, pixelCount: pixelCount)
        case rgb:
            return sixteenBit
                ? PillowRGBConversion.fromRGB16BigEndian(raw, pixelCount: pixelCount)
                : PillowRGBConversion.fromRGB8(raw, pixelCount: pixelCount)
        case palette:
            var table = info.palette
            let entries = [UInt8](withUnsafeBytes(of: &table) { $0.bindMemory(to: UInt8.self) })
            return PillowRGBConversion.fromPalette(
                raw, pixelCount: pixelCount, palette: entries, paletteEntries: Int(info.palette_entries))
        case grayAlpha:
            return sixteenBit
                ? PillowRGBConversion.fromGrayAlpha16BigEndian(raw, pixelCount: pixelCount)
                : PillowRGBConversion.fromGrayAlpha8(raw, pixelCount: pixelCount)
        case rgba:
            return sixteenBit
                ? PillowRGBConversion.fromRGBA16BigEndian(raw, pixelCount: pixelCount)
                : PillowRGBConversion.fromRGBA8(raw, pixelCount: pixelCount)
        default:
            // libpng rejects other colour types in IHDR, so this means a libpng we do not know.
            throw ImageError(
                .unsupported, "PNG colour type \(info.color_type) is not supported; convert the image to RGB")
        }
    }
}

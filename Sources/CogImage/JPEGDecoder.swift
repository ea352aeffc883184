import CImageCodecs

/// Decodes JPEG through libjpeg (CImageCodecs) and converts to RGB the way Pillow does.
enum JPEGDecoder {
    /// Parses the header only: size and colour layout, nothing image-sized allocated.
    static func readInfo(_ bytes: UnsafeRawBufferPointer) throws -> cic_jpeg_info {
        var info = cic_jpeg_info()
        let (status, message) = CodecCall.withMessageBuffer { buffer, capacity in
            cic_jpeg_read_info(
                bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, &info, buffer, capacity)
        }
        guard status == CIC_OK else {
            throw CodecCall.error(status: status, message: message, format: "JPEG")
        }
        return info
    }

    /// Header check against `maxPixels`, then a full decode and Pillow's conversion to RGB:
    /// gray is replicated (mode L), 3 channels are already RGB, 4 channels are Adobe-inverted
    /// CMYK (libjpeg has already turned YCCK into CMYK).
    /// ref: Pillow src/PIL/JpegImagePlugin.py (L / RGB / CMYK modes, rawmode "CMYK;I")
    static func decode(_ bytes: UnsafeRawBufferPointer, maxPixels: Int) throws -> RGBImage {
        let header = try readInfo(bytes)
        let width = Int(header.width)
        let height = Int(header.height)
        try ImageDecoder.checkPixelLimit(width: width, height: height, maxPixels: maxPixels)
        let byteCount = Int(header.row_bytes) * height
        var info = header
        // [height, width, channels] u8 as libjpeg delivers it
        let samples = try CodecCall.decodeSamples(byteCount: byteCount, format: "JPEG") { buffer, messageBuffer, capacity in
            cic_jpeg_decode(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, buffer, byteCount, &info,
                 messageBuffer, capacity)
        }
        let pixelCount = width * height
        let rgb: [UInt8] = samples.withUnsafeBufferPointer { raw in
            switch info.channels {
            case 1: return PillowRGBConversion.fromGray8(raw, pixelCount: pixelCount)
            case 3: return PillowRGBConversion.fromRGB8(raw, pixelCount: pixelCount)
            default: return PillowRGBConversion.fromInvertedCMYK(raw, pixelCount: pixelCount)
            }
        }
        return RGBImage(width: width, height: height, pixels: rgb)
    }
}

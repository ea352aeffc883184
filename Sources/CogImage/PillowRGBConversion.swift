/// Pillow's `Image.convert("RGB")`, reproduced for every pixel layout our decoders produce.
///
/// Each function takes the decoder's samples for `pixelCount` pixels and returns
/// `[pixelCount, 3]` u8 RGB. Pillow first unpacks a file's raw samples into one of its modes
/// (the PNG / JPEG plugin picks the mode and "rawmode"), then converts that mode to RGB; both
/// steps are folded together here, with a reference to each Pillow function involved.
/// Pillow never composites alpha on `convert("RGB")`: alpha is simply dropped.
enum PillowRGBConversion {
    /// L → RGB: the gray value replicated. Also 1-bit ("1") and 2/4-bit gray after libpng's
    /// expansion to 0...255, which equals Pillow's unpackers.
    /// ref: Pillow src/libImaging/Convert.c l2rgb; Unpack.c unpackL2 / unpackL4
    static func fromGray8(_ samples: UnsafeBufferPointer<UInt8>, pixelCount: Int) -> [UInt8] {
        convert(pixelCount) { i, out in
            let v = samples[i]
            out[0] = v
            out[1] = v
            out[2] = v
        }
    }

    /// 16-bit gray PNG. Pillow opens it as mode "I;16" (rawmode "I;16B", byte-swapped to
    /// little-endian), and I;16 → RGB does not scale: values below 256 pass through, anything
    /// larger saturates to 255 (`in[1] == 0 ? in[0] : 255`).
    /// ref: Pillow src/PIL/PngImagePlugin.py _MODES (16, 0); src/libImaging/Convert.c I16_RGB
    static func fromGray16BigEndian(_ samples: UnsafeBufferPointer<UInt8>, pixelCount: Int) -> [UInt8] {
        convert(pixelCount) { i, out in
            let high = samples[2 * i]
            let low = samples[2 * i + 1]
            let v: UInt8 = high == 0 ? low : 255
            out[0] = v
            out[1] = v
            out[2] = v
        }
    }

    /// LA → RGB: gray replicated, alpha dropped. ref: Pillow src/libImaging/Convert.c la2rgb
    static func fromGrayAlpha8(_ samples: UnsafeBufferPointer<UInt8>, pixelCount: Int) -> [UInt8] {
        convert(pixelCount) { i, out in
            let v = samples[2 * i]
            out[0] = v
            out[1] = v
            out[2] = v
        }
    }

    /// 16-bit gray+alpha PNG. Pillow opens it as RGBA with rawmode "LA;16B", keeping the most
    /// significant byte of each sample; RGBA → RGB then drops alpha.
    /// ref: Pillow src/PIL/PngImagePlugin.py _MODES (16, 4); Unpack.c unpackRGBALA16B; Convert.c rgba2rgb
    static func fromGrayAlpha16BigEndian(_ samples: UnsafeBufferPointer<UInt8>, pixelCount: Int) -> [UInt8] {
        convert(pixelCount) { i, out in
            let v = samples[4 * i]
            out[0] = v
            out[1] = v
            out[2] = v
        }
    }

    /// 8-bit RGB: unchanged.
    static func fromRGB8(_ samples: UnsafeBufferPointer<UInt8>, pixelCount: Int) -> [UInt8] {
        Array(samples.prefix(pixelCount * 3))
    }

    /// 16-bit RGB PNG: rawmode "RGB;16B" keeps the most significant byte of each sample.
    /// ref: Pillow src/libImaging/Unpack.c unpackRGB16B
    static func fromRGB16BigEndian(_ samples: UnsafeBufferPointer<UInt8>, pixelCount: Int) -> [UInt8] {
        convert(pixelCount) { i, out in
            out[0] = samples[6 * i]
            out[1] = samples[6 * i + 2]
            out[2] = samples[6 * i + 4]
        }
    }

    /// RGBA → RGB: alpha dropped, no compositing. ref: Pillow src/libImaging/Convert.c rgba2rgb
    static func fromRGBA8(_ samples: UnsafeBufferPointer<UInt8>, pixelCount: Int) -> [UInt8] {
        convert(pixelCount) { i, out in
            out[0] = samples[4 * i]
            out[1] = samples[4 * i + 1]
            out[2] = samples[4 * i + 2]
        }
    }

    /// 16-bit RGBA PNG: rawmode "RGBA;16B" keeps the most significant bytes; alpha dropped.
    /// ref: Pillow src/libImaging/Unpack.c unpackRGBA16B; Convert.c rgba2rgb
    static func fromRGBA16BigEndian(_ samples: UnsafeBufferPointer<UInt8>, pixelCount: Int) -> [UInt8] {
        convert(pixelCount) { i, out in
            out[0] = samples[8 * i]
            out[1] = samples[8 * i + 2]
            out[2] = samples[8 * i + 4]
        }
    }

    /// P → RGB: palette lookup; tRNS alpha is ignored. Indices past the end of a short palette
    /// read Pillow's unset entries, which are black.
    /// ref: Pillow src/libImaging/Convert.c p2rgb; Palette.c ImagingPaletteNew (entries start at 0)
    static func fromPalette(
        _ indices: UnsafeBufferPointer<UInt8>, pixelCount: Int, palette: [UInt8], paletteEntries: Int
    ) -> [UInt8] {
        // [256, 3] u8: the file's entries, then black
        var table = [UInt8](repeating: 0, count: 256 * 3)
        let usable = min(max(paletteEntries, 0), 256, palette.count / 3)
        for i in 0..<(usable * 3) { table[i] = palette[i] }
        return table.withUnsafeBufferPointer { lookup in
            convert(pixelCount) { i, out in
                let entry = Int(indices[i]) * 3
                out[0] = lookup[entry]
                out[1] = lookup[entry + 1]
                out[2] = lookup[entry + 2]
            }
        }
    }

    /// 4-channel JPEG (CMYK or YCCK, which libjpeg turns into CMYK). Pillow always assumes the
    /// Adobe convention — stored values are inverted — whether or not an Adobe marker is present
    /// (rawmode "CMYK;I" inverts every byte), then converts with
    /// `r = clip8(nk - muldiv255(c, nk))`, `nk = 255 - k`, where
    /// `muldiv255(a, b) = (t + (t >> 8)) >> 8` with `t = a * b + 128`.
    /// ref: Pillow src/PIL/JpegImagePlugin.py ("CMYK;I  # assume adobe conventions");
    /// src/libImaging/Unpack.c unpackCMYKI; Convert.c cmyk2rgb; ImagingUtils.h MULDIV255
    static func fromInvertedCMYK(_ samples: UnsafeBufferPointer<UInt8>, pixelCount: Int) -> [UInt8] {
        convert(pixelCount) { i, out in
            let cyan = 255 - Int(samples[4 * i])
            let magenta = 255 - Int(samples[4 * i + 1])
            let yellow = 255 - Int(samples[4 * i + 2])
            let inverseBlack = Int(samples[4 * i + 3])  // nk = 255 - (255 - stored k)
            out[0] = clip8(inverseBlack - mulDiv255(cyan, inverseBlack))
            out[1] = clip8(inverseBlack - mulDiv255(magenta, inverseBlack))
            out[2] = clip8(inverseBlack - mulDiv255(yellow, inverseBlack))
        }
    }

    /// ref: Pillow src/libImaging/ImagingUtils.h MULDIV255 / SHIFTFORDIV255
    @inline(__always)
    static func mulDiv255(_ a: Int, _ b: Int) -> Int {
        let t = a * b + 128
        return ((t >> 8) + t) >> 8
    }

    /// ref: Pillow src/libImaging/ImagingUtils.h CLIP8
    @inline(__always)
    static func clip8(_ v: Int) -> UInt8 {
        v <= 0 ? 0 : (v < 256 ? UInt8(v) : 255)
    }

    /// Runs `body(pixelIndex, outputTriple)` for each pixel into a new `[pixelCount, 3]` array.
    @inline(__always)
    private static func convert(
        _ pixelCount: Int, _ body: (Int, UnsafeMutablePointer<UInt8>) -> Void
    ) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: pixelCount * 3) { buffer, initialized in
            guard let base = buffer.baseAddress else {
                initialized = 0
                return
            }
            for i in 0..<pixelCount {
                body(i, base + 3 * i)
            }
            initialized = pixelCount * 3
        }
    }
}

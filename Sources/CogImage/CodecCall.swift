import CImageCodecs

/// Glue for calling CImageCodecs: a message buffer for the library's text, and the mapping from
/// `cic_status` to `ImageError`.
enum CodecCall {
    /// Runs `body` with a zeroed message buffer of `CIC_MESSAGE_CAPACITY` bytes and returns the
    /// status together with the NUL-terminated message the codec left there.
    static func withMessageBuffer(
        _ body: (UnsafeMutablePointer<CChar>, Int) -> cic_status
    ) -> (status: cic_status, message: String) {
        let capacity = Int(CIC_MESSAGE_CAPACITY)
        var buffer = [CChar](repeating: 0, count: capacity)
        let status = buffer.withUnsafeMutableBufferPointer { pointer -> cic_status in
            // The buffer is never empty, so the base address exists.
            body(pointer.baseAddress!, capacity)
        }
        buffer[capacity - 1] = 0
        let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return (status, message)
    }

    /// Runs a codec's decode call into a fresh buffer of `byteCount` bytes and returns the samples
    /// it wrote; a failure becomes the `format` image's `ImageError`. `decode` gets the output
    /// buffer and the message buffer with its capacity.
    static func decodeSamples(
        byteCount: Int, format: String,
        _ decode: (UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<CChar>, Int) -> cic_status
    ) throws -> [UInt8] {
        var failure: (status: cic_status, message: String)?
        let samples = [UInt8](unsafeUninitializedCapacity: byteCount) { buffer, initialized in
            let (status, message) = withMessageBuffer { messageBuffer, capacity in
                decode(buffer.baseAddress, messageBuffer, capacity)
            }
            if status == CIC_OK {
                initialized = byteCount
            } else {
                initialized = 0
                failure = (status, message)
            }
        }
        if let failure { throw error(status: failure.status, message: failure.message, format: format) }
        return samples
    }

    /// The `ImageError` for a failed codec call on a `format` image.
    static func error(status: cic_status, message: String, format: String) -> ImageError {
        switch status {
        case CIC_TRUNCATED:
            return ImageError(
                .truncated,
                "the \(format) data ends before the image is complete (the file is truncated); "
                    + "copy or download it again", decoderMessage: message)
        case CIC_UNSUPPORTED:
            return ImageError(
                .unsupported,
                "this \(format) variant is not supported; convert the image to an 8-bit JPEG or PNG",
                decoderMessage: message)
        case CIC_OUT_OF_MEMORY:
            return ImageError(
                .outOfMemory, "not enough memory to decode the \(format) image; try a smaller image",
                decoderMessage: message)
        default:
            // CIC_CORRUPT, and CIC_BAD_ARGUMENT (the header changed between the two passes over
            // the same bytes, which only damaged data can cause).
            return ImageError(
                .corrupt, "the \(format) data is damaged and cannot be decoded; re-export the image",
                decoderMessage: message)
        }
    }
}

import CImageCodecs
import Foundation

extension RGBImage {
    /// This image as a baseline JFIF JPEG (libjpeg, YCbCr without chroma subsampling, so thin
    /// coloured lines such as drawn boxes stay sharp).
    /// - Parameter quality: 1 (smallest) ... 100 (best); 90 by default.
    /// - Throws: `ImageError` `.invalidArgument` for a quality outside 1...100, `.encodeFailed` or
    ///   `.outOfMemory` when libjpeg fails.
    public func encodeJPEG(quality: Int = 90) throws -> Data {
        guard (1...100).contains(quality) else {
            throw ImageError(.invalidArgument, "JPEG quality must be between 1 and 100, got \(quality)")
        }
        guard width <= 65_500, height <= 65_500 else {
            throw ImageError(
                .invalidArgument, "JPEG cannot hold \(width)x\(height) pixels (at most 65500 per side); resize first",
                width: width, height: height)
        }
        var output: UnsafeMutablePointer<UInt8>?
        var outputSize = 0
        let (status, message) = pixels.withUnsafeBufferPointer { samples in
            CodecCall.withMessageBuffer { buffer, capacity in
                cic_jpeg_encode_rgb(
                    samples.baseAddress, UInt32(width), UInt32(height), Int32(quality), &output, &outputSize,
                    buffer, capacity)
            }
        }
        defer { cic_free(output) }
        guard status == CIC_OK, let output else {
            if status == CIC_OUT_OF_MEMORY {
                throw ImageError(.outOfMemory, "not enough memory to encode the JPEG", decoderMessage: message)
            }
            throw ImageError(.encodeFailed, "libjpeg could not encode the image", decoderMessage: message)
        }
        return Data(bytes: output, count: outputSize)
    }
}

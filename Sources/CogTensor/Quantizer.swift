import CKernels

/// Block quantization of f32 rows into the CKernels q8 / q4 layouts (see `ckernels.h`), used by
/// `cogjobs convert`.
public enum Quantizer {
    /// Failure to quantize a block (NaN or infinity in the weights, or a bad length).
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let status: Int32
        public var description: String {
            status == CK_ERR_NONFINITE ? "the weights contain NaN or infinity" : "length is not a multiple of 32 (status \(status))"
        }
    }

    /// `src [n] f32` → `quants [n] i8`, `scales [n/32] fp16`.
    public static func q8(_ src: UnsafePointer<Float>, count n: Int, quants: UnsafeMutablePointer<Int8>,
                          scales: UnsafeMutablePointer<UInt16>) throws {
        let status = ck_quantize_q8(src, quants, scales, n)
        if status != CK_OK { throw Failure(status: status) }
    }

    /// `src [n] f32` → `quants [n/2]` packed nibbles, `scales [n/32] fp16`.
    public static func q4(_ src: UnsafePointer<Float>, count n: Int, quants: UnsafeMutablePointer<UInt8>,
                          scales: UnsafeMutablePointer<UInt16>) throws {
        let status = ck_quantize_q4(src, quants, scales, n)
        if status != CK_OK { throw Failure(status: status) }
    }
}

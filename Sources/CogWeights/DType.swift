/// Element types a safetensors file can declare, named as in the safetensors header.
///
/// ref: safetensors `Dtype` (safetensors/src/tensor.rs). Quantized formats are stored as plain
/// integer tensors plus scale tensors and described in `__metadata__`, so they need no new dtype.
public enum DType: String, Sendable, CaseIterable, Codable {
    case bool = "BOOL"
    case u8 = "U8"
    case i8 = "I8"
    case u16 = "U16"
    case i16 = "I16"
    case f16 = "F16"
    case bf16 = "BF16"
    case u32 = "U32"
    case i32 = "I32"
    case f32 = "F32"
    case u64 = "U64"
    case i64 = "I64"
    case f64 = "F64"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .bool, .u8, .i8: return 1
        case .u16, .i16, .f16, .bf16: return 2
        case .u32, .i32, .f32: return 4
        case .u64, .i64, .f64: return 8
        }
    }

    /// True for the floating-point types a weight matrix can be stored in.
    public var isFloat: Bool { self == .f16 || self == .bf16 || self == .f32 || self == .f64 }
}

/// A zero-copy view of one tensor inside a memory-mapped safetensors file: its name, dtype, shape
/// and raw little-endian bytes. Immutable and `Sendable`; keeps its file mapped.
public struct TensorView: Sendable {
    public let name: String
    public let dtype: DType
    public let shape: [Int]
    /// The file the bytes live in (kept alive by this reference).
    public let file: MappedFile
    /// Byte offset of the first element inside `file`.
    public let offset: Int
    /// Number of bytes (= element count × dtype size, checked at load).
    public let byteCount: Int

    public init(name: String, dtype: DType, shape: [Int], file: MappedFile, offset: Int, byteCount: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.file = file
        self.offset = offset
        self.byteCount = byteCount
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// Pointer to the first byte. Valid while `file` is alive (i.e. while this view is).
    public var rawPointer: UnsafeRawPointer {
        // A zero-sized tensor in an otherwise empty mapping has no base; hand out a dangling but
        // never-dereferenced pointer so callers need no special case.
        guard let base = file.base else { return UnsafeRawPointer(bitPattern: 0x10)! }  // allowed: constant non-null
        return base + offset
    }

    /// Elements as `UInt16` (BF16 / F16 bit patterns).
    public var uint16Pointer: UnsafePointer<UInt16> { rawPointer.assumingMemoryBound(to: UInt16.self) }
    /// Elements as `Float` (F32 tensors).
    public var floatPointer: UnsafePointer<Float> { rawPointer.assumingMemoryBound(to: Float.self) }

    /// Converts the whole tensor to `[Float]` (for small tensors: norms, biases, embeddings rows).
    /// Integer tensors convert by value.
    public func toFloatArray() -> [Float] {
        let n = count
        return [Float](unsafeUninitializedCapacity: n) { buf, done in
            if let dst = buf.baseAddress, n > 0 { convertToFloat(into: dst, elements: 0..<n) }
            done = n
        }
    }

    /// Converts elements `range` (flat indices) to f32 into `dst`.
    public func convertToFloat(into dst: UnsafeMutablePointer<Float>, elements range: Range<Int>) {
        let raw = rawPointer
        switch dtype {
        case .f32:
            let src = raw.assumingMemoryBound(to: Float.self) + range.lowerBound
            dst.update(from: src, count: range.count)
        case .bf16:
            bf16ToFloat(raw.assumingMemoryBound(to: UInt16.self) + range.lowerBound, dst, range.count)
        case .f16:
            let src = raw.assumingMemoryBound(to: UInt16.self) + range.lowerBound
            for i in 0..<range.count { dst[i] = Float(Float16(bitPattern: src[i])) }
        case .f64:
            let src = raw.assumingMemoryBound(to: Double.self) + range.lowerBound
            for i in 0..<range.count { dst[i] = Float(src[i]) }
        case .bool, .u8:
            let src = raw.assumingMemoryBound(to: UInt8.self) + range.lowerBound
            for i in 0..<range.count { dst[i] = Float(src[i]) }
        case .i8:
            let src = raw.assumingMemoryBound(to: Int8.self) + range.lowerBound
            for i in 0..<range.count { dst[i] = Float(src[i]) }
        case .u16:
            let src = raw.assumingMemoryBound(to: UInt16.self) + range.lowerBound
            for i in 0..<range.count { dst[i] = Float(src[i]) }
        case .i16:
            let src = raw.assumingMemoryBound(to: Int16.self) + range.lowerBound
            for i in 0..<range.count { dst[i] = Float(src[i]) }
        case .u32:
            let src = raw.assumingMemoryBound(to: UInt32.self) + range.lowerBound
            for i in 0..<range.count { dst[i] = Float(src[i]) }
        case .i32:
            let src = raw.assumingMemoryBound(to: Int32.self) + range.lowerBound
            for i in 0..<range.count { dst[i] = Float(src[i]) }
        case .u64:
            let src = raw.assumingMemoryBound(to: UInt64.self) + range.lowerBound
            for i in 0..<range.count { dst[i] = Float(src[i]) }
        case .i64:
            let src = raw.assumingMemoryBound(to: Int64.self) + range.lowerBound
            for i in 0..<range.count { dst[i] = Float(src[i]) }
        }
    }

    /// Integer tensors (I64, I32, …) as `[Int]`; floats are truncated.
    public func toIntArray() -> [Int] {
        let raw = rawPointer
        let n = count
        switch dtype {
        case .i64: return (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 8, as: Int64.self)) }
        case .i32: return (0..<n).map { Int(raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self)) }
        case .u8, .bool: return (0..<n).map { Int(raw.load(fromByteOffset: $0, as: UInt8.self)) }
        default: return toFloatArray().map { Int($0) }
        }
    }
}

/// bf16 → f32: the 16 stored bits become the high half of the f32 bit pattern (exact).
@inline(__always)
public func bf16ToFloat(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { dst[i] = Float(bitPattern: UInt32(src[i]) << 16) }
}

/// f32 → bf16 with round-to-nearest-even (NaN kept quiet), as PyTorch's `.to(torch.bfloat16)`.
@inline(__always)
public func floatToBF16(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if x.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x40) }
    let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
}

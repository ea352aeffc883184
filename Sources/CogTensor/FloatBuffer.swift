/// A heap block of f32 owned by one thread: activation scratch for a forward pass. Cheaper and
/// less nested than `[Float]` with `withUnsafeMutableBufferPointer` at every use.
/// Deliberately not `Sendable`: a buffer belongs to the session (thread) that made it.
public final class FloatBuffer {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    /// A zero-filled buffer of `count` floats.
    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// A buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit { pointer.deallocate() }

    /// A copy as an array.
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// The contents as a buffer pointer (valid while `self` lives).
    public var bufferPointer: UnsafeBufferPointer<Float> { UnsafeBufferPointer(start: pointer, count: count) }
}

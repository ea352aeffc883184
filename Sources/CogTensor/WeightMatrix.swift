/// A weight matrix `W[rows, cols]` (PyTorch `nn.Linear` layout: `y = x · Wᵀ`) kept in the dtype it
/// is stored in — usually a view into a memory-mapped checkpoint. Nothing here ever makes an f32
/// copy of the whole matrix: prefill converts one tile of rows at a time into a scratch buffer for
/// `sgemm`; decode reads the stored bits directly in a GEMV.
///
/// Immutable and `Sendable`; `owner` keeps the memory the pointer refers to alive.
public struct WeightMatrix: Sendable {
    /// How the elements are stored.
    public enum Storage: @unchecked Sendable {
        // @unchecked: the pointers refer to read-only memory (an mmap or an immutable array) that
        // `owner` keeps alive; nothing writes through them.
        case bf16(UnsafePointer<UInt16>)
        case f16(UnsafePointer<UInt16>)
        case f32(UnsafePointer<Float>)
    }

    public let rows: Int  // M: output features
    public let cols: Int  // K: input features
    public let storage: Storage
    /// Keeps the backing memory alive (a mapped file or an array box).
    public let owner: (any AnyObject & Sendable)?

    public init(rows: Int, cols: Int, storage: Storage, owner: (any AnyObject & Sendable)?) {
        self.rows = rows
        self.cols = cols
        self.storage = storage
        self.owner = owner
    }

    /// Bytes read by one pass over the matrix.
    public var byteCount: Int {
        switch storage {
        case .bf16, .f16: return rows * cols * 2
        case .f32: return rows * cols * 4
        }
    }

    /// Writes rows `range` of W as f32 into `dst` (`[range.count, cols]`).
    @inline(__always)
    public func convertRows(_ range: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        let start = range.lowerBound * cols
        let n = range.count * cols
        switch storage {
        case .bf16(let p):
            let src = p + start
            for i in 0..<n { dst[i] = Float(bitPattern: UInt32(src[i]) << 16) }
        case .f16(let p):
            let src = p + start
            for i in 0..<n { dst[i] = Float(Float16(bitPattern: src[i])) }
        case .f32(let p):
            dst.update(from: p + start, count: n)
        }
    }

    /// One output element: `Σ_k W[row, k] · x[k]`.
    @inline(__always)
    func dot(row: Int, _ x: UnsafePointer<Float>) -> Float {
        let k = cols
        switch storage {
        case .bf16(let p):
            let w = p + row * k
            var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
            var i = 0
            while i + 4 <= k {
                a0 += Float(bitPattern: UInt32(w[i]) << 16) * x[i]
                a1 += Float(bitPattern: UInt32(w[i + 1]) << 16) * x[i + 1]
                a2 += Float(bitPattern: UInt32(w[i + 2]) << 16) * x[i + 2]
                a3 += Float(bitPattern: UInt32(w[i + 3]) << 16) * x[i + 3]
                i += 4
            }
            while i < k { a0 += Float(bitPattern: UInt32(w[i]) << 16) * x[i]; i += 1 }
            return (a0 + a1) + (a2 + a3)
        case .f16(let p):
            let w = p + row * k
            var acc: Float = 0
            for i in 0..<k { acc += Float(Float16(bitPattern: w[i])) * x[i] }
            return acc
        case .f32(let p):
            let w = p + row * k
            var acc: Float = 0
            for i in 0..<k { acc += w[i] * x[i] }
            return acc
        }
    }

    /// `y[n, rows] = x[n, cols] · Wᵀ (+ bias)`.
    ///
    /// Policy (ggml-blas's): for a handful of input rows a GEMV over the stored bits, split by
    /// output rows across the context's threads (reads W once per input row, no conversion);
    /// otherwise W is converted tile by tile to f32 and multiplied with `sgemm`, so the
    /// conversion is amortized over all `n` rows.
    public func apply(
        _ x: UnsafePointer<Float>, rows n: Int,
        into y: UnsafeMutablePointer<Float>,
        bias: UnsafePointer<Float>? = nil,
        context: ComputeContext
    ) {
        if n <= WeightMatrix.gemvMaxRows {
            let m = rows
            context.runner.run { part, parts in
                let range = ParallelRunner.range(part: part, parts: parts, count: m, alignment: 16)
                for r in 0..<n {
                    let xr = x + r * cols  // [cols]
                    let yr = y + r * m     // [rows]
                    for i in range { yr[i] = dot(row: i, xr) }
                }
            }
        } else {
            let tile = max(1, min(rows, WeightMatrix.tileElements / max(cols, 1)))
            if context.tile.count < tile * cols { context.tile = [Float](repeating: 0, count: tile * cols) }
            context.tile.withUnsafeMutableBufferPointer { buf in
                guard let wt = buf.baseAddress else { return }  // [tile, cols] f32
                var m0 = 0
                while m0 < rows {
                    let m1 = min(rows, m0 + tile)
                    convertRows(m0..<m1, into: wt)
                    // y[:, m0..<m1] = x · wtᵀ
                    BLAS.sgemm(m: n, n: m1 - m0, k: cols, a: x, b: wt, transposeB: true, c: y + m0, ldc: rows)
                    m0 = m1
                }
            }
        }
        if let bias {
            for r in 0..<n {
                let yr = y + r * rows
                for m in 0..<rows { yr[m] += bias[m] }
            }
        }
    }

    /// Up to this many input rows use the GEMV path.
    public static let gemvMaxRows = 2
    /// Elements of one f32 weight tile for the sgemm path (4 MiB).
    public static let tileElements = 1 << 20
}

/// An immutable block of f32 values kept alive by reference, for matrices built in memory
/// (tests, synthetic models) rather than mapped from a file.
///
/// `@unchecked Sendable`: the buffer is written once in `init` and only read afterwards.
public final class FloatStorage: @unchecked Sendable {
    public let buffer: UnsafeMutableBufferPointer<Float>

    public init(_ values: [Float]) {
        buffer = .allocate(capacity: max(1, values.count))
        _ = buffer.initialize(from: values)
    }

    deinit { buffer.deallocate() }

    /// A weight matrix over the values (`[rows, cols]`, `rows × cols ≤ count`).
    public func matrix(rows: Int, cols: Int) -> WeightMatrix {
        WeightMatrix(rows: rows, cols: cols, storage: .f32(UnsafePointer(buffer.baseAddress ?? .allocate(capacity: 1))),
                     owner: self)
    }
}

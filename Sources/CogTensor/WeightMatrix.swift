import CKernels

/// How a prefill matmul may trade precision for speed.
public enum MatmulPrecision: String, Sendable, CaseIterable {
    /// f32 activations and f32 accumulation (tiles of bf16 weights widened exactly for `sgemm`):
    /// reproduces the official f32 computation to ~1e-5. The default for unquantized weights.
    case exact
    /// Activations rounded to bf16 for AMX / AVX-512-BF16 tiles (relative error of a few 1e-3);
    /// several times faster.
    case fast
}

/// A weight matrix `W[rows, cols]` (PyTorch `nn.Linear` layout: `y = x · Wᵀ`) kept in the format it
/// is stored in — usually a view into a memory-mapped checkpoint. Nothing here ever makes an f32
/// copy of the whole matrix: prefill converts one tile of rows at a time (or the CKernels GEMM
/// converts weight panels on the fly); decode reads the stored bits directly in a GEMV.
///
/// Immutable and `Sendable`; `owner` keeps the memory the pointers refer to alive.
public struct WeightMatrix: Sendable {
    /// How the elements are stored (formats as in `ckernels.h`).
    public enum Storage: @unchecked Sendable {
        // @unchecked: the pointers refer to read-only memory (an mmap or an immutable buffer) that
        // `owner` keeps alive; nothing writes through them.
        case bf16(UnsafePointer<UInt16>)                                         // [M, K] bf16 bits
        case f16(UnsafePointer<UInt16>)                                          // [M, K] fp16 bits
        case f32(UnsafePointer<Float>)                                           // [M, K]
        case q8(quants: UnsafePointer<Int8>, scales: UnsafePointer<UInt16>)      // [M, K] i8, [M, K/32] fp16
        case q4(quants: UnsafePointer<UInt8>, scales: UnsafePointer<UInt16>)     // [M, K/2] nibbles, [M, K/32] fp16
    }

    public let rows: Int  // M: output features
    public let cols: Int  // K: input features
    public let storage: Storage
    /// Keeps the backing memory alive (a mapped file or a buffer box).
    public let owner: (any AnyObject & Sendable)?

    public init(rows: Int, cols: Int, storage: Storage, owner: (any AnyObject & Sendable)?) {
        self.rows = rows
        self.cols = cols
        self.storage = storage
        self.owner = owner
    }

    /// Bytes read by one pass over the matrix (quants plus scales for the block formats).
    public var byteCount: Int {
        switch storage {
        case .bf16, .f16: return rows * cols * 2
        case .f32: return rows * cols * 4
        case .q8: return rows * cols + rows * (cols / 32) * 2
        case .q4: return rows * cols / 2 + rows * (cols / 32) * 2
        }
    }

    /// The memory one pass over the matrix reads, as (start, bytes) ranges: the elements, plus the
    /// scales for the block formats. Together they make `byteCount`.
    public var byteRegions: [(start: UnsafeRawPointer, bytes: Int)] {
        switch storage {
        case .bf16(let p), .f16(let p): return [(UnsafeRawPointer(p), rows * cols * 2)]
        case .f32(let p): return [(UnsafeRawPointer(p), rows * cols * 4)]
        case .q8(let q, let s): return [(UnsafeRawPointer(q), rows * cols), (UnsafeRawPointer(s), rows * (cols / 32) * 2)]
        case .q4(let q, let s): return [(UnsafeRawPointer(q), rows * cols / 2), (UnsafeRawPointer(s), rows * (cols / 32) * 2)]
        }
    }

    /// Short format name for reports ("bf16", "q8", …).
    public var formatName: String {
        switch storage {
        case .bf16: return "bf16"
        case .f16: return "f16"
        case .f32: return "f32"
        case .q8: return "q8"
        case .q4: return "q4"
        }
    }

    /// Writes rows `range` of W as f32 into `dst` (`[range.count, cols]`).
    public func convertRows(_ range: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        let start = range.lowerBound * cols
        let n = range.count * cols
        switch storage {
        case .bf16(let p): ck_bf16_to_f32(p + start, dst, n)
        case .f16(let p): ck_f16_to_f32(p + start, dst, n)
        case .f32(let p): dst.update(from: p + start, count: n)
        case .q8(let q, let s):
            _ = ck_dequant_q8_row(q + start, s + start / 32, dst, n)
        case .q4(let q, let s):
            _ = ck_dequant_q4_row(q + start / 2, s + start / 32, dst, n)
        }
    }

    /// `y[n, rows] = x[n, cols] · Wᵀ (+ bias)`.
    ///
    /// Policy (ggml-blas's, with our kernels):
    /// - up to `smallBatchMaxRows` input rows (decode, batched decode, short continuations): the
    ///   small-batch kernels (`ck_gemv_*` / `ck_gemm_small_*`, chunks of `CK_SMALL_N_MAX` rows over
    ///   L2-sized weight blocks), output rows split across the context's threads — bandwidth-bound;
    /// - more rows with `.exact` precision on unquantized weights, or bf16 weights on an Intel CPU
    ///   without AMX (`ck_bf16_gemm_prefers_sgemm`): tiles widened to f32 and multiplied with
    ///   OpenBLAS `sgemm` (the reference's arithmetic);
    /// - otherwise the CKernels blocked GEMM (AMX / AVX-512-BF16, or VNNI int8 for q8 / q4 below
    ///   AMX, where present); with several
    ///   threads, column blocks go to whichever thread is free (`ck_gemm_*_queue` at AMX; a static
    ///   32-aligned split at other levels).
    public func apply(
        _ x: UnsafePointer<Float>, rows n: Int,
        into y: UnsafeMutablePointer<Float>,
        bias: UnsafePointer<Float>? = nil,
        context: ComputeContext
    ) {
        let m = rows, k = cols
        if n <= Self.smallBatchMaxRows {
            let precision = context.precision
            if context.runner.threads > 1 && sharesSmallRows(n: n, precision: precision) {
                let queue = RowQueue()
                defer { queue.release() }
                context.runner.run { part, parts in
                    smallRowsShared(x, n: n, y: y, queue: queue.pointer, part: part, parts: parts, precision: precision)
                }
                // A few rows: cheaper on this thread than another hand-off (a thread no longer
                // knows which columns it wrote).
                if let bias { Self.addBias(bias, to: y, rows: n, stride: m, columns: 0 ..< m) }
                return
            }
            context.runner.run { part, parts in
                let r = ParallelRunner.range(part: part, parts: parts, count: m, alignment: 32)
                smallRows(r, x, n: n, y: y, precision: precision)
                if let bias { Self.addBias(bias, to: y, rows: n, stride: m, columns: r) }
            }
        } else if usesSgemm(context.precision) {
            sgemmTiles(x, n: n, y: y, context: context)
            if let bias { Self.addBias(bias, to: y, rows: n, stride: m, columns: 0 ..< m) }
        } else if context.runner.threads == 1 {
            gemm(x, n: n, y: y, columns: 0 ..< m)
            if let bias { Self.addBias(bias, to: y, rows: n, stride: m, columns: 0 ..< m) }
        } else {
            // Column blocks go to whichever thread is free (`ck_gemm_*_queue`): on a shared host one
            // core often runs AMX at half the other's speed, and a static split waits for it.
            let shared = RowQueue()
            defer { shared.release() }
            let queue = shared.pointer
            context.runner.run { part, parts in
                let (p, ps) = (part, parts)
                switch storage {
                case .bf16(let w): _ = ck_gemm_bf16_queue(w, k, x, n, y, m, 0, m, queue, p, ps)
                case .q8(let q, let s): _ = ck_gemm_q8_queue(q, s, k, x, n, y, m, 0, m, queue, p, ps)
                case .q4(let q, let s): _ = ck_gemm_q4_queue(q, s, k, x, n, y, m, 0, m, queue, p, ps)
                case .f32, .f16: break  // usesSgemm is always true for these
                }
            }
            if let bias {
                context.runner.run { part, parts in
                    let r = ParallelRunner.range(part: part, parts: parts, count: m, alignment: 32)
                    Self.addBias(bias, to: y, rows: n, stride: m, columns: r)
                }
            }
        }
    }

    /// The blocked GEMM on columns `columns` of `y`, on the calling thread.
    private func gemm(_ x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>, columns: Range<Int>) {
        let (m, k, m0, m1) = (rows, cols, columns.lowerBound, columns.upperBound)
        switch storage {
        case .bf16(let p): _ = ck_gemm_bf16(p, k, x, n, y, m, m0, m1)
        case .q8(let q, let s): _ = ck_gemm_q8(q, s, k, x, n, y, m, m0, m1)
        case .q4(let q, let s): _ = ck_gemm_q4(q, s, k, x, n, y, m, m0, m1)
        case .f32, .f16: break  // usesSgemm is always true for these
        }
    }

    /// `y[r, c] += bias[c]` for every row `r < rows` and column `c` in `columns` (`y` `[rows, stride]`).
    private static func addBias(_ bias: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, rows: Int, stride: Int,
                                columns: Range<Int>) {
        for r in 0..<rows {
            let yr = y + r * stride
            for c in columns { yr[c] += bias[c] }
        }
    }

    /// `ya = x · aᵀ` and `yb = x · bᵀ` for two matrices reading the same input (the MLP's gate and
    /// up projections). A small batch (decode) goes to the threads in one hand-off instead of two;
    /// larger ones are two `apply` calls.
    public static func applyBoth(
        _ a: WeightMatrix, _ b: WeightMatrix,
        _ x: UnsafePointer<Float>, rows n: Int,
        into ya: UnsafeMutablePointer<Float>, _ yb: UnsafeMutablePointer<Float>,
        context: ComputeContext
    ) {
        guard n <= Self.smallBatchMaxRows, a.cols == b.cols else {
            a.apply(x, rows: n, into: ya, context: context)
            b.apply(x, rows: n, into: yb, context: context)
            return
        }
        let precision = context.precision
        if context.runner.threads > 1 && a.sharesSmallRows(n: n, precision: precision)
            && b.sharesSmallRows(n: n, precision: precision)
        {
            let (qa, qb) = (RowQueue(), RowQueue())
            defer {
                qa.release()
                qb.release()
            }
            context.runner.run { part, parts in
                a.smallRowsShared(x, n: n, y: ya, queue: qa.pointer, part: part, parts: parts, precision: precision)
                b.smallRowsShared(x, n: n, y: yb, queue: qb.pointer, part: part, parts: parts, precision: precision)
            }
            return
        }
        context.runner.run { part, parts in
            a.smallRows(ParallelRunner.range(part: part, parts: parts, count: a.rows, alignment: 32), x, n: n, y: ya,
                        precision: precision)
            b.smallRows(ParallelRunner.range(part: part, parts: parts, count: b.rows, alignment: 32), x, n: n, y: yb,
                        precision: precision)
        }
    }

    /// Whether a small batch's weight rows can be handed out from a shared queue
    /// (`ck_gemm_small_*_queue`: one kernel pass of at most `CK_SMALL_N_MAX` activation rows, a kernel
    /// for the storage). Not for `exact` bf16 batches (one GEMV per activation row over L2 blocks)
    /// or f16 weights (widened in Swift).
    private func sharesSmallRows(n: Int, precision: MatmulPrecision) -> Bool {
        guard n <= Int(CK_SMALL_N_MAX) else { return false }
        switch storage {
        case .bf16: return n == 1 || precision == .fast
        case .f32, .q8, .q4: return true
        case .f16: return false
        }
    }

    /// This thread's share of a small batch whose weight rows come from `queue`: every row of
    /// `y[n, rows]` is written by whichever thread claims it, with the bits of `smallBatch`.
    private func smallRowsShared(_ x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                                 queue: UnsafeMutablePointer<ck_gemm_queue>, part: Int, parts: Int,
                                 precision: MatmulPrecision) {
        let (k, m) = (cols, rows)
        switch storage {
        case .q8(let q, let s) where precision == .fast:
            _ = ck_gemm_small_q8q8_queue(q, s, k, x, n, y, m, 0, m, queue, part, parts)
        case .q8(let q, let s): _ = ck_gemm_small_q8_queue(q, s, k, x, n, y, m, 0, m, queue, part, parts)
        case .q4(let q, let s): _ = ck_gemm_small_q4_queue(q, s, k, x, n, y, m, 0, m, queue, part, parts)
        case .bf16(let p): _ = ck_gemm_small_bf16_queue(p, k, x, n, y, m, 0, m, queue, part, parts)
        case .f32(let p): _ = ck_gemm_small_f32_queue(p, k, x, n, y, m, 0, m, queue, part, parts)
        case .f16: break  // sharesSmallRows is false
        }
    }

    /// Output columns `r` of `y[n, rows]` for a small batch on the calling thread.
    private func smallRows(_ r: Range<Int>, _ x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                           precision: MatmulPrecision) {
        guard !r.isEmpty else { return }
        if precision == .exact, case .bf16(let p) = storage {
            // One f32-exact GEMV per activation row (AMX's batched path splits activations into two
            // bf16 halves, error ≤ 2⁻¹⁷·|x|: "fast", not "exact"), over blocks of weight rows that
            // stay in L2 from one activation row to the next, so a batch still reads each weight
            // from memory once. A row's result does not depend on the blocking (bit-identical).
            let block = n == 1 ? r.count : max(32, Self.batchBlockBytes / max(1, cols * 2) / 32 * 32)
            var m0 = r.lowerBound
            while m0 < r.upperBound {
                let m1 = min(r.upperBound, m0 + block)
                for row in 0..<n { _ = ck_gemv_bf16(p, cols, x + row * cols, y + row * rows, m0, m1) }
                m0 = m1
            }
        } else if n <= Int(CK_SMALL_N_MAX) {
            smallBatch(x, n: n, y: y, m0: r.lowerBound, m1: r.upperBound, precision: precision)
        } else {
            // More rows than one kernel pass takes: every chunk of CK_SMALL_N_MAX rows sweeps one
            // L2-sized block of weight rows before the next block is read, so memory sees each
            // weight once.
            let rowBytes = max(1, byteCount / max(1, rows))
            let block = max(32, Self.batchBlockBytes / rowBytes / 32 * 32)
            var m0 = r.lowerBound
            while m0 < r.upperBound {
                let m1 = min(r.upperBound, m0 + block)
                smallBatch(x, n: n, y: y, m0: m0, m1: m1, precision: precision)
                m0 = m1
            }
        }
    }

    /// Whether a large batch goes through `sgemm` on f32 tiles (f32/f16 always — no fast kernel;
    /// bf16/q8/q4 when exact: dequantized weights, f32 activations) or the CKernels GEMM (fast).
    private func usesSgemm(_ precision: MatmulPrecision) -> Bool {
        switch storage {
        case .f32, .f16: return true
        case .q8, .q4: return precision == .exact
        // On Intel without AMX vdpbf16ps runs at half the FMA rate: sgemm is faster (and exact).
        case .bf16: return precision == .exact || ck_bf16_gemm_prefers_sgemm()
        }
    }

    /// Rows `m0..<m1` of `y[n, rows]` for a small batch, reading W once per chunk of
    /// `CK_SMALL_N_MAX` activation rows.
    /// q8 weights use int8 activations (VNNI) only with `.fast` precision: it is what keeps batched
    /// decode near memory speed, but its rounding can flip near-tied greedy tokens.
    private func smallBatch(_ x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>, m0: Int, m1: Int,
                            precision: MatmulPrecision) {
        let k = cols, m = rows
        switch storage {
        case .q8(let q, let s) where precision == .fast:
            _ = n == 1 ? ck_gemv_q8q8(q, s, k, x, y, m0, m1) : ck_gemm_small_q8q8(q, s, k, x, n, y, m, m0, m1)
        case .bf16(let p):
            _ = n == 1 ? ck_gemv_bf16(p, k, x, y, m0, m1) : ck_gemm_small_bf16(p, k, x, n, y, m, m0, m1)
        case .f32(let p):
            _ = n == 1 ? ck_gemv_f32(p, k, x, y, m0, m1) : ck_gemm_small_f32(p, k, x, n, y, m, m0, m1)
        case .q8(let q, let s):
            _ = n == 1 ? ck_gemv_q8(q, s, k, x, y, m0, m1) : ck_gemm_small_q8(q, s, k, x, n, y, m, m0, m1)
        case .q4(let q, let s):
            _ = n == 1 ? ck_gemv_q4(q, s, k, x, y, m0, m1) : ck_gemm_small_q4(q, s, k, x, n, y, m, m0, m1)
        case .f16(let p):
            // No f16 kernel: widen one row at a time (f16 checkpoints are rare).
            var row = [Float](repeating: 0, count: k)  // [K] one weight row, widened
            row.withUnsafeMutableBufferPointer { buf in
                guard let w = buf.baseAddress else { return }
                for i in m0..<m1 {
                    ck_f16_to_f32(p + i * k, w, k)
                    for r in 0..<n {
                        var acc: Float = 0
                        let xr = x + r * k
                        for j in 0..<k { acc += w[j] * xr[j] }
                        y[r * m + i] = acc
                    }
                }
            }
        }
    }

    /// The exact path: tiles of W widened to f32, then `sgemm` (threads: OpenBLAS's).
    private func sgemmTiles(_ x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>, context: ComputeContext) {
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

    /// Bytes of weight rows per block when several passes of the small-batch kernels run over the
    /// same rows (a quarter of a 2 MB L2).
    static let batchBlockBytes = 512 << 10

    /// Activation rows up to which `apply` uses the bandwidth-bound small-batch kernels (chunks of
    /// `CK_SMALL_N_MAX` over L2-sized weight blocks) instead of the prefill GEMM, whose per-call
    /// weight packing (dequantize + transpose of every weight) only pays off for longer blocks.
    /// A short continuation — a second question after a cached image prefix — is 10–30 tokens.
    public static let smallBatchMaxRows = 32

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

/// One `ck_gemm_queue` for the threads of one call, starting at 0 (`release` when the call is done).
/// The kernels update it atomically; Swift only creates and frees it.
private struct RowQueue: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<ck_gemm_queue>

    init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: ck_gemm_queue(next: 0))
    }

    func release() { pointer.deallocate() }
}

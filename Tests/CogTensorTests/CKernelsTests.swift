// CKernelsTests — checks every CKernels kernel at every ISA level this machine supports against
// plain double-precision references written here, and (with COGJOBS_KERNEL_BENCH=1) measures them.
import CBLAS
import CKernels
import Foundation
import Testing

// MARK: - Tolerances

/// Allowed |y - reference| / (|W_m| · |X_n|) per numeric regime (see ckernels.h).
enum KernelTolerance {
    /// Weights expanded to f32, f32 FMA accumulation.
    static let f32Math = 1e-5
    /// Activations (and q8/q4 weights) rounded to bf16, f32 accumulation (AMX / vdpbf16ps GEMM).
    static let bf16Activations = 4e-3
    /// Activations quantized to int8 per 32-block (Q4 and Q8×Q8 GEMV on VNNI).
    static let int8Activations = 1e-2
}

// MARK: - Test data

/// SplitMix64: small deterministic generator so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Standard normal sample (Box-Muller).
    mutating func gaussian() -> Float {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self)
        let u2 = Double.random(in: 0..<1, using: &self)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }
    mutating func gaussians(_ count: Int) -> [Float] { (0..<count).map { _ in gaussian() } }
}

/// Weight storage formats of the kernels.
enum WeightFormat: String, CaseIterable, Sendable {
    case f32, bf16, q8, q4
    var isQuantized: Bool { self == .q8 || self == .q4 }
}

/// Decodes fp16 bits (plain Swift, independent of the C code).
func decodeF16(_ bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }

/// Decodes bf16 bits.
func decodeBF16(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

/// Reference f32 -> bf16 round-to-nearest-even, written from the definition: pick the nearer of the
/// two bf16 neighbours, the even one on a tie.
func referenceBF16(_ value: Float) -> UInt16 {
    if value.isNaN { return UInt16(truncatingIfNeeded: value.bitPattern >> 16) | 0x0040 }
    let bits = value.bitPattern
    let below = UInt16(truncatingIfNeeded: bits >> 16)
    let remainder = bits & 0xFFFF
    if remainder > 0x8000 || (remainder == 0x8000 && below & 1 == 1) { return below &+ 1 }
    return below
}

/// A weight matrix in one format plus its values as the reference sees them.
struct TestMatrix {
    let format: WeightFormat
    let rows: Int
    let cols: Int
    var f32: [Float] = []     // [rows, cols] (f32 format)
    var bf16: [UInt16] = []   // [rows, cols] (bf16 format)
    var q8: [Int8] = []       // [rows, cols] (q8 format)
    var q4: [UInt8] = []      // [rows, cols/2] (q4 format)
    var scales: [UInt16] = [] // [rows, cols/32] fp16 (q8, q4)
    /// W decoded from the stored bits by plain Swift code. [rows, cols] f64
    var reference: [Double] = []

    /// Stores `source` ([rows, cols] f32) in `format` without building the f64 reference.
    init(quantizing source: [Float], format: WeightFormat, rows: Int, cols: Int) throws {
        self.format = format
        self.rows = rows
        self.cols = cols
        switch format {
        case .f32: f32 = source
        case .bf16:
            bf16 = [UInt16](repeating: 0, count: rows * cols)
            ck_f32_to_bf16_rne(source, &bf16, rows * cols)
        case .q8:
            q8 = [Int8](repeating: 0, count: rows * cols)
            scales = [UInt16](repeating: 0, count: rows * cols / 32)
            try #require(ck_quantize_q8(source, &q8, &scales, rows * cols) == CK_OK)
        case .q4:
            q4 = [UInt8](repeating: 0, count: rows * cols / 2)
            scales = [UInt16](repeating: 0, count: rows * cols / 32)
            try #require(ck_quantize_q4(source, &q4, &scales, rows * cols) == CK_OK)
        }
    }

    init(format: WeightFormat, rows: Int, cols: Int, rng: inout SplitMix64) throws {
        self.format = format
        self.rows = rows
        self.cols = cols
        let source = rng.gaussians(rows * cols)  // [rows, cols] f32
        switch format {
        case .f32:
            f32 = source
            reference = source.map(Double.init)
        case .bf16:
            bf16 = source.map(referenceBF16)
            reference = bf16.map { Double(decodeBF16($0)) }
        case .q8:
            q8 = [Int8](repeating: 0, count: rows * cols)
            scales = [UInt16](repeating: 0, count: rows * cols / 32)
            try #require(ck_quantize_q8(source, &q8, &scales, rows * cols) == CK_OK)
            reference = (0..<rows * cols).map { Double(q8[$0]) * Double(decodeF16(scales[$0 / 32])) }
        case .q4:
            q4 = [UInt8](repeating: 0, count: rows * cols / 2)
            scales = [UInt16](repeating: 0, count: rows * cols / 32)
            try #require(ck_quantize_q4(source, &q4, &scales, rows * cols) == CK_OK)
            reference = (0..<rows * cols).map { index in
                // Byte j of a block: element j in the low nibble, element j + 16 in the high nibble.
                let block = index / 32, within = index % 32
                let byte = q4[block * 16 + within % 16]
                let code = within < 16 ? Int(byte & 0x0F) : Int(byte >> 4)
                return Double(code - 8) * Double(decodeF16(scales[block]))
            }
        }
        rowNorms = reference.withUnsafeBufferPointer { ref in
            (0..<rows).map { m in
                var sum = 0.0
                for k in 0..<cols { sum += ref[m * cols + k] * ref[m * cols + k] }
                return sum.squareRoot()
            }
        }
    }

    /// |W_m| for every row. [rows] f64
    var rowNorms: [Double] = []
}

/// Which kernel family a measurement is for.
enum KernelKind: String, Sendable {
    case gemv, small, gemm
    /// q8 weights with int8 activations (`ck_gemv_q8q8`, `ck_gemm_small_q8q8`).
    case gemvInt8Acts = "gemv-i8act", smallInt8Acts = "small-i8act"
}

/// Calls the kernel of `kind` for `w`. X [n, K] f32, Y [n, ldy] f32.
func runKernel(_ kind: KernelKind, _ w: TestMatrix, x: [Float], n: Int, y: inout [Float], ldy: Int,
               m0: Int, m1: Int) -> ck_status {
    let K = w.cols
    switch (kind, w.format) {
    case (.gemv, .f32): return ck_gemv_f32(w.f32, K, x, &y, m0, m1)
    case (.gemv, .bf16): return ck_gemv_bf16(w.bf16, K, x, &y, m0, m1)
    case (.gemv, .q8): return ck_gemv_q8(w.q8, w.scales, K, x, &y, m0, m1)
    case (.gemv, .q4): return ck_gemv_q4(w.q4, w.scales, K, x, &y, m0, m1)
    case (.small, .f32): return ck_gemm_small_f32(w.f32, K, x, n, &y, ldy, m0, m1)
    case (.small, .bf16): return ck_gemm_small_bf16(w.bf16, K, x, n, &y, ldy, m0, m1)
    case (.small, .q8): return ck_gemm_small_q8(w.q8, w.scales, K, x, n, &y, ldy, m0, m1)
    case (.small, .q4): return ck_gemm_small_q4(w.q4, w.scales, K, x, n, &y, ldy, m0, m1)
    case (.gemm, .bf16): return ck_gemm_bf16(w.bf16, K, x, n, &y, ldy, m0, m1)
    case (.gemm, .q8): return ck_gemm_q8(w.q8, w.scales, K, x, n, &y, ldy, m0, m1)
    case (.gemm, .q4): return ck_gemm_q4(w.q4, w.scales, K, x, n, &y, ldy, m0, m1)
    case (.gemm, .f32): return CK_ERR_SHAPE  // no f32 prefill GEMM: callers use sgemm
    case (.gemvInt8Acts, .q8): return ck_gemv_q8q8(w.q8, w.scales, K, x, &y, m0, m1)
    case (.smallInt8Acts, .q8): return ck_gemm_small_q8q8(w.q8, w.scales, K, x, n, &y, ldy, m0, m1)
    case (.gemvInt8Acts, _), (.smallInt8Acts, _): return CK_ERR_SHAPE  // q8 weights only
    }
}

/// The shared-queue entry of `kind` (`ck_gemm_*_queue` for `.gemm`, `ck_gemm_small_*_queue` for the
/// small-batch kinds) for `w` over all its rows. X [n, K] f32, Y [n, rows] f32.
func runQueueKernel(_ kind: KernelKind, _ w: TestMatrix, x: [Float], n: Int, into y: UnsafeMutablePointer<Float>,
                    queue: UnsafeMutablePointer<ck_gemm_queue>, part: Int, parts: Int) -> ck_status {
    let (K, M) = (w.cols, w.rows)
    switch (kind, w.format) {
    case (.gemm, .bf16): return ck_gemm_bf16_queue(w.bf16, K, x, n, y, M, 0, M, queue, part, parts)
    case (.gemm, .q8): return ck_gemm_q8_queue(w.q8, w.scales, K, x, n, y, M, 0, M, queue, part, parts)
    case (.gemm, .q4): return ck_gemm_q4_queue(w.q4, w.scales, K, x, n, y, M, 0, M, queue, part, parts)
    case (.gemm, .f32): return CK_ERR_SHAPE
    case (.small, .f32): return ck_gemm_small_f32_queue(w.f32, K, x, n, y, M, 0, M, queue, part, parts)
    case (.small, .bf16): return ck_gemm_small_bf16_queue(w.bf16, K, x, n, y, M, 0, M, queue, part, parts)
    case (.small, .q8): return ck_gemm_small_q8_queue(w.q8, w.scales, K, x, n, y, M, 0, M, queue, part, parts)
    case (.small, .q4): return ck_gemm_small_q4_queue(w.q4, w.scales, K, x, n, y, M, 0, M, queue, part, parts)
    case (.smallInt8Acts, .q8):
        return ck_gemm_small_q8q8_queue(w.q8, w.scales, K, x, n, y, M, 0, M, queue, part, parts)
    case (.gemv, _), (.gemvInt8Acts, _), (.smallInt8Acts, _): return CK_ERR_SHAPE
    }
}

func runQueueKernel(_ kind: KernelKind, _ w: TestMatrix, x: [Float], n: Int, y: inout [Float],
                    queue: inout ck_gemm_queue, part: Int, parts: Int) -> ck_status {
    y.withUnsafeMutableBufferPointer { out in
        withUnsafeMutablePointer(to: &queue) {
            runQueueKernel(kind, w, x: x, n: n, into: out.baseAddress!, queue: $0, part: part, parts: parts)
        }
    }
}

/// The tolerance a kernel promises at an ISA level (ckernels.h "Numerics by level").
func tolerance(_ kind: KernelKind, _ format: WeightFormat, level: ck_isa) -> Double {
    let bf16Level = level.rawValue >= ck_isa.avx512BF16.rawValue
    switch kind {
    case .gemm:
        // Below AMX, q8 / q4 prefill runs on the VNNI engine with int8 activations.
        if level == ck_isa.avx512BF16 && (format == .q8 || format == .q4) { return KernelTolerance.int8Activations }
        return bf16Level ? KernelTolerance.bf16Activations : KernelTolerance.f32Math
    case .gemv, .small: return bf16Level && format == .q4 ? KernelTolerance.int8Activations : KernelTolerance.f32Math
    case .gemvInt8Acts, .smallInt8Acts: return bf16Level ? KernelTolerance.int8Activations : KernelTolerance.f32Math
    }
}

/// X·Wᵀ in f64 and the norm product |W_m|·|X_n| for every (n, m). Both [n, rows] f64.
func referenceProduct(_ w: TestMatrix, x: [Float], n: Int) -> (values: [Double], scales: [Double]) {
    let K = w.cols, M = w.rows
    var values = [Double](repeating: 0, count: n * M), scales = [Double](repeating: 0, count: n * M)
    w.reference.withUnsafeBufferPointer { ref in
        x.withUnsafeBufferPointer { xs in
            for row in 0..<n {
                let xRow = UnsafeBufferPointer(rebasing: xs[(row * K)..<((row + 1) * K)])
                var xNorm = 0.0
                for v in xRow { xNorm += Double(v) * Double(v) }
                for m in 0..<M {
                    let wRow = UnsafeBufferPointer(rebasing: ref[(m * K)..<((m + 1) * K)])
                    var sum = 0.0
                    var k = 0
                    while k < K {
                        sum += wRow[k] * Double(xRow[k])
                        k += 1
                    }
                    values[row * M + m] = sum
                    scales[row * M + m] = max(w.rowNorms[m] * xNorm.squareRoot(), Double.leastNormalMagnitude)
                }
            }
        }
    }
    return (values, scales)
}

/// Max over (n, m in m0..<m1) of |Y - X·Wᵀ| / (|W_m| |X_n|). Infinity if Y holds NaN there or if a
/// column outside [m0, m1) lost its NaN sentinel (the kernel wrote outside its range).
func maxRelativeError(_ reference: (values: [Double], scales: [Double]), rows: Int, n: Int, y: [Float],
                      ldy: Int, m0: Int, m1: Int) -> Double {
    var worst = 0.0
    for row in 0..<n {
        for m in 0..<rows {
            let got = y[row * ldy + m]
            if m < m0 || m >= m1 {
                if !got.isNaN { return .infinity }
                continue
            }
            let error = abs(Double(got) - reference.values[row * rows + m]) / reference.scales[row * rows + m]
            worst = max(worst, error.isNaN ? .infinity : error)
        }
    }
    return worst
}

/// Runs `kind` at every available level on one case and returns the error per level.
func errorsAtAllLevels(_ kind: KernelKind, _ w: TestMatrix, _ c: KernelCase, rng: inout SplitMix64) throws
    -> [(ck_isa, Double)]
{
    let x = rng.gaussians(c.batch * w.cols)  // [N, K] f32
    let reference = referenceProduct(w, x: x, n: c.batch)
    let ldy = w.rows + 3
    return try availableLevels.map { level in
        let isa = try #require(ck_isa(rawValue: level))
        var y = [Float](repeating: .nan, count: c.batch * ldy)  // [N, ldy] f32
        let status = withISA(isa) { runKernel(kind, w, x: x, n: c.batch, y: &y, ldy: ldy, m0: c.m0, m1: c.m1) }
        try #require(status == CK_OK, "\(kind) \(w.format) \(c) at \(String(cString: ck_isa_name(isa))): \(status)")
        let error = maxRelativeError(reference, rows: w.rows, n: c.batch, y: y, ldy: ldy, m0: c.m0, m1: c.m1)
        #expect(error <= tolerance(kind, w.format, level: isa),
                "\(kind) \(w.format) \(c) at \(String(cString: ck_isa_name(isa)))")
        return (isa, error)
    }
}

/// Accumulates the worst error per (level, kernel, format) and prints one line per level.
struct ErrorReport {
    private var worst: [String: Double] = [:]
    private var order: [String] = []

    mutating func add(_ kind: KernelKind, _ format: WeightFormat, _ errors: [(ck_isa, Double)]) {
        for (isa, error) in errors {
            let key = "\(isa.rawValue)|\(kind.rawValue)/\(format.rawValue)"
            if worst[key] == nil { order.append(key) }
            worst[key] = max(worst[key] ?? 0, error)
        }
    }

    func print(title: String) {
        for level in availableLevels {
            guard let isa = ck_isa(rawValue: level) else { continue }
            let items = order.filter { $0.hasPrefix("\(level)|") }.map { key -> String in
                let name = String(key.split(separator: "|")[1])
                let parts = name.split(separator: "/")
                let kind = KernelKind(rawValue: String(parts[0])) ?? .gemv
                let format = WeightFormat(rawValue: String(parts[1])) ?? .f32
                return "\(name) \(String(format: "%.1e", worst[key] ?? 0))"
                    + " (tol \(String(format: "%.0e", tolerance(kind, format, level: isa))))"
            }
            Swift.print("CKernels[\(String(cString: ck_isa_name(isa)))] \(title): " + items.joined(separator: ", "))
        }
    }
}

/// ISA levels available here, lowest first.
let availableLevels: [UInt32] = Array(ck_isa.scalar.rawValue...ck_detected_isa().rawValue)

/// Runs `body` with the calling thread's ISA capped at `level`, restoring "no cap" afterwards
/// (Swift Testing reuses threads across tests).
func withISA<T>(_ level: ck_isa, _ body: () throws -> T) rethrows -> T {
    ck_set_thread_isa_limit(level)
    defer { ck_set_thread_isa_limit(ck_isa.amx) }
    return try body()
}

/// One shape a kernel is checked on.
struct KernelCase: CustomStringConvertible {
    let rows: Int, cols: Int, batch: Int, m0: Int, m1: Int
    var description: String { "M=\(rows) K=\(cols) N=\(batch) m=\(m0)..<\(m1)" }
}

// MARK: - Tests

@Suite("CKernels")
struct CKernelsTests {
    @Test("detection, names and the ISA limits")
    func isaDetectionAndLimits() {
        let detected = ck_detected_isa()
        print("CKernels: detected \(String(cString: ck_isa_name(detected))), active \(String(cString: ck_isa_name(ck_active_isa())))")
        #expect(ck_active_isa().rawValue <= detected.rawValue)
        withISA(ck_isa.scalar) { #expect(ck_active_isa() == ck_isa.scalar) }
        #expect(ck_active_isa() == detected)
        let names = [ck_isa.scalar, ck_isa.avx2, ck_isa.avx512, ck_isa.avx512BF16, ck_isa.amx]
            .map { String(cString: ck_isa_name($0)) }
        #expect(names == ["scalar", "avx2", "avx512", "avx512-bf16-vnni", "amx"])
    }

    @Test("bf16 conversions are exact / round to nearest even", arguments: availableLevels)
    func bf16Conversions(level: UInt32) throws {
        let isa = try #require(ck_isa(rawValue: level))
        withISA(isa) {
            let all = (0...UInt16.max).map { $0 }  // every bf16 bit pattern
            var decoded = [Float](repeating: 0, count: all.count)
            ck_bf16_to_f32(all, &decoded, all.count)
            for (bits, value) in zip(all, decoded) where value.bitPattern != UInt32(bits) << 16 {
                Issue.record("bf16 \(bits) decoded to \(value)")
                return
            }
            var rng = SplitMix64(seed: 7)
            var inputs: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .nan, .greatestFiniteMagnitude,
                                   .leastNonzeroMagnitude, -.leastNormalMagnitude, 1.00390625, 1.01171875,
                                   Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000),
                                   Float(bitPattern: 0x7F7F_FFFF), Float(bitPattern: 0x0000_8000)]
            inputs += (0..<5000).map { _ in Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng)) }
            inputs += rng.gaussians(1000)
            var encoded = [UInt16](repeating: 0, count: inputs.count)
            ck_f32_to_bf16_rne(inputs, &encoded, inputs.count)
            let wrong = zip(inputs, encoded).filter { value, bits in
                value.isNaN ? !decodeBF16(bits).isNaN : bits != referenceBF16(value)
            }
            #expect(wrong.isEmpty, "bf16 rounding differs for \(wrong.prefix(5).map { ($0.0, $0.1) })")
        }
    }

    @Test("fp16 conversions match Swift's Float16", arguments: availableLevels)
    func f16Conversions(level: UInt32) throws {
        let isa = try #require(ck_isa(rawValue: level))
        withISA(isa) {
            let all = (0...UInt16.max).map { $0 }
            var decoded = [Float](repeating: 0, count: all.count)
            ck_f16_to_f32(all, &decoded, all.count)
            for (bits, value) in zip(all, decoded) {
                let want = Float(Float16(bitPattern: bits))
                if want.isNaN ? !value.isNaN : value.bitPattern != want.bitPattern {
                    Issue.record("f16 \(bits) decoded to \(value), want \(want)")
                    return
                }
            }
            var rng = SplitMix64(seed: 11)
            var inputs: [Float] = [0, -0, 65504, 65519.99, 65520, -65520, 1e-8, 2.98e-8, 2.9802322e-8,
                                   5.9604645e-8, 6.1035156e-5, .infinity, .nan]
            // Exact ties between neighbouring fp16 values, which must round to the even one.
            for bits in stride(from: UInt16(0), to: 0x7BFF, by: 97) {
                let low = Float(Float16(bitPattern: bits)), high = Float(Float16(bitPattern: bits + 1))
                inputs.append((low + high) / 2)
            }
            inputs += (0..<3000).map { _ in Float.random(in: -70000...70000, using: &rng) }
            inputs += (0..<3000).map { _ in rng.gaussian() * 1e-5 }
            var encoded = [UInt16](repeating: 0, count: inputs.count)
            ck_f32_to_f16(inputs, &encoded, inputs.count)
            let wrong = zip(inputs, encoded).filter { value, bits in
                value.isNaN ? !Float16(bitPattern: bits).isNaN : bits != Float16(value).bitPattern
            }
            #expect(wrong.isEmpty, "fp16 rounding differs for \(wrong.prefix(5).map { ($0.0, $0.1) })")
        }
    }

    @Test("q8/q4 quantize -> dequantize round trip on Gaussian data")
    func quantizationRoundTrip() throws {
        var rng = SplitMix64(seed: 3)
        let count = 32 * 4096
        let source = rng.gaussians(count)  // [count] f32
        let energy = source.reduce(0.0) { $0 + Double($1) * Double($1) }

        var q8 = [Int8](repeating: 0, count: count), s8 = [UInt16](repeating: 0, count: count / 32)
        try #require(ck_quantize_q8(source, &q8, &s8, count) == CK_OK)
        var q4 = [UInt8](repeating: 0, count: count / 2), s4 = [UInt16](repeating: 0, count: count / 32)
        try #require(ck_quantize_q4(source, &q4, &s4, count) == CK_OK)

        for level in availableLevels {
            let isa = try #require(ck_isa(rawValue: level))
            try withISA(isa) {
                var back8 = [Float](repeating: 0, count: count), back4 = [Float](repeating: 0, count: count)
                try #require(ck_dequant_q8_row(q8, s8, &back8, count) == CK_OK)
                try #require(ck_dequant_q4_row(q4, s4, &back4, count) == CK_OK)
                var err8 = 0.0, err4 = 0.0, worstStep8 = 0.0, mismatches = 0
                for i in 0..<count {
                    // Plain decoding of the stored format must agree bit for bit with the kernels.
                    let d8 = decodeF16(s8[i / 32])
                    if back8[i] != Float(q8[i]) * d8 { mismatches += 1 }
                    let byte = q4[(i / 32) * 16 + (i % 32) % 16]
                    let code = (i % 32) < 16 ? Int(byte & 0x0F) : Int(byte >> 4)
                    if back4[i] != Float(code - 8) * decodeF16(s4[i / 32]) { mismatches += 1 }
                    err8 += Double(source[i] - back8[i]) * Double(source[i] - back8[i])
                    err4 += Double(source[i] - back4[i]) * Double(source[i] - back4[i])
                    worstStep8 = max(worstStep8, Double(abs(source[i] - back8[i])) / Double(d8))
                }
                #expect(mismatches == 0, "dequantized values differ from the documented format")
                let rel8 = (err8 / energy).squareRoot(), rel4 = (err4 / energy).squareRoot()
                print("CKernels[\(String(cString: ck_isa_name(isa)))] round trip on N(0,1): q8 relative RMS error "
                    + "\(String(format: "%.5f", rel8)), q4 \(String(format: "%.5f", rel4)); "
                    + "q8 max |error| = \(String(format: "%.3f", worstStep8)) scale steps")
                #expect(rel8 < 0.0075)       // uniform rounding of ±d/2 on a max/127 grid ≈ 0.6 %
                #expect(rel4 < 0.085)        // plain max/-8 q4_0 gives ≈ 8.6 %; our scale search ≈ 8.1 %
                #expect(worstStep8 <= 0.5 + 1e-3)  // rounding never moves a value by more than half a step
            }
        }
    }

    @Test("bad inputs give status codes, not crashes")
    func badInputs() {
        var q8 = [Int8](repeating: 0, count: 64), q4 = [UInt8](repeating: 0, count: 32)
        var scales = [UInt16](repeating: 0, count: 2)
        var withNaN = [Float](repeating: 1, count: 64)
        withNaN[40] = .nan
        #expect(ck_quantize_q8(withNaN, &q8, &scales, 64) == CK_ERR_NONFINITE)
        #expect(ck_quantize_q4(withNaN, &q4, &scales, 64) == CK_ERR_NONFINITE)
        var withInf = [Float](repeating: 1, count: 64)
        withInf[3] = -.infinity
        #expect(ck_quantize_q8(withInf, &q8, &scales, 64) == CK_ERR_NONFINITE)
        #expect(ck_quantize_q8([Float](repeating: 1, count: 48), &q8, &scales, 48) == CK_ERR_SHAPE)
        #expect(ck_quantize_q4([Float](repeating: 1, count: 48), &q4, &scales, 48) == CK_ERR_SHAPE)
        var out = [Float](repeating: 0, count: 64)
        #expect(ck_dequant_q4_row(q4, scales, &out, 40) == CK_ERR_SHAPE)
        var y = [Float](repeating: 0, count: 4)
        let x = [Float](repeating: 1, count: 48)
        #expect(ck_gemv_q8(q8, scales, 48, x, &y, 0, 1) == CK_ERR_SHAPE)  // K % 32 != 0
        #expect(ck_gemm_q4(q4, scales, 48, x, 1, &y, 4, 0, 1) == CK_ERR_SHAPE)
        #expect(ck_gemv_q8(q8, scales, 32, x, &y, 2, 1) == CK_ERR_SHAPE)  // m1 < m0
        // All-zero and tiny blocks quantize to exact zeros rather than NaN.
        let tiny = [Float](repeating: 1e-30, count: 32) + [Float](repeating: 0, count: 32)
        #expect(ck_quantize_q4(tiny, &q4, &scales, 64) == CK_OK)
        #expect(ck_dequant_q4_row(q4, scales, &out, 64) == CK_OK)
        #expect(out.allSatisfy { $0 == 0 })
    }

    @Test("GEMV and small-batch GEMM match the f64 reference at every ISA level")
    func decodeKernels() throws {
        var rng = SplitMix64(seed: 100)
        var report = ErrorReport()
        for format in WeightFormat.allCases {
            // Odd M, M not a multiple of the vector width, K = 32 * odd, K spanning several activation
            // chunks, K of whole VNNI groups only (512) and of one block (32), and K with a tail for
            // the unquantized formats.
            var shapes = [(37, 224), (67, 96), (5, 32 * 99), (9, 512), (6, 32)]
            if !format.isQuantized { shapes += [(19, 100), (3, 1001)] }
            for (rows, cols) in shapes {
                let w = try TestMatrix(format: format, rows: rows, cols: cols, rng: &rng)
                let full = { (n: Int) in KernelCase(rows: rows, cols: cols, batch: n, m0: 0, m1: rows) }
                report.add(.gemv, format, try errorsAtAllLevels(.gemv, w, full(1), rng: &rng))
                for n in 1...8 { report.add(.small, format, try errorsAtAllLevels(.small, w, full(n), rng: &rng)) }
                let chunked = KernelCase(rows: rows, cols: cols, batch: 11, m0: 1, m1: rows - 1)
                report.add(.small, format, try errorsAtAllLevels(.small, w, chunked, rng: &rng))
                if format == .q8 {
                    report.add(.gemvInt8Acts, format, try errorsAtAllLevels(.gemvInt8Acts, w, full(1), rng: &rng))
                    for n in 1...8 {
                        report.add(.smallInt8Acts, format, try errorsAtAllLevels(.smallInt8Acts, w, full(n), rng: &rng))
                    }
                    report.add(.smallInt8Acts, format, try errorsAtAllLevels(.smallInt8Acts, w, chunked, rng: &rng))
                }
            }
        }
        report.print(title: "decode max relative error")
    }

    /// Batched decode under `exact` must give each sequence the bits it gets alone: every weight row
    /// and activation row of a batch goes through the same operations in the same order as in a
    /// one-row call, whatever the batch size or the rows per pass (4 for one row, 2 for batches).
    @Test("a small batch gives each activation row the bits of its own GEMV, at every ISA level")
    func batchRowsMatchSingleRows() throws {
        var rng = SplitMix64(seed: 7)
        for format in WeightFormat.allCases {
            // (70, 32 · 350): q4 batches of 4 and more run K in chunks (activations past L1), over
            // several 32-row sub-blocks and a tail group.
            for (rows, cols) in [(37, 512), (9, 32 * 99), (70, 32 * 350)] {
                let w = try TestMatrix(format: format, rows: rows, cols: cols, rng: &rng)
                let kinds: [(KernelKind, KernelKind)] = format == .q8
                    ? [(.gemv, .small), (.gemvInt8Acts, .smallInt8Acts)] : [(.gemv, .small)]
                for batch in [2, 4, 5, 8] {
                    let x = rng.gaussians(batch * cols)  // [batch, K] f32
                    for level in availableLevels {
                        let isa = try #require(ck_isa(rawValue: level))
                        // bf16 batches at AVX-512 and above are exempt (ckernels.h): AMX uses
                        // split-activation tiles, AVX-512 chunks K by batch size; `exact` runs
                        // bf16 rows through the GEMV (WeightMatrix).
                        if format == .bf16 && isa.rawValue >= ck_isa.avx512.rawValue { continue }
                        for (single, small) in kinds {
                            var y = [Float](repeating: .nan, count: batch * rows)  // [batch, rows] f32
                            let status = withISA(isa) {
                                runKernel(small, w, x: x, n: batch, y: &y, ldy: rows, m0: 0, m1: rows)
                            }
                            try #require(status == CK_OK)
                            for n in 0..<batch {
                                let xRow = Array(x[(n * cols)..<((n + 1) * cols)])
                                var alone = [Float](repeating: .nan, count: rows)  // [rows] f32
                                let rowStatus = withISA(isa) {
                                    runKernel(single, w, x: xRow, n: 1, y: &alone, ldy: rows, m0: 0, m1: rows)
                                }
                                try #require(rowStatus == CK_OK)
                                let same = zip(alone, y[(n * rows)..<((n + 1) * rows)]).allSatisfy { $0.bitPattern == $1.bitPattern }
                                #expect(same, "\(small) \(format) [\(rows), \(cols)] N = \(batch) row \(n) at \(String(cString: ck_isa_name(isa)))")
                            }
                        }
                    }
                }
            }
        }
    }

    @Test("q4 decode kernels give the same bits with and without GFNI for the high nibbles")
    func q4GfniVariantIsBitIdentical() throws {
        var rng = SplitMix64(seed: 11)
        guard ck_detected_isa().rawValue >= ck_isa.avx512BF16.rawValue else {
            print("CKernels: no AVX512-VNNI here; the q4 GFNI variant is not reachable")
            return
        }
        // K = 32·99 ends in a partial group of 8 blocks (masked loads).
        for (rows, cols) in [(37, 512), (9, 32 * 99), (130, 4096)] {
            let w = try TestMatrix(format: .q4, rows: rows, cols: cols, rng: &rng)
            for batch in [1, 2, 4, 8] {
                let x = rng.gaussians(batch * cols)  // [batch, K] f32
                var results: [[Float]] = []
                for gfni in [false, true] {
                    var y = [Float](repeating: .nan, count: batch * rows)  // [batch, rows] f32
                    ck_set_thread_gfni(gfni)
                    defer { ck_set_thread_gfni(true) }
                    let kind: KernelKind = batch == 1 ? .gemv : .small
                    try #require(runKernel(kind, w, x: x, n: batch, y: &y, ldy: rows, m0: 0, m1: rows) == CK_OK)
                    results.append(y)
                }
                let same = zip(results[0], results[1]).allSatisfy { $0.bitPattern == $1.bitPattern }
                #expect(same, "q4 [\(rows), \(cols)] N = \(batch): GFNI and shift variants differ")
                #expect(!results[0].contains { $0.isNaN }, "q4 [\(rows), \(cols)] N = \(batch): rows left unwritten")
            }
        }
    }

    /// `ck_gemm_*_queue`: whichever split the threads end up with — one part taking every column
    /// block, two threads racing for them, or the static halves of the non-AMX levels and of
    /// activations too large for the queue — every element gets the bits of the plain call.
    @Test("a prefill GEMM shared through a column queue gives the plain call's bits, at every ISA level")
    func queueSharedGemmIsBitIdentical() throws {
        var rng = SplitMix64(seed: 300)
        // Several column blocks (M > 512), N not a multiple of 32, several K blocks; a large K whose
        // packed activations pass the queue's 32 MB (1100 × 15360 bf16 = 34 MB: static halves).
        let cases = [KernelCase(rows: 1100, cols: 96, batch: 45, m0: 0, m1: 1100),
                     KernelCase(rows: 600, cols: 4160, batch: 13, m0: 0, m1: 600),
                     KernelCase(rows: 35, cols: 15360, batch: 1100, m0: 0, m1: 35)]
        let largeRow = rng.gaussians(15360)  // [K] f32
        var largeX = [Float]()  // [1100, 15360] f32
        largeX.reserveCapacity(1100 * 15360)
        for _ in 0..<1100 { largeX.append(contentsOf: largeRow) }
        for format in [WeightFormat.bf16, .q8, .q4] {
            for c in cases {
                let w = try TestMatrix(format: format, rows: c.rows, cols: c.cols, rng: &rng)
                // [N, K] f32; the large case repeats one random row (generating 17 M values is slow in debug)
                let x = c.cols < 15360 ? rng.gaussians(c.batch * c.cols) : largeX
                // The large case only matters where the queue could take it (AMX); below, every
                // shape already goes through the static split.
                for level in availableLevels where c.cols < 15360 || level >= ck_isa.amx.rawValue {
                    let isa = try #require(ck_isa(rawValue: level))
                    let what = "\(format) \(c) at \(String(cString: ck_isa_name(isa)))"
                    var plain = [Float](repeating: .nan, count: c.batch * c.rows)  // [N, M] f32
                    try #require(withISA(isa) { runKernel(.gemm, w, x: x, n: c.batch, y: &plain, ldy: c.rows, m0: 0, m1: c.rows) } == CK_OK)
                    // One thread runs both parts in turn: at AMX the first takes every block.
                    var serial = [Float](repeating: .nan, count: c.batch * c.rows)  // [N, M] f32
                    var queue = ck_gemm_queue(next: 0)
                    for part in 0..<2 {
                        try #require(withISA(isa) { runQueueKernel(.gemm, w, x: x, n: c.batch, y: &serial, queue: &queue, part: part, parts: 2) } == CK_OK)
                    }
                    #expect(zip(plain, serial).allSatisfy { $0.bitPattern == $1.bitPattern }, "serial parts, \(what)")
                    // Two threads racing for the blocks.
                    let raced = racingQueueParts(.gemm, w, x: x, n: c.batch, isa: isa)
                    #expect(raced.statuses.allSatisfy { $0 == CK_OK }, "\(what)")
                    #expect(zip(plain, raced.y).allSatisfy { $0.bitPattern == $1.bitPattern }, "two threads, \(what)")
                }
            }
        }
    }

    /// Two threads calling the queue entry of `kind` at once on one queue, as the runner does.
    /// Returns Y [n, rows] and each thread's status.
    func racingQueueParts(_ kind: KernelKind, _ w: TestMatrix, x: [Float], n: Int, isa: ck_isa)
        -> (y: [Float], statuses: [ck_status])
    {
        let shared = UnsafeMutableBufferPointer<Float>.allocate(capacity: n * w.rows)  // [n, rows] f32
        defer { shared.deallocate() }
        shared.initialize(repeating: .nan)
        let queue = UnsafeMutablePointer<ck_gemm_queue>.allocate(capacity: 1)
        defer { queue.deallocate() }
        queue.initialize(to: ck_gemm_queue(next: 0))
        let statuses = UnsafeMutableBufferPointer<ck_status>.allocate(capacity: 2)
        defer { statuses.deallocate() }
        statuses.initialize(repeating: CK_OK)
        nonisolated(unsafe) let (out, q, st) = (shared, queue, statuses)
        DispatchQueue.concurrentPerform(iterations: 2) { part in
            st[part] = withISA(isa) { runQueueKernel(kind, w, x: x, n: n, into: out.baseAddress!, queue: q, part: part, parts: 2) }
        }
        return (Array(shared), Array(statuses))
    }

    /// `ck_gemm_small_*_queue`: rows claimed in shrinking chunks by one part (which takes them all),
    /// by two racing threads, or split statically past CK_SMALL_N_MAX activation rows — every
    /// output gets the bits of the plain call (and N = 1, of the GEMV).
    @Test("a decode product shared through a row queue gives the plain call's bits, at every ISA level")
    func queueSharedSmallBatchIsBitIdentical() throws {
        var rng = SplitMix64(seed: 301)
        // Rows: several claims with a short last one; K over one VNNI group with a tail group; N = 1
        // (GEMV), a batch, a full chunk, and more than one chunk (static split).
        let shapes = [(rows: 203, cols: 288), (rows: 1000, cols: 64)]
        for format in WeightFormat.allCases {
            for kind in format == .q8 ? [KernelKind.small, .smallInt8Acts] : [.small] {
                for shape in shapes {
                    let w = try TestMatrix(format: format, rows: shape.rows, cols: shape.cols, rng: &rng)
                    for n in [1, 3, 8, 11] {
                        let x = rng.gaussians(n * shape.cols)  // [n, K] f32
                        for level in availableLevels {
                            let isa = try #require(ck_isa(rawValue: level))
                            let what = "\(kind) \(format) \(shape) N \(n) at \(String(cString: ck_isa_name(isa)))"
                            var plain = [Float](repeating: .nan, count: n * shape.rows)  // [n, rows] f32
                            try #require(withISA(isa) { runKernel(kind, w, x: x, n: n, y: &plain, ldy: shape.rows, m0: 0, m1: shape.rows) } == CK_OK)
                            if n == 1 {
                                var gemv = [Float](repeating: .nan, count: shape.rows)  // [rows] f32
                                let single: KernelKind = kind == .small ? .gemv : .gemvInt8Acts
                                try #require(withISA(isa) { runKernel(single, w, x: x, n: 1, y: &gemv, ldy: 0, m0: 0, m1: shape.rows) } == CK_OK)
                                #expect(zip(plain, gemv).allSatisfy { $0.bitPattern == $1.bitPattern }, "GEMV, \(what)")
                            }
                            var serial = [Float](repeating: .nan, count: n * shape.rows)  // [n, rows] f32
                            var queue = ck_gemm_queue(next: 0)
                            for part in 0..<2 {
                                try #require(withISA(isa) { runQueueKernel(kind, w, x: x, n: n, y: &serial, queue: &queue, part: part, parts: 2) } == CK_OK)
                            }
                            #expect(zip(plain, serial).allSatisfy { $0.bitPattern == $1.bitPattern }, "serial parts, \(what)")
                            let raced = racingQueueParts(kind, w, x: x, n: n, isa: isa)
                            #expect(raced.statuses.allSatisfy { $0 == CK_OK }, "\(what)")
                            #expect(zip(plain, raced.y).allSatisfy { $0.bitPattern == $1.bitPattern }, "two threads, \(what)")
                        }
                    }
                }
            }
        }
    }

    @Test("prefill GEMM matches the f64 reference at every ISA level")
    func prefillGemm() throws {
        var rng = SplitMix64(seed: 200)
        var report = ErrorReport()
        for format in [WeightFormat.bf16, .q8, .q4] {
            // Small blocks, K over several reduction blocks (KC = 256/512), N beyond one activation
            // block (NC = 192/384/512) with a column sub-range, M over one column block, odd K for bf16.
            var cases = [KernelCase(rows: 37, cols: 96, batch: 1, m0: 0, m1: 37),
                         KernelCase(rows: 37, cols: 96, batch: 13, m0: 0, m1: 37),
                         KernelCase(rows: 67, cols: 1056, batch: 40, m0: 3, m1: 66),
                         KernelCase(rows: 33, cols: 160, batch: 530, m0: 1, m1: 33),
                         KernelCase(rows: 600, cols: 96, batch: 14, m0: 5, m1: 597)]  // M over MC = 256/512
            // AMX edge cases: K = 32 (one k step) with tiny N and M not a multiple of 32; N = 45 and 48
            // (not a multiple of 32 / of 16 only) over five AMX K blocks (K = 4160, blocks ≤ 1024) on a
            // column sub-range; N = 9 over several column blocks (M = 1100 > 512 at K = 96).
            cases += [KernelCase(rows: 70, cols: 32, batch: 9, m0: 0, m1: 70),
                      KernelCase(rows: 45, cols: 4160, batch: 45, m0: 2, m1: 45),
                      KernelCase(rows: 33, cols: 4160, batch: 48, m0: 0, m1: 33),
                      KernelCase(rows: 1100, cols: 96, batch: 9, m0: 30, m1: 1100)]
            // More rows than one packed AMX X slice holds (2048 rows at K blocks of 1024): two N blocks.
            if format == .q8 { cases.append(KernelCase(rows: 3, cols: 4096, batch: 2080, m0: 0, m1: 3)) }
            if format == .bf16 {
                cases.append(KernelCase(rows: 21, cols: 1001, batch: 7, m0: 0, m1: 21))
                cases.append(KernelCase(rows: 19, cols: 4099, batch: 17, m0: 0, m1: 19))  // K tail in the last K block
            }
            for c in cases {
                let w = try TestMatrix(format: format, rows: c.rows, cols: c.cols, rng: &rng)
                report.add(.gemm, format, try errorsAtAllLevels(.gemm, w, c, rng: &rng))
            }
        }
        report.print(title: "prefill max relative error")
    }

    @Test("kernel throughput (set COGJOBS_KERNEL_BENCH=1, =prefill for the model-shape GEMMs only, =decode for the decode kernels only; release build)",
          .enabled(if: ["1", "prefill", "decode"].contains(ProcessInfo.processInfo.environment["COGJOBS_KERNEL_BENCH"])))
    func benchmark() throws {
        switch ProcessInfo.processInfo.environment["COGJOBS_KERNEL_BENCH"] {
        case "prefill":
            var rng = SplitMix64(seed: 43)
            return try KernelBenchmark().prefillModelShapes(rng: &rng)
        case "decode":
            var rng = SplitMix64(seed: 42)
            let weights = rng.gaussians(KernelBenchmark().rows * KernelBenchmark().cols)  // [rows, cols] f32
            let buffer = KernelBenchmark.ReadBuffer()
            KernelBenchmark().readBandwidth(buffer)
            return try KernelBenchmark().decode(weights, buffer: buffer)
        default: break
        }
        try KernelBenchmark().run()
    }
}

// MARK: - Benchmark

/// Measures the kernels on real-size shapes. Wall-clock medians; the machine is shared, so compare
/// numbers taken in the same run.
struct KernelBenchmark {
    let rows = 11008, cols = 4096  // one CogVLM-17B gate/up projection [11008, 4096]
    let repeats = 5

    /// Median wall time of `body` over `repeats` runs after one warm-up run.
    func median(_ body: () -> Void) -> Double {
        body()
        var times: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return times.sorted()[repeats / 2]
    }

    /// Shortest wall time of `body` over `repeats` runs after one warm-up run (the least disturbed run
    /// on a shared machine).
    func fastest(_ body: () -> Void) -> Double {
        body()
        var best = Double.infinity
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return best
    }

    /// Runs body(thread, threads) on `threads` Dispatch worker threads (not the Swift concurrency pool).
    func parallel(_ threads: Int, _ body: (Int, Int) -> Void) {
        if threads == 1 { return body(0, 1) }
        withoutActuallyEscaping(body) { body in
            let shared = SharedBody(body: body)
            DispatchQueue.concurrentPerform(iterations: threads) { shared.body($0, threads) }
        }
    }

    /// Row range of `thread` when `count` rows are split evenly.
    func share(_ count: Int, _ thread: Int, _ threads: Int) -> (Int, Int) {
        (count * thread / threads, count * (thread + 1) / threads)
    }

    func run() throws {
        let isa = String(cString: ck_isa_name(ck_active_isa()))
        let core = String(cString: openblas_get_corename())
        print("bench: CKernels level \(isa); OpenBLAS core \(core) (set OPENBLAS_CORETYPE=SkylakeX if this says Prescott)")
        probes()
        var rng = SplitMix64(seed: 42)
        let weights = rng.gaussians(rows * cols)  // [rows, cols] f32
        do {
            let buffer = ReadBuffer()
            readBandwidth(buffer)
            try decode(weights, buffer: buffer)
        }
        try prefill(weights, rng: &rng)
        try prefillModelShapes(rng: &rng)
    }

    /// GFLOPS of one AMX tdpbf16ps instruction-peak run on `threads` threads (0 without AMX).
    func amxPeak(threads: Int) -> Double {
        guard ck_active_isa() == .amx else { return 0 }
        let iterations: UInt64 = 400_000
        let seconds = fastest { parallel(threads) { _, _ in _ = ck_amx_bf16_peak(iterations) } }
        return Double(threads) * ck_amx_bf16_peak(1) * Double(iterations) / seconds / 1e9
    }

    /// bf16 dot, f32 FMA and AMX instruction peaks.
    func probes() {
        let iterations: UInt64 = 20_000_000
        for threads in [1, 2] {
            var line = "bench: peak \(threads) thread(s):"
            for (name, level, amx) in [("f32 FMA", ck_isa.avx512, false), ("vdpbf16ps", ck_isa.avx512BF16, false),
                                       ("AMX bf16", ck_isa.amx, true)] where level.rawValue <= ck_detected_isa().rawValue {
                let amxIterations = iterations / 50
                let seconds = median {
                    parallel(threads) { _, _ in
                        withISA(level) {
                            _ = amx ? ck_amx_bf16_peak(amxIterations) : ck_bf16_dot_peak(iterations)
                        }
                    }
                }
                let flops = Double(threads) * (withISA(level) { amx ? ck_amx_bf16_peak(1) : ck_bf16_dot_peak(1) })
                    * Double(amx ? amxIterations : iterations)
                line += " \(name) \(String(format: "%.0f", flops / seconds / 1e9)) GFLOPS;"
            }
            print(line)
        }
    }

    /// A 1 GiB buffer for read-bandwidth passes.
    final class ReadBuffer {
        let bytes = 1 << 30
        let pointer: UnsafeMutableRawPointer
        init() {
            pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            pointer.initializeMemory(as: UInt8.self, repeating: 1, count: bytes)
        }
        deinit { pointer.deallocate() }
    }

    /// Seconds for one ck_read_bandwidth pass over `bytes` of the buffer on `threads` threads.
    func readPass(_ buffer: ReadBuffer, bytes: Int, threads: Int) -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        parallel(threads) { t, n in
            let (lo, hi) = share(bytes / 64, t, n)
            _ = ck_read_bandwidth(buffer.pointer + lo * 64, (hi - lo) * 64)
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    }

    /// ck_read_bandwidth over 1 GiB, 1 and 2 threads (medians).
    func readBandwidth(_ buffer: ReadBuffer) {
        for threads in [1, 2] {
            let seconds = median { _ = readPass(buffer, bytes: buffer.bytes, threads: threads) }
            print("bench: read bandwidth \(threads) thread(s): \(String(format: "%.1f", Double(buffer.bytes) / seconds / 1e9)) GB/s")
        }
    }

    /// GEMV and batched decode over a weight set larger than the caches (copies of one matrix,
    /// like successive layers), 1 and 2 threads splitting rows. Each kernel pass is paired with a
    /// read pass over the same number of bytes right before it; the median ratio of the pairs is the
    /// "fraction of read bandwidth" (robust to other load on a shared machine).
    func decode(_ source: [Float], buffer: ReadBuffer) throws {
        let count = rows * cols
        var q8 = [Int8](repeating: 0, count: count), s8 = [UInt16](repeating: 0, count: count / 32)
        try #require(ck_quantize_q8(source, &q8, &s8, count) == CK_OK)
        var q4 = [UInt8](repeating: 0, count: count / 2), s4 = [UInt16](repeating: 0, count: count / 32)
        try #require(ck_quantize_q4(source, &q4, &s4, count) == CK_OK)
        var bf16 = [UInt16](repeating: 0, count: count)
        ck_f32_to_bf16_rne(source, &bf16, count)

        // (format, int8 activations): q8 also as q8×q8 (ck_*_q8q8, the `fast` precision's kernel).
        for (format, int8Acts) in [(WeightFormat.bf16, false), (.q8, false), (.q8, true), (.q4, false)] {
            let (data, scales): ([UInt8], [UInt16]) = switch format {
            case .bf16: (bf16.withUnsafeBytes { Array($0) }, [])
            case .q8: (q8.withUnsafeBytes { Array($0) }, s8)
            default: (q4, s4)
            }
            let matrixBytes = data.count + scales.count * 2
            let copies = max(2, (768 << 20) / matrixBytes + 1)  // > 768 MiB streamed per pass
            let set = UnsafeMutableRawPointer.allocate(byteCount: copies * data.count, alignment: 64)
            let scaleSet = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, copies * scales.count))
            defer {
                set.deallocate()
                scaleSet.deallocate()
            }
            for c in 0..<copies {
                data.withUnsafeBytes { (set + c * data.count).copyMemory(from: $0.baseAddress!, byteCount: data.count) }
                scales.withUnsafeBufferPointer { (scaleSet + c * scales.count).update(from: $0.baseAddress!, count: scales.count) }
            }
            let setBytes = copies * matrixBytes
            for batch in [1, 4, 8] {
                let x = SplitMix64(seed: 9).gaussiansArray(batch * cols)  // [batch, cols] f32
                var y = [Float](repeating: 0, count: batch * rows)        // [batch, rows] f32
                for threads in [1, 2] {
                    var kernelTimes: [Double] = [], ratios: [Double] = []
                    y.withUnsafeMutableBufferPointer { out in
                        for pass in 0...repeats {
                            let read = readPass(buffer, bytes: min(setBytes, buffer.bytes), threads: threads)
                            let start = DispatchTime.now().uptimeNanoseconds
                            parallel(threads) { t, n in
                                let (m0, m1) = share(rows, t, n)
                                for c in 0..<copies {
                                    let w = set + c * data.count, s = scaleSet + c * scales.count
                                    let status = gemvCall(format, int8Acts: int8Acts, w, s, x, batch, out.baseAddress!, m0, m1)
                                    precondition(status == CK_OK, "kernel status \(status)")  // shapes are ours
                                }
                            }
                            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
                            if pass == 0 { continue }  // warm-up
                            kernelTimes.append(seconds)
                            ratios.append((Double(setBytes) / seconds) / (Double(min(setBytes, buffer.bytes)) / read))
                        }
                    }
                    let seconds = kernelTimes.sorted()[kernelTimes.count / 2]
                    let ratio = ratios.sorted()[ratios.count / 2]
                    let name = format.rawValue + (int8Acts ? "q8" : "")
                    let kernel = batch == 1 ? "ck_gemv_\(name)" : "ck_gemm_small_\(name) N=\(batch)"
                    print("bench: \(kernel) \(threads) thread(s): \(String(format: "%.1f", Double(setBytes) / seconds / 1e9)) GB/s, "
                        + "\(String(format: "%.0f", 100 * ratio)) % of paired read, "
                        + "\(String(format: "%.2f", seconds / Double(copies) * 1e3)) ms per [11008, 4096]")
                }
                #expect(y.allSatisfy { $0.isFinite })
            }
        }
    }

    /// Calls the decode kernel of `format` with a raw weight pointer.
    func gemvCall(_ format: WeightFormat, int8Acts: Bool, _ w: UnsafeRawPointer, _ s: UnsafePointer<UInt16>,
                  _ x: [Float], _ batch: Int, _ y: UnsafeMutablePointer<Float>, _ m0: Int, _ m1: Int) -> ck_status {
        if int8Acts {
            guard format == .q8 else { return CK_ERR_SHAPE }
            let q = w.assumingMemoryBound(to: Int8.self)
            return batch == 1 ? ck_gemv_q8q8(q, s, cols, x, y, m0, m1) : ck_gemm_small_q8q8(q, s, cols, x, batch, y, rows, m0, m1)
        }
        switch (format, batch) {
        case (.bf16, 1): return ck_gemv_bf16(w.assumingMemoryBound(to: UInt16.self), cols, x, y, m0, m1)
        case (.q8, 1): return ck_gemv_q8(w.assumingMemoryBound(to: Int8.self), s, cols, x, y, m0, m1)
        case (.q4, 1): return ck_gemv_q4(w.assumingMemoryBound(to: UInt8.self), s, cols, x, y, m0, m1)
        case (.bf16, _): return ck_gemm_small_bf16(w.assumingMemoryBound(to: UInt16.self), cols, x, batch, y, rows, m0, m1)
        case (.q8, _): return ck_gemm_small_q8(w.assumingMemoryBound(to: Int8.self), s, cols, x, batch, y, rows, m0, m1)
        case (.q4, _): return ck_gemm_small_q4(w.assumingMemoryBound(to: UInt8.self), s, cols, x, batch, y, rows, m0, m1)
        default: return CK_ERR_SHAPE
        }
    }

    /// Prefill GEMM at N = 256 against OpenBLAS sgemm on the same (dequantized) weights.
    func prefill(_ source: [Float], rng: inout SplitMix64) throws {
        let batch = 256
        let flops = 2.0 * Double(batch) * Double(rows) * Double(cols)
        let x = rng.gaussians(batch * cols)  // [256, cols] f32
        var reference = [Float](repeating: 0, count: batch * rows)  // [256, rows] f32
        for threads in [1, 2] {
            openblas_set_num_threads(Int32(threads))
            let seconds = median {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(batch), Int32(rows), Int32(cols), 1, x,
                            Int32(cols), source, Int32(cols), 0, &reference, Int32(rows))
            }
            print("bench: cblas_sgemm N=256 \(threads) thread(s): \(String(format: "%.0f", flops / seconds / 1e9)) GFLOPS")
        }
        openblas_set_num_threads(2)
        for format in [WeightFormat.bf16, .q8, .q4] {
            let w = try TestMatrix(quantizing: source, format: format, rows: rows, cols: cols)
            var y = [Float](repeating: 0, count: batch * rows)  // [256, rows] f32
            for threads in [1, 2] {
                let seconds = y.withUnsafeMutableBufferPointer { out in
                    median {
                        parallel(threads) { t, n in
                            let (m0, m1) = share(rows / 32, t, n)  // split on 32-column panels
                            let status = gemmCall(w, x, batch, out.baseAddress!, m0 * 32, min(m1 * 32, rows))
                            precondition(status == CK_OK, "kernel status \(status)")  // shapes are ours
                        }
                    }
                }
                print("bench: ck_gemm_\(format.rawValue) N=256 \(threads) thread(s): "
                    + "\(String(format: "%.0f", flops / seconds / 1e9)) GFLOPS")
            }
            // At full size the result must still agree with sgemm on the original f32 weights, within
            // the format's own error (bf16 activations, quantized weights).
            var worst = 0.0, energy = 0.0
            for i in 0..<(batch * rows) {
                worst = max(worst, Double(abs(y[i] - reference[i])))
                energy += Double(reference[i]) * Double(reference[i])
            }
            let rms = (energy / Double(batch * rows)).squareRoot()
            print("bench: ck_gemm_\(format.rawValue) vs sgemm on f32 weights: max |diff| = "
                + "\(String(format: "%.3f", worst / rms)) x RMS(output)")
            #expect(worst / rms < (format == .q4 ? 1.0 : 0.1))
        }
    }

    /// The CogVLM-17B prefill projections (K x M; N = tokens of a 1-image prompt) for bf16, q8 and q4
    /// weights on 2 threads, each its own 32-aligned column half (as WeightMatrix.apply splits them),
    /// with the fraction of the AMX instruction peak measured just before each shape. Best of
    /// `repeats` runs: on a shared machine the medians swing by 2x from run to run.
    func prefillModelShapes(rng: inout SplitMix64) throws {
        let shapes: [(name: String, k: Int, m: Int, n: Int)] = [
            ("language qkv", 4096, 12288, 1244), ("language dense", 4096, 4096, 1244),
            ("language gate/up", 4096, 11008, 1244), ("language down", 11008, 4096, 1244),
            ("vision qkv", 1792, 5376, 1226), ("vision dense", 1792, 1792, 1226),
            ("vision fc1", 1792, 15360, 1226), ("vision fc2", 15360, 1792, 1226),
        ]
        let threads = 2
        print("bench: prefill GEMM at model shapes, \(threads) threads, fastest of \(repeats) (wall clock)")
        for shape in shapes {
            let source = rng.gaussians(shape.m * shape.k)  // [M, K] f32
            let x = rng.gaussians(shape.n * shape.k)       // [N, K] f32
            var y = [Float](repeating: 0, count: shape.n * shape.m)  // [N, M] f32
            let flops = 2.0 * Double(shape.n) * Double(shape.m) * Double(shape.k)
            let peak = amxPeak(threads: threads)
            var line = "bench: \(shape.name) K=\(shape.k) M=\(shape.m) N=\(shape.n):"
            for format in [WeightFormat.bf16, .q8, .q4] {
                let w = try TestMatrix(quantizing: source, format: format, rows: shape.m, cols: shape.k)
                let seconds = y.withUnsafeMutableBufferPointer { out in
                    fastest {
                        parallel(threads) { t, n in
                            let (p0, p1) = share(shape.m / 32, t, n)  // split on 32-column panels
                            let m1 = t == n - 1 ? shape.m : p1 * 32
                            let status = gemmCall(w, x, shape.n, out.baseAddress!, ldy: shape.m, p0 * 32, m1)
                            precondition(status == CK_OK, "kernel status \(status)")  // shapes are ours
                        }
                    }
                }
                let gflops = flops / seconds / 1e9
                line += " \(format.rawValue) \(String(format: "%.0f", gflops)) GFLOPS"
                if peak > 0 { line += " (\(String(format: "%.0f", 100 * gflops / peak)) %)" }
                line += ";"
            }
            if peak > 0 { line += " AMX peak \(String(format: "%.0f", peak))" }
            print(line)
            #expect(y.allSatisfy { $0.isFinite })
        }
    }

    /// Calls the prefill kernel for `w` (Y rows `ldy` apart, default: w.rows).
    func gemmCall(_ w: TestMatrix, _ x: [Float], _ batch: Int, _ y: UnsafeMutablePointer<Float>, ldy: Int? = nil,
                  _ m0: Int, _ m1: Int) -> ck_status {
        let ldy = ldy ?? w.rows
        switch w.format {
        case .bf16: return ck_gemm_bf16(w.bf16, w.cols, x, batch, y, ldy, m0, m1)
        case .q8: return ck_gemm_q8(w.q8, w.scales, w.cols, x, batch, y, ldy, m0, m1)
        case .q4: return ck_gemm_q4(w.q4, w.scales, w.cols, x, batch, y, ldy, m0, m1)
        case .f32: return CK_ERR_SHAPE
        }
    }
}

/// Hands a benchmark body to Dispatch worker threads. @unchecked because the closure captures raw
/// pointers: every thread reads the shared inputs and writes a disjoint row range of the output, and
/// concurrentPerform returns only after all of them finished.
struct SharedBody: @unchecked Sendable {
    let body: (Int, Int) -> Void
}

extension SplitMix64 {
    /// `count` standard normal samples from a fresh copy of this generator.
    func gaussiansArray(_ count: Int) -> [Float] {
        var copy = self
        return copy.gaussians(count)
    }
}

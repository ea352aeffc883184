// ElementwiseKernelTests — the CKernels elementwise and row kernels (exp, erf, sin/cos, GELU,
// SiLU·up, softmax, RMSNorm, LayerNorm, rotary) at every ISA level this machine has, against
// double-precision references written here and against the former Swift code (LegacyOps); plus
// the threaded `Ops` / `Rotary` forms against the single-threaded ones.
import CKernels
import CogTensor
import Foundation
import Testing

// MARK: - Tolerances

/// Allowed errors of the elementwise kernels (measured values are printed by the tests).
enum ElementwiseTolerance {
    /// exp, in ulps of the f32 result (normal range).
    static let expULP = 2.0
    /// erf, in ulps of the f32 result.
    static let erfULP = 1.0
    /// sin and cos, absolute (the brief asks ≤ 1e-6 against sinf/cosf; the kernels do far better).
    static let sinCosAbsolute = 1.5e-7
    /// GELU against the exact (double) GELU, as |Δ| / |x|: the reference formula rounds erf and
    /// 1 + erf to f32, an absolute error in Φ(x) = (1 + erf) / 2.
    static let geluPerUnitX = 1.5e-7
    /// GELU against the former Swift code (glibc erff), as |Δ| / |x|: one rounding step of 1 + erf.
    static let geluVersusLegacyPerUnitX = 0x1p-23
    /// SiLU·up, relative where |result| ≥ 1e-30 (exp ≤ 1 ulp, then a division and a product).
    static let siluRelative = 4e-7
    /// Softmax, relative per probability, given x − max rounded to f32 as the formula does.
    static let softmaxRelative = 3e-7
    /// RMSNorm / LayerNorm against an all-double computation, relative to the output's scale.
    static let normRelative = 1e-6
    /// Rotary, |Δ| / (|x[j]| + |x[j + d/2]|).
    static let ropeRelative = 2.5e-7
}

// MARK: - Helpers

/// Size of one f32 ulp at the magnitude of `value` (subnormal spacing below the normal range).
func f32ULP(_ value: Double) -> Double {
    let magnitude = Float(min(abs(value), Double(Float.greatestFiniteMagnitude)))
    return Double(max(magnitude.ulp, Float.leastNonzeroMagnitude))
}

/// The name of an ISA level.
func levelName(_ isa: ck_isa) -> String { String(cString: ck_isa_name(isa)) }

/// `body` at every available ISA level (lowest first), with the level as argument.
func atEveryLevel(_ body: (ck_isa) throws -> Void) throws {
    for level in availableLevels {
        let isa = try #require(ck_isa(rawValue: level))
        try withISA(isa) { try body(isa) }
    }
}

/// `n` values evenly spaced over `range` (both ends included).
func grid(_ range: ClosedRange<Double>, count n: Int) -> [Float] {
    (0..<n).map { Float(range.lowerBound + (range.upperBound - range.lowerBound) * Double($0) / Double(n - 1)) }
}

/// Every `step`-th float between `a` and `b` (both positive), walking the bit patterns.
func floatBits(from a: Float, to b: Float, step: UInt32) -> [Float] {
    stride(from: a.bitPattern, to: b.bitPattern, by: Int(step)).map { Float(bitPattern: $0) }
}

func formatted(_ value: Double, _ format: String = "%.3g") -> String { String(format: format, value) }

// MARK: - Tests

@Suite("CKernels elementwise")
struct ElementwiseKernelTests {
    @Test("exp, erf and sin/cos match double references at every ISA level")
    func vectorMath() throws {
        // exp over its whole finite range, plus every 64th float of [2^-20, 1] with both signs.
        let small = floatBits(from: 0x1p-20, to: 1, step: 64)
        let expInputs = grid(-103...88.7, count: 1 << 19) + small + small.map { -$0 }
        let expReference = expInputs.map { Foundation.exp(Double($0)) }
        // erf on a dense grid of [-5, 5] and geometrically down to 1e-30.
        let tiny = floatBits(from: 1e-30, to: 0.5, step: 1024)
        let erfInputs = grid(-5...5, count: 1 << 19) + tiny + tiny.map { -$0 } + [0, 4, -4, .infinity, -.infinity]
        let erfReference = erfInputs.map { Foundation.erf(Double($0)) }
        // Rotary angles: f32 positions 0..<8192 times CogVLM's inverse frequencies, plus a grid.
        let invFreq = (0..<64).map { Float(pow(10000.0, -Double(2 * $0) / 128)) }
        let angles = (0..<8192).flatMap { pos in invFreq.map { Float(pos) * $0 } } + grid(-1e4...1e4, count: 1 << 18)
        let sinReference = angles.map { Foundation.sin(Double($0)) }
        let cosReference = angles.map { Foundation.cos(Double($0)) }
        let libmSin = angles.map { Foundation.sin($0) }, libmCos = angles.map { Foundation.cos($0) }

        try atEveryLevel { isa in
            var out = [Float](repeating: 0, count: expInputs.count)
            ck_exp_f32(expInputs, &out, expInputs.count)
            var expError = 0.0
            for i in expInputs.indices where expReference[i] >= Double(Float.leastNormalMagnitude) {
                expError = max(expError, abs(Double(out[i]) - expReference[i]) / f32ULP(expReference[i]))
            }
            #expect(expAtSpecialValues() == [Float.infinity, 0, 1], "\(levelName(isa))")

            out = [Float](repeating: 0, count: erfInputs.count)
            ck_erf_f32(erfInputs, &out, erfInputs.count)
            var erfError = 0.0
            for i in erfInputs.indices where erfInputs[i] != 0 {
                erfError = max(erfError, abs(Double(out[i]) - erfReference[i]) / f32ULP(erfReference[i]))
            }

            var s = [Float](repeating: 0, count: angles.count), c = s
            ck_sincos_f32(angles, &s, &c, angles.count)
            var sinCosError = 0.0, versusLibm = 0.0
            for i in angles.indices {
                sinCosError = max(sinCosError, abs(Double(s[i]) - sinReference[i]), abs(Double(c[i]) - cosReference[i]))
                versusLibm = max(versusLibm, Double(abs(s[i] - libmSin[i])), Double(abs(c[i] - libmCos[i])))
            }
            print("CKernels[\(levelName(isa))] vector math: exp \(formatted(expError, "%.2f")) ulp "
                + "(tol \(ElementwiseTolerance.expULP)), erf \(formatted(erfError, "%.2f")) ulp "
                + "(tol \(ElementwiseTolerance.erfULP)), sin/cos \(formatted(sinCosError)) absolute "
                + "(tol \(ElementwiseTolerance.sinCosAbsolute); vs sinf/cosf \(formatted(versusLibm)))")
            #expect(expError <= ElementwiseTolerance.expULP, "\(levelName(isa))")
            #expect(erfError <= ElementwiseTolerance.erfULP, "\(levelName(isa))")
            #expect(sinCosError <= ElementwiseTolerance.sinCosAbsolute, "\(levelName(isa))")
            #expect(versusLibm <= ElementwiseTolerance.sinCosAbsolute, "\(levelName(isa))")
        }
    }

    @Test("GELU matches the exact GELU and the former glibc-erff code at every ISA level")
    func gelu() throws {
        let inputs = grid(-10...10, count: (1 << 20) + 13)  // odd count: exercises the masked tail
        let exact = inputs.map { x -> Double in  // x·Φ(x) in double
            let v = Double(x)
            return 0.5 * v * Foundation.erfc(-v / 2.0.squareRoot())
        }
        var legacy = inputs
        LegacyOps.geluErf(&legacy, count: legacy.count)
        try atEveryLevel { isa in
            var out = inputs
            Ops.geluErf(&out, count: out.count)
            var perUnitX = 0.0, versusLegacy = 0.0, positiveULP = 0.0
            for i in inputs.indices where inputs[i] != 0 {
                let x = Double(abs(inputs[i]))
                perUnitX = max(perUnitX, abs(Double(out[i]) - exact[i]) / x)
                let d = abs(Double(out[i]) - Double(legacy[i]))
                versusLegacy = max(versusLegacy, d / x)
                if inputs[i] > 0 { positiveULP = max(positiveULP, d / f32ULP(Double(legacy[i]))) }
            }
            print("CKernels[\(levelName(isa))] GELU over \(inputs.count) points of [-10, 10]: |Δ|/|x| vs exact "
                + "\(formatted(perUnitX)) (tol \(formatted(ElementwiseTolerance.geluPerUnitX))), vs glibc-erff code "
                + "\(formatted(versusLegacy)) (tol 2^-23), \(formatted(positiveULP, "%.1f")) ulp for x > 0")
            #expect(perUnitX <= ElementwiseTolerance.geluPerUnitX, "\(levelName(isa))")
            #expect(versusLegacy <= ElementwiseTolerance.geluVersusLegacyPerUnitX, "\(levelName(isa))")

            // Special values behave like the reference formula ½·x·(1 + erf(x/√2)).
            let specials: [Float] = [0, -0.0, 1e-30, -1e-30, 30, -30, 1e30, -1e30, .infinity, -.infinity, .nan]
            var got = specials, want = specials
            Ops.geluErf(&got, count: got.count)
            LegacyOps.geluErf(&want, count: want.count)
            for (g, w) in zip(got, want) { #expect(g == w || (g.isNaN && w.isNaN), "\(levelName(isa)): \(g) vs \(w)") }
        }
    }

    @Test("SiLU·up matches the double reference at every ISA level, also in place")
    func siluMul() throws {
        var rng = SplitMix64(seed: 7)
        let extremes: [Float] = [-104, -100, -88, -87, -20, -1e-30, 0, 1e-30, 20, 88, 89, 100]
        let gate = rng.gaussians(100_003).map { $0 * 4 } + extremes  // [n] f32
        let up = rng.gaussians(gate.count)                           // [n] f32
        let reference = zip(gate, up).map { g, u in Double(g) / (1 + Foundation.exp(-Double(g))) * Double(u) }
        try atEveryLevel { isa in
            var out = [Float](repeating: .nan, count: gate.count)
            Ops.siluMul(gate, up, count: gate.count, out: &out)
            var worst = 0.0
            for i in gate.indices {
                worst = max(worst, abs(Double(out[i]) - reference[i]) / max(abs(reference[i]), 1e-30))
            }
            var inPlace = gate
            inPlace.withUnsafeMutableBufferPointer { g in
                Ops.siluMul(g.baseAddress!, up, count: g.count, out: g.baseAddress!)
            }
            print("CKernels[\(levelName(isa))] SiLU·up over \(gate.count) values: max relative error "
                + "\(formatted(worst)) (tol \(ElementwiseTolerance.siluRelative))")
            #expect(worst <= ElementwiseTolerance.siluRelative, "\(levelName(isa))")
            #expect(inPlace == out, "\(levelName(isa)) in place")
        }
    }

    @Test("softmax matches the double reference at every ISA level", arguments: [1, 7, 16, 17, 33, 1000, 4099])
    func softmax(count: Int) throws {
        var rng = SplitMix64(seed: UInt64(count))
        var row = rng.gaussians(count).map { $0 * 6 + 3 }  // [count] f32
        if count > 8 { row[3] = -.infinity; row[count - 2] = -.infinity }  // masked entries give exact zeros
        // x − max is rounded to f32 in the formula itself (as in torch); the reference keeps that.
        let maxValue = row.max() ?? 0
        let exps = row.map { Foundation.exp(Double($0 - maxValue)) }
        let sum = exps.reduce(0, +)
        try atEveryLevel { isa in
            var out = row
            Ops.softmax(&out, count: count)
            var worst = 0.0
            for i in 0..<count {
                let want = exps[i] / sum
                worst = max(worst, want == 0 ? Double(abs(out[i])) * 1e30 : abs(Double(out[i]) - want) / want)
            }
            print("CKernels[\(levelName(isa))] softmax n=\(count): max relative error \(formatted(worst)) "
                + "(tol \(ElementwiseTolerance.softmaxRelative))")
            #expect(worst <= ElementwiseTolerance.softmaxRelative, "\(levelName(isa)) n=\(count)")
        }
    }

    @Test("RMSNorm and LayerNorm match double references at every ISA level",
          arguments: [1, 7, 16, 17, 100, 1795, 4096])
    func norms(dim: Int) throws {
        let rows = 5
        var rng = SplitMix64(seed: UInt64(dim) + 100)
        let x = rng.gaussians(rows * dim).map { $0 * 3 + 0.5 }  // [rows, dim] f32
        let w = rng.gaussians(dim), b = rng.gaussians(dim)        // [dim] f32
        let eps: Float = 1e-5
        // All-double references.
        var rmsWant = [Double](repeating: 0, count: rows * dim), lnWant = rmsWant, lnScale = rmsWant
        for r in 0..<rows {
            let xr = x[(r * dim)..<((r + 1) * dim)].map(Double.init)
            let inv = 1 / (xr.map { $0 * $0 }.reduce(0, +) / Double(dim) + Double(eps)).squareRoot()
            let mean = xr.reduce(0, +) / Double(dim)
            let lnInv = 1 / (xr.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(dim) + Double(eps)).squareRoot()
            for i in 0..<dim {
                rmsWant[r * dim + i] = Double(w[i]) * xr[i] * inv
                lnWant[r * dim + i] = (xr[i] - mean) * lnInv * Double(w[i]) + Double(b[i])
                lnScale[r * dim + i] = abs((xr[i] - mean) * lnInv * Double(w[i])) + abs(Double(b[i]))
            }
        }
        var rmsLegacy = [Float](repeating: 0, count: rows * dim), lnLegacy = rmsLegacy
        LegacyOps.rmsNorm(x, weight: w, eps: eps, rows: rows, dim: dim, out: &rmsLegacy)
        LegacyOps.layerNorm(x, weight: w, bias: b, eps: eps, rows: rows, dim: dim, out: &lnLegacy)
        try atEveryLevel { isa in
            var rms = [Float](repeating: .nan, count: rows * dim), ln = rms
            Ops.rmsNorm(x, weight: w, eps: eps, rows: rows, dim: dim, out: &rms)
            Ops.layerNorm(x, weight: w, bias: b, eps: eps, rows: rows, dim: dim, out: &ln)
            var rmsError = 0.0, lnError = 0.0, legacyULP = 0.0
            for i in 0..<(rows * dim) {
                rmsError = max(rmsError, abs(Double(rms[i]) - rmsWant[i]) / (abs(rmsWant[i]) + 1e-30))
                lnError = max(lnError, abs(Double(ln[i]) - lnWant[i]) / lnScale[i])
                legacyULP = max(legacyULP, Double(abs(rms[i] - rmsLegacy[i])) / f32ULP(Double(rmsLegacy[i])),
                                Double(abs(ln[i] - lnLegacy[i])) / f32ULP(Double(lnLegacy[i])))
            }
            // In place (out == x) gives the same values.
            var inPlace = x
            inPlace.withUnsafeMutableBufferPointer { p in
                Ops.rmsNorm(p.baseAddress!, weight: w, eps: eps, rows: rows, dim: dim, out: p.baseAddress!)
            }
            print("CKernels[\(levelName(isa))] norms dim=\(dim): RMSNorm \(formatted(rmsError)), LayerNorm "
                + "\(formatted(lnError)) relative (tol \(ElementwiseTolerance.normRelative)); vs former Swift "
                + "\(formatted(legacyULP, "%.1f")) ulp")
            #expect(rmsError <= ElementwiseTolerance.normRelative, "\(levelName(isa)) dim=\(dim)")
            #expect(lnError <= ElementwiseTolerance.normRelative, "\(levelName(isa)) dim=\(dim)")
            #expect(inPlace == rms, "\(levelName(isa)) dim=\(dim) in place")
        }
    }

    @Test("rotary matches the double reference at every ISA level and leaves other columns alone",
          arguments: [(2, 1), (6, 3), (34, 2), (112, 3), (128, 2)])
    func rope(headDim: Int, heads: Int) throws {
        let rows = 37, offset = 3
        let stride = offset + heads * headDim + 5
        var rng = SplitMix64(seed: UInt64(headDim * 10 + heads))
        let x = rng.gaussians(rows * stride)  // [rows, stride] f32
        let positions = (0..<rows).map { r in r < 5 ? r : Int(rng.next() % 8000) }  // [rows]
        let invFreq = (0..<(headDim / 2)).map { Float(pow(10000.0, -Double(2 * $0) / Double(headDim))) }
        let half = headDim / 2
        var legacy = x
        positions.withUnsafeBufferPointer { p in
            LegacyOps.rotary(&legacy, rows: rows, stride: stride, offset: offset, heads: heads, headDim: headDim,
                             positions: p.baseAddress!, invFreq: invFreq)
        }
        try atEveryLevel { isa in
            var out = x
            positions.withUnsafeBufferPointer { p in
                Rotary(invFreq: invFreq).apply(&out, rows: rows, stride: stride, offset: offset, heads: heads,
                                               positions: p.baseAddress!)
            }
            var worst = 0.0, versusLegacy = 0.0, untouched = true
            for r in 0..<rows {
                for col in 0..<stride where col < offset || col >= offset + heads * headDim {
                    untouched = untouched && out[r * stride + col] == x[r * stride + col]
                }
                for h in 0..<heads {
                    let base = r * stride + offset + h * headDim
                    for j in 0..<half {
                        let theta = Double(Float(positions[r]) * invFreq[j])  // angle rounded to f32 like the reference
                        let a = Double(x[base + j]), b = Double(x[base + j + half])
                        let scale = abs(a) + abs(b)
                        let wantLow = a * Foundation.cos(theta) - b * Foundation.sin(theta)
                        let wantHigh = b * Foundation.cos(theta) + a * Foundation.sin(theta)
                        worst = max(worst, abs(Double(out[base + j]) - wantLow) / scale,
                                    abs(Double(out[base + j + half]) - wantHigh) / scale)
                        versusLegacy = max(versusLegacy, Double(abs(out[base + j] - legacy[base + j])) / scale,
                                           Double(abs(out[base + j + half] - legacy[base + j + half])) / scale)
                    }
                }
            }
            print("CKernels[\(levelName(isa))] rotary d=\(headDim) heads=\(heads): max |Δ|/(|a|+|b|) "
                + "\(formatted(worst)) (tol \(ElementwiseTolerance.ropeRelative)), "
                + "vs former Swift \(formatted(versusLegacy))")
            #expect(worst <= ElementwiseTolerance.ropeRelative, "\(levelName(isa))")
            #expect(untouched, "\(levelName(isa)): columns outside the heads changed")
        }
    }

    @Test("threaded Ops and Rotary give the same bits as the single-threaded forms")
    func threadedFormsAgree() {
        let runner = ParallelRunner(threads: 2)
        var rng = SplitMix64(seed: 99)
        let n = 100_003  // above Ops.parallelThreshold, odd
        let a = rng.gaussians(n).map { $0 * 3 }, b = rng.gaussians(n)  // [n] f32

        var single = a, threaded = a
        Ops.geluErf(&single, count: n)
        Ops.geluErf(&threaded, count: n, runner: runner)
        #expect(single == threaded, "GELU")

        var s1 = [Float](repeating: 0, count: n), s2 = s1
        Ops.siluMul(a, b, count: n, out: &s1)
        Ops.siluMul(a, b, count: n, out: &s2, runner: runner)
        #expect(s1 == s2, "SiLU·up")

        var sum1 = b, sum2 = b
        Ops.add(a, into: &sum1, count: n)
        Ops.add(a, into: &sum2, count: n, runner: runner)
        #expect(sum1 == sum2, "add")

        // x gets its own values: rows · dim (105 905) is more than n, and `Array(a.prefix(rows · dim))`
        // would hold only n of them, leaving the kernels to read past the end of the buffer (memory
        // another test may change between the single-threaded and the threaded call).
        let rows = 59, dim = 1795
        let x = rng.gaussians(rows * dim).map { $0 * 3 }, w = Array(b.prefix(dim))  // [rows, dim], [dim] f32
        var r1 = [Float](repeating: 0, count: rows * dim), r2 = r1, l1 = r1, l2 = r1
        Ops.rmsNorm(x, weight: w, eps: 1e-6, rows: rows, dim: dim, out: &r1)
        Ops.rmsNorm(x, weight: w, eps: 1e-6, rows: rows, dim: dim, out: &r2, runner: runner)
        Ops.layerNorm(x, weight: w, bias: w, eps: 1e-6, rows: rows, dim: dim, out: &l1)
        Ops.layerNorm(x, weight: w, bias: w, eps: 1e-6, rows: rows, dim: dim, out: &l2, runner: runner)
        #expect(r1 == r2, "RMSNorm")
        #expect(l1 == l2, "LayerNorm")

        let rotary = Rotary(invFreq: (0..<64).map { Float(pow(10000.0, -Double(2 * $0) / 128)) })
        let positions = (0..<300).map { $0 * 7 % 1300 }  // [300]
        var q1 = Array(a.prefix(300 * 320)), q2 = q1      // [300, 320]: 2 heads of 128 at offset 64
        positions.withUnsafeBufferPointer { p in
            rotary.apply(&q1, rows: 300, stride: 320, offset: 64, heads: 2, positions: p.baseAddress!)
            rotary.apply(&q2, rows: 300, stride: 320, offset: 64, heads: 2, positions: p.baseAddress!, runner: runner)
        }
        #expect(q1 == q2, "rotary")
    }

    @Test("bad shapes give status codes; empty inputs are no-ops")
    func edgeCases() {
        var x: [Float] = [1, 2, 3, 4]
        let positions: [Int32] = [0]
        let freq: [Float] = [1, 1]
        #expect(ck_rope_f32(&x, 1, 4, 0, 1, 3, positions, freq) == CK_ERR_SHAPE)  // odd head_dim
        #expect(ck_rope_f32(&x, 0, 4, 0, 1, 4, positions, freq) == CK_OK)
        #expect(x == [1, 2, 3, 4])
        Ops.softmax(&x, count: 0)
        Ops.geluErf(&x, count: 0)
        var y = x
        Ops.rmsNorm(x, weight: x, eps: 1e-6, rows: 0, dim: 4, out: &y)
        #expect(x == [1, 2, 3, 4] && y == x)
    }
}

/// exp(+big), exp(−big) and exp(0) from the vector kernel (overflow, underflow and the exact case).
private func expAtSpecialValues() -> [Float] {
    let x: [Float] = [89, -104, 0]
    var y = [Float](repeating: .nan, count: 3)
    ck_exp_f32(x, &y, 3)
    return y
}

/// ck_softmax_f32_flush: the `fast` attention's softmax without subnormal exponentials.
@Suite("CKernels softmax with flushed underflow")
struct SoftmaxFlushTests {
    @Test("equals ck_softmax_f32 bit for bit, except exactly 0 where x − max < −70, at every ISA level")
    func flushOnlyTheUnderflow() throws {
        var rng = SplitMix64(seed: 77)
        for (n, spread) in [(9217, Float(1)), (9217, 30), (1000, 60), (37, 200), (16, 0)] {
            let row = rng.gaussians(n).map { $0 * spread }
            let mx = row.max() ?? 0
            try atEveryLevel { isa in
                var exact = row, flushed = row
                ck_softmax_f32(&exact, n)
                ck_softmax_f32_flush(&flushed, n)
                var zeroed = 0
                for i in 0..<n {
                    if row[i] - mx < -70 {
                        #expect(flushed[i] == 0, "n=\(n) spread \(spread) element \(i) at \(levelName(isa))")
                        zeroed += 1
                    } else {
                        #expect(flushed[i].bitPattern == exact[i].bitPattern, "n=\(n) spread \(spread) element \(i) at \(levelName(isa))")
                    }
                }
                #expect(flushed.allSatisfy { $0 == 0 || $0.isNormal }, "no subnormal probability")
                if spread >= 30 { #expect(zeroed > 0) }
            }
        }
    }
}

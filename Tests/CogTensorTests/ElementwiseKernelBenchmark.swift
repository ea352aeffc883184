// ElementwiseKernelBenchmark — the former Swift elementwise code (LegacyOps) and sgemm attention
// against the CKernels versions at CogVLM-17B shapes, on 1 and 2 threads. Runs only with
// COGJOBS_KERNEL_BENCH=1; use a release build:
//   COGJOBS_KERNEL_BENCH=1 swift test -c release --filter ElementwiseKernelBenchmark
import CKernels
import CogTensor
import Foundation
import Testing

@Suite("CKernels elementwise benchmark")
struct ElementwiseKernelBenchmarkTests {
    @Test("elementwise and attention time at CogVLM-17B shapes (set COGJOBS_KERNEL_BENCH=1, release build)",
          .enabled(if: ProcessInfo.processInfo.environment["COGJOBS_KERNEL_BENCH"] == "1"))
    func benchmark() throws {
        try ElementwiseBenchmark().run()
    }
}

/// Wall-clock medians (one warm-up run first). The machine is shared: compare numbers from one run.
struct ElementwiseBenchmark {
    let repeats = 5
    let one = ParallelRunner(threads: 1)
    let two = ParallelRunner(threads: 2)

    /// Median seconds of `body` after `setup` (untimed) before each run.
    func median(setup: () -> Void = {}, _ body: () throws -> Void) rethrows -> Double {
        setup()
        try body()
        var times: [Double] = []
        for _ in 0..<repeats {
            setup()
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return times.sorted()[repeats / 2]
    }

    func row(_ name: String, old: Double, oldLabel: String = "old Swift", new1: Double, new2: Double) {
        func ms(_ t: Double) -> String { String(format: "%8.2f ms", t * 1e3) }
        print("bench \(name.padding(toLength: 44, withPad: " ", startingAt: 0)) \(oldLabel) \(ms(old)) | new 1T \(ms(new1)) "
            + "(\(String(format: "%.1f", old / new1))×) | new 2T \(ms(new2)) (\(String(format: "%.1f", old / new2))×)")
    }

    func run() throws {
        try BLAS.load()
        print("bench: CKernels level \(String(cString: ck_isa_name(ck_active_isa()))), OpenBLAS \(BLAS.kernelDescription)")
        var rng = SplitMix64(seed: 1)
        elementwise(&rng)
        rotary(&rng)
        try attention(&rng)
    }

    func elementwise(_ rng: inout SplitMix64) {
        // GELU over the vision MLP activations [1227, 15360].
        let geluCount = 1227 * 15360
        let source = rng.gaussians(geluCount).map { $0 * 2 }  // [1227, 15360] f32
        let x = FloatBuffer(count: geluCount)
        let reset = { x.pointer.update(from: source, count: geluCount) }
        let geluOld = median(setup: reset) { LegacyOps.geluErf(x.pointer, count: geluCount) }
        let gelu1 = median(setup: reset) { Ops.geluErf(x.pointer, count: geluCount, runner: one) }
        let gelu2 = median(setup: reset) { Ops.geluErf(x.pointer, count: geluCount, runner: two) }
        row("GELU(erf) [1227, 15360]", old: geluOld, new1: gelu1, new2: gelu2)

        // SiLU(gate)·up over the language MLP [1250, 11008].
        let siluCount = 1250 * 11008
        let gate = FloatBuffer(rng.gaussians(siluCount)), up = FloatBuffer(rng.gaussians(siluCount))
        let out = FloatBuffer(count: siluCount)  // [1250, 11008] f32
        let siluOld = median { LegacyOps.siluMul(gate.pointer, up.pointer, count: siluCount, out: out.pointer) }
        let silu1 = median { Ops.siluMul(gate.pointer, up.pointer, count: siluCount, out: out.pointer, runner: one) }
        let silu2 = median { Ops.siluMul(gate.pointer, up.pointer, count: siluCount, out: out.pointer, runner: two) }
        row("SiLU·up [1250, 11008]", old: siluOld, new1: silu1, new2: silu2)

        // LayerNorm over the vision residual [1227, 1792].
        let (lr, ld) = (1227, 1792)
        let lx = FloatBuffer(rng.gaussians(lr * ld)), lw = FloatBuffer(rng.gaussians(ld)), lb = FloatBuffer(rng.gaussians(ld))
        let lo = FloatBuffer(count: lr * ld)  // [1227, 1792] f32
        let lnOld = median { LegacyOps.layerNorm(lx.pointer, weight: lw.pointer, bias: lb.pointer, eps: 1e-6, rows: lr, dim: ld, out: lo.pointer) }
        let ln1 = median { Ops.layerNorm(lx.pointer, weight: lw.pointer, bias: lb.pointer, eps: 1e-6, rows: lr, dim: ld, out: lo.pointer, runner: one) }
        let ln2 = median { Ops.layerNorm(lx.pointer, weight: lw.pointer, bias: lb.pointer, eps: 1e-6, rows: lr, dim: ld, out: lo.pointer, runner: two) }
        row("LayerNorm [1227, 1792]", old: lnOld, new1: ln1, new2: ln2)

        // RMSNorm over the language residual [1250, 4096].
        let (rr, rd) = (1250, 4096)
        let rx = FloatBuffer(rng.gaussians(rr * rd)), rw = FloatBuffer(rng.gaussians(rd))
        let ro = FloatBuffer(count: rr * rd)  // [1250, 4096] f32
        let rmsOld = median { LegacyOps.rmsNorm(rx.pointer, weight: rw.pointer, eps: 1e-5, rows: rr, dim: rd, out: ro.pointer) }
        let rms1 = median { Ops.rmsNorm(rx.pointer, weight: rw.pointer, eps: 1e-5, rows: rr, dim: rd, out: ro.pointer, runner: one) }
        let rms2 = median { Ops.rmsNorm(rx.pointer, weight: rw.pointer, eps: 1e-5, rows: rr, dim: rd, out: ro.pointer, runner: two) }
        row("RMSNorm [1250, 4096]", old: rmsOld, new1: rms1, new2: rms2)
    }

    func rotary(_ rng: inout SplitMix64) {
        // Query heads of the language qkv rows: [1250, 12288], 32 heads × 128 at offset 0.
        let rows = 1250, stride = 3 * 4096, heads = 32, headDim = 128
        let invFreq = (0..<(headDim / 2)).map { Float(pow(10000.0, -Double(2 * $0) / Double(headDim))) }
        let rotary = Rotary(invFreq: invFreq)
        let x = FloatBuffer(rng.gaussians(rows * stride))  // [1250, 12288] f32
        let positions = Array(0..<rows)
        positions.withUnsafeBufferPointer { p in
            let pos = p.baseAddress!
            let old = median { LegacyOps.rotary(x.pointer, rows: rows, stride: stride, offset: 0, heads: heads, headDim: headDim, positions: pos, invFreq: invFreq) }
            let new1 = median { rotary.apply(x.pointer, rows: rows, stride: stride, offset: 0, heads: heads, positions: pos, runner: one) }
            let new2 = median { rotary.apply(x.pointer, rows: rows, stride: stride, offset: 0, heads: heads, positions: pos, runner: two) }
            row("rotary 1250 rows × 32 heads × 128", old: old, new1: new1, new2: new2)
        }
    }

    func attention(_ rng: inout SplitMix64) throws {
        let keys = 1250, heads = 32, headDim = 128, width = heads * headDim
        let scale = 1 / Float(headDim).squareRoot()
        let layers = 32  // distinct KV buffers for the decode timings: 32 layers do not fit in the caches
        let kf = (0..<layers).map { _ in FloatBuffer(rng.gaussians(keys * width)) }  // [keys, width] f32 per layer
        let vf = (0..<layers).map { _ in FloatBuffer(rng.gaussians(keys * width)) }
        let kh = kf.map { b -> [UInt16] in var h = [UInt16](repeating: 0, count: keys * width); ck_f32_to_f16(b.pointer, &h, keys * width); return h }
        let vh = vf.map { b -> [UInt16] in var h = [UInt16](repeating: 0, count: keys * width); ck_f32_to_f16(b.pointer, &h, keys * width); return h }
        let q = FloatBuffer(rng.gaussians(keys * width))  // [1250, width] f32 (prefill; row 0 for decode)
        let out = FloatBuffer(count: keys * width)        // [1250, width] f32
        var scores: [Float] = []
        let blasThreads = BLAS.threads
        defer { BLAS.setThreads(blasThreads) }

        // Decode: 1 query against 1250 cached keys, per layer, cycling through 32 layers' caches.
        func sgemmDecode(_ threads: Int) -> Double {
            BLAS.setThreads(threads)
            return median {
                for l in 0..<layers {
                    LegacyOps.attention(q: q.pointer, qStride: width, k: kf[l].pointer, v: vf[l].pointer, kvStride: width,
                                      out: out.pointer, outStride: width, queries: 1, keys: keys, qHeads: heads, kvHeads: heads,
                                      headDim: headDim, scale: scale, causalOffset: keys - 1, scores: &scores)
                }
            } / Double(layers)
        }
        func f16Decode(_ runner: ParallelRunner) throws -> Double {
            try median {
                for l in 0..<layers {
                    try Attention.forwardF16KV(q: q.pointer, qStride: width, k: kh[l], v: vh[l], kvStride: width,
                                               out: out.pointer, outStride: width, queries: 1, keys: keys, qHeads: heads,
                                               kvHeads: heads, headDim: headDim, scale: scale, causalOffset: keys - 1, runner: runner)
                }
            } / Double(layers)
        }
        let old1 = sgemmDecode(1), old2 = sgemmDecode(2)
        let dec1 = try f16Decode(one), dec2 = try f16Decode(two)
        row("attention decode 1×1250 keys, 32 h, per layer", old: old1, oldLabel: "old sgemm 1T", new1: dec1, new2: dec2)
        print("bench   (old sgemm path on 2 OpenBLAS threads: \(String(format: "%.2f", old2 * 1e3)) ms; fp16 KV read rate "
            + "\(String(format: "%.1f", Double(2 * keys * width * 2) / dec1 / 1e9)) GB/s on 1 thread, "
            + "\(String(format: "%.1f", Double(2 * keys * width * 2) / dec2 / 1e9)) GB/s on 2)")

        // Prefill: 1250 queries, causal, one layer.
        func sgemmPrefill(_ threads: Int) -> Double {
            BLAS.setThreads(threads)
            return median {
                LegacyOps.attention(q: q.pointer, qStride: width, k: kf[0].pointer, v: vf[0].pointer, kvStride: width,
                                  out: out.pointer, outStride: width, queries: keys, keys: keys, qHeads: heads, kvHeads: heads,
                                  headDim: headDim, scale: scale, causalOffset: 0, scores: &scores)
            }
        }
        func f16Prefill(_ runner: ParallelRunner) throws -> Double {
            try median {
                try Attention.forwardF16KV(q: q.pointer, qStride: width, k: kh[0], v: vh[0], kvStride: width,
                                           out: out.pointer, outStride: width, queries: keys, keys: keys, qHeads: heads,
                                           kvHeads: heads, headDim: headDim, scale: scale, causalOffset: 0, runner: runner)
            }
        }
        let pold1 = sgemmPrefill(1), pold2 = sgemmPrefill(2)
        let pre1 = try f16Prefill(one), pre2 = try f16Prefill(two)
        row("attention prefill 1250×1250 causal, 32 h", old: pold1, oldLabel: "old sgemm 1T", new1: pre1, new2: pre2)
        let flops = 2.0 * 2 * Double(keys) * Double(keys + 1) / 2 * Double(headDim) * Double(heads)
        print("bench   (old sgemm path on 2 OpenBLAS threads: \(String(format: "%.2f", pold2 * 1e3)) ms; fp16 kernel "
            + "\(String(format: "%.0f", flops / pre1 / 1e9)) GFLOPS on 1 thread, \(String(format: "%.0f", flops / pre2 / 1e9)) on 2)")
    }
}

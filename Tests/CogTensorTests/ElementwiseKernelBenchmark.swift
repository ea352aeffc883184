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
        func gain(_ t: Double) -> String { String(format: "%.1f", old / t) }
        let label = name.padding(toLength: 46, withPad: " ", startingAt: 0)
        print("bench \(label) \(oldLabel) \(ms(old)) | new 1T \(ms(new1)) (\(gain(new1))×) | "
            + "new 2T \(ms(new2)) (\(gain(new2))×)")
    }

    func run() throws {
        try BLAS.load()
        let level = String(cString: ck_isa_name(ck_active_isa()))
        print("bench: CKernels level \(level), OpenBLAS \(BLAS.kernelDescription)")
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
        let n = 1250 * 11008
        let gate = FloatBuffer(rng.gaussians(n)), up = FloatBuffer(rng.gaussians(n))  // [1250, 11008] f32
        let out = FloatBuffer(count: n)                                                // [1250, 11008] f32
        let (g, u, o) = (gate.pointer, up.pointer, out.pointer)
        let siluOld = median { LegacyOps.siluMul(g, u, count: n, out: o) }
        let silu1 = median { Ops.siluMul(g, u, count: n, out: o, runner: one) }
        let silu2 = median { Ops.siluMul(g, u, count: n, out: o, runner: two) }
        row("SiLU·up [1250, 11008]", old: siluOld, new1: silu1, new2: silu2)

        // LayerNorm over the vision residual [1227, 1792].
        let (lr, ld) = (1227, 1792)
        let lx = FloatBuffer(rng.gaussians(lr * ld)), lo = FloatBuffer(count: lr * ld)  // [1227, 1792] f32
        let lw = FloatBuffer(rng.gaussians(ld)), lb = FloatBuffer(rng.gaussians(ld))    // [1792] f32
        let (xp, wp, bp, op) = (lx.pointer, lw.pointer, lb.pointer, lo.pointer)
        let lnOld = median { LegacyOps.layerNorm(xp, weight: wp, bias: bp, eps: 1e-6, rows: lr, dim: ld, out: op) }
        let ln1 = median { Ops.layerNorm(xp, weight: wp, bias: bp, eps: 1e-6, rows: lr, dim: ld, out: op, runner: one) }
        let ln2 = median { Ops.layerNorm(xp, weight: wp, bias: bp, eps: 1e-6, rows: lr, dim: ld, out: op, runner: two) }
        row("LayerNorm [1227, 1792]", old: lnOld, new1: ln1, new2: ln2)

        // RMSNorm over the language residual [1250, 4096].
        let (rr, rd) = (1250, 4096)
        let rx = FloatBuffer(rng.gaussians(rr * rd)), ro = FloatBuffer(count: rr * rd)  // [1250, 4096] f32
        let rw = FloatBuffer(rng.gaussians(rd))                                          // [4096] f32
        let (rxp, rwp, rop) = (rx.pointer, rw.pointer, ro.pointer)
        let rmsOld = median { LegacyOps.rmsNorm(rxp, weight: rwp, eps: 1e-5, rows: rr, dim: rd, out: rop) }
        let rms1 = median { Ops.rmsNorm(rxp, weight: rwp, eps: 1e-5, rows: rr, dim: rd, out: rop, runner: one) }
        let rms2 = median { Ops.rmsNorm(rxp, weight: rwp, eps: 1e-5, rows: rr, dim: rd, out: rop, runner: two) }
        row("RMSNorm [1250, 4096]", old: rmsOld, new1: rms1, new2: rms2)
    }

    func rotary(_ rng: inout SplitMix64) {
        // Query heads of the language qkv rows: [1250, 12288], 32 heads × 128 at offset 0.
        let rows = 1250, stride = 3 * 4096, heads = 32, headDim = 128
        let invFreq = (0..<(headDim / 2)).map { Float(pow(10000.0, -Double(2 * $0) / Double(headDim))) }
        let rotary = Rotary(invFreq: invFreq)
        let x = FloatBuffer(rng.gaussians(rows * stride))  // [1250, 12288] f32
        let positions = Array(0..<rows)                   // [1250]
        positions.withUnsafeBufferPointer { p in
            guard let pos = p.baseAddress else { return }
            let old = median {
                LegacyOps.rotary(x.pointer, rows: rows, stride: stride, offset: 0, heads: heads, headDim: headDim,
                                 positions: pos, invFreq: invFreq)
            }
            func new(_ runner: ParallelRunner) -> Double {
                median {
                    rotary.apply(x.pointer, rows: rows, stride: stride, offset: 0, heads: heads, positions: pos,
                                 runner: runner)
                }
            }
            let new1 = new(one), new2 = new(two)
            row("rotary 1250 rows × 32 heads × 128", old: old, new1: new1, new2: new2)
        }
    }

    /// Shape of one attention call (q, k, v, out rows share `width` = heads · headDim columns).
    struct Shape {
        let queries: Int, keys: Int, heads: Int, headDim: Int, qStride: Int, kvStride: Int, causalOffset: Int?
        var width: Int { heads * headDim }
        var scale: Float { 1 / Float(headDim).squareRoot() }
    }

    /// The former sgemm attention on `threads` OpenBLAS threads.
    func oldAttention(_ s: Shape, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                      out: UnsafeMutablePointer<Float>, scores: inout [Float]) {
        LegacyOps.attention(q: q, qStride: s.qStride, k: k, v: v, kvStride: s.kvStride, out: out, outStride: s.width,
                            queries: s.queries, keys: s.keys, qHeads: s.heads, kvHeads: s.heads, headDim: s.headDim,
                            scale: s.scale, causalOffset: s.causalOffset, scores: &scores)
    }

    func attention(_ rng: inout SplitMix64) throws {
        let keys = 1250, heads = 32, headDim = 128, width = heads * headDim
        let layers = 32  // distinct KV buffers for the decode timings: 32 layers do not fit in the caches
        let kf = (0..<layers).map { _ in FloatBuffer(rng.gaussians(keys * width)) }  // [keys, width] f32 per layer
        let vf = (0..<layers).map { _ in FloatBuffer(rng.gaussians(keys * width)) }  // [keys, width] f32 per layer
        func half(_ b: FloatBuffer) -> [UInt16] {  // [keys, width] fp16
            var h = [UInt16](repeating: 0, count: b.count)
            ck_f32_to_f16(b.pointer, &h, b.count)
            return h
        }
        let kh = kf.map(half), vh = vf.map(half)
        let q = FloatBuffer(rng.gaussians(keys * width))  // [1250, width] f32 (prefill; row 0 for decode)
        let out = FloatBuffer(count: keys * width)        // [1250, width] f32
        var scores: [Float] = []
        let blasThreads = BLAS.threads
        defer { BLAS.setThreads(blasThreads) }

        // Decode: 1 query against 1250 cached keys, per layer, cycling through 32 layers' caches.
        let decode = Shape(queries: 1, keys: keys, heads: heads, headDim: headDim, qStride: width, kvStride: width,
                           causalOffset: keys - 1)
        func oldDecode(_ threads: Int) -> Double {
            BLAS.setThreads(threads)
            return median {
                for l in 0..<layers {
                    oldAttention(decode, q: q.pointer, k: kf[l].pointer, v: vf[l].pointer, out: out.pointer,
                                 scores: &scores)
                }
            } / Double(layers)
        }
        func newDecode(_ runner: ParallelRunner) throws -> Double {
            try median {
                for l in 0..<layers {
                    try Attention.forwardF16KV(
                        q: q.pointer, qStride: width, k: kh[l], v: vh[l], kvStride: width, out: out.pointer,
                        outStride: width, queries: 1, keys: keys, qHeads: heads, kvHeads: heads, headDim: headDim,
                        scale: decode.scale, causalOffset: keys - 1, runner: runner)
                }
            } / Double(layers)
        }
        let old1 = oldDecode(1), old2 = oldDecode(2)
        let dec1 = try newDecode(one), dec2 = try newDecode(two)
        row("attention decode 1×1250 keys, 32 h, per layer", old: old1, oldLabel: "old sgemm 1T",
            new1: dec1, new2: dec2)
        let bytes = Double(2 * keys * width * 2)
        print("bench   (old sgemm path on 2 OpenBLAS threads: \(String(format: "%.2f", old2 * 1e3)) ms; fp16 KV read "
            + "\(String(format: "%.1f", bytes / dec1 / 1e9)) GB/s on 1 thread, "
            + "\(String(format: "%.1f", bytes / dec2 / 1e9)) GB/s on 2)")

        // Prefill: 1250 queries, causal, one layer.
        let prefill = Shape(queries: keys, keys: keys, heads: heads, headDim: headDim, qStride: width, kvStride: width,
                            causalOffset: 0)
        func oldPrefill(_ threads: Int) -> Double {
            BLAS.setThreads(threads)
            return median {
                oldAttention(prefill, q: q.pointer, k: kf[0].pointer, v: vf[0].pointer, out: out.pointer,
                             scores: &scores)
            }
        }
        func newPrefill(_ runner: ParallelRunner) throws -> Double {
            try median {
                try Attention.forwardF16KV(
                    q: q.pointer, qStride: width, k: kh[0], v: vh[0], kvStride: width, out: out.pointer,
                    outStride: width, queries: keys, keys: keys, qHeads: heads, kvHeads: heads, headDim: headDim,
                    scale: prefill.scale, causalOffset: 0, runner: runner)
            }
        }
        let pold1 = oldPrefill(1), pold2 = oldPrefill(2)
        let pre1 = try newPrefill(one), pre2 = try newPrefill(two)
        row("attention prefill 1250×1250 causal, 32 h", old: pold1, oldLabel: "old sgemm 1T", new1: pre1, new2: pre2)
        let flops = 2.0 * 2 * Double(keys) * Double(keys + 1) / 2 * Double(headDim) * Double(heads)
        print("bench   (old sgemm path on 2 OpenBLAS threads: \(String(format: "%.2f", pold2 * 1e3)) ms; fp16 kernel "
            + "\(String(format: "%.0f", flops / pre1 / 1e9)) GFLOPS on 1 thread, "
            + "\(String(format: "%.0f", flops / pre2 / 1e9)) on 2)")
        try visionAttention(&rng, scores: &scores)
    }

    /// The vision tower's attention: 1227 tokens, bidirectional, 16 heads × 112, q/k/v in one f32
    /// [1227, 3·1792] buffer.
    func visionAttention(_ rng: inout SplitMix64, scores: inout [Float]) throws {
        let tokens = 1227, heads = 16, headDim = 112, width = heads * headDim
        let shape = Shape(queries: tokens, keys: tokens, heads: heads, headDim: headDim, qStride: 3 * width,
                          kvStride: 3 * width, causalOffset: nil)
        let qkv = FloatBuffer(rng.gaussians(tokens * 3 * width))  // [1227, 3·1792] f32
        let out = FloatBuffer(count: tokens * width)               // [1227, 1792] f32
        let (q, k, v) = (qkv.pointer, qkv.pointer + width, qkv.pointer + 2 * width)
        func old(_ threads: Int) -> Double {
            BLAS.setThreads(threads)
            return median { oldAttention(shape, q: q, k: k, v: v, out: out.pointer, scores: &scores) }
        }
        func new(_ runner: ParallelRunner) throws -> Double {
            try median {
                try Attention.forward(
                    q: q, qStride: 3 * width, k: k, v: v, kvStride: 3 * width, out: out.pointer, outStride: width,
                    queries: tokens, keys: tokens, qHeads: heads, kvHeads: heads, headDim: headDim, scale: shape.scale,
                    causalOffset: nil, runner: runner)
            }
        }
        let old1 = old(1), old2 = old(2)
        let new1 = try new(one), new2 = try new(two)
        row("vision attention 1227×1227, 16 h × 112 (f32)", old: old1, oldLabel: "old sgemm 1T", new1: new1, new2: new2)
        let flops = 2.0 * 2 * Double(tokens) * Double(tokens) * Double(headDim) * Double(heads)
        print("bench   (old sgemm path on 2 OpenBLAS threads: \(String(format: "%.2f", old2 * 1e3)) ms; kernel "
            + "\(String(format: "%.0f", flops / new1 / 1e9)) GFLOPS on 1 thread, "
            + "\(String(format: "%.0f", flops / new2 / 1e9)) on 2)")
    }
}

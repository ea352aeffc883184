import ArgumentParser
import CKernels
import CogPipeline
import CogTensor
import CogVLM
import CogWeights
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `cogjobs bench model` (the default `bench`): this machine's limits, then the model's vision
/// encode, language prefill and decode at the depth a real image gives — achieved GFLOPS and GB/s
/// with their fraction of those limits, tokens per second, peak RSS; with `--jobs N`, batched
/// decode throughput and the gain from reusing an image prefix. Warm-up, several runs, median.
struct BenchModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Measure machine limits and the model's vision, prefill and decode speed.",
        discussion: """
            Uses a random image (the speed does not depend on its content) and the shapes of the model given, \
            so it works on `cogjobs dev make-model` checkpoints as well as on real ones. The first run of each \
            stage is a warm-up (it pages the weights in) and is not counted; figures are medians of --runs. \
            Shared machines are noisy: compare ratios from one run, not absolute times across runs.
            """
    )

    @Option(name: .long, help: "Model directory.")
    var model: String

    @Option(name: .long, help: "Timed runs per stage (after one warm-up).")
    var runs: Int = 3

    @Option(name: .long, help: "Decode steps timed per run.")
    var decodeTokens: Int = 16

    @Option(name: .long, help: "Concurrent sequences for the batched-decode and prefix-reuse figures (1 = skip).")
    var jobs: Int = 1

    @Option(name: .long, help: ArgumentHelp(
        "exact (f32 activations, the reference arithmetic) or fast (bf16 activations on AMX/AVX-512-BF16, int8 decode activations). Default: what the daemon and `cogjobs run` pick for this model (fast for a q8/q4 conversion, exact for a checkpoint as released).",
        valueName: "exact|fast"))
    var precision: String?

    @Option(name: .long, help: "Threads (default: all cores).")
    var threads: Int?

    @Flag(name: .long, help: "Skip the machine-limit probes.")
    var skipMachine = false

    @Option(name: .long, help: ArgumentHelp(
        "Stages to time, comma-separated: vision, prefill, decode, reuse, batch (default: all). Untimed stages still run once when a timed one needs their result (decode needs a prefilled sequence; without vision, random image features are used).",
        valueName: "list"))
    var stages: String = "vision,prefill,decode,reuse,batch"

    /// The stages `--stages` names.
    enum Stage: String, CaseIterable { case vision, prefill, decode, reuse, batch }

    var selectedStages: Set<Stage> {
        Set(stages.split(separator: ",").compactMap { Stage(rawValue: $0.trimmingCharacters(in: .whitespaces)) })
    }

    func validate() throws {
        if runs < 1 { throw ValidationError("--runs must be at least 1") }
        if decodeTokens < 1 { throw ValidationError("--decode-tokens must be at least 1") }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if let threads, threads < 1 || threads > cores {
            throw ValidationError("--threads must be between 1 and this machine's \(cores) core(s), got \(threads)")
        }
        if let precision, MatmulPrecision(rawValue: precision) == nil { throw ValidationError("--precision must be exact or fast") }
        for name in stages.split(separator: ",") where Stage(rawValue: name.trimmingCharacters(in: .whitespaces)) == nil {
            throw ValidationError("--stages: unknown stage '\(name)' (known: \(Stage.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let chosen = selectedStages
        if chosen.isEmpty { throw ValidationError("--stages names no stage") }
        if jobs == 1 && chosen.isSubset(of: [.reuse, .batch]) {
            throw ValidationError("--stages \(stages) measures concurrent jobs: give --jobs 2 or more")
        }
    }

    func run() async throws {
        let command = self
        try await DedicatedThread.run("cogjobs-bench") { try command.measure() }
    }

    private func measure() throws {
        let threads = self.threads ?? ProcessInfo.processInfo.activeProcessorCount
        try BLAS.load()
        BLAS.setThreads(threads)
        let runner = ParallelRunner(threads: threads)
        print("cogjobs bench — \(threads) thread(s), kernels \(String(cString: ck_isa_name(ck_active_isa()))), BLAS \(BLAS.kernelDescription)")

        // Lines that need the machine's limits are printed after the limits are measured, which
        // happens last so that its 2 GiB probe buffer does not count in the model's peak RSS.
        var lines: [(MachineLimits) -> String] = []
        let memory = AnonymousMemoryPeak()

        let loadStart = Date()
        let m = try CogVLMModel.load(directory: URL(fileURLWithPath: model))
        let c = m.config
        let loadSeconds = Date().timeIntervalSince(loadStart)
        // The figures are the ones the daemon would get: without --precision, its choice for this model.
        let precision = self.precision.flatMap(MatmulPrecision.init(rawValue:)) ?? InferenceEngine.automaticPrecision(for: m)
        let precisionSource = self.precision == nil ? " (auto)" : ""
        let format = m.weights.layers.first?.language.gate.formatName ?? "?"
        let visionFormat = m.weights.vision.layers.first?.fc1.formatName ?? "?"
        let languageQuantized = ["q8", "q4"].contains(format), visionQuantized = ["q8", "q4"].contains(visionFormat)
        print(String(format: "model: %@ (%@, %d+%d layers, language %@, vision %@), mapped in %.2f s, precision %@%@",
                     model, c.version.rawValue, c.numHiddenLayers, c.vision.numHiddenLayers, format, visionFormat, loadSeconds,
                     precision.rawValue, precisionSource))

        // Inputs: a seeded random image and a short question after it.
        var rng = SplitMix64(seed: 42)
        let s = c.vision.imageSize
        let pixels = (0..<(3 * s * s)).map { _ in rng.nextSignedUnit() * 2 }  // [3, S, S]
        let textIDs = (0..<16).map { 300 + $0 * 7 }
        let ids = [c.bosTokenID] + Array(repeating: c.padTokenID, count: c.imageTokenCount) + textIDs
        let types: [TokenType] = [.language] + Array(repeating: .vision, count: c.imageTokenCount)
            + Array(repeating: .language, count: textIDs.count)
        let flops = FlopCount(config: c, promptLength: ids.count)

        // Vision encode.
        let session = m.makeSession(threads: threads)
        session.context.precision = precision
        let selected = selectedStages
        var features: [Float] = []
        var vision: Double? = nil
        if selected.contains(.vision) {
            let seconds = try timed(runs, memory: memory) { features = try m.encodeImage(pixelValues: pixels, context: session.context) }
            vision = seconds
            lines.append { report("vision encode", seconds: seconds, flops: flops.vision, peak: $0.computePeak(precision, quantized: visionQuantized)) }
        } else {
            // Random features of the right shape: the language model's speed does not depend on them.
            features = (0..<(c.imageTokenCount * c.hiddenSize)).map { _ in rng.nextSignedUnit() }  // [image tokens, H]
        }

        // Language prefill of BOS + image + text.
        var prefixSnapshot: CogVLMSession.Snapshot? = nil
        var prefill: Double? = nil
        if selected.contains(.prefill) {
            let seconds = try timed(runs, memory: memory) {
                session.reset()
                _ = try session.prefill(inputIDs: ids, tokenTypes: types, imageFeatures: features)
            }
            prefill = seconds
            lines.append { report("language prefill (\(ids.count) tokens)", seconds: seconds, flops: flops.prefill, peak: $0.computePeak(precision, quantized: languageQuantized)) }
        }
        let endToEnd = vision.flatMap { v in prefill.map { v + $0 } }
        if let endToEnd {
            lines.append { _ in String(format: "one image end to end (vision + prefill): %.2f s", endToEnd) }
        }

        // Decode at that depth.
        session.reset()
        let prefixLength = 1 + c.imageTokenCount
        _ = try session.prefill(inputIDs: Array(ids.prefix(prefixLength)), tokenTypes: Array(types.prefix(prefixLength)),
                                imageFeatures: features)
        prefixSnapshot = session.snapshot()
        _ = try session.prefill(inputIDs: textIDs, tokenTypes: Array(repeating: .language, count: textIDs.count), imageFeatures: nil)
        let afterPrompt = session.snapshot()
        // Each run restores the prompt's state (sharing the snapshot's KV prefix: nothing is copied)
        // and decodes one untimed token first.
        // A read pass over the same weights just before each timed run: the fraction of it each run
        // reaches is robust to this machine's drift (±20 % within minutes), unlike a probe taken
        // minutes away, and a pass over the mapped checkpoint meets the same pages and caches (a
        // freshly written 512 MiB buffer partly stays in this CPU's large L3 and reads up to ~35 GB/s).
        var pairedRead: [Double] = []
        var decodeRuns: [Double] = []
        let decodeRegions = flops.decodeMatrices(m.weights).flatMap(\.byteRegions)
        let decode = try timed(runs, memory: memory, setup: {
            session.restore(afterPrompt)
            _ = try session.decode(token: 499)
            if selected.contains(.decode) { pairedRead.append(MachineLimits.readGBps(decodeRegions, runner: runner)) }
        }, each: { decodeRuns.append($0) }) {
            for i in 0..<decodeTokens { _ = try session.decode(token: 500 + i) }
        } / Double(decodeTokens)
        let bytes = Double(flops.decodeWeightBytes(m.weights)) + Double(session.cacheBytes)
        // pairedRead[0] belongs to the warm-up; run i follows pairedRead[i + 1].
        let pairedFractions = zip(decodeRuns, pairedRead.dropFirst()).filter { $1 > 0 }
            .map { bytes / ($0 / Double(decodeTokens)) / 1e9 / $1 }
        let weightBytes = flops.decodeWeightBytes(m.weights), kvBytes = session.cacheBytes
        let depth = ids.count
        if selected.contains(.decode) {
            lines.append { limits in
                String(format: "decode at depth %d: %.2f tok/s (%.1f ms/token), %.1f GB/s (weights %@ + KV %.2f GB)%@%@",
                       depth, 1 / decode, decode * 1000, bytes / decode / 1e9, Self.gigabytes(weightBytes), Double(kvBytes) / 1e9,
                       limits.readGBps > 0 ? String(format: " = %.0f%% of read bandwidth, bound %.2f tok/s", bytes / decode / 1e9 / limits.readGBps * 100,
                                                    limits.readGBps * 1e9 / bytes) : "",
                       pairedFractions.isEmpty ? "" : String(format: "; %.0f%% (median; runs %@) of a read pass over the same weights just before each run",
                                                            median(pairedFractions) * 100,
                                                            pairedFractions.map { String(format: "%.0f%%", $0 * 100) }.joined(separator: ", ")))
            }
        }

        if jobs > 1, let prefix = prefixSnapshot {
            // Prefix reuse: a second question on the same image costs only its own text tokens.
            if selected.contains(.reuse) {
                let reuse = try timed(runs, memory: memory) {
                    let other = m.makeSession(threads: threads)
                    other.context.precision = precision
                    other.restore(prefix)
                    _ = try other.prefill(inputIDs: textIDs, tokenTypes: Array(repeating: .language, count: textIDs.count), imageFeatures: nil)
                }
                if let endToEnd {
                    lines.append { _ in String(format: "prefix reuse: second question on the same image %.3f s vs %.2f s from scratch (%.0f× less)",
                                               reuse, endToEnd, endToEnd / reuse) }
                } else {
                    lines.append { _ in String(format: "prefix reuse: second question on the same image %.3f s", reuse) }
                }
            }
            // Batched decode: N sequences advance together.
            var sessions: [CogVLMSession] = []
            for _ in 0..<jobs {
                let other = m.makeSession(threads: threads)
                other.context.precision = precision
                other.restore(afterPrompt)
                sessions.append(other)
            }
            sessions[0] = session
            if selected.contains(.batch) {
                // One job and the batch alternate round by round, so that each ratio compares two
                // timings taken a few seconds apart (the machine's speed drifts more than that).
                // Jobs on one image share its prefix KV (restored from one snapshot); jobs on
                // different images each have their own (here: private copies of the same rows).
                let distinct = sessions.indices.map { $0 == 0 ? afterPrompt : afterPrompt.independentCopy() }
                func batchedRound(sharedPrefix: Bool) throws -> Double {
                    for (s, own) in zip(sessions, distinct) { s.restore(sharedPrefix ? afterPrompt : own) }
                    _ = try CogVLMSession.decodeBatch(sessions, tokens: Array(repeating: 499, count: jobs))
                    let start = Date()
                    for i in 0..<decodeTokens { _ = try CogVLMSession.decodeBatch(sessions, tokens: Array(repeating: 500 + i, count: jobs)) }
                    let seconds = Date().timeIntervalSince(start) / Double(decodeTokens)
                    memory.sample()
                    return seconds
                }
                func singleRound() throws -> Double {
                    session.restore(afterPrompt)
                    _ = try session.decode(token: 499)
                    let start = Date()
                    for i in 0..<decodeTokens { _ = try session.decode(token: 500 + i) }
                    return Date().timeIntervalSince(start) / Double(decodeTokens)
                }
                _ = try batchedRound(sharedPrefix: true)  // warm-up
                _ = try batchedRound(sharedPrefix: false)
                var singleTimes: [Double] = []
                var times: [Bool: [Double]] = [true: [], false: []], ratios: [Bool: [Double]] = [true: [], false: []]
                for _ in 0..<runs {
                    let one = try singleRound()
                    singleTimes.append(one)
                    for shared in [true, false] {
                        let all = try batchedRound(sharedPrefix: shared)
                        times[shared, default: []].append(all)
                        ratios[shared, default: []].append((Double(jobs) / all) / (1 / one))
                    }
                }
                let jobCount = jobs, single = median(singleTimes)
                lines.append { _ in String(format: "batched decode, %d jobs (one job in the same rounds: %.2f tok/s):", jobCount, 1 / single) }
                for (shared, what) in [(true, "on one image (shared prefix KV)"), (false, "on different images")] {
                    let all = median(times[shared] ?? []), r = ratios[shared] ?? []
                    // What the bytes allow if a batched step read them as fast as one job's step: one
                    // job reads the weights and its KV; the batch the weights once and the KV once
                    // (shared prefix; the few own rows left out) or once per job.
                    let ceiling = Self.batchCeiling(jobs: jobCount, weightBytes: Double(weightBytes), kvBytes: Double(kvBytes),
                                                    sharedPrefix: shared)
                    lines.append { _ in String(format: "  %@: %.2f tok/s in all, median ratio of the rounds %.2f× (%@); "
                                               + "%.2f× if a batched step read its bytes as fast as one job's",
                                               what, Double(jobCount) / all, median(r),
                                               r.map { String(format: "%.2f", $0) }.joined(separator: ", "), ceiling) }
                }
            }
        }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        let peakRSS = Double(usage.ru_maxrss) * 1024 / 1e9
        var limits = MachineLimits()
        if !skipMachine {
            limits = MachineLimits.measure(runner: runner, threads: threads)
            print(String(format: "machine: sgemm %.0f GFLOPS · bf16 dot %.0f GFLOPS · AMX bf16 %.0f GFLOPS · int8 dot %.0f GOPS · read %.1f GB/s",
                         limits.sgemmGFLOPS, limits.bf16DotGFLOPS, limits.amxGFLOPS, limits.int8DotGOPS, limits.readGBps))
        }
        for line in lines { print(line(limits)) }
        // RSS also counts the mapped checkpoint's resident (clean, reclaimable) file pages, which
        // move with the page cache; the anonymous part is what the run itself allocated.
        print(String(format: "peak RSS (model stages): %.2f GB; anonymous memory (KV caches, buffers) %.2f GB, the largest "
                     + "seen after any timed run; the rest of RSS is file pages (the mapped checkpoint, the binary)",
                     peakRSS, memory.bytes / 1e9))
    }

    /// Median seconds of `runs` timed calls after one untimed warm-up; samples the anonymous
    /// memory after each call (untimed). `each` receives every timed run's seconds.
    private func timed(_ runs: Int, memory: AnonymousMemoryPeak, setup: () throws -> Void = {},
                       each: (Double) -> Void = { _ in }, _ body: () throws -> Void) throws -> Double {
        try setup()
        try body()
        memory.sample()
        var times: [Double] = []
        for _ in 0..<runs {
            try setup()
            let start = Date()
            try body()
            times.append(Date().timeIntervalSince(start))
            each(times[times.count - 1])
            memory.sample()
        }
        return median(times)
    }

    private func report(_ what: String, seconds: Double, flops: Double, peak: (rate: Double, name: String)) -> String {
        let gflops = flops / seconds / 1e9
        return String(format: "%@: %.2f s, %.0f GFLOPS%@", what, seconds, gflops,
                      peak.rate > 0 ? String(format: " = %.0f%% of the %.0f GFLOPS %@ peak", gflops / peak.rate * 100, peak.rate, peak.name) : "")
    }

    /// The batched-decode speedup over one job that the bytes read per step allow at equal read
    /// speed: one job's step reads the weights and its KV, a step of `jobs` reads the weights once
    /// and the KV once (a shared prefix) or once per job.
    static func batchCeiling(jobs: Int, weightBytes: Double, kvBytes: Double, sharedPrefix: Bool) -> Double {
        let one = weightBytes + kvBytes
        let batch = weightBytes + (sharedPrefix ? 1 : Double(jobs)) * kvBytes
        return batch > 0 ? Double(jobs) * one / batch : Double(jobs)
    }

    static func gigabytes(_ bytes: Int) -> String { String(format: "%.2f GB", Double(bytes) / 1e9) }
}

/// The largest anonymous resident memory (`RssAnon` in /proc/self/status: heap, KV caches,
/// activations; not the mapped weights) seen at the sample points.
final class AnonymousMemoryPeak {
    private(set) var bytes: Double = 0

    func sample() {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return }
        for line in status.split(separator: "\n") where line.hasPrefix("RssAnon:") {
            // "RssAnon:     123456 kB"
            if let kB = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) { bytes = max(bytes, kB * 1024) }
        }
    }
}

/// Floating-point work of the model's stages, from its shapes (multiply and add counted apart).
struct FlopCount {
    let vision: Double
    let prefill: Double
    private let config: CogVLMConfiguration

    init(config c: CogVLMConfiguration, promptLength t: Int) {
        config = c
        let v = c.vision
        let l = Double(v.gridSize * v.gridSize + 1), dv = Double(v.hiddenSize), iv = Double(v.intermediateSize)
        let h = Double(c.hiddenSize), inter = Double(c.intermediateSize)
        let perLayer = 2 * l * (4 * dv * dv + 2 * dv * iv) + 4 * l * l * dv
        var visionFlops = Double(v.numHiddenLayers) * perLayer + 2 * Double(v.gridSize * v.gridSize) * Double(v.inChannels * v.patchSize * v.patchSize) * dv
        let n = Double(c.imageTokenCount - 2)
        if c.version == .v2 { visionFlops += 2 * n * dv * 4 * dv }
        visionFlops += 2 * n * (dv * h + 3 * h * inter)
        vision = visionFlops
        let qkv = Double((c.numAttentionHeads + 2 * c.numKeyValueHeads) * c.headDim)
        let tokens = Double(t)
        let matrices = 2 * tokens * (qkv * h + h * h + 3 * h * inter)
        let attention = 2 * tokens * tokens * h  // causal: half of 4·T²·H
        prefill = Double(c.numHiddenLayers) * (matrices + attention) + 2 * h * Double(c.vocabSize)
    }

    /// Weight bytes one decode step reads: the language expert of every layer plus lm_head.
    func decodeWeightBytes(_ w: CogVLMWeights) -> Int {
        decodeMatrices(w).reduce(0) { $0 + $1.byteCount }
    }

    /// The matrices a decoded (text) token reads: every layer's language expert and lm_head.
    func decodeMatrices(_ w: CogVLMWeights) -> [WeightMatrix] {
        w.layers.flatMap { l in [l.language.qkv, l.language.dense, l.language.gate, l.language.up, l.language.down] }
            + [w.lmHead]
    }
}

/// What this machine can do at most, measured in the same run as the model.
struct MachineLimits {
    var sgemmGFLOPS = 0.0
    var bf16DotGFLOPS = 0.0
    var amxGFLOPS = 0.0
    /// vpdpbusd rate (int8 products, multiply and add counted separately); 0 without AVX512-VNNI.
    var int8DotGOPS = 0.0
    var readGBps = 0.0

    /// The rate of the arithmetic the prefill GEMM runs on: sgemm for `exact`; with `fast`, AMX
    /// where present, else the int8 dot for q8 / q4 matrices (ck_gemm's VNNI engine), else the
    /// faster of the bf16 dot and sgemm.
    func computePeak(_ precision: MatmulPrecision, quantized: Bool) -> (rate: Double, name: String) {
        if precision == .exact { return (sgemmGFLOPS, "sgemm") }
        if amxGFLOPS > 0 { return (amxGFLOPS, "AMX bf16") }
        if quantized && int8DotGOPS > 0 { return (int8DotGOPS, "int8 dot") }
        return bf16DotGFLOPS >= sgemmGFLOPS ? (bf16DotGFLOPS, "bf16 dot") : (sgemmGFLOPS, "sgemm")
    }

    static func measure(runner: ParallelRunner, threads: Int) -> MachineLimits {
        var limits = MachineLimits()
        // sgemm, 1536³, best of 3 (OpenBLAS with `threads` threads).
        let n = 1536
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        var best = Double.infinity
        for _ in 0..<4 {
            let start = Date()
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        if let pa = pa.baseAddress, let pb = pb.baseAddress, let pc = pc.baseAddress {
                            BLAS.sgemm(m: n, n: n, k: n, a: pa, b: pb, transposeB: true, c: pc)
                        }
                    }
                }
            }
            best = min(best, Date().timeIntervalSince(start))
        }
        limits.sgemmGFLOPS = 2 * Double(n * n * n) / best / 1e9
        // Peak instruction throughput on every thread at once.
        func parallelRate(_ probe: @escaping @Sendable () -> Double) -> Double {
            var best = 0.0
            for _ in 0..<3 {
                let counts = UnsafeMutableBufferPointer<Double>.allocate(capacity: threads)
                defer { counts.deallocate() }
                let start = Date()
                runner.run { part, _ in counts[part] = probe() }
                let elapsed = Date().timeIntervalSince(start)
                best = max(best, counts.reduce(0, +) / elapsed / 1e9)
            }
            return best
        }
        limits.bf16DotGFLOPS = parallelRate { ck_bf16_dot_peak(20_000_000) }
        limits.amxGFLOPS = parallelRate { ck_amx_bf16_peak(2_000_000) }
        limits.int8DotGOPS = parallelRate { ck_int8_dot_peak(20_000_000) }
        limits.readGBps = readGBps(runner: runner, passes: 4)
        return limits
    }

    /// Read bandwidth in GB/s of one pass over `regions`, each split across the runner's threads.
    static func readGBps(_ regions: [(start: UnsafeRawPointer, bytes: Int)], runner: ParallelRunner) -> Double {
        let total = regions.reduce(0) { $0 + $1.bytes }
        let start = Date()
        runner.run { part, parts in
            for region in regions {
                let r = ParallelRunner.range(part: part, parts: parts, count: region.bytes, alignment: 4096)
                if !r.isEmpty { _ = ck_read_bandwidth(region.start + r.lowerBound, r.count) }
            }
        }
        return Double(total) / Date().timeIntervalSince(start) / 1e9
    }

    /// Read bandwidth in GB/s: the best of `passes` reads of 2 GiB, split across the runner's
    /// threads. (512 MiB was not enough: a freshly written buffer partly stays in this CPU's large
    /// shared L3 — 300 MB here — and read at up to ~35 GB/s against 24–27 from memory.) The buffer
    /// is freed before returning (it does not count in the anonymous memory the bench reports).
    static func readGBps(runner: ParallelRunner, passes: Int) -> Double {
        let bytes = 1 << 31
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { buffer.deallocate() }
        memset(buffer, 1, bytes)
        let region = [(start: UnsafeRawPointer(buffer), bytes: bytes)]
        return (0..<passes).map { _ in readGBps(region, runner: runner) }.max() ?? 0
    }
}

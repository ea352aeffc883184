import CogPipeline
import Foundation
import Testing

/// Each processor against values worked out by hand from the transformers definitions.
@Suite("Logits processors (HF semantics)")
struct LogitsProcessorTests {
    let inf = -Float.infinity

    @Test("repetition penalty divides positive and multiplies negative scores of present tokens only")
    func repetitionPenalty() {
        var logits: [Float] = [2, -1, 0.5, -3, 0]
        LogitsProcessors.applyRepetitionPenalty(&logits, penalty: 2, present: [true, true, false, false, true])
        #expect(logits == [1, -2, 0.5, -3, 0])
        var mild: [Float] = [1.2, -1.2]
        LogitsProcessors.applyRepetitionPenalty(&mild, penalty: 1.2, present: [true, true])
        #expect(mild == [1.2 / Float(1.2), -1.2 * Float(1.2)])
        var bySequence: [Float] = [2, -1, 0.5, -3, 0]
        LogitsProcessors.applyRepetitionPenalty(&bySequence, penalty: 2, sequence: [4, 0, 1, 0, 4, 99])
        #expect(bySequence == [1, -2, 0.5, -3, 0])
    }

    @Test("NaN logits are refused with pipeline.non_finite_logits; infinities are not NaN")
    func nanLogitsAreRefused() throws {
        let error = #expect(throws: PipelineError.self) { try TokenChooser.requireValid([0, .nan, 1], step: 3) }
        #expect(error?.code == .nonFiniteLogits && error?.message.contains("generated token 3") == true)
        try TokenChooser.requireValid([-.infinity, 2, .infinity], step: 0)
    }

    @Test("temperature divides every score")
    func temperature() {
        var logits: [Float] = [1, 2, -4, 0]
        LogitsProcessors.applyTemperature(&logits, temperature: 0.5)
        #expect(logits == [2, 4, -8, 0])
    }

    @Test("top-k keeps scores >= the k-th largest (ties included)")
    func topK() {
        var a: [Float] = [1, 3, 2, 3, 0]
        LogitsProcessors.applyTopK(&a, topK: 2)
        #expect(a == [inf, 3, inf, 3, inf])
        var b: [Float] = [1, 3, 2, 3, 0]
        LogitsProcessors.applyTopK(&b, topK: 3)
        #expect(b == [inf, 3, 2, 3, inf])
        var c: [Float] = [1, 3, 2]
        LogitsProcessors.applyTopK(&c, topK: 5)
        #expect(c == [1, 3, 2])
        var d: [Float] = [0.5, -1, 4, 2]
        LogitsProcessors.applyTopK(&d, topK: 1)
        #expect(d == [inf, inf, 4, inf])
    }

    @Test("top-p removes the low tail whose cumulative probability is <= 1 - p")
    func topP() {
        // Probabilities 0.5, 0.3, 0.15, 0.05 → ascending cumulative 0.05, 0.20, 0.50, 1.00.
        let logits: [Float] = [0.5, 0.3, 0.15, 0.05].map { logf($0) }
        func apply(_ p: Double) -> [Bool] {
            var x = logits
            LogitsProcessors.applyTopP(&x, topP: p)
            return x.map { $0 != -.infinity }
        }
        #expect(apply(0.9) == [true, true, true, false])    // 1-p = 0.1: only 0.05 ≤ 0.1
        #expect(apply(0.75) == [true, true, false, false])  // 0.25: 0.05, 0.20
        #expect(apply(0.3) == [true, false, false, false])  // 0.7: 0.05, 0.20, 0.50
        #expect(apply(0.01) == [true, false, false, false]) // never the most likely token
        #expect(apply(1.0) == [true, true, true, true])     // off
        var kept = logits
        LogitsProcessors.applyTopP(&kept, topP: 0.75)
        #expect(kept[0] == logits[0] && kept[1] == logits[1])  // survivors unchanged
    }

    @Test("softmax")
    func softmax() {
        let p = LogitsProcessors.softmax([0, logf(3), -.infinity])
        #expect(abs(p[0] - 0.25) < 1e-7 && abs(p[1] - 0.75) < 1e-7 && p[2] == 0)
    }

    @Test("top-k on a large random vector agrees with sorting")
    func topKLarge() {
        var random = SeededRandom(seed: 3)
        let logits = (0..<5000).map { _ in Float(random.nextUnitInterval() * 20 - 10) }
        for k in [1, 7, 50, 4999] {
            var x = logits
            LogitsProcessors.applyTopK(&x, topK: k)
            let threshold = logits.sorted(by: >)[k - 1]
            #expect(x == logits.map { $0 < threshold ? -.infinity : $0 })
        }
    }

    @Test("SeededRandom: SplitMix64-seeded xoshiro256** known answers, reproducible, seed-dependent")
    func seededRandom() {
        // Computed with an independent Python transcription of the reference C code.
        var zero = SeededRandom(seed: 0)
        #expect([zero.next(), zero.next(), zero.next()]
                == [0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0])
        var fortyTwo = SeededRandom(seed: 42)
        #expect([fortyTwo.next(), fortyTwo.next(), fortyTwo.next()]
                == [0x1578_0B2E_0C2E_C716, 0x6104_D986_6D11_3A7E, 0xAE17_5332_39E4_99A1])
        var a = SeededRandom(seed: 9), b = SeededRandom(seed: 9)
        for _ in 0..<100 {
            let u = a.nextUnitInterval()
            #expect(u == b.nextUnitInterval())
            #expect(u >= 0 && u < 1)
        }
    }

    @Test("parameter validation names the setting")
    func validation() {
        let cases: [(GenerationParameters, String)] = [
            (GenerationParameters(maxNewTokens: 0), "max_new_tokens"),
            (GenerationParameters(temperature: -1), "temperature"),
            (GenerationParameters(temperature: .nan), "temperature"),
            (GenerationParameters(topK: -2), "top_k"),
            (GenerationParameters(topP: 0), "top_p"),
            (GenerationParameters(topP: 1.5), "top_p"),
            (GenerationParameters(repetitionPenalty: 0), "repetition_penalty"),
        ]
        for (parameters, field) in cases {
            let error = #expect(throws: PipelineError.self) { try parameters.validate() }
            #expect(error?.code == .badParameter)
            #expect(error?.field == field)
        }
        #expect(GenerationParameters().isGreedy)
        #expect(GenerationParameters(doSample: true, temperature: 0).isGreedy)
        #expect(!GenerationParameters(doSample: true).isGreedy)
    }
}

extension LogitsProcessorTests {
    @Test("top-p on a large random vector agrees with a direct transcription of HF's steps")
    func topPLarge() {
        var random = SeededRandom(seed: 11)
        var logits = (0..<3000).map { _ in Float(random.nextUnitInterval() * 8 - 4) }
        logits[17] = logits[18]  // a tie
        logits[40] = -.infinity
        for p in [0.05, 0.5, 0.9, 0.999] {
            var x = logits
            LogitsProcessors.applyTopP(&x, topP: p)
            // Reference: stable ascending sort by closure, f32 softmax, double cumsum, <= 1 - p.
            let order = logits.indices.sorted { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            let probabilities = LogitsProcessors.softmax(order.map { logits[$0] })
            var cumulative = 0.0
            var want = logits
            for (rank, index) in order.enumerated() {
                cumulative += Double(probabilities[rank])
                if rank < order.count - 1 && Float(cumulative) <= Float(1 - p) { want[index] = -.infinity }
            }
            #expect(x == want, "top_p \(p)")
            let kept = x.filter { $0 != -.infinity }.count
            #expect(kept >= 1 && (p > 0.5 ? kept > 1 : true))
        }
    }
}

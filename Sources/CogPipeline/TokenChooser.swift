import Foundation
import CogVLM

/// Picks each next token from the model's logits, the way HF `generate` does with the given
/// parameters: the repetition penalty over every token of the sequence so far, then either the
/// argmax (greedy) or temperature → top-k → top-p and a draw from the softmax with a seeded
/// generator. One chooser per generated sequence.
/// ref: transformers `GenerationMixin._sample` (`logits_processor` then `logits_warper`,
/// `torch.multinomial(softmax(scores))`) and `_greedy_search` (argmax of processed scores).
public struct TokenChooser: Sendable {
    public let parameters: GenerationParameters
    private var random: SeededRandom
    /// `[vocab]` true for every token id in the sequence (prompt + generated); only kept when
    /// the repetition penalty is on.
    private var present: [Bool]

    /// - Parameters: `promptTokens` the full prompt ids (image pad ids included, as HF's
    ///   `input_ids`), `vocabularySize` the logits' length.
    public init(parameters: GenerationParameters, promptTokens: [Int], vocabularySize: Int) {
        self.parameters = parameters
        random = SeededRandom(seed: parameters.seed)
        present = []
        if parameters.repetitionPenalty != 1 {
            present = Array(repeating: false, count: vocabularySize)
            for id in promptTokens { record(id) }
        }
    }

    /// Notes a generated token (for the repetition penalty).
    public mutating func record(_ token: Int) {
        if !present.isEmpty && token >= 0 && token < present.count { present[token] = true }
    }

    /// Refuses logits that hold a NaN (`[vocab]` f32, raw model output, for generated token `step`):
    /// argmax over them would silently answer token 0 forever. A NaN comes from damaged weights or
    /// config values, never from a prompt, so the error says to check the checkpoint.
    public static func requireValid(_ logits: [Float], step: Int) throws(PipelineError) {
        guard logits.contains(where: \.isNaN) else { return }
        throw PipelineError(.nonFiniteLogits, "the model produced NaN logits for generated token \(step): its weights "
                                + "or config.json hold values that cannot be computed with (a damaged checkpoint); "
                                + "check it against the release (cogjobs check --model) and convert it again")
    }

    /// The next token for `logits` (`[vocab]` f32, raw model output) at generated token `step`;
    /// logits holding a NaN are refused first (`requireValid`).
    public mutating func choose(_ logits: [Float], step: Int) throws(PipelineError) -> Int {
        try Self.requireValid(logits, step: step)
        var scores = logits  // [vocab]
        if parameters.repetitionPenalty != 1 {
            LogitsProcessors.applyRepetitionPenalty(&scores, penalty: parameters.repetitionPenalty, present: present)
        }
        if parameters.isGreedy { return Greedy.argmax(scores) }
        if parameters.temperature != 1 {
            LogitsProcessors.applyTemperature(&scores, temperature: parameters.temperature)
        }
        if parameters.topK != 0 { LogitsProcessors.applyTopK(&scores, topK: parameters.topK) }
        if parameters.topP < 1 { LogitsProcessors.applyTopP(&scores, topP: parameters.topP) }
        return sample(scores)
    }

    /// A draw from `softmax(scores)`: one uniform number against the cumulative distribution
    /// (accumulated in double). −∞ scores have probability 0 and are never drawn.
    private mutating func sample(_ scores: [Float]) -> Int {
        guard let m = scores.max(), m.isFinite else { return Greedy.argmax(scores) }
        var weights = [Double](repeating: 0, count: scores.count)  // [vocab] unnormalized
        var total: Double = 0
        for i in scores.indices {
            let w = scores[i] == -.infinity ? 0 : Double(expf(scores[i] - m))
            weights[i] = w
            total += w
        }
        let target = random.nextUnitInterval() * total
        var cumulative: Double = 0
        var last = 0
        for i in weights.indices where weights[i] > 0 {
            cumulative += weights[i]
            last = i
            if target < cumulative { return i }
        }
        return last  // rounding left target at the very top: the last possible token
    }
}

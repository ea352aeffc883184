/// How tokens are chosen. The defaults are the official default: greedy decoding
/// (`do_sample=False` in every HF model card and CLI demo, architecture doc §5). Sampling
/// settings have Hugging Face `GenerationConfig`'s defaults (temperature 1, top-k 50, top-p 1),
/// so `doSample: true` alone behaves as `generate(do_sample=True)` does. The real-valued settings
/// are `Double` like HF's Python floats; the logits processors round them to f32 where PyTorch
/// does.
public struct GenerationParameters: Sendable, Equatable, Codable {
    /// Most tokens to generate (an end-of-sequence token counts, as HF's `max_new_tokens`).
    public var maxNewTokens: Int
    /// Sample instead of taking the most likely token. Ignored (greedy) when `temperature` is 0.
    public var doSample: Bool
    /// Softmax temperature for sampling (> 0); 0 means greedy.
    public var temperature: Double
    /// Keep only the `topK` most likely tokens when sampling; 0 disables.
    public var topK: Int
    /// Keep the smallest set of tokens whose probability reaches `topP` when sampling; 1 disables.
    public var topP: Double
    /// HF `repetition_penalty`: > 1 discourages tokens already in the sequence (prompt included);
    /// 1 disables. Applies to greedy decoding too, as in HF.
    public var repetitionPenalty: Double
    /// Seed of the sampling random generator (`SeededRandom`): the same seed, parameters and
    /// model give the same tokens.
    public var seed: UInt64

    public init(maxNewTokens: Int = 2048, doSample: Bool = false, temperature: Double = 1.0, topK: Int = 50,
                topP: Double = 1.0, repetitionPenalty: Double = 1.0, seed: UInt64 = 0) {
        self.maxNewTokens = maxNewTokens
        self.doSample = doSample
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    /// Greedy (argmax after the repetition penalty) rather than sampling.
    public var isGreedy: Bool { !doSample || temperature == 0 }

    /// Checks every value's range (as HF's `GenerationConfig.validate` and the warpers' own
    /// checks do), naming the setting at fault.
    public func validate() throws {
        func fail(_ field: String, _ message: String) -> PipelineError {
            PipelineError(.badParameter, message, field: field)
        }
        if maxNewTokens < 1 { throw fail("max_new_tokens", "must be at least 1, got \(maxNewTokens)") }
        if !temperature.isFinite || temperature < 0 {
            throw fail("temperature", "must be 0 (greedy) or a positive number, got \(temperature)")
        }
        if topK < 0 { throw fail("top_k", "must be 0 (off) or a positive integer, got \(topK)") }
        if !topP.isFinite || topP <= 0 || topP > 1 { throw fail("top_p", "must be in (0, 1], got \(topP)") }
        if !repetitionPenalty.isFinite || repetitionPenalty <= 0 {
            throw fail("repetition_penalty", "must be a positive number (1 = off), got \(repetitionPenalty)")
        }
    }
}

/// Text-generation settings used for jobs that do not set their own (the `generation` object).
public struct GenerationDefaults: Codable, Sendable, Equatable {
    /// `max_new_tokens`: the longest answer, in tokens.
    public var maxNewTokens: Int
    /// `temperature`: 0 is greedy decoding; higher values sample more freely.
    public var temperature: Double
    /// `top_p`: nucleus sampling mass in (0, 1]; 1 turns it off.
    public var topP: Double
    /// `top_k`: sample among the k most likely tokens (default 50); 0 turns it off.
    public var topK: Int
    /// `repetition_penalty`: > 1 discourages repeating tokens; 1 turns it off.
    public var repetitionPenalty: Double
    /// `seed`: a fixed sampling seed; nil lets each job pick one (stored with its result).
    public var seed: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxNewTokens = "max_new_tokens"
        case temperature
        case topP = "top_p"
        case topK = "top_k"
        case repetitionPenalty = "repetition_penalty"
        case seed
    }

    /// Creates settings; defaults from `ConfigDefaults`.
    public init(maxNewTokens: Int = ConfigDefaults.maxNewTokens, temperature: Double = ConfigDefaults.temperature,
                topP: Double = ConfigDefaults.topP, topK: Int = ConfigDefaults.topK,
                repetitionPenalty: Double = ConfigDefaults.repetitionPenalty, seed: Int? = nil) {
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    public init(from decoder: any Decoder) throws {
        try StrictDecoding.rejectUnknownKeys(in: decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxNewTokens = try container.decodeInteger(.maxNewTokens, default: ConfigDefaults.maxNewTokens)
        temperature = try container.decode(.temperature, default: ConfigDefaults.temperature)
        topP = try container.decode(.topP, default: ConfigDefaults.topP)
        topK = try container.decodeInteger(.topK, default: ConfigDefaults.topK)
        repetitionPenalty = try container.decode(.repetitionPenalty, default: ConfigDefaults.repetitionPenalty)
        seed = try container.decodeIntegerIfPresent(.seed)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(maxNewTokens, forKey: .maxNewTokens)
        try container.encode(temperature, forKey: .temperature)
        try container.encode(topP, forKey: .topP)
        try container.encode(topK, forKey: .topK)
        try container.encode(repetitionPenalty, forKey: .repetitionPenalty)
        try container.encode(seed, forKey: .seed)  // null when unset, so every key is shown
    }

    func problems(at path: String) -> [ConfigError] {
        var problems: [ConfigError] = []
        if !(1...8192).contains(maxNewTokens) {
            problems.append(.invalid(path + ".max_new_tokens", "must be between 1 and 8192, got \(maxNewTokens)"))
        }
        if !temperature.isFinite || temperature < 0 {
            problems.append(.invalid(path + ".temperature", "must be 0 (greedy) or more, got \(temperature)"))
        }
        if !topP.isFinite || topP <= 0 || topP > 1 {
            problems.append(.invalid(path + ".top_p", "must be in (0, 1] (1 turns it off), got \(topP)"))
        }
        if topK < 0 { problems.append(.invalid(path + ".top_k", "must be 0 (off) or more, got \(topK)")) }
        if !repetitionPenalty.isFinite || repetitionPenalty <= 0 {
            problems.append(.invalid(path + ".repetition_penalty",
                                     "must be above 0 (1 turns it off), got \(repetitionPenalty)"))
        }
        if let seed, seed < 0 { problems.append(.invalid(path + ".seed", "must be 0 or more, or null, got \(seed)")) }
        return problems
    }
}

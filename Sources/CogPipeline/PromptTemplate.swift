/// How a conversation becomes prompt text (ref: modeling_cogvlm.py `_history_to_prompt` and
/// `base_history_to_prompt` / `chat_history_to_prompt` / `vqa_history_to_prompt`, identical in
/// cogvlm-chat-hf and cogvlm2-llama3-chat-19B; architecture doc §4.2).
public enum PromptTemplate: String, Sendable, CaseIterable, Codable {
    /// The query verbatim; history is ignored (grounding and base checkpoints).
    case base
    /// `Question: {q} Answer: {a}\n` per history turn, then `Question: {q} Answer:`.
    case chat
    /// As `chat` with `Short answer:` in place of `Answer:` (history included, as in the HF code;
    /// the SAT training code's vqa template drops it).
    case vqa

    /// The template a model's `config.json` names (`template_version`), lowercased.
    public init(configValue: String) throws {
        guard let template = PromptTemplate(rawValue: configValue.lowercased()) else {
            throw PipelineError(.badTemplate, "unknown template \"\(configValue)\"; use base, chat or vqa",
                                field: "template_version")
        }
        self = template
    }

    /// The prompt text for `query` after `history` (oldest turn first).
    /// ref: `_history_to_prompt(template_version, history, query)`.
    public func text(query: String, history: [ConversationTurn] = []) -> String {
        let answerFormat: String
        switch self {
        case .base: return query
        case .chat: answerFormat = "Answer:"
        case .vqa: answerFormat = "Short answer:"
        }
        var prompt = ""
        for turn in history {
            prompt += "Question: " + turn.question + " " + answerFormat + " " + turn.answer + "\n"
        }
        prompt += "Question: " + query + " " + answerFormat
        return prompt
    }
}

/// One earlier question and the model's answer to it.
public struct ConversationTurn: Sendable, Equatable, Codable {
    public var question: String
    public var answer: String

    public init(question: String, answer: String) {
        self.question = question
        self.answer = answer
    }
}

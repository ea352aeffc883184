import CogVLM

/// Builds the model input for one conversation, as the official `build_conversation_input_ids`
/// (ref: modeling_cogvlm.py `CogVLMForCausalLM.build_conversation_input_ids`, cogvlm-chat-hf and
/// cogvlm2-llama3-chat-19B; architecture doc §3.3):
///
///     input_ids      = [BOS] + [PAD] * imageTokenCount (if an image) + encode(text, add_special_tokens=False)
///     token_type_ids = [L]   + [V]   * imageTokenCount                 + [L] * len(text ids)
///
/// The image always sits right after BOS, before the whole conversation (history included).
public struct PromptBuilder: Sendable {
    /// Prepended to every prompt (`tokenizer.bos_token_id`).
    public var bosTokenID: Int
    /// Placed in the image slots (`tokenizer.pad_token_id`); its embedding is never used.
    public var imagePadTokenID: Int
    /// Image slots per image: boi + image tokens + eoi.
    public var imageTokenCount: Int
    /// The template used when a call does not name one (`config.template_version`).
    public var defaultTemplate: PromptTemplate

    public init(bosTokenID: Int, imagePadTokenID: Int, imageTokenCount: Int, defaultTemplate: PromptTemplate) {
        self.bosTokenID = bosTokenID
        self.imagePadTokenID = imagePadTokenID
        self.imageTokenCount = imageTokenCount
        self.defaultTemplate = defaultTemplate
    }

    /// The builder for a model. The image pad id is `config.padTokenID` for v1 (vicuna's
    /// `pad_token` `<unk>` = 0) and 128002 for v2, which the CogVLM2 code hard-codes
    /// (`tokenizer.pad_token_id = 128002`, `<|reserved_special_token_0|>`).
    public init(config: CogVLMConfiguration) throws {
        self.init(bosTokenID: config.bosTokenID,
                  imagePadTokenID: config.version == .v2 ? PromptBuilder.cogVLM2ImagePadID : config.padTokenID,
                  imageTokenCount: config.imageTokenCount,
                  defaultTemplate: try PromptTemplate(configValue: config.templateVersion))
    }

    /// CogVLM2's image placeholder id (ref: cogvlm2 `cli_demo.py` / modeling code, `pad_token_id=128002`).
    public static let cogVLM2ImagePadID = 128002

    /// Lays out `query` after `history`.
    /// - Parameters:
    ///   - hasImage: whether the conversation has an image (only one is supported, as upstream).
    ///   - template: overrides `defaultTemplate`.
    ///   - encoder: the model's tokenizer.
    public func build(query: String, history: [ConversationTurn] = [], hasImage: Bool,
                      template: PromptTemplate? = nil, encoder: some TextEncoding) throws -> PreparedPrompt {
        let text = (template ?? defaultTemplate).text(query: query, history: history)
        let textIDs: [Int]
        do {
            textIDs = try encoder.encode(text, addSpecialTokens: false)
        } catch let error as PipelineError {
            throw error
        } catch {
            throw PipelineError(.tokenizerFailed, "the tokenizer could not encode the prompt: \(error)",
                                field: "prompt")
        }
        var ids = [bosTokenID]
        var types: [TokenType] = [.language]
        if hasImage {
            ids += Array(repeating: imagePadTokenID, count: imageTokenCount)
            types += Array(repeating: .vision, count: imageTokenCount)
        }
        ids += textIDs
        types += Array(repeating: .language, count: textIDs.count)
        return PreparedPrompt(inputIDs: ids, tokenTypes: types,
                              positionIDs: SequenceLayout.positionIDs(tokenTypes: types), text: text)
    }
}

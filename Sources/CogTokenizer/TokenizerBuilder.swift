/// The parts of a ``Tokenizer`` as read from `tokenizer.json` or `tokenizer.model`, before the transformers
/// configuration is applied and the decoding tables are built.
struct TokenizerBuilder {
    /// The `▁` (U+2581) meta symbol SentencePiece uses for spaces.
    static let metaspace = "\u{2581}"

    var tokenStrings: [String?]  // [vocabularySize]
    var isSpecial: [Bool]  // [vocabularySize]
    var addedTokens: [(content: String, id: Int)]
    var model: BPEModel
    var normalizer: TextNormalizer
    var preTokenizer: Llama3PreTokenizer?
    var decoderKind: TokenDecoder.Kind
    var prefixIDs: [Int]
    var suffixIDs: [Int]
    var bosTokenID: Int?
    var eosTokenIDs: [Int]
    var padTokenID: Int?
    var unknownTokenID: Int?
    var cleansUpTokenizationSpaces = false

    /// Applies `tokenizer_config.json` / `special_tokens_map.json` settings.
    mutating func apply(_ configuration: TokenizerConfiguration) throws(TokenizerError) {
        let ids = idsByTokenString
        func id(of token: String, key: String) throws(TokenizerError) -> Int {
            guard let id = ids[Array(token.utf8)] else {
                throw TokenizerError(
                    code: .invalidField,
                    message: "\(key) names the token \"\(token)\", which is not in the tokenizer's vocabulary; the "
                        + "configuration does not belong to this tokenizer.",
                    file: configuration.sources[key], key: key)
            }
            return id
        }
        if configuration.legacy == false { normalizer.prependsOnlyAtTextStart = true }
        if let token = configuration.bosToken { bosTokenID = try id(of: token, key: "bos_token") }
        if let token = configuration.eosToken { eosTokenIDs = [try id(of: token, key: "eos_token")] }
        if let token = configuration.padToken { padTokenID = try id(of: token, key: "pad_token") }
        if let token = configuration.unknownToken { unknownTokenID = try id(of: token, key: "unk_token") }
        if let addBOS = configuration.addBOSToken {
            if addBOS {
                guard let bosTokenID else { throw missingToken("add_bos_token", "bos_token", configuration) }
                prefixIDs = [bosTokenID]
            } else {
                prefixIDs = []
            }
        }
        if let addEOS = configuration.addEOSToken {
            if addEOS {
                guard let eos = eosTokenIDs.first else {
                    throw missingToken("add_eos_token", "eos_token", configuration)
                }
                suffixIDs = [eos]
            } else {
                suffixIDs = []
            }
        }
        cleansUpTokenizationSpaces = configuration.cleanUpTokenizationSpaces ?? false
    }

    private func missingToken(_ flag: String, _ token: String, _ configuration: TokenizerConfiguration)
        -> TokenizerError
    {
        TokenizerError(
            code: .invalidField, message: "\(flag) is true but no \(token) is configured; set \(token).",
            file: configuration.sources[flag], key: flag)
    }

    /// Ids by the exact UTF-8 bytes of their token strings (a later id wins, as added tokens come last).
    private var idsByTokenString: [[UInt8]: Int] {
        var ids: [[UInt8]: Int] = [:]
        ids.reserveCapacity(tokenStrings.count)
        for (id, token) in tokenStrings.enumerated() {
            if let token { ids[Array(token.utf8)] = id }
        }
        return ids
    }

    func build() -> Tokenizer {
        let count = tokenStrings.count
        var tokenBytes = [[UInt8]](repeating: [], count: count)  // [vocabularySize] decoded bytes per id
        var fallbackByte = [Int16](repeating: -1, count: count)  // [vocabularySize] byte of <0xXX> tokens or -1
        for (id, token) in tokenStrings.enumerated() {
            guard let token else { continue }
            switch decoderKind {
            case .byteLevel:
                // tokenizers' ByteLevel decoder keeps a token's own UTF-8 when a character is outside the table.
                tokenBytes[id] = ByteLevelAlphabet.bytes(of: token) ?? Array(token.utf8)
            case .sentencePiece:
                if let byte = Self.fallbackByte(token) {
                    fallbackByte[id] = Int16(byte)
                } else {
                    tokenBytes[id] = Array(token.replacingMetaspace.utf8)
                }
            }
        }
        let decoder = TokenDecoder(
            kind: decoderKind, tokenBytes: tokenBytes, fallbackByte: fallbackByte, isSpecial: isSpecial,
            exists: tokenStrings.map { $0 != nil })
        return Tokenizer(
            normalizer: normalizer, preTokenizer: preTokenizer, model: model,
            addedTokens: AddedTokenMatcher(tokens: addedTokens), decoder: decoder, tokenStrings: tokenStrings,
            idsByTokenString: idsByTokenString, prefixIDs: prefixIDs, suffixIDs: suffixIDs, bosTokenID: bosTokenID,
            eosTokenIDs: eosTokenIDs, padTokenID: padTokenID, unknownTokenID: unknownTokenID,
            cleansUpTokenizationSpaces: cleansUpTokenizationSpaces)
    }

    /// The byte of a `<0xXX>` byte-fallback token (either hex case, as tokenizers accepts), or `nil`.
    // ref: huggingface/tokenizers decoders/byte_fallback.rs
    static func fallbackByte(_ token: String) -> UInt8? {
        let utf8 = Array(token.utf8)
        guard utf8.count == 6, utf8[0] == UInt8(ascii: "<"), utf8[1] == UInt8(ascii: "0"),
            utf8[2] == UInt8(ascii: "x"), utf8[5] == UInt8(ascii: ">")
        else { return nil }
        return UInt8(String(decoding: utf8[3...4], as: UTF8.self), radix: 16)
    }

    /// The `<0xXX>` token string for a byte, upper-case hex as SentencePiece and tokenizers write it.
    static func fallbackToken(_ byte: Int) -> String {
        let hex = Array("0123456789ABCDEF")
        return "<0x\(hex[byte >> 4])\(hex[byte & 15])>"
    }
}

extension String {
    /// The string with every `▁` turned into a space (the SentencePiece `Replace` decoder).
    var replacingMetaspace: String {
        let bytes = TextNormalizer.replacing(Array(TokenizerBuilder.metaspace.utf8), with: [0x20], in: Array(utf8))
        return String(decoding: bytes, as: UTF8.self)
    }
}

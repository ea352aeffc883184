import Foundation

/// The transformers settings that sit next to the tokenizer files: `tokenizer_config.json` and
/// `special_tokens_map.json`.
///
/// They decide what the vocabulary files do not: which tokens are BOS / EOS / PAD, whether BOS and EOS are
/// added, LLaMA's `legacy` mode, and whether decoded text is cleaned up. As in transformers, a token named in
/// `special_tokens_map.json` overrides the one in `tokenizer_config.json`.
///
/// Keys read (all optional): `legacy`, `add_bos_token`, `add_eos_token`, `clean_up_tokenization_spaces`,
/// `bos_token`, `eos_token`, `pad_token`, `unk_token` (each a string, an `AddedToken` object with `content`,
/// or null).
// ref: transformers tokenization_utils_base.py PreTrainedTokenizerBase._from_pretrained (special_tokens_map)
public struct TokenizerConfiguration: Sendable, Equatable {
    /// LLaMA `legacy`. `false` (vicuna-7b-v1.5) adds the SentencePiece dummy prefix `▁` only at the start of the
    /// text, not after special tokens found in it. `nil` or `true` keeps the tokenizers behaviour.
    public var legacy: Bool?
    /// Whether `encode(addSpecialTokens: true)` adds BOS; `nil` keeps the tokenizer's own template.
    public var addBOSToken: Bool?
    /// Whether `encode(addSpecialTokens: true)` adds EOS; `nil` keeps the tokenizer's own template.
    public var addEOSToken: Bool?
    /// transformers' `clean_up_tokenization_spaces`; see ``Tokenizer/cleanUpTokenizationSpaces(_:)``.
    public var cleanUpTokenizationSpaces: Bool?
    /// The BOS token string.
    public var bosToken: String?
    /// The EOS token string.
    public var eosToken: String?
    /// The padding token string.
    public var padToken: String?
    /// The unknown token string.
    public var unknownToken: String?
    /// The file each token setting came from, for error messages.  // key → path
    var sources: [String: String] = [:]

    /// An empty configuration: the tokenizer files alone decide.
    public init(
        legacy: Bool? = nil, addBOSToken: Bool? = nil, addEOSToken: Bool? = nil,
        cleanUpTokenizationSpaces: Bool? = nil, bosToken: String? = nil, eosToken: String? = nil,
        padToken: String? = nil, unknownToken: String? = nil
    ) {
        self.legacy = legacy
        self.addBOSToken = addBOSToken
        self.addEOSToken = addEOSToken
        self.cleanUpTokenizationSpaces = cleanUpTokenizationSpaces
        self.bosToken = bosToken
        self.eosToken = eosToken
        self.padToken = padToken
        self.unknownToken = unknownToken
    }

    /// Reads `tokenizer_config.json` and `special_tokens_map.json` from `directory`. Missing files are fine
    /// (the result is then partly or wholly empty); unreadable or malformed ones throw.
    public static func load(directory: URL) throws(TokenizerError) -> TokenizerConfiguration {
        var configuration = TokenizerConfiguration()
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        if let json = try readObject(configURL) {
            do {
                configuration.legacy = try json.optional("legacy")?.bool()
                configuration.addBOSToken = try json.optional("add_bos_token")?.bool()
                configuration.addEOSToken = try json.optional("add_eos_token")?.bool()
                configuration.sources["add_bos_token"] = configURL.path
                configuration.sources["add_eos_token"] = configURL.path
                configuration.cleanUpTokenizationSpaces = try json.optional("clean_up_tokenization_spaces")?.bool()
                try configuration.readTokens(json, path: configURL.path)
            } catch {
                throw error.inFile(configURL.path)
            }
        }
        let mapURL = directory.appendingPathComponent("special_tokens_map.json")
        if let json = try readObject(mapURL) {
            do {
                try configuration.readTokens(json, path: mapURL.path)
            } catch {
                throw error.inFile(mapURL.path)
            }
        }
        return configuration
    }

    private mutating func readTokens(_ json: JSONField, path: String) throws(TokenizerError) {
        if let token = try Self.token(json, "bos_token") {
            bosToken = token
            sources["bos_token"] = path
        }
        if let token = try Self.token(json, "eos_token") {
            eosToken = token
            sources["eos_token"] = path
        }
        if let token = try Self.token(json, "pad_token") {
            padToken = token
            sources["pad_token"] = path
        }
        if let token = try Self.token(json, "unk_token") {
            unknownToken = token
            sources["unk_token"] = path
        }
    }

    /// A token setting: a plain string or an `AddedToken` object with `content`; `nil` when absent or null.
    private static func token(_ json: JSONField, _ key: String) throws(TokenizerError) -> String? {
        guard let field = try json.optional(key) else { return nil }
        if case .string(let text) = field.value { return text }
        return try field.required("content").string()
    }

    /// The top-level object of a JSON file, or `nil` if the file does not exist.
    private static func readObject(_ url: URL) throws(TokenizerError) -> JSONField? {
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw TokenizerError(
                code: .unreadableFile, message: "Could not read the file: \(error.localizedDescription).",
                file: url.path)
        }
        let parsed = data.withUnsafeBytes { bytes in
            Result { () throws(JSONValue.SyntaxError) in try JSONValue.parse(bytes) }
        }
        switch parsed {
        case .success(let value):
            guard case .object = value else {
                throw TokenizerError(
                    code: .invalidField, message: "Expected a JSON object at the top level.", file: url.path,
                    key: "(top level)")
            }
            return .root(value)
        case .failure(let error):
            throw TokenizerError(
                code: .badJSON,
                message: "The file is not valid JSON: \(error.message) at line \(error.line), column \(error.column).",
                file: url.path)
        }
    }
}

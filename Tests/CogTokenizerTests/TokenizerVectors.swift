import CogTestSupport
import CogTokenizer
import Foundation
import Testing

/// The reference data in `Tests/Fixtures/tokenizers/*/vectors.json` (see the README.md next to each file).
struct TokenizerVectors: Decodable {
    /// One text with its reference ids and decodings.
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var ids: [Int]
        /// The token strings of `ids` (`pieces` for LLaMA-2, `tokens` for Llama-3).
        var tokenStrings: [String]
        var decoded: String
        /// LLaMA-2: tokenizers `decode`.
        var decodedHFTokenizers: String?
        /// Llama-3: transformers `decode` (with `clean_up_tokenization_spaces`).
        var decodedTransformers: String?
        /// Llama-3: tokenizers `decode(skip_special_tokens=True)`.
        var decodedSkipSpecial: String?

        var testDescription: String { name }

        private enum CodingKeys: String, CodingKey {
            case name, text, ids, pieces, tokens, decoded
            case decodedHFTokenizers = "decoded_hf_tokenizers"
            case decodedTransformers = "decoded_transformers"
            case decodedSkipSpecial = "decoded_skip_special"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            text = try container.decode(String.self, forKey: .text)
            ids = try container.decode([Int].self, forKey: .ids)
            tokenStrings =
                try container.decodeIfPresent([String].self, forKey: .pieces)
                ?? container.decode([String].self, forKey: .tokens)
            decoded = try container.decode(String.self, forKey: .decoded)
            decodedHFTokenizers = try container.decodeIfPresent(String.self, forKey: .decodedHFTokenizers)
            decodedTransformers = try container.decodeIfPresent(String.self, forKey: .decodedTransformers)
            decodedSkipSpecial = try container.decodeIfPresent(String.self, forKey: .decodedSkipSpecial)
        }
    }

    /// One id (`single_token_decodes`) or id sequence (`byte_sequences`) with its reference decodings.
    struct Decoding: Decodable, Sendable, CustomTestStringConvertible {
        var label: String
        var ids: [Int]
        var decoded: String
        var decodedHFTokenizers: String?
        var decodedTransformers: String?
        var decodedSkipSpecial: String?

        var testDescription: String { label }

        private enum CodingKeys: String, CodingKey {
            case id, ids, note, decoded
            case decodedHFTokenizers = "decoded_hf_tokenizers"
            case decodedTransformers = "decoded_transformers"
            case decodedSkipSpecial = "decoded_skip_special"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if let id = try container.decodeIfPresent(Int.self, forKey: .id) {
                ids = [id]
                label = "id \(id)"
            } else {
                ids = try container.decode([Int].self, forKey: .ids)
                label = try container.decode(String.self, forKey: .note)
            }
            decoded = try container.decode(String.self, forKey: .decoded)
            decodedHFTokenizers = try container.decodeIfPresent(String.self, forKey: .decodedHFTokenizers)
            decodedTransformers = try container.decodeIfPresent(String.self, forKey: .decodedTransformers)
            decodedSkipSpecial = try container.decodeIfPresent(String.self, forKey: .decodedSkipSpecial)
        }
    }

    /// A text containing special-token strings, with the ids of each implementation.
    struct SpecialTokenText: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var variants: [String: [Int]]

        var testDescription: String { name }

        private struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: AnyKey.self)
            name = try container.decode(String.self, forKey: AnyKey(stringValue: "name"))
            text = try container.decode(String.self, forKey: AnyKey(stringValue: "text"))
            variants = [:]
            for key in container.allKeys where key.stringValue.hasPrefix("ids_") {
                variants[key.stringValue] = try container.decode([Int].self, forKey: key)
            }
        }
    }

    var specialIDs: [String: Int?]
    var cases: [Case]
    var singleTokenDecodes: [Decoding]
    var byteSequences: [Decoding]
    var specialTokenText: [SpecialTokenText]

    private enum CodingKeys: String, CodingKey {
        case specialIDs = "special_ids"
        case cases
        case singleTokenDecodes = "single_token_decodes"
        case byteSequences = "byte_sequences"
        case specialTokenText = "special_token_text"
    }

    static func load(_ directory: URL) throws -> TokenizerVectors {
        let data = try Data(contentsOf: directory.appendingPathComponent("vectors.json"))
        return try JSONDecoder().decode(TokenizerVectors.self, from: data)
    }

    static let llama2: Result<TokenizerVectors, any Error> = Result { try load(Fixtures.llama2Tokenizer) }
    static let llama3: Result<TokenizerVectors, any Error> = Result { try load(Fixtures.llama3Tokenizer) }
}

/// The fixture tokenizers, each loaded once per test process.
enum FixtureTokenizers {
    /// How the LLaMA-2 tokenizer is loaded.
    enum LlamaSource: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case tokenizerJSON = "tokenizer.json"
        case sentencePieceModel = "tokenizer.model"

        var testDescription: String { rawValue }
    }

    /// Which transformers configuration the LLaMA-2 tokenizer is loaded with.
    enum LlamaConfiguration: Sendable, Equatable {
        /// vicuna-7b-v1.5's files as they are (`legacy: false`).
        case vicuna
        /// vicuna's files with `legacy: true`.
        case legacy
        /// No configuration: the tokenizer file alone.
        case none
    }

    typealias Loaded = Result<Tokenizer, TokenizerError>

    private static func loadLlama2(_ source: LlamaSource, _ configuration: LlamaConfiguration) -> Loaded {
        Result { () throws(TokenizerError) in
            var settings: TokenizerConfiguration?
            switch configuration {
            case .vicuna: settings = try TokenizerConfiguration.load(directory: Fixtures.llama2Tokenizer)
            case .legacy:
                settings = try TokenizerConfiguration.load(directory: Fixtures.llama2Tokenizer)
                settings?.legacy = true
            case .none: settings = nil
            }
            if source == .tokenizerJSON && configuration == .vicuna {
                // The folder as CogVLM users have it: `load(directory:)` picks tokenizer.json and the config files.
                return try Tokenizer.load(directory: Fixtures.llama2Tokenizer)
            }
            let file = Fixtures.llama2Tokenizer.appendingPathComponent(source.rawValue)
            switch source {
            case .tokenizerJSON: return try Tokenizer.load(tokenizerJSON: file, configuration: settings)
            case .sentencePieceModel: return try Tokenizer.load(sentencePieceModel: file, configuration: settings)
            }
        }
    }

    private static let llama2JSON = loadLlama2(.tokenizerJSON, .vicuna)
    private static let llama2Model = loadLlama2(.sentencePieceModel, .vicuna)
    private static let llama2JSONLegacy = loadLlama2(.tokenizerJSON, .legacy)
    private static let llama2ModelLegacy = loadLlama2(.sentencePieceModel, .legacy)
    private static let llama2JSONBare = loadLlama2(.tokenizerJSON, .none)
    private static let llama2ModelBare = loadLlama2(.sentencePieceModel, .none)
    /// Llama-3 `tokenizer.json` with its configuration, through `Tokenizer.load(directory:)`.
    private static let llama3Loaded = Result { () throws(TokenizerError) in
        try Tokenizer.load(directory: Fixtures.llama3Tokenizer)
    }

    static func llama2(_ source: LlamaSource, _ configuration: LlamaConfiguration = .vicuna) throws -> Tokenizer {
        switch (source, configuration) {
        case (.tokenizerJSON, .vicuna): try llama2JSON.get()
        case (.sentencePieceModel, .vicuna): try llama2Model.get()
        case (.tokenizerJSON, .legacy): try llama2JSONLegacy.get()
        case (.sentencePieceModel, .legacy): try llama2ModelLegacy.get()
        case (.tokenizerJSON, .none): try llama2JSONBare.get()
        case (.sentencePieceModel, .none): try llama2ModelBare.get()
        }
    }

    static func llama3() throws -> Tokenizer { try llama3Loaded.get() }
}

/// A string compared by its exact Unicode scalars. Swift's `==` on `String` treats canonically equivalent text
/// (`"é"` and `"e\u{301}"`) as equal; the tests must not.
struct Exact: Equatable, CustomStringConvertible {
    var text: String?

    init(_ text: String?) { self.text = text }

    static func == (lhs: Exact, rhs: Exact) -> Bool {
        switch (lhs.text, rhs.text) {
        case (nil, nil): true
        case (let left?, let right?): left.unicodeScalars.elementsEqual(right.unicodeScalars)
        default: false
        }
    }

    var description: String { text.map { $0.debugDescription } ?? "nil" }
}

import Foundation

/// The subset of the Hugging Face `tokenizer.json` format that this module reads, decoded strictly.
///
/// Every component with a `type` key is an enum over the types we implement; any other type throws a
/// ``TokenizerError`` that names the type and its key, instead of being skipped. Keys we do not need are
/// ignored; keys we need must have the right JSON type. The vocabulary is kept as a list, never as a
/// `Dictionary<String, …>` (see ``JSONValue`` for why).
// ref: huggingface/tokenizers tokenizers/src/tokenizer/serialization.rs and each component's serde form
struct TokenizerJSON {
    var addedTokens: [AddedToken]
    var normalizer: Normalizer?
    var preTokenizer: PreTokenizer?
    var postProcessor: PostProcessor?
    var decoder: Decoder?
    var model: Model

    /// Parses and decodes `data`; every failure is a ``TokenizerError`` naming `file` and the key.
    static func decode(_ data: Data, file: String) throws(TokenizerError) -> TokenizerJSON {
        let parsed = data.withUnsafeBytes { bytes in
            Result { () throws(JSONValue.SyntaxError) in try JSONValue.parse(bytes) }
        }
        let root: JSONValue
        switch parsed {
        case .success(let value):
            root = value
        case .failure(let error):
            throw TokenizerError(
                code: .badJSON,
                message: "The file is not valid JSON: \(error.message) at line \(error.line), column \(error.column). "
                    + "Download it again.",
                file: file)
        }
        do {
            return try TokenizerJSON(.root(root))
        } catch {
            throw error.inFile(file)
        }
    }

    init(_ json: JSONField) throws(TokenizerError) {
        addedTokens = try (json.optional("added_tokens")?.array() ?? []).map { (field) throws(TokenizerError) in
            try AddedToken(field)
        }
        normalizer = try json.optional("normalizer").map { (field) throws(TokenizerError) in try Normalizer(field) }
        preTokenizer = try json.optional("pre_tokenizer").map { (field) throws(TokenizerError) in
            try PreTokenizer(field)
        }
        postProcessor = try json.optional("post_processor").map { (field) throws(TokenizerError) in
            try PostProcessor(field)
        }
        decoder = try json.optional("decoder").map { (field) throws(TokenizerError) in try Decoder(field) }
        model = try Model(try json.required("model"))
    }

    /// One entry of `added_tokens`.
    struct AddedToken {
        var id: Int
        var content: String
        var special: Bool
        var singleWord: Bool
        var lstrip: Bool
        var rstrip: Bool
        var normalized: Bool

        init(_ json: JSONField) throws(TokenizerError) {
            id = try json.required("id").int()
            content = try json.required("content").string()
            special = try json.optional("special")?.bool() ?? false
            singleWord = try json.optional("single_word")?.bool() ?? false
            lstrip = try json.optional("lstrip")?.bool() ?? false
            rstrip = try json.optional("rstrip")?.bool() ?? false
            normalized = try json.optional("normalized")?.bool() ?? !special
        }
    }

    /// A `Replace` / `Split` pattern: `{"String": "…"}` or `{"Regex": "…"}`.
    enum Pattern: Equatable, CustomStringConvertible {
        case string(String)
        case regex(String)

        init(_ json: JSONField) throws(TokenizerError) {
            if let text = try json.optional("String") {
                self = .string(try text.string())
            } else if let text = try json.optional("Regex") {
                self = .regex(try text.string())
            } else {
                throw TokenizerError(
                    code: .invalidField, message: "Expected {\"String\": …} or {\"Regex\": …}.", key: json.path)
            }
        }

        var description: String {
            switch self {
            case .string(let text): "String \"\(text)\""
            case .regex(let text): "Regex \"\(text)\""
            }
        }

        /// Exact comparison of the scalars (Swift `==` on strings would accept canonically equivalent text).
        static func == (lhs: Pattern, rhs: Pattern) -> Bool {
            switch (lhs, rhs) {
            case (.string(let left), .string(let right)), (.regex(let left), .regex(let right)):
                left.utf8.elementsEqual(right.utf8)
            default:
                false
            }
        }
    }

    indirect enum Normalizer {
        case sequence([Normalizer])
        case prepend(String)
        case replace(pattern: Pattern, content: String)

        init(_ json: JSONField) throws(TokenizerError) {
            let type = try json.required("type").string()
            switch type {
            case "Sequence":
                self = .sequence(
                    try json.required("normalizers").array().map { (field) throws(TokenizerError) in
                        try Normalizer(field)
                    })
            case "Prepend": self = .prepend(try json.required("prepend").string())
            case "Replace":
                self = .replace(
                    pattern: try Pattern(try json.required("pattern")), content: try json.required("content").string())
            default:
                throw unsupported(.unsupportedNormalizer, "normalizer", type, "Sequence, Prepend, Replace", json)
            }
        }
    }

    indirect enum PreTokenizer {
        case sequence([PreTokenizer])
        case split(pattern: Pattern, behavior: String, invert: Bool)
        case byteLevel(addPrefixSpace: Bool, useRegex: Bool)

        init(_ json: JSONField) throws(TokenizerError) {
            let type = try json.required("type").string()
            switch type {
            case "Sequence":
                self = .sequence(
                    try json.required("pretokenizers").array().map { (field) throws(TokenizerError) in
                        try PreTokenizer(field)
                    })
            case "Split":
                self = .split(
                    pattern: try Pattern(try json.required("pattern")),
                    behavior: try json.required("behavior").string(),
                    invert: try json.optional("invert")?.bool() ?? false)
            case "ByteLevel":
                self = .byteLevel(
                    addPrefixSpace: try json.optional("add_prefix_space")?.bool() ?? true,
                    useRegex: try json.optional("use_regex")?.bool() ?? true)
            default:
                throw unsupported(
                    .unsupportedPreTokenizer, "pre-tokenizer", type, "Sequence, Split (the Llama-3 pattern), ByteLevel",
                    json)
            }
        }

        var typeName: String {
            switch self {
            case .sequence: "Sequence"
            case .split: "Split"
            case .byteLevel: "ByteLevel"
            }
        }
    }

    /// One item of a `TemplateProcessing` template.
    enum TemplateItem {
        case specialToken(String)
        case sequence(String)

        init(_ json: JSONField) throws(TokenizerError) {
            if let reference = try json.optional("SpecialToken") {
                self = .specialToken(try reference.required("id").string())
            } else if let reference = try json.optional("Sequence") {
                self = .sequence(try reference.required("id").string())
            } else {
                throw TokenizerError(
                    code: .invalidField, message: "Expected {\"SpecialToken\": …} or {\"Sequence\": …}.",
                    key: json.path)
            }
        }
    }

    indirect enum PostProcessor {
        case sequence([PostProcessor])
        /// `specialTokens`: each entry of `special_tokens` as (key, ids), in file order.
        case templateProcessing(single: [TemplateItem], specialTokens: [(name: String, ids: [Int])])
        case byteLevel

        init(_ json: JSONField) throws(TokenizerError) {
            let type = try json.required("type").string()
            switch type {
            case "Sequence":
                self = .sequence(
                    try json.required("processors").array().map { (field) throws(TokenizerError) in
                        try PostProcessor(field)
                    })
            case "TemplateProcessing":
                let single = try json.required("single").array().map { (field) throws(TokenizerError) in
                    try TemplateItem(field)
                }
                var specialTokens: [(name: String, ids: [Int])] = []
                for (name, entry) in try json.optional("special_tokens")?.members() ?? [] {
                    let ids = try entry.required("ids").array().map { (field) throws(TokenizerError) in try field.int()
                    }
                    specialTokens.append((name, ids))
                }
                self = .templateProcessing(single: single, specialTokens: specialTokens)
            case "ByteLevel": self = .byteLevel
            default:
                throw unsupported(
                    .unsupportedPostProcessor, "post-processor", type, "Sequence, TemplateProcessing, ByteLevel", json)
            }
        }
    }

    indirect enum Decoder {
        case sequence([Decoder])
        case replace(pattern: Pattern, content: String)
        case byteFallback
        case fuse
        case strip(content: String, start: Int, stop: Int)
        case byteLevel

        init(_ json: JSONField) throws(TokenizerError) {
            let type = try json.required("type").string()
            switch type {
            case "Sequence":
                self = .sequence(
                    try json.required("decoders").array().map { (field) throws(TokenizerError) in
                        try Decoder(field)
                    })
            case "Replace":
                self = .replace(
                    pattern: try Pattern(try json.required("pattern")), content: try json.required("content").string())
            case "ByteFallback": self = .byteFallback
            case "Fuse": self = .fuse
            case "Strip":
                self = .strip(
                    content: try json.required("content").string(), start: try json.required("start").int(),
                    stop: try json.required("stop").int())
            case "ByteLevel": self = .byteLevel
            default:
                throw unsupported(
                    .unsupportedDecoder, "decoder", type, "Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel",
                    json)
            }
        }

        var typeName: String {
            switch self {
            case .sequence(let steps): "Sequence[" + steps.map(\.typeName).joined(separator: ", ") + "]"
            case .replace: "Replace"
            case .byteFallback: "ByteFallback"
            case .fuse: "Fuse"
            case .strip: "Strip"
            case .byteLevel: "ByteLevel"
            }
        }
    }

    /// The `model` object; only `BPE` is supported.
    struct Model {
        /// `vocab` entries (token, id) in file order.
        var vocab: [(token: String, id: Int)]
        var merges: [(left: String, right: String)]
        var unknownToken: String?
        var byteFallback: Bool
        var fuseUnknown: Bool
        var ignoreMerges: Bool

        init(_ json: JSONField) throws(TokenizerError) {
            // Older files leave out `type`; tokenizers then recognises BPE by its `merges`.
            var type = "(none)"
            if let field = try json.optional("type") {
                type = try field.string()
            } else if try json.optional("merges") != nil {
                type = "BPE"
            }
            guard type == "BPE" else {
                throw unsupported(.unsupportedModel, "model", type, "BPE", json)
            }
            if let dropout = try json.optional("dropout")?.double(), dropout != 0 {
                throw TokenizerError(
                    code: .unsupportedModel,
                    message: "BPE dropout \(dropout) is for training; set \"dropout\" to null for inference.",
                    key: json.path + ".dropout")
            }
            for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
                if let affix = try json.optional(key)?.string(), !affix.isEmpty {
                    throw TokenizerError(
                        code: .unsupportedModel,
                        message: "BPE with \(key) \"\(affix)\" (a WordPiece-style affix) is not supported.",
                        key: json.path + "." + key)
                }
            }
            vocab = try json.required("vocab").members().map { (member) throws(TokenizerError) in
                (member.key, try member.field.int())
            }
            merges = try json.required("merges").array().map { (field) throws(TokenizerError) in
                try Self.merge(field)
            }
            unknownToken = try json.optional("unk_token")?.string()
            byteFallback = try json.optional("byte_fallback")?.bool() ?? false
            fuseUnknown = try json.optional("fuse_unk")?.bool() ?? false
            ignoreMerges = try json.optional("ignore_merges")?.bool() ?? false
        }

        /// A merge: a `"left right"` string (files of 2023 and before) or a `["left", "right"]` pair.
        private static func merge(_ field: JSONField) throws(TokenizerError) -> (left: String, right: String) {
            switch field.value {
            case .string(let line):
                // Split on the byte, not on Character " ": a token may start with a combining mark, which would
                // join the space into one grapheme.
                let parts = line.utf8.split(separator: 0x20, omittingEmptySubsequences: false)
                guard parts.count == 2 else {
                    throw TokenizerError(
                        code: .invalidField,
                        message: "A merge must be two tokens separated by one space, not \"\(line)\".", key: field.path)
                }
                return (String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self))
            case .array(let parts) where parts.count == 2:
                let pair = try field.array()
                return (try pair[0].string(), try pair[1].string())
            default:
                throw TokenizerError(
                    code: .invalidField,
                    message:
                        "A merge must be a \"left right\" string or a [left, right] pair, not \(field.value.typeName).",
                    key: field.path)
            }
        }
    }

    private static func unsupported(
        _ code: TokenizerError.Code, _ what: String, _ type: String, _ supported: String, _ json: JSONField
    ) -> TokenizerError {
        TokenizerError(
            code: code, message: "The \(what) type \"\(type)\" is not supported (supported: \(supported)).",
            key: json.path + ".type")
    }
}

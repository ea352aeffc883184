import CogTestSupport
import CogTokenizer
import Foundation
import Testing

/// Broken, unsupported and missing tokenizer files give a ``TokenizerError`` with the right code, file and key.
@Suite("Tokenizer loading errors")
struct TokenizerErrorTests {
    /// Writes `contents` to `name` in a fresh directory, runs `body` on the file's URL, then
    /// removes the directory.
    static func withFile<T>(_ contents: Data, name: String, _ body: (URL) throws -> T) throws -> T {
        try Fixtures.withTemporaryDirectory("tokenizer") { directory in
            let url = directory.appendingPathComponent(name)
            try contents.write(to: url)
            return try body(url)
        }
    }

    static func withFile<T>(_ text: String, name: String = "tokenizer.json", _ body: (URL) throws -> T) throws -> T {
        try withFile(Data(text.utf8), name: name, body)
    }

    /// Writes `text` as tokenizer.json and returns the error loading it must throw.
    static func jsonError(writing text: String) throws -> TokenizerError {
        try withFile(text) { try jsonError($0) }
    }

    /// Loads `url` as tokenizer.json and returns the error it must throw.
    static func jsonError(_ url: URL) throws -> TokenizerError {
        let error = try #require(throws: TokenizerError.self) { try Tokenizer.load(tokenizerJSON: url) }
        #expect(error.file == url.path)
        #expect(!error.message.isEmpty)
        return error
    }

    /// A minimal valid LLaMA-style tokenizer.json, with parts replaceable by the tests.
    static func tinyJSON(
        normalizer: String = #"{"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, "#
            + #"{"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]}"#,
        preTokenizer: String = "null",
        decoder: String = #"{"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "#
            + #""content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, "#
            + #"{"type": "Strip", "content": " ", "start": 1, "stop": 0}]}"#,
        model: String = #"{"type": "BPE", "unk_token": "<unk>", "vocab": {"<unk>": 0, "▁": 1, "a": 2, "b": 3, "#
            + #""▁a": 4, "ab": 5}, "merges": ["▁ a", "a b"]}"#,
        addedTokens: String = #"[{"id": 0, "content": "<unk>", "special": true, "normalized": false}]"#
    ) -> String {
        """
        {"version": "1.0", "added_tokens": \(addedTokens), "normalizer": \(normalizer),
         "pre_tokenizer": \(preTokenizer), "post_processor": null, "decoder": \(decoder), "model": \(model)}
        """
    }

    @Test("the tiny tokenizer.json used below loads and works")
    func tinyTokenizerWorks() throws {
        let tokenizer = try Self.withFile(Self.tinyJSON()) { try Tokenizer.load(tokenizerJSON: $0) }
        // "▁ab" → ▁ a b → (▁ a) b [merge 0] → ▁a b; "ab" is merge 1 but "a" is already taken.
        #expect(tokenizer.encode("ab", addSpecialTokens: false) == [4, 3])
        // "c" is not in the vocabulary and there is no byte fallback: consecutive unknowns are not fused
        // (fuse_unk is absent, so false).
        #expect(tokenizer.encode("acc", addSpecialTokens: false) == [4, 0, 0])
        #expect(tokenizer.decode([4, 3]) == "ab")
    }

    @Test("fuse_unk fuses runs of unknown characters into one <unk>")
    func fuseUnknown() throws {
        let model =
            #"{"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "vocab": {"<unk>": 0, "▁": 1, "a": 2, "#
            + #""b": 3, "▁a": 4, "ab": 5}, "merges": ["▁ a", "a b"]}"#
        let tokenizer = try Self.withFile(Self.tinyJSON(model: model)) { try Tokenizer.load(tokenizerJSON: $0) }
        #expect(tokenizer.encode("accb", addSpecialTokens: false) == [4, 0, 3])
    }

    @Test("truncated JSON is .badJSON")
    func truncatedJSON() throws {
        let original = try Data(contentsOf: Fixtures.llama2Tokenizer.appendingPathComponent("tokenizer.json"))
        for length in [0, 1, 1000, original.count / 2, original.count - 2] {
            let error = try Self.withFile(original.prefix(length), name: "tokenizer.json") { try Self.jsonError($0) }
            #expect(error.code == .badJSON, "length \(length)")
            #expect(error.message.contains("line"), "length \(length)")
        }
    }

    @Test("not JSON at all is .badJSON")
    func notJSON() throws {
        for text in [
            "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 9085698\n", "{\"a\": 1,}", "\u{FEFF}{}",
        ] {
            #expect(try Self.jsonError(writing: text).code == .badJSON, "\(text.debugDescription)")
        }
    }

    @Test("wrong JSON types are .invalidField naming the key")
    func wrongTypes() throws {
        let cases: [(json: String, key: String)] = [
            ("[]", "(top level)"),
            (#"{"model": "BPE"}"#, "model"),
            (#"{"added_tokens": []}"#, "model"),
            (Self.tinyJSON(model: #"{"type": "BPE", "vocab": {"a": "zero"}, "merges": []}"#), "model.vocab.a"),
            (Self.tinyJSON(model: #"{"type": "BPE", "vocab": {"▁a": 1.5}, "merges": []}"#), #"model.vocab["▁a"]"#),
            (Self.tinyJSON(model: #"{"type": "BPE", "vocab": [["a", 0]], "merges": []}"#), "model.vocab"),
            (Self.tinyJSON(model: #"{"type": "BPE", "vocab": {"a": 0}}"#), "model.merges"),
            (Self.tinyJSON(model: #"{"type": "BPE", "vocab": {"a": 0}, "merges": [7]}"#), "model.merges[0]"),
            (Self.tinyJSON(model: #"{"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]}"#), "model.merges[0]"),
            (
                Self.tinyJSON(model: #"{"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": "yes"}"#),
                "model.byte_fallback"
            ),
            (Self.tinyJSON(addedTokens: #"[{"id": "0", "content": "<unk>"}]"#), "added_tokens[0].id"),
            (Self.tinyJSON(addedTokens: #"[{"id": 0}]"#), "added_tokens[0].content"),
            (Self.tinyJSON(normalizer: #"{"type": "Prepend"}"#), "normalizer.prepend"),
            (Self.tinyJSON(normalizer: #"{"type": 3}"#), "normalizer.type"),
        ]
        for (json, key) in cases {
            let error = try Self.jsonError(writing: json)
            #expect(error.code == .invalidField, "\(json)")
            #expect(error.key == key, "\(json)")
        }
    }

    @Test("inconsistent values are .invalidField")
    func inconsistentValues() throws {
        let cases: [(model: String, key: String)] = [
            (
                #"{"type": "BPE", "unk_token": "<unk>", "vocab": {"<unk>": 0, "a": 1}, "merges": ["a q"]}"#,
                "model.merges[0]"
            ),
            (
                #"{"type": "BPE", "unk_token": "<unk>", "vocab": {"<unk>": 0, "a": 1, "b": 2}, "merges": ["a b"]}"#,
                "model.merges[0]"
            ),
            (
                #"{"type": "BPE", "unk_token": "<unk>", "vocab": {"<unk>": 0, "a": 7}, "merges": []}"#,
                "model.vocab.a"
            ),
            (
                #"{"type": "BPE", "unk_token": "<unk>", "vocab": {"<unk>": 0, "a": 0}, "merges": []}"#,
                "model.vocab.a"
            ),
            (
                #"{"type": "BPE", "unk_token": "<oops>", "vocab": {"<unk>": 0, "a": 1}, "merges": []}"#,
                "model.unk_token"
            ),
        ]
        for (model, key) in cases {
            let error = try Self.jsonError(writing: Self.tinyJSON(model: model))
            #expect(error.code == .invalidField, "\(model)")
            #expect(error.key == key, "\(model)")
        }
    }

    @Test("unsupported component types name the type and key")
    func unsupportedTypes() throws {
        let cases: [(json: String, code: TokenizerError.Code, key: String, type: String)] = [
            (
                Self.tinyJSON(model: #"{"type": "Unigram", "vocab": [["a", 0.0]], "unk_id": 0}"#), .unsupportedModel,
                "model.type", "Unigram"
            ),
            (
                Self.tinyJSON(model: #"{"type": "WordPiece", "vocab": {"a": 0}}"#), .unsupportedModel, "model.type",
                "WordPiece"
            ),
            (Self.tinyJSON(normalizer: #"{"type": "NFKC"}"#), .unsupportedNormalizer, "normalizer.type", "NFKC"),
            (
                Self.tinyJSON(normalizer: #"{"type": "Sequence", "normalizers": [{"type": "Lowercase"}]}"#),
                .unsupportedNormalizer, "normalizer.normalizers[0].type", "Lowercase"
            ),
            (
                Self.tinyJSON(preTokenizer: #"{"type": "Metaspace", "replacement": "▁"}"#), .unsupportedPreTokenizer,
                "pre_tokenizer.type", "Metaspace"
            ),
            (Self.tinyJSON(decoder: #"{"type": "WordPiece"}"#), .unsupportedDecoder, "decoder.type", "WordPiece"),
        ]
        for (json, code, key, type) in cases {
            let error = try Self.jsonError(writing: json)
            #expect(error.code == code, "\(type)")
            #expect(error.key == key, "\(type)")
            #expect(error.message.contains("\"\(type)\""), "\(type)")
        }
    }

    @Test("unsupported settings are refused, not ignored")
    func unsupportedSettings() throws {
        let splitOther =
            #"{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+"}, "#
            + #""behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "#
            + #""use_regex": false}]}"#
        let gpt2 = #"{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}"#
        let cases: [(json: String, code: TokenizerError.Code)] = [
            (Self.tinyJSON(preTokenizer: splitOther, decoder: #"{"type": "ByteLevel"}"#), .unsupportedPreTokenizer),
            (Self.tinyJSON(preTokenizer: gpt2, decoder: #"{"type": "ByteLevel"}"#), .unsupportedPreTokenizer),
            (Self.tinyJSON(decoder: #"{"type": "ByteLevel"}"#), .unsupportedPreTokenizer),
            (Self.tinyJSON(decoder: #"{"type": "Sequence", "decoders": [{"type": "Fuse"}]}"#), .unsupportedDecoder),
            (
                Self.tinyJSON(normalizer: #"{"type": "Replace", "pattern": {"Regex": " +"}, "content": "▁"}"#),
                .unsupportedNormalizer
            ),
            (
                Self.tinyJSON(model: #"{"type": "BPE", "dropout": 0.1, "vocab": {"a": 0}, "merges": []}"#),
                .unsupportedModel
            ),
            (Self.tinyJSON(model: #"{"type": "BPE", "vocab": {"a": 0}, "merges": []}"#), .unsupportedModel),
            (
                Self.tinyJSON(addedTokens: #"[{"id": 0, "content": "<unk>", "special": true, "lstrip": true}]"#),
                .unsupportedAddedToken
            ),
            (
                Self.tinyJSON(addedTokens: #"[{"id": 0, "content": "<unk>", "special": false}]"#),
                .unsupportedAddedToken
            ),
        ]
        for (json, code) in cases {
            #expect(try Self.jsonError(writing: json).code == code, "\(json)")
        }
    }

    @Test("missing files and directories are .missingFile")
    func missingFiles() throws {
        let empty = try Fixtures.temporaryDirectory("tokenizer-empty")
        defer { Fixtures.removeTemporaryDirectory(empty) }
        let noFiles = try #require(throws: TokenizerError.self) { try Tokenizer.load(directory: empty) }
        #expect(noFiles.code == .missingFile)
        #expect(noFiles.file == empty.path)
        #expect(noFiles.message.contains("tokenizer.json") && noFiles.message.contains("tokenizer.model"))

        let nowhere = empty.appendingPathComponent("does-not-exist")
        let missingDirectory = try #require(throws: TokenizerError.self) { try Tokenizer.load(directory: nowhere) }
        #expect(missingDirectory.message.contains("does not exist"))
        // A file given as the directory (say, tokenizer.json itself) is named as such.
        let file = empty.appendingPathComponent("tokenizer.json")
        try Data("{}".utf8).write(to: file)
        let notDirectory = try #require(throws: TokenizerError.self) { try Tokenizer.load(directory: file) }
        #expect(notDirectory.code == .missingFile && notDirectory.file == file.path)
        #expect(notDirectory.message.contains("not a directory") && !notDirectory.message.contains("does not exist"))
        let json = nowhere.appendingPathComponent("tokenizer.json")
        let missingJSON = try #require(throws: TokenizerError.self) { try Tokenizer.load(tokenizerJSON: json) }
        #expect(missingJSON.code == .missingFile)
        #expect(missingJSON.file == json.path)
        let model = nowhere.appendingPathComponent("tokenizer.model")
        let missingModel = try #require(throws: TokenizerError.self) { try Tokenizer.load(sentencePieceModel: model) }
        #expect(missingModel.code == .missingFile)
    }

    @Test("a truncated or foreign tokenizer.model is .badProtobuf")
    func truncatedModel() throws {
        let original = try Data(contentsOf: Fixtures.llama2Tokenizer.appendingPathComponent("tokenizer.model"))
        // Cuts inside a piece, on piece boundaries (no trainer_spec follows), inside trainer_spec and before
        // normalizer_spec; a zero-byte file; and text that is not a protobuf at all.
        var inputs: [(String, Data)] = [
            0, 5, 1000, 250_000, original.count - 200, original.count - 30, original.count - 1,
        ]
        .map { ("first \($0) bytes", original.prefix($0)) }
        // normalizer_spec is the last field: 2 bytes of tag and length, then 18 bytes.
        inputs.append(("without normalizer_spec", original.prefix(original.count - 20)))
        inputs.append(("tiktoken text", Data("IQ== 0\nIg== 1\nIw== 2\n".utf8)))
        inputs.append(("Git LFS pointer", Data("version https://git-lfs.github.com/spec/v1\nsize 499723\n".utf8)))
        for (label, data) in inputs {
            try Self.withFile(data, name: "tokenizer.model") { url in
                let error = try #require(throws: TokenizerError.self, "\(label)") {
                    try Tokenizer.load(sentencePieceModel: url)
                }
                #expect(error.code == .badProtobuf, "\(label): \(error)")
                #expect(error.file == url.path, "\(label)")
                if label == "without normalizer_spec" { #expect(error.key == "normalizer_spec") }
            }
        }
    }

    @Test("a broken tokenizer_config.json is reported with its own path")
    func brokenConfiguration() throws {
        let directory = try Fixtures.temporaryDirectory("tokenizer-config")
        defer { Fixtures.removeTemporaryDirectory(directory) }
        try FileManager.default.copyItem(
            at: Fixtures.llama2Tokenizer.appendingPathComponent("tokenizer.model"),
            to: directory.appendingPathComponent("tokenizer.model"))
        let config = directory.appendingPathComponent("tokenizer_config.json")
        try Data(#"{"legacy": false, "add_bos_token": tru"#.utf8).write(to: config)
        let truncated = try #require(throws: TokenizerError.self) { try Tokenizer.load(directory: directory) }
        #expect(truncated.code == .badJSON)
        #expect(truncated.file == config.path)

        try Data(#"{"legacy": "no"}"#.utf8).write(to: config)
        let wrongType = try #require(throws: TokenizerError.self) { try Tokenizer.load(directory: directory) }
        #expect(wrongType.code == .invalidField)
        #expect(wrongType.key == "legacy")
        #expect(wrongType.file == config.path)

        try Data(#"{"pad_token": "<pad>"}"#.utf8).write(to: config)
        let unknownToken = try #require(throws: TokenizerError.self) { try Tokenizer.load(directory: directory) }
        #expect(unknownToken.code == .invalidField)
        #expect(unknownToken.key == "pad_token")
        #expect(unknownToken.file == config.path)
    }

    @Test("the description names code, file and key")
    func description() {
        let error = TokenizerError(code: .badJSON, message: "Broken.", file: "/x/tokenizer.json", key: "model")
        #expect(error.description == "tokenizer.bad_json: Broken. (file: /x/tokenizer.json, key: model)")
    }
}

import Foundation

extension Tokenizer {
    /// Loads the tokenizer in `directory`: `tokenizer.json` if present, else `tokenizer.model`, together with
    /// `tokenizer_config.json` and `special_tokens_map.json` when they exist.
    ///
    /// Loading reads and indexes megabytes of vocabulary (about a second for Llama-3 in a release build): do it
    /// once, off the Swift cooperative thread pool, and share the value.
    ///
    /// - Throws: ``TokenizerError`` with `.missingFile` when the directory holds neither tokenizer file, or the
    ///   error of the file that failed to load.
    public static func load(directory: URL) throws(TokenizerError) -> Tokenizer {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) else {
            throw TokenizerError(
                code: .missingFile,
                message: "The tokenizer directory does not exist; pass the folder that holds tokenizer.json or "
                    + "tokenizer.model.",
                file: directory.path)
        }
        guard isDirectory.boolValue else {
            throw TokenizerError(
                code: .missingFile,
                message: "This is a file, not a directory; pass the folder that holds tokenizer.json or "
                    + "tokenizer.model, not a file.",
                file: directory.path)
        }
        let configuration = try TokenizerConfiguration.load(directory: directory)
        let json = directory.appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json.path) {
            return try load(tokenizerJSON: json, configuration: configuration)
        }
        let model = directory.appendingPathComponent("tokenizer.model")
        if FileManager.default.fileExists(atPath: model.path) {
            return try load(sentencePieceModel: model, configuration: configuration)
        }
        throw TokenizerError(
            code: .missingFile,
            message: "The directory has neither tokenizer.json nor tokenizer.model; copy the tokenizer files of the "
                + "model (for CogVLM: lmsys/vicuna-7b-v1.5; for CogVLM2: the model repository) into it.",
            file: directory.path)
    }

    /// Loads a Hugging Face `tokenizer.json`, with optional transformers settings.
    public static func load(
        tokenizerJSON url: URL, configuration: TokenizerConfiguration? = nil
    ) throws(TokenizerError) -> Tokenizer {
        let data = try readFile(url)
        let json = try TokenizerJSON.decode(data, file: url.path)
        do {
            var builder = try TokenizerBuilder(tokenizerJSON: json)
            if let configuration { try builder.apply(configuration) }
            return builder.build()
        } catch {
            throw error.inFile(url.path)
        }
    }

    /// Loads a SentencePiece `tokenizer.model` (BPE), with optional transformers settings.
    public static func load(
        sentencePieceModel url: URL, configuration: TokenizerConfiguration? = nil
    ) throws(TokenizerError) -> Tokenizer {
        let data = try readFile(url)
        do {
            let file = try SentencePieceModelFile(bytes: [UInt8](data))
            var builder = try TokenizerBuilder(sentencePiece: file)
            if let configuration { try builder.apply(configuration) }
            return builder.build()
        } catch {
            throw error.inFile(url.path)
        }
    }

    private static func readFile(_ url: URL) throws(TokenizerError) -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TokenizerError(code: .missingFile, message: "The tokenizer file does not exist.", file: url.path)
        }
        do {
            return try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw TokenizerError(
                code: .unreadableFile, message: "Could not read the file: \(error.localizedDescription).",
                file: url.path)
        }
    }
}

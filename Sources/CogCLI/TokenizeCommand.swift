import ArgumentParser
import CogTokenizer
import Foundation

/// `cogjobs tokenize`: prints the token ids of a text as JSON, like llama.cpp's tokenize tool, for checking
/// prompts against the reference tokenizer.
///
/// ```
/// $ cogjobs tokenize --tokenizer vicuna-7b-v1.5 --ids "Question: Hi Answer:"
/// [1,894,29901,6324,673,29901]
/// $ cogjobs tokenize --tokenizer vicuna-7b-v1.5 --no-special "Hi"
/// [{"id":6324,"piece":"▁Hi"}]
/// ```
public struct TokenizeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text as JSON.",
        discussion: """
            Loads tokenizer.json (or tokenizer.model) with tokenizer_config.json from the directory and encodes \
            TEXT as Hugging Face transformers does. Special-token strings in TEXT (such as <s> or <|eot_id|>) \
            become their ids. Prints a JSON array of {"id", "piece"} objects, or of ids with --ids.
            """)

    @Option(name: .long, help: "The directory holding tokenizer.json or tokenizer.model.")
    var tokenizer: String

    @Flag(name: .long, help: "Print only the ids.")
    var ids = false

    @Flag(name: .customLong("no-special"), help: "Do not add BOS/EOS (add_special_tokens=False).")
    var noSpecial = false

    @Argument(help: "The text to tokenize.")
    var text: String

    public init() {}

    /// One output entry: an id and its vocabulary token string.
    private struct Entry: Encodable {
        var id: Int
        var piece: String
    }

    public func run() throws {
        let loaded = try Tokenizer.load(directory: URL(fileURLWithPath: tokenizer, isDirectory: true))
        let tokenIDs = loaded.encode(text, addSpecialTokens: !noSpecial)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data =
            ids
            ? try encoder.encode(tokenIDs)
            : try encoder.encode(tokenIDs.map { Entry(id: $0, piece: loaded.tokenString($0) ?? "") })
        print(String(decoding: data, as: UTF8.self))
    }
}

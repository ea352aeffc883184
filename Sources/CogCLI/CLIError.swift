import ArgumentParser

/// A user-facing failure of a CLI command: printed as `Error: <message>` with exit status 1.
/// Domain errors (weights, tokenizer, store, …) are wrapped with their stable code in the text.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

import Foundation

/// Encodes `--json` output and export records: keys sorted, slashes unescaped, so the text is
/// stable from run to run and easy to diff. Field names are fixed by each record's `CodingKeys`
/// and documented in docs/cli.md.
enum JSONOutput {
    /// One indented JSON document followed by a newline (`--json` of the read commands).
    static func document(_ value: some Encodable) throws -> String {
        try text(value, formatting: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) + "\n"
    }

    /// One JSON value on a single line, without a newline (JSON Lines records).
    static func line(_ value: some Encodable) throws -> String {
        try text(value, formatting: [.sortedKeys, .withoutEscapingSlashes])
    }

    private static func text(_ value: some Encodable, formatting: JSONEncoder.OutputFormatting) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf",
                                                                      negativeInfinity: "-inf", nan: "nan")
        let data: Data
        do {
            data = try encoder.encode(value)
        } catch {
            throw CLIError(.unexpected, "cannot encode the output as JSON: \(error)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

import CogJobStore

/// The CSV layout of `cogjobs export --format csv`: RFC 4180 (comma-separated, CRLF line ends,
/// fields quoted when they contain a comma, a quote, CR or LF; quotes doubled), one header row,
/// one row per result. Boxes go into one column as a JSON array of the `export --format jsonl`
/// box objects.
enum CSVExport {
    static let columns = ["result_id", "job_id", "image_path", "image_sha256", "width", "height", "task", "prompt",
                          "text", "model", "generated_tokens", "total_ms", "finished_at", "box_count", "boxes"]

    /// The header line.
    static var header: String { line(columns) }

    /// The line for one result.
    static func row(_ row: ResultRow) throws -> String {
        let boxes = try JSONOutput.line(row.boxes)
        return line([String(row.resultID), String(row.jobID), row.imagePath, row.imageSHA256,
                     row.imageWidth.map(String.init) ?? "", row.imageHeight.map(String.init) ?? "", row.task,
                     row.prompt, row.text, row.model, String(row.generatedTokens), String(row.totalMilliseconds),
                     TextFormat.iso8601(row.finishedAt), String(row.boxes.count), boxes])
    }

    /// Fields joined into one CSV line, with its CRLF.
    static func line(_ fields: [String]) -> String {
        fields.map(quoted).joined(separator: ",") + "\r\n"
    }

    /// A field, quoted if it needs to be.
    static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else {
            return field
        }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

import ArgumentParser
import CogJobStore
import CogWatcher
import Foundation

/// `cogjobs results`: the latest result of every (image, task), newest first.
struct ResultsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results",
        abstract: "Show the latest result of every image and task, newest first.",
        discussion: """
            When an image was processed several times for one task (a new prompt, a new model, --force), only the \
            newest result is shown; `cogjobs export` writes every result. --since takes a span back from now \
            (12h, 7d) or an ISO-8601 date or time.
            """)

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: ArgumentHelp("Only results of this task.", valueName: "task"))
    var task: String?

    @Option(name: .long, help: ArgumentHelp("Only images whose path contains this text.", valueName: "text"))
    var image: String?

    @Option(name: .long, help: ArgumentHelp("Only results stored at or after this time.", valueName: "when"))
    var since: PointInTime?

    @Option(name: .long, help: ArgumentHelp("At most this many results.", valueName: "n"))
    var limit: Int = 50

    @Flag(name: .long, help: "Print JSON (fields in docs/cli.md).")
    var json = false

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
        try TaskOption.validate(task)
    }

    func run() throws {
        try reportingFailures {
            let context = CommandContext.current
            let jobStore = try store.openStore()
            let filter = ResultQueries.Filter(task: task, pathContains: image,
                                              since: since?.date(now: context.clock()), limit: limit)
            let results = try ResultQueries.latest(in: jobStore, filter)
            if json {
                context.write(try JSONOutput.document(Output(results: results.map(JSONRecords.Result.init))))
            } else if results.isEmpty {
                context.writeLine("No results match.")
            } else {
                context.write(Self.render(results))
            }
        }
    }

    static func render(_ results: [ResultRow]) -> String {
        var text = ""
        for result in results {
            let size = result.imageWidth.flatMap { w in result.imageHeight.map { " (\(w)×\($0))" } } ?? ""
            text += "\(PrintableText.escapingControlCharacters(result.imagePath))\(size)  [\(result.task), job \(result.jobID), "
                + "\(TextFormat.iso8601(result.finishedAt))]\n"
            if !result.prompt.isEmpty { text += "  prompt: \(result.prompt)\n" }
            text += "  \(result.text)\n"
            for box in result.boxes {
                text += "  box \"\(box.phrase)\": [\(box.x0), \(box.y0), \(box.x1), \(box.y1)] → pixels "
                    + "(\(TextFormat.decimal(box.pixelX0)), \(TextFormat.decimal(box.pixelY0)))–"
                    + "(\(TextFormat.decimal(box.pixelX1)), \(TextFormat.decimal(box.pixelY1)))\n"
            }
        }
        return text
    }

    /// `results --json`.
    struct Output: Encodable {
        var results: [JSONRecords.Result]
    }
}

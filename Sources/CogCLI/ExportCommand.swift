import ArgumentParser
import CogJobStore
import Foundation

/// `cogjobs export`: every result (or the latest per image and task) as JSON Lines, CSV or COCO.
struct ExportCommand: ParsableCommand {
    /// Export formats.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case jsonl, csv, coco
    }

    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export results as JSON Lines, CSV, or COCO (boxes).",
        discussion: """
            Writes every result, oldest first (--latest: only the newest per image and task). jsonl: one JSON \
            object per result. csv: RFC 4180 with a header row; boxes as a JSON array in one column. coco: a COCO \
            detection file with images, annotations (bbox [x, y, w, h] in pixels) and one category per phrase; \
            only images with boxes and a known size. docs/cli.md lists every field. With --output the file is \
            written under a temporary name and renamed when complete.
            """)

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "Output format.")
    var format: Format = .jsonl

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of standard output.",
                                                    valueName: "file"),
            completion: .file())
    var output: String?

    @Option(name: .long, help: ArgumentHelp("Only results of this task.", valueName: "task"))
    var task: String?

    @Option(name: .long, help: ArgumentHelp("Only results stored at or after this time (12h, 7d, 2025-01-31).",
                                            valueName: "when"))
    var since: PointInTime?

    @Flag(name: .long, help: "Only the newest result of every image and task.")
    var latest = false

    func validate() throws { try TaskOption.validate(task) }

    func run() throws {
        try reportingFailures {
            let context = CommandContext.current
            let jobStore = try store.openStore()
            let sinceDate = since?.date(now: context.clock())
            let latestIDs = latest ? try ResultQueries.latestResultIDs(in: jobStore, task: task) : nil
            let databaseFiles = ["", "-wal", "-shm", "-journal"].map { jobStore.path + $0 }
            let destination = try ExportDestination(path: output, protecting: databaseFiles, context: context)
            var coco = COCOExport()
            var exported = 0, boxes = 0
            if format == .csv { try destination.write(CSVExport.header) }
            var after: Int64 = 0
            while true {
                let page = try jobStore.exportRows(task: task, afterResultID: after, limit: 1000)
                guard let last = page.last else { break }
                after = last.resultID
                for row in page.map(ResultRow.init) {
                    if let sinceDate, row.finishedAt < sinceDate { continue }
                    if let latestIDs, !latestIDs.contains(row.resultID) { continue }
                    exported += 1
                    boxes += row.boxes.count
                    switch format {
                    case .jsonl: try destination.write(JSONOutput.line(JSONRecords.Result(row: row)) + "\n")
                    case .csv: try destination.write(CSVExport.row(row))
                    case .coco: coco.add(row)
                    }
                }
            }
            if format == .coco {
                let document = coco.document(description: "cogjobs export of \(jobStore.path)",
                                             created: context.clock())
                try destination.write(JSONOutput.line(document) + "\n")
                for path in coco.skippedImages {
                    context.warn("warning: \(path): image size unknown; its boxes are not in the COCO file")
                }
            }
            try destination.finish()
            context.warn("exported \(exported) results (\(boxes) boxes) as \(format.rawValue) to \(destination.name)")
        }
    }
}

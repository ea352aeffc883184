@testable import CogCLI
import CogJobStore
import Foundation
import Testing

/// `results` and `export` (jsonl, csv, coco) on the sample database.
@Suite("cogjobs results / export")
struct ResultsExportTests {
    static let resultFields: Set<String> = [
        "result_id", "job_id", "image_path", "image_sha256", "width", "height", "task", "prompt", "text",
        "raw_output", "model", "generated_tokens", "total_ms", "finished_at", "boxes"]

    @Test func resultsShowTheLatestResultPerImageAndTask() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let run = await CLI.run(["results", "--database", db.path])
        #expect(run.status == 0, "\(run)")
        #expect(run.standardOutput.contains("A grey cat asleep on a sofa."))
        #expect(!run.standardOutput.contains("A cat.\n"), "the older caption of cat.jpg is not the latest")
        #expect(run.standardOutput.contains("box \"a red ball\": [500, 500, 600, 600]"))

        let json = try (await CLI.run(["results", "--database", db.path, "--json"])).json()
        let results = try #require(field(json, "results", as: [[String: Any]].self))
        #expect(results.count == 2)
        #expect(Set(results[0].keys) == Self.resultFields)
        let byTask = Dictionary(uniqueKeysWithValues: results.map { (field($0, "task", as: String.self) ?? "", $0) })
        #expect(field(byTask["caption"], "job_id", as: Int64.self) == db.catAgain)
        #expect(field(byTask["ground"], "boxes", as: [Any].self)?.count == 2)
        #expect(field(byTask["ground"], "width") == 640)
        #expect(Set(field(byTask["ground"], "boxes", "0", as: [String: Any].self)?.keys.map { $0 } ?? []) ==
                ["phrase", "x0", "y0", "x1", "y1", "px_x0", "px_y0", "px_x1", "px_y1"])

        let filtered = try (await CLI.run(["results", "--database", db.path, "--json", "--task", "ground"])).json()
        #expect(field(filtered, "results", as: [Any].self)?.count == 1)
        let byImage = try (await CLI.run(["results", "--database", db.path, "--json", "--image", "cat"])).json()
        #expect(field(byImage, "results", "0", "text") == "A grey cat asleep on a sofa.")
        let none = await CLI.run(["results", "--database", db.path, "--since", "2999-01-01T00:00:00Z"])
        #expect(none.standardOutput.contains("No results match."), "\(none)")
    }

    @Test func exportJSONLinesHasEveryResult() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let run = await CLI.run(["export", "--database", db.path, "--format", "jsonl"])
        #expect(run.status == 0, "\(run)")
        let records = try run.standardOutput.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(records.count == 3)
        #expect(records.map { field($0, "job_id", as: Int64.self) } == [db.dog, db.cat, db.catAgain])
        for record in records { #expect(Set(record.keys) == Self.resultFields) }
        #expect(field(records[0], "boxes", "0", "px_x1") == 319.36)
        #expect(field(records[1], "text") == "A cat.")
        #expect(run.standardError.contains("exported 3 results (2 boxes)"))

        let latest = await CLI.run(["export", "--database", db.path, "--latest"])
        #expect(latest.standardOutput.split(separator: "\n").count == 2)
        #expect(!latest.standardOutput.contains("\"A cat.\""))
        let ground = await CLI.run(["export", "--database", db.path, "--task", "ground"])
        #expect(ground.standardOutput.split(separator: "\n").count == 1)
    }

    @Test func exportCSVParsesWithTheDocumentedColumns() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let run = await CLI.run(["export", "--database", db.path, "--format", "csv"])
        #expect(run.status == 0, "\(run)")
        let rows = try CSVReader.parse(run.standardOutput)
        #expect(rows.count == 4)
        #expect(rows[0] == CSVExport.columns)
        let column = Dictionary(uniqueKeysWithValues: rows[0].enumerated().map { ($1, $0) })
        let dog = rows[1]
        #expect(dog[column["image_path"] ?? 0] == "/photos/dog.jpg")
        #expect(dog[column["text"] ?? 0] == "A dog chasing a red ball.")
        #expect(dog[column["box_count"] ?? 0] == "2")
        #expect(dog[column["width"] ?? 0] == "640")
        let boxes = try JSONSerialization.jsonObject(with: Data(dog[column["boxes"] ?? 0].utf8)) as? [[String: Any]]
        #expect(field(boxes, "1", "phrase") == "a red ball")
        #expect(field(boxes, "1", "px_y0") == 240.0)
        #expect(rows[3][column["prompt"] ?? 0] == "Describe the cat in one sentence.")
    }

    @Test func csvQuotesCommasQuotesAndNewlines() throws {
        let line = CSVExport.line(["plain", "a, b", "say \"hi\"", "two\nlines", "crlf\r\nend"])
        #expect(line == "plain,\"a, b\",\"say \"\"hi\"\"\",\"two\nlines\",\"crlf\r\nend\"\r\n")
        #expect(try CSVReader.parse(line) == [["plain", "a, b", "say \"hi\"", "two\nlines", "crlf\r\nend"]])
    }

    @Test func exportCOCOHasPixelBoxesAndPhraseCategories() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let file = db.directory.appendingPathComponent("boxes.json")
        let run = await CLI.run(["export", "--database", db.path, "--format", "coco", "--output", file.path])
        #expect(run.status == 0, "\(run)")
        #expect(run.standardOutput.isEmpty)
        #expect(run.standardError.contains("to \(file.path)"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: db.directory.path)
            .filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
        let coco = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        #expect(Set(coco.keys) == ["info", "images", "annotations", "categories"])
        let images = try #require(coco["images"] as? [[String: Any]])
        #expect(images.count == 1, "only images with boxes")
        #expect(field(images[0], "file_name") == "/photos/dog.jpg")
        #expect(field(images[0], "width") == 640 && field(images[0], "height") == 480)
        #expect(field(images[0], "id") == 1)
        let categories = try #require(coco["categories"] as? [[String: Any]])
        #expect(categories.compactMap { field($0, "name", as: String.self) } == ["a red ball", "the dog"])
        #expect(categories.compactMap { field($0, "id", as: Int.self) } == [1, 2])
        let annotations = try #require(coco["annotations"] as? [[String: Any]])
        #expect(annotations.count == 2)
        // The dog: normalized [0, 0, 499, 999] of 640×480 → x 0, y 0, w 319.36, h 479.52 pixels.
        #expect(field(annotations[0], "bbox", as: [Double].self) == [0, 0, 319.36, 479.52])
        #expect(field(annotations[0], "category_id") == 2)
        #expect(field(annotations[0], "image_id") == 1)
        #expect(field(annotations[0], "box_1000", as: [Int].self) == [0, 0, 499, 999])
        // The ball: [500, 500, 600, 600] → x 320, y 240, w 64, h 48.
        #expect(field(annotations[1], "bbox", as: [Double].self) == [320, 240, 64, 48])
        #expect(field(annotations[1], "area") == 3072.0)
        #expect(field(annotations[1], "category_id") == 1)
        #expect(field(annotations[1], "iscrowd") == 0)
        #expect(field(annotations[1], "result_id", as: Int64.self) != nil)
    }

    /// `--output` naming the database (directly, through a symbolic link, or its WAL file) is refused
    /// before anything is written: renaming the export over it replaced the live job database.
    @Test func exportRefusesToWriteOverTheDatabase() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let before = try Data(contentsOf: URL(fileURLWithPath: db.path))
        let link = db.directory.appendingPathComponent("link.sqlite3")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: db.path)
        for output in [db.path, link.path, db.path + "-wal"] {
            let run = await CLI.run(["export", "--database", db.path, "--output", output])
            #expect(run.status != 0, "\(output): \(run)")
            #expect(run.standardError.contains("cli.output_failed"), "\(run)")
            #expect(run.standardError.contains("is the job database"), "\(run)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: db.path)) == before)
        let after = await CLI.run(["results", "--database", db.path])
        #expect(after.status == 0, "\(after)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: db.directory.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    @Test func cocoLeavesOutImagesOfUnknownSizeAndNamesThem() {
        var coco = COCOExport()
        let box = GroundingBox(phrase: "  ", x0: 1, y0: 2, x1: 3, y1: 4, pixelX0: 1, pixelY0: 2, pixelX1: 3, pixelY1: 4)
        coco.add(ResultRow(resultID: 1, jobID: 1, imagePath: "/a.jpg", imageSHA256: "a", imageWidth: nil,
                           imageHeight: nil, task: "ground", prompt: "", text: "", rawOutput: "", model: "m",
                           generatedTokens: 1, totalMilliseconds: 1, finishedAt: Date(), boxes: [box]))
        coco.add(ResultRow(resultID: 2, jobID: 2, imagePath: "/b.jpg", imageSHA256: "b", imageWidth: 10,
                           imageHeight: 10, task: "ground", prompt: "", text: "", rawOutput: "", model: "m",
                           generatedTokens: 1, totalMilliseconds: 1, finishedAt: Date(), boxes: [box]))
        #expect(coco.skippedImages == ["/a.jpg"])
        let document = coco.document(description: "t", created: Date())
        #expect(document.images.map(\.fileName) == ["/b.jpg"])
        #expect(document.categories.map(\.name) == [COCOExport.unnamedCategory])
    }
}

/// A small RFC 4180 reader for checking the CSV export (quoted fields may hold commas, quotes and
/// line breaks; records end with CRLF).
enum CSVReader {
    struct Malformed: Error {}

    static func parse(_ text: String) throws -> [[String]] {
        var records: [[String]] = []
        var record: [String] = []
        var field = ""
        var inQuotes = false
        var characters = Array(text.unicodeScalars)[...]
        while let c = characters.popFirst() {
            if inQuotes {
                if c == "\"" {
                    if characters.first == "\"" {
                        field.unicodeScalars.append("\"")
                        characters.removeFirst()
                    } else {
                        inQuotes = false
                    }
                } else {
                    field.unicodeScalars.append(c)
                }
            } else if c == "\"" {
                guard field.isEmpty else { throw Malformed() }
                inQuotes = true
            } else if c == "," {
                record.append(field)
                field = ""
            } else if c == "\r" {
                guard characters.popFirst() == "\n" else { throw Malformed() }
                record.append(field)
                records.append(record)
                record = []
                field = ""
            } else {
                field.unicodeScalars.append(c)
            }
        }
        guard !inQuotes, record.isEmpty, field.isEmpty else { throw Malformed() }
        return records
    }
}

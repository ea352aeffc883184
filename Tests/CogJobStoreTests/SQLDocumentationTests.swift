@testable import CogJobStore
import Foundation
import Testing

/// Runs every example in docs/sql.md against the example data the page describes and checks that
/// the output is exactly what the page shows.
@Suite("docs/sql.md examples")
struct SQLDocumentationTests {
    struct Example {
        var name: String
        var sql: String
        var expected: [String]
    }

    static let documentURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/sql.md")

    /// `<!-- example: name -->`, then a ```sql block, then a ```text block with the expected output.
    static func examples() throws -> [Example] {
        let lines = try String(contentsOf: documentURL, encoding: .utf8).components(separatedBy: "\n")
        var examples: [Example] = []
        var index = 0
        func block(_ fence: String) -> [String]? {
            while index < lines.count, lines[index].trimmingCharacters(in: .whitespaces).isEmpty { index += 1 }
            guard index < lines.count, lines[index] == "```\(fence)" else { return nil }
            index += 1
            var body: [String] = []
            while index < lines.count, lines[index] != "```" { body.append(lines[index]); index += 1 }
            index += 1
            return body
        }
        while index < lines.count {
            let line = lines[index]
            index += 1
            guard line.hasPrefix("<!-- example: "), line.hasSuffix(" -->") else { continue }
            let name = String(line.dropFirst("<!-- example: ".count).dropLast(" -->".count))
            let sql = block("sql")
            let expected = block("text")
            examples.append(Example(name: name, sql: (sql ?? []).joined(separator: "\n"),
                                    expected: expected ?? ["<missing>"]))
        }
        return examples
    }

    /// The data described under "The example data".
    static func exampleDatabase() throws -> (TestDatabase, JobStore) {
        let database = try TestDatabase("sqldoc")
        // Real "now", so the example that asks for the last hour sees the data; moved by hand after.
        var configuration = database.configuration()
        let clock = ManualClock(Date())
        configuration.clock = clock.provider
        let store = try JobStore(url: database.url, configuration: configuration)
        func info(_ name: String, _ width: Int, _ height: Int) -> ImageInfo {
            ImageInfo(sha256: SHA256.hexDigest(name), path: "/photos/\(name)", width: width, height: height,
                      format: "jpeg", byteSize: 1234)
        }
        let dog = info("dog.jpg", 640, 480), cat = info("cat.jpg", 800, 600)
        let requests = [
            EnqueueRequest(image: dog, task: "caption", prompt: "Describe the image.", model: "cogvlm-chat@1"),
            EnqueueRequest(image: dog, task: "ground", prompt: "Where is the dog?", model: "cogvlm-chat@1"),
            EnqueueRequest(image: cat, task: "caption", prompt: "Describe the image.", model: "cogvlm-chat@1"),
            EnqueueRequest(image: cat, task: "caption", prompt: "Describe the cat in one sentence.",
                           model: "cogvlm-chat@2"),
        ]
        let answers: [(String, [GroundingBox])] = [
            ("A dog chasing a red ball.", []),
            ("The dog is on the left.", [
                GroundingBox(phrase: "the dog", x0: 0, y0: 0, x1: 499, y1: 999, imageWidth: 640, imageHeight: 480),
                GroundingBox(phrase: "a red ball", x0: 500, y0: 500, x1: 600, y1: 600, imageWidth: 640,
                             imageHeight: 480),
            ]),
            ("A cat.", []),
            ("A grey cat asleep on a sofa.", []),
        ]
        for (request, answer) in zip(requests, answers) {
            let id = try store.enqueueNew(request)
            let job = try #require(try store.claim(owner: "doc", leaseDuration: .seconds(60)))
            #expect(job.id == id)
            clock.advance(seconds: 1.5)
            try store.complete(jobID: id, claimToken: job.claimToken, output: JobOutput(
                text: answer.0, rawOutput: answer.0, promptTokens: 10, generatedTokens: 8, totalMilliseconds: 1500,
                model: request.model, boxes: answer.1))
        }
        _ = try store.enqueueNew(EnqueueRequest(image: info("later.jpg", 100, 100), task: "caption",
                                                prompt: "Describe the image.", model: "cogvlm-chat@2"))
        let broken = try store.enqueueNew(EnqueueRequest(image: info("broken.jpg", 1, 1), task: "caption",
                                                         prompt: "Describe the image.", model: "cogvlm-chat@2",
                                                         priority: 1))
        let job = try #require(try store.claim(owner: "doc", leaseDuration: .seconds(60)))
        #expect(job.id == broken)
        try store.fail(jobID: broken, claimToken: job.claimToken, code: "image.unknown_format",
                       message: "/photos/broken.jpg: not a JPEG or PNG image (first bytes: 00 00 00 00 00 00 00 00); pass a JPEG or PNG file",
                       permanent: true)
        return (database, store)
    }

    /// A value as the sqlite3 shell prints it in list mode.
    static func render(_ value: SQLValue) -> String {
        switch value {
        case .null: ""
        case .integer(let v): String(v)
        case .real(let v): String(v)
        case .text(let v): v
        case .blob(let bytes): String(decoding: bytes, as: UTF8.self)
        }
    }

    @Test("the page documents examples, each with its expected output")
    func examplesArePresent() throws {
        let examples = try Self.examples()
        #expect(examples.count >= 7)
        for example in examples {
            #expect(!example.sql.isEmpty, "\(example.name) has no SQL block")
            #expect(example.expected != ["<missing>"], "\(example.name) has no expected output block")
        }
        #expect(Set(examples.map(\.name)).count == examples.count)
    }

    @Test("every documented example prints what the page shows")
    func examplesProduceDocumentedOutput() throws {
        let (database, store) = try Self.exampleDatabase()
        defer { database.remove() }
        for example in try Self.examples() {
            let rows = try store.query(example.sql)
            let printed = rows.map { $0.map(Self.render).joined(separator: "|") }
            #expect(printed == example.expected, "example \(example.name)")
        }
    }

    /// The one-line `sqlite3 DATABASE '…'` commands of the other pages (the README's first steps,
    /// the service docs): each must at least compile against the schema (table and column names).
    @Test("the sqlite3 one-liners in README.md and the other docs run against the schema")
    func shellOneLinersCompile() throws {
        let root = Self.documentURL.deletingLastPathComponent().deletingLastPathComponent()
        let pages = ["README.md", "docs/cli.md", "docs/daemon.md", "docs/models.md", "config/README.md", "systemd/README.md"]
        let pattern = /sqlite3 (?:-[a-z]+ (?:'[^']*' )?)*\S+\.sqlite3 '([^']+)'/
        var commands: [(String, String)] = []
        for page in pages {
            let text = try String(contentsOf: root.appendingPathComponent(page), encoding: .utf8)
            for match in text.matches(of: pattern) { commands.append((page, String(match.1))) }
        }
        #expect(commands.contains { $0.0 == "README.md" }, "the README shows how to read results with sqlite3")
        let (database, store) = try Self.exampleDatabase()
        defer { database.remove() }
        for (page, sql) in commands {
            #expect(throws: Never.self, "\(page): \(sql)") { _ = try store.query(sql) }
        }
    }

    @Test("the views are read-only")
    func viewsAreReadOnly() throws {
        let (database, store) = try Self.exampleDatabase()
        defer { database.remove() }
        let db = try database.rawConnection()
        for statement in ["DELETE FROM v_latest_results", "UPDATE v_boxes SET x0 = 1",
                          "INSERT INTO v_queue_stats DEFAULT VALUES"] {
            let error = try #require(throws: SQLiteError.self) { try db.execute(statement) }
            #expect(error.message.contains("cannot modify"))
            let refused = try #require(throws: JobStoreError.self) { try store.query(statement) }
            #expect(refused.underlying?.message.contains("cannot modify") == true)
        }
        // query() refuses any statement that could write, before running it.
        let refused = try #require(throws: JobStoreError.self) { try store.query("DELETE FROM jobs") }
        #expect(refused.code == .invalidInput)
        #expect(try store.query("SELECT count(*) FROM jobs") == [[.integer(6)]])
    }
}

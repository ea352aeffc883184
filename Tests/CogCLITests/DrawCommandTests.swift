@testable import CogCLI
import CogTestSupport
import Foundation
import Testing

/// `cogjobs draw --boxes` with the JSON the other verbs print (docs/models.md, "draw").
@Suite("cogjobs draw")
struct DrawCommandTests {
    /// The fixture image the boxes are drawn onto.
    static let image = Fixtures.cogvlmTiny.appendingPathComponent("test_image.png").path

    /// `draw IMAGE --boxes JSON` into a new file in `directory`.
    static func draw(_ boxes: String, into directory: URL, name: String = "drawn.jpg") async -> CLIRun {
        await CLI.run(["draw", image, "--boxes", boxes, "--output", directory.appendingPathComponent(name).path])
    }

    /// show --json nests the boxes in "result", results --json in every entry of "results", an export
    /// line has them at the top: all three draw every box of the sample database's `dog` job (two).
    @Test func drawsTheBoxesOfShowResultsAndExportJSON() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let tmp = try Fixtures.temporaryDirectory("draw-json")
        defer { Fixtures.removeTemporaryDirectory(tmp) }

        let show = await CLI.run(["show", "--database", db.path, "--json", "\(db.dog)"])
        #expect(show.status == 0, "\(show)")
        let fromShow = await Self.draw(show.standardOutput, into: tmp, name: "show.jpg")
        #expect(fromShow.status == 0 && fromShow.standardOutput.hasPrefix("drew 2 boxes into "), "\(fromShow)")
        #expect(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("show.jpg").path))

        // Two latest results (dog with two boxes, cat without): every result's boxes are drawn.
        let results = await CLI.run(["results", "--database", db.path, "--json"])
        #expect(results.status == 0, "\(results)")
        #expect((try results.json()["results"] as? [Any])?.count == 2, "\(results)")
        let fromResults = await Self.draw(results.standardOutput, into: tmp, name: "results.jpg")
        #expect(fromResults.status == 0 && fromResults.standardOutput.hasPrefix("drew 2 boxes into "),
                "\(fromResults)")

        let export = await CLI.run(["export", "--database", db.path, "--task", "ground"])
        let line = try #require(export.standardOutput.split(separator: "\n").first.map(String.init), "\(export)")
        let fromExport = await Self.draw(line, into: tmp, name: "export.jpg")
        #expect(fromExport.status == 0 && fromExport.standardOutput.hasPrefix("drew 2 boxes into "), "\(fromExport)")

        // Several results with boxes: all of them, in order; an entry's mistake names where it is.
        let two = #"{"results":[{"boxes":[{"x0":1,"y0":2,"x1":3,"y1":4}]},{"boxes":[{"box":[5,6,7,8]}]}]}"#
        let fromTwo = await Self.draw(two, into: tmp)
        #expect(fromTwo.status == 0 && fromTwo.standardOutput.hasPrefix("drew 2 boxes into "), "\(fromTwo)")
        let badSecond = #"{"results":[{"boxes":[]},{"boxes":[{"x0":1,"y0":2}]}]}"#
        let refused = await Self.draw(badSecond, into: tmp)
        #expect(refused.status == 1, "\(refused)")
        #expect(refused.standardError.hasPrefix("Error: pipeline.bad_box: --boxes: entry 0 of results[1].boxes: "),
                "\(refused)")
    }

    /// JSON with no boxes array is refused like text without a box (pipeline.bad_box, exit status 1),
    /// naming the shapes that are accepted; an empty boxes array draws nothing and is not an error.
    @Test func maxPixelsLimitsTheImage() async throws {
        let tmp = try Fixtures.temporaryDirectory("draw-limit")
        defer { Fixtures.removeTemporaryDirectory(tmp) }
        let out = tmp.appendingPathComponent("limited.jpg").path
        let refused = await CLI.run(["draw", Self.image, "--boxes", "x[[1,2,3,4]]", "--output", out, "--max-pixels", "100"])
        #expect(refused.status != 0 && refused.standardError.contains("image.too_many_pixels"), "\(refused)")
        let bad = await CLI.run(["draw", Self.image, "--boxes", "x[[1,2,3,4]]", "--output", out, "--max-pixels", "0"])
        #expect(bad.status == 64, "\(bad)")
    }

    @Test func refusesJSONWithoutABoxesArray() async throws {
        let tmp = try Fixtures.temporaryDirectory("draw-nobox")
        defer { Fixtures.removeTemporaryDirectory(tmp) }
        let noBoxText = await Self.draw("a dog without coordinates", into: tmp)
        #expect(noBoxText.status == 1 && noBoxText.standardError.hasPrefix("Error: pipeline.bad_box: --boxes: "),
                "\(noBoxText)")

        for json in [#"{"foo":1}"#, #"{"boxes":5}"#, #"{"result":null}"#, #"{"results":[{"text":"a"}]}"#,
                     #"{"result":{"text":"no boxes key"}}"#] {
            let run = await Self.draw(json, into: tmp)
            #expect(run.status == 1, "\(json): \(run)")
            let message = run.standardError
            #expect(message.hasPrefix("Error: pipeline.bad_box: --boxes: the JSON has no boxes array"),
                    "\(json): \(run)")
            for shape in [#""boxes""#, #""result": {"boxes""#, #""results": [{"boxes""#] {
                #expect(message.contains(shape), "\(json): the message does not name \(shape): \(message)")
            }
            #expect(!FileManager.default.fileExists(atPath: tmp.appendingPathComponent("drawn.jpg").path))
        }

        for json in [#"{"boxes":[]}"#, #"{"result":{"boxes":[]}}"#, #"{"results":[]}"#] {
            let run = await Self.draw(json, into: tmp, name: "empty.jpg")
            #expect(run.status == 0 && run.standardOutput.hasPrefix("drew 0 boxes into "), "\(json): \(run)")
        }
    }
}

import ArgumentParser
import CogImage
import CogPipeline
import CogWeights
import Foundation

/// `cogjobs draw`: draws grounding boxes onto an image — people would rather look at boxes than
/// read numbers.
struct DrawCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "draw",
        abstract: "Draw grounding boxes (with their phrases) onto an image and save it as a new JPEG.",
        discussion: """
            --boxes takes the model's own notation, e.g. "a red car[[086,540,400,760]] next to a tree[[500,100,700,900]]" \
            (0-999 units of the image's width and height; several boxes per phrase separated by ';'), \
            or JSON: a `cogjobs run --json` line or an `export` line (their "boxes" array), `cogjobs show --json` \
            ("result": {"boxes": …}) or `cogjobs results --json` (the boxes of every entry of "results"). JSON \
            without a boxes array is refused (pipeline.bad_box).
            """
    )

    @Argument(help: "The image the boxes belong to.")
    var image: String

    @Option(name: .long,
            help: "Boxes in the model's [[x0,y0,x1,y1]] notation, or JSON from run, show or results --json.")
    var boxes: String

    @Option(name: .long, help: "Output file: a new JPEG (.jpg or .jpeg), not the input image.")
    var output: String

    @Option(name: .long, help: "JPEG quality 1-100.")
    var quality: Int = 92

    @Option(name: .long, help: "Refuse images with more pixels than this (checked from the header), as run does.")
    var maxPixels: Int = ImageDecoder.defaultMaxPixels

    /// The output extensions `draw` can write: there is a JPEG encoder and no PNG one.
    static let outputExtensions: Set<String> = ["jpg", "jpeg"]

    func validate() throws {
        if !(1...100).contains(quality) { throw ValidationError("--quality must be between 1 and 100") }
        if maxPixels < 1 { throw ValidationError("--max-pixels must be at least 1, got \(maxPixels)") }
        let outputURL = URL(fileURLWithPath: output)
        guard Self.outputExtensions.contains(outputURL.pathExtension.lowercased()) else {
            throw ValidationError("--output \(output): draw writes JPEG only; name the file .jpg or .jpeg")
        }
        if FileIdentity.same(outputURL, URL(fileURLWithPath: image)) {
            throw ValidationError("--output \(output) is the input image; write the drawing to another file")
        }
    }

    func run() async throws {
        // Decoding errors are `image.*` errors that name the file.
        let picture = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image), maxPixels: maxPixels)
        let labeled = try Self.parseBoxes(boxes, width: picture.width, height: picture.height)
        let jpeg = try picture.drawing(boxes: labeled).encodeJPEG(quality: quality)
        do {
            try jpeg.write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            throw CLIError(.outputFailed, "cannot write --output \(output): \(FileErrors.reason(error)); check that "
                           + "the folder exists and is writable")
        }
        CommandContext.current.writeLine("drew \(labeled.count) box\(labeled.count == 1 ? "" : "es") into \(output)")
    }

    /// The JSON shapes `--boxes` takes, as the error for any other JSON lists them.
    static let acceptedJSONShapes = "a top-level \"boxes\" array (`run --json`, an `export` line), "
        + "\"result\": {\"boxes\": […]} (`show --json`) or \"results\": [{\"boxes\": […]}, …] (`results --json`)"

    /// Boxes in pixels with their labels, from model notation or JSON (`run --json`, `show --json`,
    /// `results --json`, an `export` line).
    static func parseBoxes(_ text: String, width: Int, height: Int) throws -> [LabeledBox] {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{"), let data = trimmed.data(using: .utf8),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            // try?: not JSON means the model notation below.
            guard let lists = boxLists(in: object) else {
                throw CLIError(PipelineError(.badBox, "the JSON has no boxes array; pass \(acceptedJSONShapes), "
                                                 + "or boxes in the model's notation, e.g. a dog[[100,200,500,800]]"),
                               subject: "--boxes")
            }
            return try lists.flatMap { list in
                try list.entries.enumerated().map { index, entry in
                    try labeledBox(entry, where: "--boxes: entry \(index) of \(list.path)", width: width,
                                   height: height)
                }
            }
        }
        let parsed = GroundingParser.parse(trimmed, width: width, height: height)
        if let problem = parsed.problems.first {
            throw CLIError(PipelineError(.badBox, "\(problem)"), subject: "--boxes")
        }
        guard !parsed.boxes.isEmpty else {
            throw CLIError(PipelineError(.badBox, "no [[x0,y0,x1,y1]] box found in \"\(trimmed)\""), subject: "--boxes")
        }
        return parsed.boxes.map { LabeledBox(x0: $0.pixels.x0, y0: $0.pixels.y0, x1: $0.pixels.x1, y1: $0.pixels.y1, label: $0.phrase) }
    }

    /// The boxes arrays of a JSON object, each with where it was found (for error messages): the
    /// top-level `boxes`, else `result.boxes`, else every `results[i].boxes`; nil when there is none.
    static func boxLists(in object: [String: Any]) -> [(path: String, entries: [Any])]? {
        if let boxes = object["boxes"] as? [Any] { return [("boxes", boxes)] }
        if let result = object["result"] as? [String: Any], let boxes = result["boxes"] as? [Any] {
            return [("result.boxes", boxes)]
        }
        if let results = object["results"] as? [Any] {
            var lists: [(path: String, entries: [Any])] = []
            for (index, result) in results.enumerated() {
                guard let boxes = (result as? [String: Any])?["boxes"] as? [Any] else { return nil }
                lists.append(("results[\(index)].boxes", boxes))
            }
            return lists
        }
        return nil
    }

    /// One JSON box: `run --json`'s "box": [x0, y0, x1, y1], or the Box record's x0…y1 (show,
    /// results, export), in 0-999 units; converted to pixels of a `width` × `height` image.
    static func labeledBox(_ value: Any, where place: String, width: Int, height: Int) throws -> LabeledBox {
        let entry = value as? [String: Any] ?? [:]
        let raw = entry["box"] as? [Any] ?? ["x0", "y0", "x1", "y1"].compactMap { entry[$0] }
        let values = raw.compactMap { ($0 as? NSNumber)?.intValue }
        guard raw.count == 4, values.count == 4 else {
            throw CLIError(PipelineError(.badBox, "has neither \"box\": [x0, y0, x1, y1] nor x0, y0, x1, y1"),
                           subject: place)
        }
        let box: GroundingBox
        do {
            box = try GroundingBox(x0: values[0], y0: values[1], x1: values[2], y1: values[3])
        } catch {
            throw CLIError(error, subject: place)
        }
        let p = box.pixels(width: width, height: height)
        return LabeledBox(x0: p.x0, y0: p.y0, x1: p.x1, y1: p.y1, label: entry["phrase"] as? String ?? "")
    }
}

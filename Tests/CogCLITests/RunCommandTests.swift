import CogPipeline
import CogTestSupport
import CogVLM
import Foundation
import Testing

/// `cogjobs run` end to end on the tiny fixtures with the real tokenizers, and its bad inputs.
@Suite("cogjobs run", .serialized)
struct RunCommandTests {
    static let v1Args = ["--model", Fixtures.cogvlmTiny.path, "--tokenizer", Fixtures.llama2Tokenizer.path]
    static let v2Args = ["--model", Fixtures.cogvlm2Tiny.path, "--tokenizer", Fixtures.llama3Tokenizer.path]

    /// The prompt that reaches the model has the official layout: BOS, the image slots (pad id,
    /// vision type), then the template text encoded without special tokens; shared patch positions.
    @Test(arguments: [(Fixtures.cogvlmTiny, Fixtures.llama2Tokenizer), (Fixtures.cogvlm2Tiny, Fixtures.llama3Tokenizer)])
    func promptLayoutAndDeterminism(model: URL, tokenizer: URL) throws {
        let engine = try InferenceEngine.load(modelDirectory: model, tokenizerDirectory: tokenizer)
        let c = engine.model.config
        let request = InferenceRequest(imageURL: model.appendingPathComponent("test_image.jpg"), task: .vqa,
                                       prompt: "How many squares?", parameters: GenerationParameters(maxNewTokens: 6))
        let a = try engine.run(request)
        let b = try engine.run(request)
        #expect(a.tokenIDs == b.tokenIDs && a.text == b.text, "greedy output must be deterministic")
        let text = "Question: How many squares? Answer:"
        #expect(a.prompt.text == text)
        let pad = c.version == .v2 ? 128002 : c.padTokenID
        let textIDs = engine.tokenizer.encode(text, addSpecialTokens: false)
        #expect(a.prompt.inputIDs == [c.bosTokenID] + Array(repeating: pad, count: c.imageTokenCount) + textIDs)
        #expect(a.prompt.tokenTypes == [.language] + Array(repeating: .vision, count: c.imageTokenCount)
                + Array(repeating: .language, count: textIDs.count))
        let n = c.imageTokenCount
        #expect(a.prompt.positionIDs == [0, 1] + Array(repeating: 2, count: n - 2) + [3] + (0..<textIDs.count).map { 4 + $0 })
        #expect(a.imageWidth == 97 && a.imageHeight == 61)
    }

    @Test("precision: exact for a checkpoint as released, fast for a conversion, unless --precision says")
    func precisionFollowsTheCheckpoint() throws {
        let image = Fixtures.cogvlmTiny.appendingPathComponent("test_image.jpg").path
        let released = try Fixtures.runCogjobs(["run"] + Self.v1Args + ["--max-new-tokens", "2", image])
        #expect(released.status == 0 && released.stderr.contains("precision exact)"), "\(released.stderr)")
        try Fixtures.withTemporaryDirectory("run-q8") { dir in
            let converted = dir.appendingPathComponent("q8").path
            let conversion = try Fixtures.runCogjobs(["convert", Fixtures.cogvlmTiny.path, converted, "--format", "q8"])
            #expect(conversion.status == 0, "\(conversion.stderr)")
            #expect(conversion.stdout.contains("matrices quantized (q8 ")
                    && conversion.stdout.contains("6 kept as stored: width not a multiple of 32 (model."),
                    "\(conversion.stdout)")
            let args = ["--model", converted, "--tokenizer", Fixtures.llama2Tokenizer.path, "--max-new-tokens", "2"]
            let auto = try Fixtures.runCogjobs(["run"] + args + [image])
            #expect(auto.status == 0 && auto.stderr.contains("precision fast for a quantized model)"), "\(auto.stderr)")
            let forced = try Fixtures.runCogjobs(["run"] + args + ["--precision", "exact", image])
            #expect(forced.status == 0 && forced.stderr.contains("precision exact)"), "\(forced.stderr)")
            let bad = try Fixtures.runCogjobs(["run"] + args + ["--precision", "quick", image])
            #expect(bad.status != 0 && bad.stderr.contains("--precision must be exact or fast"), "\(bad.stderr)")
        }
    }

    @Test func streamsTextAndPrintsJSON() throws {
        let image = Fixtures.cogvlmTiny.appendingPathComponent("test_image.jpg").path
        let plain = try Fixtures.runCogjobs(["run"] + Self.v1Args + ["--max-new-tokens", "5", image])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(plain.stderr.contains("vision encoder") && plain.stderr.contains("prefill of"))
        let json = try Fixtures.runCogjobs(["run"] + Self.v1Args + ["--max-new-tokens", "5", "--json", image, image])
        #expect(json.status == 0, "\(json.stderr)")
        let lines = json.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect((object["token_ids"] as? [Int])?.count == 5)
            #expect(object["image_width"] as? Int == 97)
            // The streamed text and the JSON text are the same decode.
            #expect(plain.stdout.hasPrefix(object["text"] as? String ?? "?"))
        }
        // Several images into a file (not a terminal): each header comes before its own answer.
        let two = try Fixtures.runCogjobs(["run"] + Self.v1Args + ["--max-new-tokens", "5", image, image])
        #expect(two.status == 0, "\(two.stderr)")
        let answer = plain.stdout.trimmingCharacters(in: .newlines)
        #expect(two.stdout == "== \(image)\n\(answer)\n== \(image)\n\(answer)\n", "\(two.stdout)")
    }

    /// Each bad input gives a clear error naming the file, and a non-zero exit status.
    @Test func badInputsFailClearly() throws {
        let tmp = try Fixtures.temporaryDirectory("runbad")
        defer { Fixtures.removeTemporaryDirectory(tmp) }
        let jpeg = try Data(contentsOf: Fixtures.cogvlmTiny.appendingPathComponent("test_image.jpg"))
        let truncated = tmp.appendingPathComponent("truncated.jpg")
        try jpeg.prefix(jpeg.count / 2).write(to: truncated)
        let empty = tmp.appendingPathComponent("empty.jpg")
        try Data().write(to: empty)
        let text = tmp.appendingPathComponent("notes.jpg")
        try Data("just some text, not an image\n".utf8).write(to: text)
        // A PNG whose header claims 30000 × 30000.
        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var ihdr = Data("IHDR".utf8)
        for v in [UInt32(30000), UInt32(30000)] { withUnsafeBytes(of: v.bigEndian) { ihdr.append(contentsOf: $0) } }
        ihdr.append(contentsOf: [8, 2, 0, 0, 0])
        withUnsafeBytes(of: UInt32(13).bigEndian) { png.append(contentsOf: $0) }
        png.append(ihdr)
        withUnsafeBytes(of: crc32(ihdr).bigEndian) { png.append(contentsOf: $0) }
        let huge = tmp.appendingPathComponent("huge.png")
        try png.write(to: huge)

        for (file, code) in [(truncated, "image.truncated"), (empty, "image.empty_file"), (text, "image.unknown_format"),
                             (huge, "image.too_many_pixels")] {
            let r = try Fixtures.runCogjobs(["run"] + Self.v1Args + ["--max-new-tokens", "2", file.path])
            #expect(r.status != 0, "\(file.lastPathComponent) should fail")
            #expect(r.stderr.contains(code) && r.stderr.contains(file.lastPathComponent), "\(file.lastPathComponent): \(r.stderr)")
        }
        // Missing tokenizer: says which one a v1 model needs.
        let noTok = try Fixtures.runCogjobs(["run", "--model", Fixtures.cogvlmTiny.path, "--max-new-tokens", "2"])
        #expect(noTok.status != 0 && noTok.stderr.contains("vicuna-7b-v1.5") && noTok.stderr.contains("--tokenizer"))
        // Broken tokenizer.json.
        let brokenTok = tmp.appendingPathComponent("tok", isDirectory: true)
        try FileManager.default.createDirectory(at: brokenTok, withIntermediateDirectories: true)
        let full = try Data(contentsOf: Fixtures.llama2Tokenizer.appendingPathComponent("tokenizer.json"))
        try full.prefix(5000).write(to: brokenTok.appendingPathComponent("tokenizer.json"))
        let broken = try Fixtures.runCogjobs(["run", "--model", Fixtures.cogvlmTiny.path, "--tokenizer", brokenTok.path, "--max-new-tokens", "2"])
        #expect(broken.status != 0 && broken.stderr.contains("tokenizer.json"), "\(broken.stderr)")
    }

    /// Request mistakes are usage errors (64) found before the model loads: the model path here
    /// does not even exist, so any of them reaching the loader would report that instead.
    @Test func requestMistakesAreCaughtBeforeLoading() throws {
        let missingModel = ["run", "--model", "/nonexistent/model", "--tokenizer", Fixtures.llama2Tokenizer.path]
        let image = Fixtures.cogvlmTiny.appendingPathComponent("test_image.jpg").path
        let cases: [([String], String)] = [
            (["--task", "vqa"], "needs a question"),
            (["--task", "ground"], "referring expression"),
            (["--task", "describe-box"], "needs a box"),
            (["--task", "describe-box", "--box", "1,2,3"], "pipeline.bad_box"),
            (["--task", "caption", "--box", "0,0,50,50"], "only used by --task describe-box"),
            (["--top-p", "0"], "top_p"),
            (["--repetition-penalty", "0"], "repetition_penalty"),
            (["--temperature", "nan"], "--temperature"),
            (["--max-pixels", "0"], "--max-pixels"),
            (["--threads", "100000"], "--threads must be between 1 and"),
        ]
        for (arguments, expected) in cases {
            let r = try Fixtures.runCogjobs(missingModel + arguments + [image])
            #expect(r.status == 64, "\(arguments): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains(expected), "\(arguments): \(r.stderr)")
            #expect(!r.stderr.contains("nonexistent"), "\(arguments) reached the loader: \(r.stderr)")
        }
        // Grounding tasks need an image (a text-only question is for the other tasks).
        for task in [["--task", "ground", "--prompt", "the car"], ["--task", "describe-box", "--box", "1,2,3,4"]] {
            let r = try Fixtures.runCogjobs(missingModel + task)
            #expect(r.status == 64 && r.stderr.contains("name the image"), "\(task): \(r.stderr)")
        }
    }

    @Test func drawsBoxesFromModelNotation() throws {
        let tmp = try Fixtures.temporaryDirectory("draw")
        defer { Fixtures.removeTemporaryDirectory(tmp) }
        let out = tmp.appendingPathComponent("boxes.jpg")
        let r = try Fixtures.runCogjobs(["draw", Fixtures.cogvlmTiny.appendingPathComponent("test_image.png").path,
                                         "--boxes", "a red square[[100,200,500,800]]", "--output", out.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: out.path))
        let bad = try Fixtures.runCogjobs(["draw", Fixtures.cogvlmTiny.appendingPathComponent("test_image.png").path,
                                           "--boxes", "a square[[500,200,100]]", "--output", out.path])
        #expect(bad.status == 1, "\(bad.stderr)")
        #expect(bad.stderr.hasPrefix("Error: pipeline.bad_box: --boxes: expected 4 coordinates, found 3"), "\(bad.stderr)")
        #expect(!bad.stderr.contains("wrong_coordinate_count"), "\(bad.stderr)")
        // JSON boxes: run --json's "box" arrays, or the Box record of show / results / export.
        let image = Fixtures.cogvlmTiny.appendingPathComponent("test_image.png").path
        for json in [#"{"boxes":[{"phrase":"a","box":[100,200,500,800]}]}"#,
                     #"{"boxes":[{"phrase":"a","x0":100,"y0":200,"x1":500,"y1":800,"px_x0":1.0}]}"#] {
            let drawn = try Fixtures.runCogjobs(["draw", image, "--boxes", json, "--output", tmp.appendingPathComponent("j.jpg").path])
            #expect(drawn.status == 0, "\(json): \(drawn.stderr)")
        }
        let noBox = try Fixtures.runCogjobs(["draw", image, "--boxes", #"{"boxes":[{"phrase":"a"}]}"#, "--output", out.path])
        #expect(noBox.status == 1 && noBox.stderr.contains("entry 0"), "\(noBox.stderr)")
    }

    /// draw writes JPEG into a new .jpg / .jpeg file only, and says why it cannot write.
    @Test func drawRefusesOutputsItCannotWriteProperly() throws {
        let tmp = try Fixtures.temporaryDirectory("draw-out")
        defer { Fixtures.removeTemporaryDirectory(tmp) }
        let input = tmp.appendingPathComponent("photo.jpg")
        try FileManager.default.copyItem(at: Fixtures.cogvlmTiny.appendingPathComponent("test_image.jpg"), to: input)
        let original = try Data(contentsOf: input)
        func draw(_ output: String, image: String = input.path) throws -> (status: Int32, stdout: String, stderr: String) {
            try Fixtures.runCogjobs(["draw", image, "--boxes", "a[[100,200,500,800]]", "--output", output])
        }
        // No PNG encoder: a .png name would get JPEG bytes.
        let png = try draw(tmp.appendingPathComponent("drawn.png").path)
        #expect(png.status == 64 && png.stderr.hasPrefix("Error: cli.usage: --output ") && png.stderr.contains(".jpg"),
                "\(png.stderr)")
        #expect(!FileManager.default.fileExists(atPath: tmp.appendingPathComponent("drawn.png").path))
        // The input itself, under its own name, a relative spelling or a symbolic link.
        let link = tmp.appendingPathComponent("link.jpg")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: input)
        for output in [input.path, tmp.path + "/./photo.jpg", link.path] {
            let same = try draw(output)
            #expect(same.status == 64 && same.stderr.contains("is the input image"), "\(output): \(same.stderr)")
        }
        let viaLink = try draw(input.path, image: link.path)
        #expect(viaLink.status == 64 && viaLink.stderr.contains("is the input image"), "\(viaLink.stderr)")
        #expect(try Data(contentsOf: input) == original)
        // A missing folder: the code, the path and the system's reason, not a Foundation dump.
        let nowhere = tmp.appendingPathComponent("no/such/folder/out.jpg").path
        let missing = try draw(nowhere)
        #expect(missing.status == 1, "\(missing.stderr)")
        #expect(missing.stderr.hasPrefix("Error: cli.output_failed: ") && missing.stderr.contains(nowhere)
                && missing.stderr.contains("No such file or directory") && !missing.stderr.contains("NSCocoaErrorDomain"),
                "\(missing.stderr)")
        // Upper-case .JPEG is a JPEG name too.
        let upper = try draw(tmp.appendingPathComponent("drawn.JPEG").path)
        #expect(upper.status == 0, "\(upper.stderr)")
    }

    /// Every error reads `Error: <code>: <message>`, names the image once, and `--json` has the code.
    @Test func errorsCarryTheirCodeAndNameTheImageOnce() throws {
        let image = Fixtures.cogvlmTiny.appendingPathComponent("test_image.jpg").path
        // A request mistake is a usage error, found before the model loads, with its own code.
        let plain = try Fixtures.runCogjobs(["run"] + Self.v1Args + ["--task", "vqa", image])
        #expect(plain.status == 64)
        let line = try #require(plain.stderr.split(separator: "\n").first { $0.hasPrefix("Error: ") })
        #expect(line.hasPrefix("Error: pipeline.missing_prompt: "), "\(line)")
        // A failure of one image: its code, and the path once.
        let json = try Fixtures.runCogjobs(["run"] + Self.v1Args + ["--max-pixels", "100", "--json", image])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["image"] as? String == image && object["code"] as? String == "image.too_many_pixels")
        let error = try #require(object["error"] as? String)
        #expect(!error.contains(image) && !error.contains("image.too_many_pixels"), "\(error)")
        // The image limit in exact pixels when it is small, and the file once.
        let small = try Fixtures.runCogjobs(["run"] + Self.v1Args + ["--max-pixels", "100", image])
        let limit = try #require(small.stderr.split(separator: "\n").first { $0.hasPrefix("Error: ") })
        #expect(limit.hasPrefix("Error: image.too_many_pixels: \(image): ") && limit.contains("5,917 pixels")
                && limit.contains("limit of 100 pixels") && limit.components(separatedBy: image).count == 2, "\(limit)")
        // A tokenizer file given as the directory; a usage error.
        let file = Fixtures.llama2Tokenizer.appendingPathComponent("tokenizer.json").path
        let notDirectory = try Fixtures.runCogjobs(["run", "--model", Fixtures.cogvlmTiny.path, "--tokenizer", file, image])
        #expect(notDirectory.stderr.hasPrefix("Error: tokenizer.missing_file: ") && notDirectory.stderr.contains("not a directory"),
                "\(notDirectory.stderr)")
        let usage = try Fixtures.runCogjobs(["run", "--model", Fixtures.cogvlmTiny.path, "--threads", "0"])
        #expect(usage.status == 64 && usage.stderr.hasPrefix("Error: cli.usage: --threads must be between 1 and"), "\(usage.stderr)")
    }
}

/// CRC-32 (IEEE), for crafting PNG chunks in tests.
func crc32(_ data: Data) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in data {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    }
    return ~crc
}

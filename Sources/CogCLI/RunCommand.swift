import ArgumentParser
import CogConfig
import CogImage
import CogPipeline
import CogTensor
import CogTokenizer
import CogVLM
import CogWeights
import Foundation

/// `cogjobs run`: one-shot inference without the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Caption, answer or ground images once, without the daemon.",
        discussion: """
            Streams the answer as it is generated, shows the vision encoder and prefill phases on a terminal, \
            and prints grounding boxes (in the model's 0-999 units and in pixels of the original image). \
            With --json, prints one JSON object per image instead.

            Tasks: caption (default question "Describe this image."), vqa (--prompt is the question), \
            ground (--prompt is the referring expression: "the red car"), ground-caption (a description \
            with boxes), describe-box (--box x0,y0,x1,y1 in 0-999 units).

            CogVLM v1 checkpoints ship no tokenizer; pass vicuna-7b-v1.5's folder with --tokenizer.
            """
    )

    @Option(name: .long, help: "Model directory (Hugging Face layout).")
    var model: String

    @Option(name: .long, help: "Tokenizer directory (default: the model directory).")
    var tokenizer: String?

    @Option(name: .long, help: "caption | vqa | ground | ground-caption | describe-box")
    var task: String = "caption"

    @Option(name: .long, help: "Question, expression or caption prompt (task-dependent).")
    var prompt: String?

    @Option(name: .long, help: "Region for describe-box: x0,y0,x1,y1 in 0-999 units.")
    var box: String?

    @Option(name: .long, help: "Prompt template: chat | base | vqa (default: the model's template_version).")
    var template: String?

    // The generation defaults are the configuration's (`generation.*`), so `run` and the daemon
    // decode alike for the same options.
    @Option(name: .long, help: "Maximum new tokens.")
    var maxNewTokens: Int = ConfigDefaults.maxNewTokens

    @Option(name: .long, help: "Sampling temperature; 0 (default) is greedy, the official default.")
    var temperature: Double = ConfigDefaults.temperature

    @Option(name: .long, help: "Top-p for sampling (1 = off).")
    var topP: Double = ConfigDefaults.topP

    @Option(name: .long, help: "Top-k for sampling (0 = off); the same default as the configuration's generation.top_k.")
    var topK: Int = ConfigDefaults.topK

    @Option(name: .long, help: "Repetition penalty (1.0 = none).")
    var repetitionPenalty: Double = ConfigDefaults.repetitionPenalty

    @Option(name: .long, help: "Random seed for sampling.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "Threads to compute with (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "exact | fast (default: exact for a checkpoint as released, fast for a q8 / q4 conversion).")
    var precision: String?

    @Option(name: .long, help: "Refuse images with more pixels than this (checked from the header).")
    var maxPixels: Int = ImageDecoder.defaultMaxPixels

    @Flag(name: .long, help: "Print one JSON object per image.")
    var json = false

    @Argument(help: "Image files (JPEG or PNG). Without any, asks a text-only question.")
    var images: [String] = []

    func validate() throws {
        guard TaskPreset(rawValue: task) != nil else {
            throw ValidationError("unknown task '\(task)'; choose one of \(TaskPreset.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let template, (try? PromptTemplate(configValue: template)) == nil {
            throw ValidationError("unknown template '\(template)'; choose chat, base or vqa")
        }
        if maxNewTokens < 1 { throw ValidationError("--max-new-tokens must be at least 1") }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if let threads, threads < 1 || threads > cores {
            throw ValidationError("--threads must be between 1 and this machine's \(cores) core(s), got \(threads)")
        }
        if let precision, MatmulPrecision(rawValue: precision) == nil {
            throw ValidationError("--precision must be exact or fast")
        }
        if !temperature.isFinite || temperature < 0 {
            throw ValidationError("--temperature must be 0 (greedy) or a positive number, got \(temperature)")
        }
        if maxPixels < 1 { throw ValidationError("--max-pixels must be at least 1, got \(maxPixels)") }
        // Everything about the request that does not need the model, checked before minutes of loading.
        do {
            try generationParameters.validate()
            let preset = TaskPreset(rawValue: task) ?? .caption
            if box != nil && preset != .describeBox {
                throw ValidationError("--box is only used by --task describe-box (the task is \(task))")
            }
            if images.isEmpty && [.ground, .groundCaption, .describeBox].contains(preset) {
                throw ValidationError("--task \(task) finds or describes regions of an image: name the image")
            }
            _ = try preset.query(prompt: prompt, box: box.map { try GroundingBox(parsing: $0) })
        } catch let error as PipelineError {
            throw ValidationError("\(error)")
        }
    }

    /// The sampling settings of the command line.
    private var generationParameters: GenerationParameters {
        GenerationParameters(maxNewTokens: maxNewTokens, doSample: temperature > 0,
                             temperature: temperature > 0 ? temperature : 1.0, topK: topK, topP: topP,
                             repetitionPenalty: repetitionPenalty, seed: seed)
    }

    func run() async throws {
        // Inference blocks for minutes: it runs on its own thread, not the cooperative pool.
        let command = self
        try await DedicatedThread.run("cogjobs-run") { try command.runBlocking() }
    }

    private func runBlocking() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let threads = self.threads ?? cores
        let stderr = FileHandle.standardError
        // Load failures are domain errors (weights.*, tokenizer.*) that name the file: thrown as they are.
        let started = Date()
        // nil: exact for a checkpoint as released, fast for a conversion (automaticPrecision).
        let engine = try InferenceEngine.load(modelDirectory: URL(fileURLWithPath: model),
                                          tokenizerDirectory: tokenizer.map { URL(fileURLWithPath: $0) },
                                          precision: precision.flatMap(MatmulPrecision.init(rawValue:)))
        BLAS.setThreads(threads)
        if !json {
            let why = precision == nil && engine.precision == .fast ? " for a quantized model" : ""
            stderr.write(Data(String(format: "loaded %@ (%@, BLAS %@, precision %@%@) in %.2f s\n", model,
                                     engine.model.config.version.rawValue, BLAS.kernelDescription,
                                     engine.precision.rawValue, why, Date().timeIntervalSince(started)).utf8))
        }
        guard let taskPreset = TaskPreset(rawValue: task) else { return }
        let parameters = generationParameters
        let boxValue = try box.map { text -> GroundingBox in
            do { return try GroundingBox(parsing: text) } catch { throw CLIError(error, subject: "--box") }
        }
        let templateValue = try template.map { try PromptTemplate(configValue: $0) }
        var failures = 0
        // Every line to standard output goes through the same unbuffered handle as the streamed
        // tokens: `print` is buffered when stdout is a pipe or a file, so headers and box lines would
        // land after the answers they belong to.
        func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
        let targets: [String?] = images.isEmpty ? [nil] : images.map { $0 }
        for path in targets {
            let request = InferenceRequest(imageURL: path.map { URL(fileURLWithPath: $0) }, task: taskPreset, prompt: prompt,
                                           box: boxValue, template: templateValue, parameters: parameters, maxPixels: maxPixels)
            let interactive = !json
            if interactive, let path, targets.count > 1 { say("== \(path)") }
            do {
                let output = try engine.run(request, threads: threads, progress: { event in
                    guard interactive else { return }
                    stderr.write(Data(Self.describe(event).utf8))
                }, onToken: { event in
                    if interactive {
                        FileHandle.standardOutput.write(Data(event.textDelta.utf8))
                    }
                    return .continue
                })
                if json {
                    say(try Self.jsonLine(path: path, output: output, task: task))
                } else {
                    say("")
                    for b in output.boxes {
                        say("box: \(b.phrase.isEmpty ? "(no phrase)" : b.phrase) \(b.box.promptText) → pixels \(b.pixels)")
                    }
                    for p in output.boxProblems { say("box problem: \(p)") }
                    let t = output.timings
                    stderr.write(Data(String(format: "%d prompt tokens, %d generated (%@); vision %.2f s, prefill %.2f s, decode %.2f tok/s\n",
                                             output.promptTokenCount, output.tokenIDs.count, output.finishReason.rawValue,
                                             t.visionMilliseconds / 1000, t.prefillMilliseconds / 1000, t.tokensPerSecond).utf8))
                }
            } catch {
                failures += 1
                let report = Self.report(error, path: path)
                if json {
                    say(Self.jsonError(path: path, code: report.code, message: Self.messageWithoutFile(error)))
                } else {
                    stderr.write(Data("Error: \(report.line)\n".utf8))
                }
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    static func describe(_ event: GenerationProgress) -> String {
        switch event {
        case .visionEncodeStarted: return "vision encoder…\n"
        case .visionEncodeFinished(let ms): return String(format: "vision encoder: %.2f s\n", ms / 1000)
        case .prefillStarted(let tokens): return "prefill of \(tokens) tokens…\n"
        case .prefillFinished(let tokens, let ms): return String(format: "prefill of %d tokens: %.2f s\n", tokens, ms / 1000)
        case .decodeFinished: return ""
        }
    }

    /// The error's message for `--json`, whose `image` already names the file: an image error's
    /// own file prefix is left out.
    static func messageWithoutFile(_ error: any Error) -> String {
        guard var imageError = error as? ImageError else { return ErrorReport(error).message }
        imageError.file = nil
        return imageError.detail
    }

    /// The error of one image: its code, and its message naming the image once (`image.*` errors
    /// already name the file).
    static func report(_ error: any Error, path: String?) -> ErrorReport {
        if let imageError = error as? ImageError, imageError.file != nil { return ErrorReport(error) }
        return ErrorReport(CLIError(error, subject: path ?? "(text only)"))
    }

    static func jsonLine(path: String?, output: InferenceOutput, task: String) throws -> String {
        // `box` / `pixels` as arrays, and the same values under the Box record's keys of every
        // other JSON output (`x0`…`y1`, `px_x0`…`px_y1`).
        let boxes: [[String: Any]] = output.boxes.map { b in
            ["phrase": b.phrase,
             "box": [b.box.x0, b.box.y0, b.box.x1, b.box.y1],
             "pixels": [b.pixels.x0, b.pixels.y0, b.pixels.x1, b.pixels.y1],
             "x0": b.box.x0, "y0": b.box.y0, "x1": b.box.x1, "y1": b.box.y1,
             "px_x0": b.pixels.x0, "px_y0": b.pixels.y0, "px_x1": b.pixels.x1, "px_y1": b.pixels.y1]
        }
        let object: [String: Any] = [
            "image": path ?? NSNull(), "task": task, "text": output.text, "token_ids": output.tokenIDs,
            "finish_reason": output.finishReason.rawValue, "prompt_tokens": output.promptTokenCount,
            "image_width": output.imageWidth, "image_height": output.imageHeight,
            "boxes": boxes, "box_problems": output.boxProblems.map(\.description),
            "timings_ms": ["vision": output.timings.visionMilliseconds, "prefill": output.timings.prefillMilliseconds,
                           "decode": output.timings.decodeMilliseconds],
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// `{"image": …, "code": …, "error": …}`: the message does not repeat the code.
    static func jsonError(path: String?, code: String, message: String) -> String {
        let object: [String: Any] = ["image": path ?? NSNull(), "code": code, "error": message]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        // try?: serializing two strings cannot fail; "{}" keeps the output one JSON object per line.
        return String(decoding: data, as: UTF8.self)
    }
}

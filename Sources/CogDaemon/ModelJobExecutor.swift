import CogConfig
import CogImage
import CogJobStore
import CogPipeline
import CogScheduler
import CogTokenizer
import CogVLM
import Foundation

/// Runs a job through CogVLM: the daemon's executor. One instance is shared by every worker; the
/// loaded model and tokenizer (`InferenceEngine`) are immutable, and each call makes its own
/// session (KV cache and compute team of `control.computeThreads` threads).
///
/// Steps, each reported as the job's progress phase:
/// 1. `decode-image` — read, verify and decode the image (`JobImageLoader`: size limit, content
///    hash, pixel limit), then resize and normalize it to the model's input (`pixelValues`);
/// 2. `prompt` — the task's query (`TaskPreset`; for `describe-box` the job's prompt is the box),
///    laid out by `PromptBuilder` with the image slots;
/// 3. `vision`, `prefill`, `generate` — `Generator`, streaming tokens into `JobControl` (progress
///    after every token, and a stop check between tokens: cancel, drain timeout, lost lease). With
///    a `decodeBatcher` (`batch_decode`, the default) the decode steps of all workers' jobs run
///    together, one pass over the weights per step; a job leaves the batch when it ends, and a job
///    stopped between tokens leaves at the next step. With the engine's `prefixCache`
///    (`prefix_cache_mb`), a job on pixels seen before restores their `BOS + image` KV prefix and
///    skips the vision tower and the image's prefill;
/// 4. parse grounding boxes from the answer (`GroundingParser`) into the store's box rows
///    (0–999 and pixels of the original image).
///
/// The result's `rawOutput` is the decoded answer with special tokens kept; `text` is the cleaned
/// answer (special tokens skipped, tokenization spaces cleaned up where the tokenizer asks for it,
/// well-formed `[[…]]` box groups removed — they are in the box rows). Malformed box notation is
/// left in `text` and `rawOutput` and never fails the job.
///
/// Generation settings come from the job's `params_json` (the `generation` object of the
/// configuration at enqueue time); `temperature` 0 means greedy. A job without a `seed` samples
/// with its job id as the seed, so a rerun of the same job samples the same way.
public struct ModelJobExecutor: JobExecutor {
    public let engine: InferenceEngine
    /// Stored with every result (see `ModelIdentity`).
    public let modelIdentity: String
    public let imageLoader: JobImageLoader
    /// Shared by every worker: batches their decode steps (nil: each job decodes alone). Must be
    /// made for `engine.model` and `engine.precision`.
    public let decodeBatcher: DecodeBatcher?

    public init(engine: InferenceEngine, modelIdentity: String, imageLoader: JobImageLoader,
                decodeBatcher: DecodeBatcher? = nil) {
        self.engine = engine
        self.modelIdentity = modelIdentity
        self.imageLoader = imageLoader
        self.decodeBatcher = decodeBatcher
    }

    public func execute(_ job: ClaimedJob, control: JobControl) throws -> JobOutput {
        let start = ContinuousClock.now
        control.report(phase: "decode-image", tokensGenerated: 0)
        let image = try imageLoader.load(job)
        let pixels: [Float]  // [3, S, S] f32, CLIP-normalized
        do {
            pixels = try image.pixelValues(size: engine.model.config.vision.imageSize)
        } catch {
            throw JobFailure.permanent(code: "image.preprocess_failed", message: "\(job.image.path): \(error)")
        }
        let preprocessed = ContinuousClock.now
        try control.checkStop()

        control.report(phase: "prompt", tokensGenerated: 0)
        let parameters = try Self.generationParameters(job)
        let prompt = try classified {
            guard let preset = TaskPreset(rawValue: job.task) else {
                throw JobFailure.permanent(code: "job.unknown_task",
                                           message: "unknown task `\(job.task)`; one of "
                                               + TaskPreset.allCases.map(\.rawValue).joined(separator: ", "))
            }
            let text = job.prompt.trimmingCharacters(in: .whitespacesAndNewlines)
            var box: CogPipeline.GroundingBox? = nil
            var userPrompt: String? = text.isEmpty ? nil : text
            if preset == .describeBox {
                box = try CogPipeline.GroundingBox(parsing: text)  // the prompt is the box for this task
                userPrompt = nil
            }
            let query = try preset.query(prompt: userPrompt, box: box)
            return try engine.promptBuilder.build(query: query, hasImage: true, encoder: engine.tokenizer)
        }

        let generator = Generator(parameters: parameters, config: engine.model.config)
        let detokenizer = StreamingDetokenizer(tokenizer: engine.tokenizer, skipSpecialTokens: true)
        let result = try classified {
            try generator.run(model: engine.model, prompt: prompt, pixelValues: pixels, threads: control.computeThreads,
                              precision: engine.precision, decodeBatcher: decodeBatcher,
                              prefixCache: engine.prefixCache, detokenizer: detokenizer,
                              progress: { phase in
                                  switch phase {
                                  case .visionEncodeStarted: control.report(phase: "vision", tokensGenerated: 0)
                                  case .prefillStarted: control.report(phase: "prefill", tokensGenerated: 0)
                                  default: break
                                  }
                              },
                              onToken: { event in
                                  control.report(phase: "generate", tokensGenerated: event.index + 1)
                                  return control.shouldStop ? .stop : .continue
                              })
        }
        if result.finishReason == .cancelled, let reason = control.stopReason { throw JobStopped(reason: reason) }

        let answer = Self.answer(tokenIDs: result.tokenIDs, tokenizer: engine.tokenizer, imageWidth: image.width,
                                 imageHeight: image.height)
        let timings = result.timings
        return JobOutput(text: answer.text, rawOutput: answer.rawOutput, promptTokens: result.promptTokenCount,
                         generatedTokens: result.tokenIDs.count,
                         preprocessMilliseconds: EchoJobExecutor.milliseconds(preprocessed - start),
                         prefillMilliseconds: timings.visionMilliseconds + timings.prefillMilliseconds,
                         decodeMilliseconds: timings.decodeMilliseconds,
                         totalMilliseconds: EchoJobExecutor.milliseconds(.now - start), model: modelIdentity,
                         boxes: answer.boxes)
    }

    /// The stored answer for generated `tokenIDs`: raw output (special tokens kept), cleaned text
    /// (box groups removed when boxes were found) and the box rows, in 0–999 units and in pixels of
    /// an `imageWidth` × `imageHeight` image.
    static func answer(tokenIDs: [Int], tokenizer: Tokenizer, imageWidth: Int,
                       imageHeight: Int) -> (text: String, rawOutput: String, boxes: [CogJobStore.GroundingBox]) {
        let rawOutput = tokenizer.decode(tokenIDs, skipSpecialTokens: false)
        var answer = tokenizer.decode(tokenIDs, skipSpecialTokens: true)
        if tokenizer.cleansUpTokenizationSpaces { answer = Tokenizer.cleanUpTokenizationSpaces(answer) }
        let grounding = GroundingParser.parse(answer, width: imageWidth, height: imageHeight)
        let boxes = grounding.boxes.map { found in
            CogJobStore.GroundingBox(phrase: found.phrase, x0: found.box.x0, y0: found.box.y0, x1: found.box.x1,
                                     y1: found.box.y1, pixelX0: Double(found.pixels.x0),
                                     pixelY0: Double(found.pixels.y0), pixelX1: Double(found.pixels.x1),
                                     pixelY1: Double(found.pixels.y1))
        }
        return (grounding.boxes.isEmpty ? answer : removingBoxGroups(answer), rawOutput, boxes)
    }

    /// The job's generation settings (`params_json`, keys of the configuration's `generation`
    /// object; missing keys take the defaults).
    static func generationParameters(_ job: ClaimedJob) throws(JobFailure) -> GenerationParameters {
        let settings: GenerationDefaults
        do {
            settings = try JSONDecoder().decode(GenerationDefaults.self, from: Data(job.paramsJSON.utf8))
        } catch {
            throw .permanent(code: "job.bad_parameters",
                             message: "the job's generation parameters are not usable: \(error); enqueue it again")
        }
        let seed = UInt64(clamping: settings.seed ?? Int(clamping: job.id))
        return GenerationParameters(maxNewTokens: settings.maxNewTokens, doSample: settings.temperature > 0,
                                    temperature: settings.temperature > 0 ? settings.temperature : 1,
                                    topK: settings.topK, topP: settings.topP,
                                    repetitionPenalty: settings.repetitionPenalty, seed: seed)
    }

    /// Runs `body`, classifying the pipeline's and the model's errors: they are properties of the
    /// job's input (a prompt too long for the context, a malformed box, bad settings), so retrying
    /// cannot help and they fail the job permanently with their own codes — except a failed batched
    /// decode step, which concerns every job in the step and is retried.
    private func classified<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as PipelineError where error.code == .decodeStepFailed {
            throw JobFailure.transient(code: error.code.rawValue, message: error.message)
        } catch let error as PipelineError {
            throw JobFailure.permanent(code: error.code.rawValue, message: error.message)
        } catch let error as InferenceError {
            throw JobFailure.permanent(code: error.code.rawValue, message: error.message)
        }
    }

    /// `text` without `[[…]]` groups (one line each), with the spaces around them tidied.
    static func removingBoxGroups(_ text: String) -> String {
        var output = ""
        var rest = Substring(text)
        while let open = rest.range(of: "[[") {
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.range(of: "]]"), !afterOpen[..<close.lowerBound].contains("\n") else { break }
            output += rest[..<open.lowerBound]
            rest = afterOpen[close.upperBound...]
        }
        output += rest
        while output.contains("  ") { output = output.replacingOccurrences(of: "  ", with: " ") }
        return output.replacingOccurrences(of: " .", with: ".").replacingOccurrences(of: " ,", with: ",")
            .trimmingCharacters(in: .whitespaces)
    }
}

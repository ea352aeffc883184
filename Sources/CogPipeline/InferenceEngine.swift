import CogImage
import CogTensor
import CogTokenizer
import CogVLM
import CogWeights
import Foundation

/// What to compute for one image: the task, its text, and how to generate.
public struct InferenceRequest: Sendable {
    /// The image file (format detected from its bytes), or nil for a text-only question.
    public var imageURL: URL?
    public var task: TaskPreset
    /// The question / referring expression / custom caption prompt (task-dependent).
    public var prompt: String?
    /// The region for `describe-box`.
    public var box: GroundingBox?
    /// Earlier turns (chat / vqa templates).
    public var history: [ConversationTurn]
    /// Overrides the model's `template_version`.
    public var template: PromptTemplate?
    public var parameters: GenerationParameters
    /// Decompression-bomb guard, checked from the file header before decoding.
    public var maxPixels: Int

    public init(imageURL: URL?, task: TaskPreset, prompt: String? = nil, box: GroundingBox? = nil,
                history: [ConversationTurn] = [], template: PromptTemplate? = nil,
                parameters: GenerationParameters = GenerationParameters(),
                maxPixels: Int = ImageDecoder.defaultMaxPixels) {
        self.imageURL = imageURL
        self.task = task
        self.prompt = prompt
        self.box = box
        self.history = history
        self.template = template
        self.parameters = parameters
        self.maxPixels = maxPixels
    }
}

/// The answer for one request.
public struct InferenceOutput: Sendable {
    /// The generated text (tokenizer clean-up applied where the tokenizer asks for it).
    public var text: String
    public var tokenIDs: [Int]
    public var finishReason: FinishReason
    public var promptTokenCount: Int
    public var timings: GenerationTimings
    /// Grounding boxes found in `text`, in 0–999 units and in pixels of the original image.
    public var boxes: [GroundedBox]
    /// Malformed box notations in `text` (reported, never dropped silently).
    public var boxProblems: [GroundingProblem]
    /// The original image's size (0 × 0 for text-only requests).
    public var imageWidth: Int
    public var imageHeight: Int
    /// The exact prompt layout that went into the model.
    public var prompt: PreparedPrompt
}

/// A loaded model plus its tokenizer: everything needed to turn (image, task, prompt) into text
/// and boxes. Immutable and `Sendable`; share one engine between worker threads and give each
/// its own `threads` budget per call. The `cogjobs run` command and the daemon's job executor
/// both go through `run`.
public final class InferenceEngine: Sendable {
    public let model: CogVLMModel
    public let tokenizer: Tokenizer
    public let modelDirectory: URL
    public let promptBuilder: PromptBuilder
    /// Shared `BOS + image` prefixes (nil: every request encodes its image).
    public let prefixCache: PrefixCache?
    /// How prefill matmuls trade precision for speed (`exact` reproduces the reference's f32).
    public let precision: MatmulPrecision

    public init(model: CogVLMModel, tokenizer: Tokenizer, modelDirectory: URL, prefixCache: PrefixCache? = nil,
                precision: MatmulPrecision = .exact) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.modelDirectory = modelDirectory
        self.promptBuilder = try PromptBuilder(config: model.config)
        self.prefixCache = prefixCache
        self.precision = precision
    }

    /// The language model's block-quantized format (`q8` / `q4`) of a converted checkpoint; nil for
    /// a checkpoint as released.
    public var quantizedFormat: String? { QuantizedFormat.of(checkpoint: model.checkpoint) }

    /// The precision a model runs at unless told otherwise: `exact` for a checkpoint as released,
    /// `fast` for a `cogjobs convert`ed (block-quantized) one, whose quantization already moves the
    /// results more than `fast` does and for which `exact` would mean the sgemm prefill and an f32
    /// KV cache (CogVLM-17B q4 on a 2-core VM: prefill 134 s instead of 27 s).
    public static func automaticPrecision(for model: CogVLMModel) -> MatmulPrecision {
        QuantizedFormat.of(checkpoint: model.checkpoint) != nil ? .fast : .exact
    }

    /// Loads the model from `modelDirectory` and the tokenizer from the model directory (CogVLM2
    /// ships one) or from `tokenizerDirectory`. `precision` nil: `automaticPrecision(for:)`.
    public static func load(modelDirectory: URL, tokenizerDirectory: URL? = nil, prefixCacheBytes: Int = 0,
                            precision: MatmulPrecision? = .exact) throws -> InferenceEngine {
        let model = try CogVLMModel.load(directory: modelDirectory)
        let tokenizer = try loadTokenizer(modelDirectory: modelDirectory, tokenizerDirectory: tokenizerDirectory,
                                          version: model.config.version)
        if let reason = tokenizer.mismatch(modelVocabularySize: model.config.vocabSize, modelBOS: model.config.bosTokenID) {
            throw PipelineError(.tokenizerMismatch,
                "\(reason): it is not this model's tokenizer; "
                + "\(model.config.version == .v1 ? "CogVLM v1 needs the vicuna-7b-v1.5 (LLaMA-2) tokenizer" : "CogVLM2 needs its own Llama-3 tokenizer")",
                field: "tokenizer")
        }
        return try InferenceEngine(model: model, tokenizer: tokenizer, modelDirectory: modelDirectory,
                                   prefixCache: prefixCacheBytes > 0 ? PrefixCache(capacityBytes: prefixCacheBytes) : nil,
                                   precision: precision ?? automaticPrecision(for: model))
    }

    /// Finds the tokenizer: `--tokenizer DIR` first, then the model directory.
    static func loadTokenizer(modelDirectory: URL, tokenizerDirectory: URL?, version: CogVLMVersion) throws -> Tokenizer {
        let fm = FileManager.default
        func hasTokenizer(_ dir: URL) -> Bool {
            fm.fileExists(atPath: dir.appendingPathComponent("tokenizer.json").path)
                || fm.fileExists(atPath: dir.appendingPathComponent("tokenizer.model").path)
        }
        if let tokenizerDirectory { return try Tokenizer.load(directory: tokenizerDirectory) }
        if hasTokenizer(modelDirectory) { return try Tokenizer.load(directory: modelDirectory) }
        let advice = version == .v1
            ? "CogVLM v1 checkpoints ship no tokenizer: they use lmsys/vicuna-7b-v1.5's. Download its tokenizer.model "
              + "(or tokenizer.json) and pass its folder with --tokenizer DIR (or `tokenizer_directory` in the config)."
            : "CogVLM2 checkpoints ship tokenizer.json; copy it into the model directory or pass --tokenizer DIR."
        throw PipelineError(.tokenizerMissing, "no tokenizer.json or tokenizer.model in \(modelDirectory.path). \(advice)",
                            field: "tokenizer")
    }

    /// A request made ready for the decoder: prompt built, session prefilled.
    struct Prepared {
        let prompt: PreparedPrompt
        let session: CogVLMSession
        let logits: [Float]          // [vocab] after the prompt
        var timings: GenerationTimings
        let imageWidth: Int
        let imageHeight: Int
    }

    /// Decodes and preprocesses the image, builds the prompt, and runs the prompt through a new
    /// session — reusing a cached `BOS + image` prefix when the same pixels were seen before.
    func prepare(_ request: InferenceRequest, threads: Int, progress: ((GenerationProgress) -> Void)?) throws -> Prepared {
        var image: RGBImage? = nil
        var pixels: [Float]? = nil
        if let url = request.imageURL {
            let decoded = try ImageDecoder.decode(contentsOf: url, maxPixels: request.maxPixels)
            image = decoded
            pixels = try decoded.pixelValues(size: model.config.vision.imageSize)  // [3, S, S]
        }
        try request.parameters.validate()
        let query = try request.task.query(prompt: request.prompt, box: request.box)
        let prompt = try promptBuilder.build(query: query, history: request.history, hasImage: pixels != nil,
                                            template: request.template, encoder: tokenizer)
        // Before the vision tower (tens of seconds on the 17B): the image's slots are in `prompt` already.
        guard prompt.count < model.config.maxPositionEmbeddings else {
            let what = request.history.isEmpty ? "the prompt" : "the prompt or the history"
            throw PipelineError(.contextOverflow, "the prompt has \(prompt.count) tokens (image included) but the "
                                + "model's context is \(model.config.maxPositionEmbeddings); shorten \(what)",
                                field: "prompt")
        }
        let session = model.makeSession(threads: threads)
        session.context.precision = precision
        var timings = GenerationTimings()
        var features: [Float]? = nil  // [imageTokenCount, H] when the prompt prefill must insert them
        if let pixels {
            let image = try ImagePrefix.prepare(session: session, model: model, prompt: prompt, pixelValues: pixels,
                                                cache: prefixCache, progress: progress)
            features = image.features
            timings.visionMilliseconds = image.visionMilliseconds
            timings.prefillMilliseconds += image.prefixMilliseconds
        }
        progress?(.prefillStarted(tokens: prompt.count))
        let start = ContinuousClock.now
        let logits = try session.prefillPrompt(inputIDs: prompt.inputIDs, tokenTypes: prompt.tokenTypes, imageFeatures: features)
        timings.prefillMilliseconds += Self.milliseconds(since: start)
        progress?(.prefillFinished(tokens: prompt.count, milliseconds: timings.prefillMilliseconds))
        return Prepared(prompt: prompt, session: session, logits: logits, timings: timings,
                        imageWidth: image?.width ?? 0, imageHeight: image?.height ?? 0)
    }

    /// Final text (tokenizer clean-up where it asks for it) and grounding boxes.
    func finish(_ prepared: Prepared, tokens: [Int], reason: FinishReason, timings: GenerationTimings) -> InferenceOutput {
        var text = tokenizer.decode(tokens, skipSpecialTokens: true)
        if tokenizer.cleansUpTokenizationSpaces { text = Tokenizer.cleanUpTokenizationSpaces(text) }
        let grounding = prepared.imageWidth > 0
            ? GroundingParser.parse(text, width: prepared.imageWidth, height: prepared.imageHeight) : GroundingResult()
        return InferenceOutput(text: text, tokenIDs: tokens, finishReason: reason, promptTokenCount: prepared.prompt.count,
                               timings: timings, boxes: grounding.boxes, boxProblems: grounding.problems,
                               imageWidth: prepared.imageWidth, imageHeight: prepared.imageHeight, prompt: prepared.prompt)
    }

    /// Decodes and preprocesses the image, builds the prompt, generates, and parses boxes.
    /// Runs on the calling thread (plus `threads − 1` helpers): call it from a dedicated thread,
    /// never from the Swift cooperative pool.
    public func run(_ request: InferenceRequest, threads: Int = 1,
                    progress: ((GenerationProgress) -> Void)? = nil,
                    onToken: ((GenerationEvent) -> GenerationControl)? = nil) throws -> InferenceOutput {
        let prepared = try prepare(request, threads: threads, progress: progress)
        let generator = Generator(parameters: request.parameters, config: model.config)
        let result = try generator.continueGeneration(prompt: prepared.prompt, firstLogits: prepared.logits,
                                                      session: prepared.session,
                                                      detokenizer: StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true),
                                                      progress: progress, onToken: onToken)
        var timings = result.timings
        timings.visionMilliseconds = prepared.timings.visionMilliseconds
        timings.prefillMilliseconds = prepared.timings.prefillMilliseconds
        return finish(prepared, tokens: result.tokenIDs, reason: result.finishReason, timings: timings)
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }
}

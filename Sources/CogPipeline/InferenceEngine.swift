import CogImage
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

    public init(model: CogVLMModel, tokenizer: Tokenizer, modelDirectory: URL) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.modelDirectory = modelDirectory
        self.promptBuilder = try PromptBuilder(config: model.config)
    }

    /// Loads the model from `modelDirectory` and the tokenizer from the model directory (CogVLM2
    /// ships one) or from `tokenizerDirectory`.
    public static func load(modelDirectory: URL, tokenizerDirectory: URL? = nil) throws -> InferenceEngine {
        let model = try CogVLMModel.load(directory: modelDirectory)
        let tokenizer = try loadTokenizer(modelDirectory: modelDirectory, tokenizerDirectory: tokenizerDirectory,
                                          version: model.config.version)
        guard tokenizer.vocabularySize <= model.config.vocabSize else {
            throw PipelineError(.tokenizerFailed,
                "the tokenizer has \(tokenizer.vocabularySize) tokens but the model only \(model.config.vocabSize); "
                + "\(model.config.version == .v1 ? "CogVLM v1 needs the vicuna-7b-v1.5 (LLaMA-2) tokenizer" : "CogVLM2 needs its own Llama-3 tokenizer")",
                field: "tokenizer")
        }
        return try InferenceEngine(model: model, tokenizer: tokenizer, modelDirectory: modelDirectory)
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
        throw PipelineError(.tokenizerFailed, "no tokenizer.json or tokenizer.model in \(modelDirectory.path). \(advice)",
                            field: "tokenizer")
    }

    /// Model identity stored with every result: the directory name plus a short hash of the files
    /// that define the weights (config.json and the shard index or header), so two different
    /// checkpoints under the same name are told apart.
    public var modelIdentity: String {
        var hasher = FNV1a64()
        for name in ["config.json", "model.safetensors.index.json"] {
            if let data = FileManager.default.contents(atPath: modelDirectory.appendingPathComponent(name).path) {
                hasher.combine(data)
            }
        }
        for shard in model.checkpoint.shards { hasher.combine(Data(shard.path.split(separator: "/").last.map(String.init)?.utf8 ?? "".utf8)); hasher.combine(UInt64(shard.file.size)) }
        return "\(modelDirectory.lastPathComponent)@\(String(hasher.value, radix: 16).prefix(12))"
    }

    /// Decodes and preprocesses the image, builds the prompt, generates, and parses boxes.
    /// Runs on the calling thread (plus `threads − 1` helpers): call it from a dedicated thread,
    /// never from the Swift cooperative pool.
    public func run(_ request: InferenceRequest, threads: Int = 1,
                    progress: ((GenerationProgress) -> Void)? = nil,
                    onToken: ((GenerationEvent) -> GenerationControl)? = nil) throws -> InferenceOutput {
        var image: RGBImage? = nil
        var pixels: [Float]? = nil
        if let url = request.imageURL {
            let decoded = try ImageDecoder.decode(contentsOf: url, maxPixels: request.maxPixels)
            image = decoded
            pixels = try decoded.pixelValues(size: model.config.vision.imageSize)
        }
        let query = try request.task.query(prompt: request.prompt, box: request.box)
        let prompt = try promptBuilder.build(query: query, history: request.history, hasImage: pixels != nil,
                                            template: request.template, encoder: tokenizer)
        let generator = Generator(parameters: request.parameters, config: model.config)
        let detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
        let result = try generator.run(model: model, prompt: prompt, pixelValues: pixels, threads: threads,
                                       detokenizer: detokenizer, progress: progress, onToken: onToken)
        var text = tokenizer.decode(result.tokenIDs, skipSpecialTokens: true)
        if tokenizer.cleansUpTokenizationSpaces { text = Tokenizer.cleanUpTokenizationSpaces(text) }
        let width = image?.width ?? 0, height = image?.height ?? 0
        let grounding = image != nil ? GroundingParser.parse(text, width: width, height: height) : GroundingResult()
        return InferenceOutput(text: text, tokenIDs: result.tokenIDs, finishReason: result.finishReason,
                               promptTokenCount: result.promptTokenCount, timings: result.timings,
                               boxes: grounding.boxes, boxProblems: grounding.problems,
                               imageWidth: width, imageHeight: height, prompt: prompt)
    }
}

/// FNV-1a 64-bit, for short identity hashes (not for security).
struct FNV1a64 {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func combine(_ data: Data) {
        for byte in data {
            value ^= UInt64(byte)
            value = value &* 0x0000_0100_0000_01b3
        }
    }
    mutating func combine(_ number: UInt64) {
        withUnsafeBytes(of: number.littleEndian) { combine(Data($0)) }
    }
}

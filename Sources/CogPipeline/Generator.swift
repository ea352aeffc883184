import CogTensor
import CogVLM

/// Runs the prompt and generates the answer token by token, as HF `model.generate(**inputs,
/// **gen_kwargs)` does for CogVLM (architecture doc §3.8): prefill once, then one KV-cached
/// decode step per token; stop on any of the model's end-of-sequence ids (CogVLM2 has two:
/// 128001 `<|end_of_text|>` and 128009 `<|eot_id|>`), after `maxNewTokens`, at the context limit,
/// or when the callback says so.
///
/// Everything here is synchronous and CPU-bound: call it from a dedicated thread, never from the
/// Swift cooperative pool. The callbacks run on the calling thread between steps.
public struct Generator: Sendable {
    public var parameters: GenerationParameters
    /// Ids that end generation (not included in the output). Empty: never stop on a token.
    public var stopTokenIDs: Set<Int>

    public init(parameters: GenerationParameters = GenerationParameters(), stopTokenIDs: Set<Int>) {
        self.parameters = parameters
        self.stopTokenIDs = stopTokenIDs
    }

    /// A generator that stops on every id in the model's `eos_token_id`.
    public init(parameters: GenerationParameters = GenerationParameters(), config: CogVLMConfiguration) {
        self.init(parameters: parameters, stopTokenIDs: Set(config.eosTokenIDs))
    }

    /// One-shot: encodes the image (if `pixelValues` is given), then generates on a fresh session.
    /// - Parameters:
    ///   - pixelValues: `[3, S, S]` f32 CLIP-normalized pixels (CogImage), or nil for text only.
    ///     The prompt must have been built with `hasImage` matching.
    ///   - threads: this call's share of the cores (the session's compute team).
    ///   - precision: how the session's matmuls may trade precision for speed.
    ///   - decodeBatcher: when given, decode steps go through it, batched with the other sequences
    ///     decoding on the same model at the time (the image and the prompt still run alone); it
    ///     must use this `model` and `precision`. The sequence leaves the batch when this returns
    ///     or throws.
    ///   - prefixCache: when given, the `BOS + image` prefix is looked up by the pixels: a hit
    ///     restores its KV cache and skips the vision tower and the image's prefill; a miss computes
    ///     the prefix on its own and stores it for the next request on these pixels. The cache must
    ///     hold prefixes of this `model` made with this `precision` (one cache per loaded model).
    public func run(model: CogVLMModel, prompt: PreparedPrompt, pixelValues: [Float]?, threads: Int = 1,
                    precision: MatmulPrecision = .exact, decodeBatcher: DecodeBatcher? = nil,
                    prefixCache: PrefixCache? = nil,
                    detokenizer: (any StreamingTextDecoding)? = nil,
                    progress: ((GenerationProgress) -> Void)? = nil,
                    onToken: ((GenerationEvent) -> GenerationControl)? = nil) throws -> GenerationResult {
        try parameters.validate()
        let expectedSlots = pixelValues == nil ? 0 : model.config.imageTokenCount
        guard prompt.imageSlotCount == expectedSlots else {
            throw PipelineError(.badParameter, pixelValues == nil
                ? "the prompt has \(prompt.imageSlotCount) image slots but no image was given; "
                  + "build it with hasImage: false"
                : "an image was given but the prompt has \(prompt.imageSlotCount) image slots instead of "
                  + "\(expectedSlots); "
                  + "build it with this model's PromptBuilder and hasImage: true", field: "image")
        }
        if let decodeBatcher, decodeBatcher.model !== model || decodeBatcher.precision != precision {
            throw PipelineError(.badParameter, "the decode batcher serves another model or precision "
                                + "(\(decodeBatcher.precision.rawValue)) than this run (\(precision.rawValue))",
                                field: "decodeBatcher")
        }
        let session = model.makeSession(threads: threads)
        session.context.precision = precision
        var features: [Float]? = nil
        var visionMilliseconds: Double = 0, prefixMilliseconds: Double = 0
        if let pixelValues {
            let image = try ImagePrefix.prepare(session: session, model: model, prompt: prompt, pixelValues: pixelValues,
                                                cache: prefixCache, progress: progress)
            features = image.features
            visionMilliseconds = image.visionMilliseconds
            prefixMilliseconds = image.prefixMilliseconds
        }
        var result: GenerationResult
        if let decodeBatcher {
            let batched = BatchedDecodeSession(session: session, batcher: decodeBatcher)
            defer { batched.leave() }
            result = try generate(prompt: prompt, imageFeatures: features, session: batched,
                                  detokenizer: detokenizer, progress: progress, onToken: onToken)
        } else {
            result = try generate(prompt: prompt, imageFeatures: features, session: session,
                                  detokenizer: detokenizer, progress: progress, onToken: onToken)
        }
        result.timings.visionMilliseconds = visionMilliseconds
        result.timings.prefillMilliseconds += prefixMilliseconds
        return result
    }

    /// Prefills `prompt` on `session` (which must be empty) and generates.
    /// - Parameters:
    ///   - imageFeatures: `[imageSlots, hiddenSize]` from `CogVLMModel.encodeImage`, or nil.
    ///   - detokenizer: turns ids into streamed text; without one, `text` stays empty.
    ///   - onToken: called after every generated token; return `.stop` to cancel.
    public func generate(prompt: PreparedPrompt, imageFeatures: [Float]?, session: some GenerationSession,
                         detokenizer: (any StreamingTextDecoding)? = nil,
                         progress: ((GenerationProgress) -> Void)? = nil,
                         onToken: ((GenerationEvent) -> GenerationControl)? = nil) throws -> GenerationResult {
        try parameters.validate()
        let limit = session.contextLimit
        guard !prompt.inputIDs.isEmpty else {
            throw PipelineError(.badParameter, "the prompt is empty", field: "prompt")
        }
        guard prompt.count < limit else {
            throw PipelineError(.contextOverflow,
                "the prompt has \(prompt.count) tokens but the model's context is \(limit); "
                + "shorten the prompt or history",
                field: "prompt")
        }
        var timings = GenerationTimings()
        progress?(.prefillStarted(tokens: prompt.count))
        let prefillStart = ContinuousClock.now
        let logits = try session.prefillPrompt(inputIDs: prompt.inputIDs, tokenTypes: prompt.tokenTypes,
                                               imageFeatures: imageFeatures)  // [vocab]
        timings.prefillMilliseconds = milliseconds(since: prefillStart)
        progress?(.prefillFinished(tokens: prompt.count, milliseconds: timings.prefillMilliseconds))

        var result = try continueGeneration(prompt: prompt, firstLogits: logits, session: session, detokenizer: detokenizer,
                                            progress: progress, onToken: onToken)
        result.timings.prefillMilliseconds = timings.prefillMilliseconds
        return result
    }

    /// The decode loop after a prefill: chooses tokens from `firstLogits` on, feeding each back
    /// into `session`, until a stop token, the token limit, the context limit, or `onToken` stops.
    public func continueGeneration(prompt: PreparedPrompt, firstLogits: [Float], session: some GenerationSession,
                                   detokenizer: (any StreamingTextDecoding)? = nil,
                                   progress: ((GenerationProgress) -> Void)? = nil,
                                   onToken: ((GenerationEvent) -> GenerationControl)? = nil) throws -> GenerationResult {
        let limit = session.contextLimit
        var logits = firstLogits
        var timings = GenerationTimings()
        let decodeStart = ContinuousClock.now
        var stepStart = decodeStart
        var chooser = TokenChooser(parameters: parameters, promptTokens: prompt.inputIDs,
                                   vocabularySize: session.vocabularySize)
        var streamer = detokenizer
        var tokens: [Int] = []
        var text = ""
        var stopToken: Int? = nil
        let finish: FinishReason
        while true {
            let token = try chooser.choose(logits, step: tokens.count)
            if stopTokenIDs.contains(token) {
                stopToken = token
                finish = .eos
                break
            }
            tokens.append(token)
            chooser.record(token)
            let delta = try streamer?.append(token) ?? ""
            text += delta
            let event = GenerationEvent(index: tokens.count - 1, tokenID: token, textDelta: delta,
                                        stepMilliseconds: milliseconds(since: stepStart))
            if let onToken, onToken(event) == .stop {
                finish = .cancelled
                break
            }
            if tokens.count >= parameters.maxNewTokens {
                finish = .maxTokens
                break
            }
            if prompt.count + tokens.count >= limit {
                finish = .contextFull
                break
            }
            stepStart = ContinuousClock.now
            logits = try session.decodeNext(token: token)
            timings.decodeSteps += 1
        }
        let trailing = try streamer?.finish() ?? ""
        text += trailing
        timings.decodeMilliseconds = milliseconds(since: decodeStart)
        progress?(.decodeFinished(tokens: tokens.count, milliseconds: timings.decodeMilliseconds, reason: finish))
        return GenerationResult(tokenIDs: tokens, text: text, unstreamedText: trailing, finishReason: finish,
                                stopTokenID: stopToken, promptTokenCount: prompt.count, timings: timings)
    }

    private func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }
}

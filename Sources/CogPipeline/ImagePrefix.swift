import CogVLM

/// The image part of a prompt on a fresh session: encodes the image, or — with a `PrefixCache` —
/// restores the `BOS + image` KV prefix of pixels seen before (skipping the vision tower and the
/// image's prefill), or computes that prefix on its own and stores it for the next request. Shared
/// by `InferenceEngine` (`cogjobs run`) and `Generator.run` (the daemon's jobs).
enum ImagePrefix {
    /// What remains for the prompt's prefill, and what this step cost.
    struct Outcome {
        /// `[imageTokenCount, H]` features the prompt prefill must still insert; nil when the
        /// session already holds the image (restored or prefilled here).
        var features: [Float]?
        var visionMilliseconds: Double = 0
        /// Prefill of `BOS + image` done here (cache miss with a cache).
        var prefixMilliseconds: Double = 0
    }

    /// - Parameters:
    ///   - session: a fresh session of `model` with its precision set.
    ///   - prompt: built with `hasImage: true`, so it starts with `BOS + image slots`.
    ///   - pixelValues: `[3, S, S]` f32 CLIP-normalized pixels.
    static func prepare(session: CogVLMSession, model: CogVLMModel, prompt: PreparedPrompt, pixelValues: [Float],
                        cache: PrefixCache?, progress: ((GenerationProgress) -> Void)?) throws -> Outcome {
        let key = cache.map { _ in PixelKey(pixelValues: pixelValues) }
        if let cache, let key, let snapshot = cache.lookup(key) {
            session.restore(snapshot)  // prefillPrompt then computes only the text after it
            return Outcome(features: nil)
        }
        var outcome = Outcome()
        progress?(.visionEncodeStarted)
        let start = ContinuousClock.now
        outcome.features = try model.encodeImage(pixelValues: pixelValues, context: session.context)
        outcome.visionMilliseconds = milliseconds(since: start)
        progress?(.visionEncodeFinished(milliseconds: outcome.visionMilliseconds))
        if let cache, let key {
            // BOS + image on their own, snapshotted for the next request on these pixels.
            let prefix = 1 + model.config.imageTokenCount
            let prefixStart = ContinuousClock.now
            _ = try session.prefill(inputIDs: Array(prompt.inputIDs.prefix(prefix)),
                                    tokenTypes: Array(prompt.tokenTypes.prefix(prefix)), imageFeatures: outcome.features)
            outcome.prefixMilliseconds = milliseconds(since: prefixStart)
            cache.insert(key, session.snapshot())
            outcome.features = nil
        }
        return outcome
    }

    private static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let d = ContinuousClock.now - start
        return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
    }
}

import CogTokenizer
import CogVLM

extension InferenceEngine {
    /// Runs several requests together: each image is encoded and each prompt prefilled on its
    /// own, then all sequences decode in lockstep through `CogVLMSession.decodeBatch`, one pass
    /// over the weights per step for all of them (decode is memory-bound, so N sequences cost
    /// little more than one). Requests that share an image reuse its prefix through the
    /// `prefixCache`. A failing request fails alone.
    /// - Parameter onToken: `(request index, event)`; return `.stop` to cancel that request.
    public func runBatch(_ requests: [InferenceRequest], threads: Int = 1,
                         onToken: ((Int, GenerationEvent) -> GenerationControl)? = nil) -> [Result<InferenceOutput, any Error>] {
        var results = [Result<InferenceOutput, any Error>?](repeating: nil, count: requests.count)

        /// One sequence in the decode loop.
        struct Active {
            let index: Int
            let prepared: Prepared
            var chooser: TokenChooser
            var detokenizer: StreamingDetokenizer
            var tokens: [Int] = []
            var logits: [Float]
            var stepStart = ContinuousClock.now
            let decodeStart = ContinuousClock.now
        }
        var active: [Active] = []
        for (i, request) in requests.enumerated() {
            do {
                let prepared = try prepare(request, threads: threads, progress: nil)
                active.append(Active(index: i, prepared: prepared,
                                     chooser: TokenChooser(parameters: request.parameters, promptTokens: prepared.prompt.inputIDs,
                                                           vocabularySize: model.config.vocabSize),
                                     detokenizer: StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true),
                                     logits: prepared.logits))
            } catch {
                results[i] = .failure(error)
            }
        }
        let stops = Set(model.config.eosTokenIDs)
        func finish(_ a: Active, _ reason: FinishReason) {
            var timings = a.prepared.timings
            timings.decodeMilliseconds = Self.milliseconds(since: a.decodeStart)
            timings.decodeSteps = max(0, a.tokens.count - 1)
            results[a.index] = .success(self.finish(a.prepared, tokens: a.tokens, reason: reason, timings: timings))
        }
        while !active.isEmpty {
            var next: [Active] = []
            var feed: [Int] = []
            for var a in active {
                let token: Int
                do { token = try a.chooser.choose(a.logits, step: a.tokens.count) } catch {
                    results[a.index] = .failure(error)  // this sequence only; the others go on
                    continue
                }
                if stops.contains(token) {
                    finish(a, .eos)
                    continue
                }
                a.tokens.append(token)
                a.chooser.record(token)
                let delta = a.detokenizer.append(token)
                let event = GenerationEvent(index: a.tokens.count - 1, tokenID: token, textDelta: delta,
                                            stepMilliseconds: Self.milliseconds(since: a.stepStart))
                if let onToken, onToken(a.index, event) == .stop {
                    finish(a, .cancelled)
                } else if a.tokens.count >= requests[a.index].parameters.maxNewTokens {
                    finish(a, .maxTokens)
                } else if a.prepared.prompt.count + a.tokens.count >= model.config.maxPositionEmbeddings {
                    finish(a, .contextFull)
                } else {
                    a.stepStart = ContinuousClock.now
                    next.append(a)
                    feed.append(token)
                }
            }
            guard !next.isEmpty else { break }
            do {
                let logits = try CogVLMSession.decodeBatch(next.map(\.prepared.session), tokens: feed)
                for i in next.indices { next[i].logits = logits[i] }
                active = next
            } catch {
                for a in next { results[a.index] = .failure(error) }
                active = []
            }
        }
        return results.map { $0 ?? .failure(PipelineError(.badParameter, "request was not run")) }
    }
}

import CogPipeline
import CogTestSupport
import CogVLM
import Foundation
import Testing

/// Generation on the real tiny models, against the fixtures' greedy tokens.
@Suite("Generator on the tiny models", .serialized)
struct GeneratorModelTests {
    /// The fixture prompt as built by our prompt code, the model, and the image pixels.
    static func setUp(_ fixture: TinyFixture, _ prompt: String) throws -> (CogVLMModel, PreparedPrompt, [Float]?) {
        let model = try CogVLMModel.load(directory: fixture.directory)
        let manifest = try fixture.manifestPrompt(prompt)
        let prepared = try PromptBuilder(config: model.config).build(
            query: manifest.query, history: manifest.history, hasImage: manifest.image, encoder: fixture.encoder)
        return (model, prepared, manifest.image ? try fixture.pixelValues() : nil)
    }

    @Test("greedy output equals the fixture's gen.new_token_ids", arguments: TinyFixture.generationCases)
    func greedy(fixture: TinyFixture, prompt: String) throws {
        let (model, prepared, pixels) = try Self.setUp(fixture, prompt)
        let want = try fixture.expected(prompt).ints("gen.new_token_ids")
        // The fixture generated 12 tokens without meeting an EOS id, so the model's real stop
        // ids stay on: stopping early would be a bug.
        #expect(Set(want).isDisjoint(with: model.config.eosTokenIDs))
        var phases: [GenerationProgress] = []
        var events: [GenerationEvent] = []
        let generator = Generator(parameters: GenerationParameters(maxNewTokens: 12), config: model.config)
        let result = try generator.run(
            model: model, prompt: prepared, pixelValues: pixels,
            detokenizer: DecodingStreamer(decoder: WordDecoder()),
            progress: { phases.append($0) },
            onToken: { events.append($0); return .continue })
        #expect(result.tokenIDs == want)
        #expect(result.finishReason == .maxTokens)
        #expect(result.stopTokenID == nil)
        #expect(result.promptTokenCount == prepared.count)
        #expect(result.text == want.map { "w\($0)" }.joined(separator: " "))
        #expect(events.map(\.tokenID) == want)
        #expect(events.map(\.index) == Array(0..<12))
        #expect(events.map(\.textDelta).joined() == result.text)
        #expect(result.timings.decodeSteps == 11)
        #expect(result.timings.prefillMilliseconds > 0 && result.timings.decodeMilliseconds > 0)
        #expect(result.timings.tokensPerSecond > 0)

        // Phases in order, with the prompt's token count.
        var expectedKinds = pixels == nil ? [] : ["visionStart", "visionEnd"]
        expectedKinds += ["prefillStart", "prefillEnd", "decodeEnd"]
        let kinds = phases.map { phase -> String in
            switch phase {
            case .visionEncodeStarted: return "visionStart"
            case .visionEncodeFinished: return "visionEnd"
            case .prefillStarted(let n): return n == prepared.count ? "prefillStart" : "prefillStart(\(n))"
            case .prefillFinished(let n, _): return n == prepared.count ? "prefillEnd" : "prefillEnd(\(n))"
            case .decodeFinished(let n, _, let reason):
                return n == 12 && reason == .maxTokens ? "decodeEnd" : "decodeEnd(\(n))"
            }
        }
        #expect(kinds == expectedKinds)
        #expect((pixels == nil) == (result.timings.visionMilliseconds == 0))
        let t = result.timings
        print("[\(fixture.name)/\(prompt)] tokens \(result.tokenIDs); vision \(t.visionMilliseconds) ms, prefill "
              + "\(t.prefillMilliseconds) ms, decode \(t.decodeMilliseconds) ms, \(t.tokensPerSecond) tok/s")
    }

    @Test("seeded sampling is reproducible; another seed differs; top-k = 1 equals greedy",
          arguments: [TinyFixture.v1, TinyFixture.v2])
    func sampling(fixture: TinyFixture) throws {
        let (model, prepared, pixels) = try Self.setUp(fixture, "mm_a")
        func run(_ parameters: GenerationParameters) throws -> [Int] {
            try Generator(parameters: parameters, stopTokenIDs: [])
                .run(model: model, prompt: prepared, pixelValues: pixels).tokenIDs
        }
        // 8 of the fixture's 12 greedy tokens keep this test quick in debug builds.
        let greedy = Array(try fixture.expected("mm_a").ints("gen.new_token_ids").prefix(8))
        let sampled = GenerationParameters(maxNewTokens: 8, doSample: true, temperature: 1.0, topK: 0, seed: 1234)
        let first = try run(sampled)
        #expect(try run(sampled) == first)
        var otherSeed = sampled
        otherSeed.seed = 99
        let second = try run(otherSeed)
        #expect(second != first)
        #expect(first != greedy)
        print("[\(fixture.name)] seed 1234: \(first); seed 99: \(second)")

        var topOne = sampled
        topOne.topK = 1
        topOne.temperature = 0.7
        #expect(try run(topOne) == greedy)
        // top-p small enough keeps only the most likely token: greedy as well.
        var tinyP = sampled
        tinyP.topP = 1e-6
        #expect(try run(tinyP) == greedy)
        // Temperature 0 with doSample is greedy.
        var cold = sampled
        cold.temperature = 0
        #expect(try run(cold) == greedy)
    }

    @Test("cancelling from the callback stops after that token")
    func cancel() throws {
        let (model, prepared, pixels) = try Self.setUp(.v1, "mm_a")
        let greedy = try TinyFixture.v1.expected("mm_a").ints("gen.new_token_ids")
        var calls = 0
        let result = try Generator(parameters: GenerationParameters(maxNewTokens: 12), config: model.config).run(
            model: model, prompt: prepared, pixelValues: pixels,
            onToken: { event in
                calls += 1
                return event.index == 3 ? .stop : .continue
            })
        #expect(result.finishReason == .cancelled)
        #expect(result.tokenIDs == Array(greedy.prefix(4)))
        #expect(calls == 4)
        #expect(result.timings.decodeSteps == 3)
    }

    @Test("an image with a text-only prompt (or the reverse) is refused before any work")
    func imageMismatch() throws {
        let (model, prepared, pixels) = try Self.setUp(.v1, "text_only")
        let generator = Generator(config: model.config)
        let error = #expect(throws: PipelineError.self) {
            try generator.run(model: model, prompt: prepared, pixelValues: try TinyFixture.v1.pixelValues())
        }
        #expect(error?.code == .badParameter)
        #expect(pixels == nil)
        let (_, withImage, _) = try Self.setUp(.v1, "mm_a")
        #expect(throws: PipelineError.self) { try generator.run(model: model, prompt: withImage, pixelValues: nil) }
    }
}

/// A session that returns scripted logits: step i makes `script[i]` the argmax.
final class ScriptedSession: GenerationSession {
    let vocabularySize: Int
    let contextLimit: Int
    let script: [Int]
    private(set) var step = 0
    private(set) var fed: [Int] = []
    private(set) var prefilled: [Int] = []

    init(vocabularySize: Int, contextLimit: Int = 1 << 20, script: [Int]) {
        self.vocabularySize = vocabularySize
        self.contextLimit = contextLimit
        self.script = script
    }

    private func logits() -> [Float] {
        var x = [Float](repeating: 0, count: vocabularySize)  // [vocab]
        x[script[min(step, script.count - 1)]] = 10
        step += 1
        return x
    }

    func prefillPrompt(inputIDs: [Int], tokenTypes: [TokenType], imageFeatures: [Float]?) throws -> [Float] {
        prefilled = inputIDs
        return logits()
    }

    func decodeNext(token: Int) throws -> [Float] {
        fed.append(token)
        return logits()
    }
}

@Suite("Generator stopping rules (scripted logits)")
struct GeneratorStoppingTests {
    static let prompt = PreparedPrompt(inputIDs: [128000, 5830, 31338], tokenTypes: [.language, .language, .language],
                                      positionIDs: [0, 1, 2], text: "Question: Hi Answer:")

    @Test("stops on either CogVLM2 EOS id, which is not part of the output", arguments: [128001, 128009])
    func stopsOnEitherEOS(eos: Int) throws {
        let config = try TinyFixture.v2.config()
        #expect(Set(config.eosTokenIDs) == [128001, 128009])
        let session = ScriptedSession(vocabularySize: config.vocabSize, script: [11, 12, 13, eos, 14])
        let result = try Generator(parameters: GenerationParameters(maxNewTokens: 50), config: config)
            .generate(prompt: Self.prompt, imageFeatures: nil, session: session)
        #expect(result.tokenIDs == [11, 12, 13])
        #expect(result.finishReason == .eos)
        #expect(result.stopTokenID == eos)
        #expect(session.fed == [11, 12, 13])  // the EOS is never fed back
        #expect(session.prefilled == Self.prompt.inputIDs)
    }

    @Test("max new tokens counts tokens; EOS exactly at the limit is still EOS")
    func maxTokens() throws {
        let session = ScriptedSession(vocabularySize: 100, script: [1, 2, 3, 4, 5, 6])
        let result = try Generator(parameters: GenerationParameters(maxNewTokens: 4), stopTokenIDs: [99])
            .generate(prompt: Self.prompt, imageFeatures: nil, session: session)
        #expect(result.tokenIDs == [1, 2, 3, 4])
        #expect(result.finishReason == .maxTokens)
        #expect(session.fed == [1, 2, 3])
        let atLimit = ScriptedSession(vocabularySize: 100, script: [1, 2, 3, 99])
        let eosResult = try Generator(parameters: GenerationParameters(maxNewTokens: 4), stopTokenIDs: [99])
            .generate(prompt: Self.prompt, imageFeatures: nil, session: atLimit)
        #expect(eosResult.finishReason == .eos)
        #expect(eosResult.tokenIDs == [1, 2, 3])
    }

    @Test("the context limit stops generation; a prompt that fills it is refused")
    func contextLimit() throws {
        let session = ScriptedSession(vocabularySize: 100, contextLimit: 6, script: [1, 2, 3, 4, 5])
        let result = try Generator(parameters: GenerationParameters(maxNewTokens: 50), stopTokenIDs: [])
            .generate(prompt: Self.prompt, imageFeatures: nil, session: session)
        #expect(result.tokenIDs == [1, 2, 3])
        #expect(result.finishReason == .contextFull)
        let full = ScriptedSession(vocabularySize: 100, contextLimit: 3, script: [1])
        let error = #expect(throws: PipelineError.self) {
            try Generator(stopTokenIDs: []).generate(prompt: Self.prompt, imageFeatures: nil, session: full)
        }
        #expect(error?.code == .contextOverflow)
        #expect(full.prefilled.isEmpty)
    }

    @Test("greedy with a repetition penalty avoids a prompt token, as HF applies it to greedy too")
    func repetitionPenaltyGreedy() throws {
        // Scores: prompt token 5830 at 2.0, fresh token 7 at 1.5. Penalty 1.5 → 5830 falls to 1.33.
        final class Fixed: GenerationSession {
            let vocabularySize = 40000
            let contextLimit = 100
            func scores() -> [Float] {
                var x = [Float](repeating: 0, count: vocabularySize)
                x[5830] = 2.0
                x[7] = 1.5
                return x
            }
            func prefillPrompt(inputIDs: [Int], tokenTypes: [TokenType], imageFeatures: [Float]?) throws -> [Float] {
                scores()
            }
            func decodeNext(token: Int) throws -> [Float] { scores() }
        }
        let plain = try Generator(parameters: GenerationParameters(maxNewTokens: 2), stopTokenIDs: [])
            .generate(prompt: Self.prompt, imageFeatures: nil, session: Fixed())
        #expect(plain.tokenIDs == [5830, 5830])
        let penalty = GenerationParameters(maxNewTokens: 3, repetitionPenalty: 1.5)
        let penalized = try Generator(parameters: penalty, stopTokenIDs: [])
            .generate(prompt: Self.prompt, imageFeatures: nil, session: Fixed())
        // 7 once generated is penalized too (1.5 / 1.5 = 1.0 < 1.33): then 5830 again.
        #expect(penalized.tokenIDs == [7, 5830, 5830])
    }

    @Test("streamed text never splits a character; held-back text is flushed at the end")
    func streaming() throws {
        // A decoder whose id 1 and 2 are the two halves of "é" (U+FFFD until both are present).
        struct HalfCharDecoder: TextDecoding {
            func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
                var s = ""
                var i = 0
                while i < ids.count {
                    if ids[i] == 1 {
                        if i + 1 < ids.count && ids[i + 1] == 2 { s += "é"; i += 2; continue }
                        s += "\u{FFFD}"
                    } else if ids[i] != 0 || !skipSpecialTokens {
                        s += "<\(ids[i])>"
                    }
                    i += 1
                }
                return s
            }
        }
        let session = ScriptedSession(vocabularySize: 10, script: [3, 1, 2, 0, 4, 1])
        var deltas: [String] = []
        let result = try Generator(parameters: GenerationParameters(maxNewTokens: 6), stopTokenIDs: [])
            .generate(prompt: Self.prompt, imageFeatures: nil, session: session,
                      detokenizer: DecodingStreamer(decoder: HalfCharDecoder()),
                      onToken: { deltas.append($0.textDelta); return .continue })
        #expect(deltas == ["<3>", "", "é", "", "<4>", ""])
        #expect(result.unstreamedText == "\u{FFFD}")
        #expect(result.text == "<3>é<4>\u{FFFD}")
    }
}

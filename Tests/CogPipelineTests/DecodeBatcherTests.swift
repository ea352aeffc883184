import CogTensor
import CogTestSupport
import CogVLM
import Foundation
import Synchronization
import Testing

@testable import CogPipeline  // DecodeBatcher's step injection (failure test)

/// One fixture prompt: ids and token types, with the image features when it has image slots.
struct BatchPrompt: Sendable {
    let name: String
    let ids: [Int]
    let types: [TokenType]
    let features: [Float]?
}

/// What one sequence produced: the token fed at each step and the logits the step returned, plus
/// the errors it saw.
struct DecodeRun: Sendable, Equatable {
    var tokens: [Int] = []
    var logits: [[Float]] = []
    var errors: [String] = []
}

/// Shared with the decode threads: each sequence's finished steps and its outcome.
final class RunBoard: Sendable {
    private let state = Mutex<(steps: [Int: Int], runs: [Int: DecodeRun])>(([:], [:]))

    func stepped(_ sequence: Int) { state.withLock { $0.steps[sequence, default: 0] += 1 } }
    func steps(_ sequence: Int) -> Int { state.withLock { $0.steps[sequence] ?? 0 } }
    func finish(_ sequence: Int, _ run: DecodeRun) { state.withLock { $0.runs[sequence] = run } }
    var runs: [Int: DecodeRun] { state.withLock { $0.runs } }

    /// Blocks until `sequence` has finished `steps` steps (or `timeout` passed).
    func wait(for sequence: Int, steps: Int, timeout: Duration = .seconds(30)) {
        let deadline = ContinuousClock.now + timeout
        while self.steps(sequence) < steps && ContinuousClock.now < deadline { usleep(200) }
    }
}

/// A value shared with threads.
final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}

/// Starts `body` on a new thread (the batcher blocks its callers: never the cooperative pool).
func startThread(_ name: String, _ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        body()
        done.signal()
    }
    thread.name = name
    thread.start()
    return done
}

/// Waits for every thread; false if any is still running at `timeout`.
func waitForThreads(_ threads: [DispatchSemaphore], timeout: Duration) -> Bool {
    let deadline = DispatchTime.now() + .nanoseconds(Int(timeout.components.seconds) * 1_000_000_000
                                                     + Int(timeout.components.attoseconds / 1_000_000_000))
    return threads.allSatisfy { $0.wait(timeout: deadline) == .success }
}

/// Continuous batching on the tiny model with real threads: sequences that join and leave at
/// different steps get exactly (bit for bit, `.exact` precision) the logits and tokens they get
/// decoding alone; leaving, a rejected token and a failing step never leave anyone waiting.
@Suite("DecodeBatcher on the tiny model", .serialized)
struct DecodeBatcherTests {
    static let model: Result<CogVLMModel, any Error> = Result {
        try CogVLMModel.load(directory: Fixtures.cogvlmTiny)
    }

    /// mm_a, mm_b and text_only from the fixture, plus mm_b without its last three tokens (another
    /// prompt length).
    static let prompts: Result<[BatchPrompt], any Error> = Result {
        let pixels = try TinyFixture.v1.pixelValues()  // [3, S, S]
        let features = try DecodeBatcherTests.model.get().encodeImage(pixelValues: pixels)  // [slots, H]
        var prompts = try ["mm_a", "mm_b", "text_only"].map { name in
            let expected = try TinyFixture.v1.expected(name)
            let types = try expected.ints("token_type_ids").map { TokenType(rawValue: $0) ?? .language }
            return BatchPrompt(name: name, ids: try expected.ints("input_ids"), types: types,
                               features: types.contains(.vision) ? features : nil)
        }
        let b = prompts[1]
        prompts.append(BatchPrompt(name: "mm_b-short", ids: Array(b.ids.dropLast(3)), types: Array(b.types.dropLast(3)),
                                   features: b.features))
        return prompts
    }

    /// A new session with `prompt` prefilled; returns it and the logits after the prompt.
    static func prefilled(_ prompt: BatchPrompt, precision: MatmulPrecision = .exact) throws
        -> (CogVLMSession, [Float]) {
        let session = try model.get().makeSession(threads: 1)
        session.context.precision = precision
        let logits = try session.prefill(inputIDs: prompt.ids, tokenTypes: prompt.types, imageFeatures: prompt.features)
        return (session, logits)
    }

    /// `steps` greedy decode steps on a session of its own (the reference).
    static func alone(_ prompt: BatchPrompt, steps: Int) throws -> DecodeRun {
        var (session, logits) = try prefilled(prompt)
        var run = DecodeRun()
        for _ in 0..<steps {
            let token = Greedy.argmax(logits)
            logits = try session.decode(token: token)
            run.tokens.append(token)
            run.logits.append(logits)
        }
        return run
    }

    /// Prefills `prompt`, then runs greedy steps through `batcher` until `steps` are done, an
    /// error ends it, or `stopAfter` steps (a cancel); leaves the batch however it ends.
    /// `badTokenAt`: before that step, first submit a token outside the vocabulary (it must be
    /// rejected alone, with the session unchanged).
    static func batched(_ prompt: BatchPrompt, steps: Int, batcher: DecodeBatcher, sequence: Int, board: RunBoard,
                        badTokenAt: Int? = nil) {
        var run = DecodeRun()
        defer { board.finish(sequence, run) }
        do {
            var (session, logits) = try prefilled(prompt)
            defer { batcher.leave(session) }
            for step in 0..<steps {
                let token = Greedy.argmax(logits)
                if step == badTokenAt {
                    do {
                        _ = try batcher.decode(session, token: session.model.config.vocabSize)
                        run.errors.append("an out-of-vocabulary token was accepted")
                    } catch let error as InferenceError {
                        run.errors.append(error.code.rawValue)
                    }
                }
                logits = try batcher.decode(session, token: token)
                run.tokens.append(token)
                run.logits.append(logits)
                board.stepped(sequence)
            }
        } catch {
            run.errors.append("\(error)")
        }
    }

    @Test("4 sequences joining at different steps, with different lengths, equal decoding alone bit for bit")
    func staggeredSequencesEqualDecodingAlone() throws {
        let model = try Self.model.get()
        let prompts = try Self.prompts.get()
        let plan: [(prompt: Int, steps: Int, joinAfter: Int)] = [(0, 40, 0), (1, 30, 4), (2, 24, 10), (3, 12, 16)]
        let reference = try plan.map { try Self.alone(prompts[$0.prompt], steps: $0.steps) }
        // A long window: every step waits for every joined sequence, so a sequence that failed to
        // leave would stall the others for seconds (and count as a window expiry).
        let batcher = DecodeBatcher(model: model, threadsPerSequence: 1, maxThreads: 2, window: .seconds(5))
        let board = RunBoard()
        let started = ContinuousClock.now
        let threads = plan.enumerated().map { i, p in
            startThread("decode-\(i)") {
                if p.joinAfter > 0 { board.wait(for: 0, steps: p.joinAfter) }
                Self.batched(prompts[p.prompt], steps: p.steps, batcher: batcher, sequence: i, board: board)
            }
        }
        #expect(waitForThreads(threads, timeout: .seconds(60)), "a decode thread hung")
        let elapsed = ContinuousClock.now - started
        let runs = board.runs
        for (i, p) in plan.enumerated() {
            let run = try #require(runs[i], "sequence \(i) did not finish")
            #expect(run.errors.isEmpty, "\(run.errors)")
            #expect(run.tokens == reference[i].tokens, "sequence \(i) (\(prompts[p.prompt].name)): tokens differ")
            #expect(run.logits == reference[i].logits, "sequence \(i) (\(prompts[p.prompt].name)): logits differ")
        }
        let stats = batcher.statistics
        let average = String(format: "%.2f", stats.averageBatch)
        print("DecodeBatcher, 4 staggered sequences (106 tokens): \(stats.steps) steps, largest batch "
              + "\(stats.largestBatch), average \(average), \(elapsed) (debug, tiny model)")
        #expect(stats.tokens == plan.map(\.steps).reduce(0, +))
        #expect(stats.largestBatch >= 2 && stats.steps < stats.tokens, "nothing was batched: \(stats)")
        #expect(stats.windowExpiries == 0 && stats.failedSteps == 0)
        #expect(batcher.memberCount == 0)
    }

    @Test("more sequences than maxBatch take turns in arrival order; results still equal decoding alone")
    func moreSequencesThanMaxBatch() throws {
        let model = try Self.model.get()
        let prompts = try Self.prompts.get()
        let batcher = DecodeBatcher(model: model, threadsPerSequence: 1, maxThreads: 2, maxBatch: 2,
                                    window: .seconds(5))
        let board = RunBoard()
        let threads = (0..<3).map { i in
            startThread("decode-\(i)") {
                Self.batched(prompts[i], steps: 15, batcher: batcher, sequence: i, board: board)
            }
        }
        #expect(waitForThreads(threads, timeout: .seconds(60)), "a decode thread hung")
        for i in 0..<3 {
            let run = try #require(board.runs[i])
            #expect(run.errors.isEmpty, "\(run.errors)")
            #expect(run.logits == (try Self.alone(prompts[i], steps: 15)).logits, "sequence \(i)")
        }
        let stats = batcher.statistics
        #expect(stats.largestBatch == 2 && stats.tokens == 45 && stats.windowExpiries == 0, "\(stats)")
        #expect(batcher.memberCount == 0)
    }

    @Test("a sequence cancelled mid-way leaves at once; a rejected token fails alone; the rest continue")
    func leavingAndRejectedToken() throws {
        let model = try Self.model.get()
        let prompts = try Self.prompts.get()
        let reference = [try Self.alone(prompts[0], steps: 30), try Self.alone(prompts[2], steps: 20)]
        let batcher = DecodeBatcher(model: model, threadsPerSequence: 1, maxThreads: 2, window: .seconds(5))
        let board = RunBoard()
        let vocab = model.config.vocabSize
        let cancelled = Shared<(tokens: [Int], reason: FinishReason?)>(([], nil))
        let started = ContinuousClock.now
        let threads = [
            startThread("decode-0") {
                Self.batched(prompts[0], steps: 30, batcher: batcher, sequence: 0, board: board)
            },
            startThread("decode-1") {
                // A job through the Generator, stopped after 8 tokens as `onToken` does on a cancel.
                do {
                    let prompt = prompts[1]
                    let prepared = PreparedPrompt(inputIDs: prompt.ids, tokenTypes: prompt.types,
                                                  positionIDs: SequenceLayout.positionIDs(tokenTypes: prompt.types),
                                                  text: prompt.name)
                    let generator = Generator(parameters: GenerationParameters(maxNewTokens: 100), stopTokenIDs: [])
                    let result = try generator.run(model: model, prompt: prepared,
                                                   pixelValues: try TinyFixture.v1.pixelValues(),
                                                   decodeBatcher: batcher,
                                                   onToken: { $0.index + 1 >= 8 ? .stop : .continue })
                    cancelled.value.withLock { $0 = (result.tokenIDs, result.finishReason) }
                } catch {
                    cancelled.value.withLock { $0.reason = nil }
                }
            },
            startThread("decode-2") {
                board.wait(for: 0, steps: 3)
                Self.batched(prompts[2], steps: 20, batcher: batcher, sequence: 2, board: board, badTokenAt: 5)
            },
        ]
        #expect(waitForThreads(threads, timeout: .seconds(60)), "a decode thread hung")
        let elapsed = ContinuousClock.now - started
        let runs = board.runs
        let first = try #require(runs[0])
        #expect(first.errors.isEmpty, "\(first.errors)")
        #expect(first.logits == reference[0].logits)
        let third = try #require(runs[2])
        #expect(third.errors == [InferenceError.Code.tokenOutOfRange.rawValue], "\(third.errors) (vocabulary \(vocab))")
        #expect(third.tokens == reference[1].tokens)
        #expect(third.logits == reference[1].logits)

        let generated = cancelled.value.withLock { $0 }
        #expect(generated.reason == .cancelled)
        let alone = try Self.alone(prompts[1], steps: 7)  // the 8th token comes from the 7th step's logits
        let eighth = Greedy.argmax(try #require(alone.logits.last))
        #expect(generated.tokens == alone.tokens + [eighth])

        let stats = batcher.statistics
        print("DecodeBatcher, leave + rejected token: \(stats.steps) steps, largest batch \(stats.largestBatch), "
              + "\(elapsed) (debug, tiny model)")
        // With a 5 s window, a sequence that stayed joined after it stopped would stall every later step.
        #expect(stats.windowExpiries == 0)
        #expect(elapsed < .seconds(20))
        #expect(batcher.memberCount == 0)
    }

    @Test("a step that throws reaches every sequence in it; nobody hangs and the batcher keeps working")
    func failingStep() throws {
        let model = try Self.model.get()
        let prompts = try Self.prompts.get()
        struct InjectedFault: Error {}
        let counts = Shared<(steps: Int, failedBatch: Int)>((0, 0))
        let batcher = DecodeBatcher(model: model, precision: .exact, threadsPerSequence: 1, maxThreads: 2,
                                    maxBatch: 8, window: .milliseconds(50)) { sessions, tokens, context in
            let fail = counts.value.withLock { counts in
                counts.steps += 1
                if counts.steps == 6 { counts.failedBatch = sessions.count }
                return counts.steps == 6
            }
            if fail { throw InjectedFault() }
            return try CogVLMSession.decodeBatch(sessions, tokens: tokens, context: context)
        }
        let board = RunBoard()
        let threads = (0..<3).map { i in
            startThread("decode-\(i)") {
                Self.batched(prompts[i], steps: 15, batcher: batcher, sequence: i, board: board)
            }
        }
        #expect(waitForThreads(threads, timeout: .seconds(60)), "a decode thread hung after a failed step")
        let runs = board.runs
        let failed = runs.values.filter { !$0.errors.isEmpty }
        #expect(failed.count == counts.value.withLock { $0.failedBatch } && !failed.isEmpty)
        for run in failed {
            #expect(run.errors.count == 1 && run.errors[0].contains(PipelineError.Code.decodeStepFailed.rawValue),
                    "\(run.errors)")
        }
        for (i, run) in runs where run.errors.isEmpty {
            #expect(run.logits == (try Self.alone(prompts[i], steps: 15)).logits)
        }
        #expect(batcher.statistics.failedSteps == 1)
        #expect(batcher.memberCount == 0)

        // The batcher still serves new sequences.
        let after = RunBoard()
        let last = startThread("decode-after") {
            Self.batched(prompts[3], steps: 4, batcher: batcher, sequence: 0, board: after)
        }
        #expect(waitForThreads([last], timeout: .seconds(30)))
        #expect(after.runs[0]?.logits == (try Self.alone(prompts[3], steps: 4)).logits)
    }

    @Test("one sequence alone never waits for the window; wrong model or precision is refused up front")
    func aloneAndRefusals() throws {
        let model = try Self.model.get()
        let prompts = try Self.prompts.get()
        let steps = 40
        let batcher = DecodeBatcher(model: model, threadsPerSequence: 1, maxThreads: 2, window: .seconds(5))
        let reference = try Self.alone(prompts[0], steps: steps)
        var (session, logits) = try Self.prefilled(prompts[0])
        var run = DecodeRun()
        let start = ContinuousClock.now
        for _ in 0..<steps {
            let token = Greedy.argmax(logits)
            logits = try batcher.decode(session, token: token)
            run.tokens.append(token)
            run.logits.append(logits)
        }
        let batchedTime = ContinuousClock.now - start
        batcher.leave(session)
        #expect(run == reference)
        #expect(batcher.statistics.windowExpiries == 0)
        #expect(batchedTime < .seconds(5), "a lone sequence waited for the window")

        var (direct, directLogits) = try Self.prefilled(prompts[0])
        let directStart = ContinuousClock.now
        for _ in 0..<steps { directLogits = try direct.decode(token: Greedy.argmax(directLogits)) }
        let directTime = ContinuousClock.now - directStart
        print("DecodeBatcher, one sequence alone: \(steps) steps through the batcher \(batchedTime), "
              + "session.decode \(directTime) (debug, tiny model)")

        let (fast, _) = try Self.prefilled(prompts[2], precision: .fast)
        #expect(throws: InferenceError.self) { try batcher.decode(fast, token: 1) }
        let (negative, _) = try Self.prefilled(prompts[2])
        #expect(throws: InferenceError.self) { try batcher.decode(negative, token: -1) }
        let empty = model.makeSession()
        #expect(throws: InferenceError.self) { try batcher.decode(empty, token: 1) }
        #expect(batcher.memberCount == 0, "a refused submission must not join the batch")
    }
}

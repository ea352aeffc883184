import CogTensor
import CogVLM
import Foundation

/// Continuous batching of decode steps: the worker threads that generate on one loaded model hand
/// their next token to a shared batcher, which advances every sequence that is ready in one
/// `CogVLMSession.decodeBatch` call — one pass over the weights per layer for all of them, instead
/// of one pass per worker. Decode is memory-bandwidth-bound (CogVLM-17B reads 4–7 GB of weights
/// per token), so a step for several sequences costs little more than a step for one. Jobs join
/// and leave at any step: a sequence joins with its first decode step (its prefill runs on its
/// own, so a job that is still prefilling never holds a step up) and leaves with `leave(_:)`.
///
/// How a step forms: the first thread to submit when no step is being formed or run becomes the
/// step's *leader*. It waits until every sequence that has joined (and not left) has submitted its
/// token, or until `window` has passed since it could start (its own submission or the end of the
/// previous step, whichever is later), then takes up to `maxBatch` submissions in arrival order,
/// runs them on the batcher's compute threads, and hands every submitter its logits. Meanwhile
/// the other submitters sleep on a condition variable. A sequence decoding alone never waits: it is
/// the only one expected, so its step starts at once.
///
/// Threads: the step runs on `threadsPerSequence × sequences in the step` threads (at most
/// `maxThreads`) — the cores of the workers that are blocked waiting for it, so a step does not
/// compete for cores with workers that are busy prefilling. The teams are the batcher's own
/// `ComputeContext`s (one per team size, made on first use; idle helpers park). Steps never run
/// at the same time: there is one leader at a time.
///
/// Errors: a submission that cannot be decoded (a token outside the vocabulary, an unprefilled
/// session, another model or precision) fails at once for its submitter alone. An error thrown
/// while a step computes reaches every submitter of that step, as `PipelineError`
/// `.decodeStepFailed`; their sessions are then unusable. Nobody is left waiting either way.
///
/// Numerics: with `.exact` precision (bf16 weights) every sequence's logits are bit-identical to
/// decoding it alone with `CogVLMSession.decode(token:)` (see `decodeBatch`). With `.fast`
/// precision some kernels round differently for one row than for several, so batched answers can
/// differ from unbatched ones within the fast path's tolerance.
///
/// `Sendable`: every worker thread shares one batcher. Each `CogVLMSession` still belongs to its
/// worker; while the worker is blocked in `decode`, the step's leader computes on its session.
public final class DecodeBatcher: Sendable {
    /// What the batcher has done so far (for logs, status and tests).
    public struct Statistics: Sendable, Equatable {
        /// Batched steps run (each one pass over the weights).
        public var steps = 0
        /// Sequence-steps computed: tokens fed to the model summed over steps.
        public var tokens = 0
        /// The most sequences one step advanced.
        public var largestBatch = 0
        /// Steps that started when `window` ran out rather than with every joined sequence.
        public var windowExpiries = 0
        /// Steps that threw (every submitter of the step received the error).
        public var failedSteps = 0

        /// Average sequences per step (1 when nothing was batched).
        public var averageBatch: Double { steps == 0 ? 0 : Double(tokens) / Double(steps) }
    }

    /// The model every submitted session must belong to.
    public let model: CogVLMModel
    /// The precision every submitted session must compute with (the steps' contexts use it).
    public let precision: MatmulPrecision
    /// Compute threads a step gets per sequence in it (the per-worker share of the cores).
    public let threadsPerSequence: Int
    /// The most compute threads one step may use (the cores of all workers).
    public let maxThreads: Int
    /// The most sequences one step advances; later submissions wait for the next step.
    public let maxBatch: Int
    /// How long a step's leader waits for joined sequences that have not submitted yet.
    public let window: Duration

    /// Computes one step: `(sessions, tokens, context) → logits per session`.
    typealias Step = @Sendable (_ sessions: [CogVLMSession], _ tokens: [Int],
                                _ context: ComputeContext) throws -> [[Float]]
    private let step: Step
    private let shared = Shared()

    /// One submitted token, waiting for its step.
    private final class Ticket {
        let session: CogVLMSession
        let token: Int
        let submitted: ContinuousClock.Instant
        var result: Result<[Float], any Error>? = nil

        init(session: CogVLMSession, token: Int, submitted: ContinuousClock.Instant) {
            self.session = session
            self.token = token
            self.submitted = submitted
        }
    }

    /// The batcher's mutable state. `@unchecked Sendable`: every stored property is read and
    /// written only while `condition` is locked, except that the current leader (there is at most
    /// one: `leading`) uses the tickets it took and their sessions while their submitters sleep.
    private final class Shared: @unchecked Sendable {
        let condition = NSCondition()
        /// Sessions that joined (submitted once) and have not left.
        var members: Set<ObjectIdentifier> = []
        /// Submissions not yet taken into a step, in arrival order.
        var pending: [Ticket] = []
        /// A leader is forming or running a step.
        var leading = false
        /// When the last step ended (nil before the first).
        var lastStepEnd: ContinuousClock.Instant? = nil
        /// Compute teams by thread count.
        var contexts: [Int: ComputeContext] = [:]
        var statistics = Statistics()
    }

    /// A batcher for sessions of `model` computing with `precision`.
    /// - Parameters:
    ///   - threadsPerSequence: compute threads per sequence in a step: the worker's share of the
    ///     cores (`ThreadBudget.threadsPerWorker`).
    ///   - maxThreads: the most threads a step may use: all workers' threads (`workers ×
    ///     threadsPerWorker`, at most the cores).
    ///   - maxBatch: the most sequences per step; above `CogVLMSession.maxDecodeBatch` the matrix
    ///     kernels switch to the prefill GEMM, so larger values are clamped to it.
    ///   - window: how long a step waits for joined sequences that are late (a few milliseconds:
    ///     long enough for a worker to pick its next token, short against a decode step).
    public convenience init(model: CogVLMModel, precision: MatmulPrecision = .exact, threadsPerSequence: Int = 1,
                            maxThreads: Int = ProcessInfo.processInfo.activeProcessorCount,
                            maxBatch: Int = CogVLMSession.maxDecodeBatch, window: Duration = .milliseconds(2)) {
        self.init(model: model, precision: precision, threadsPerSequence: threadsPerSequence, maxThreads: maxThreads,
                  maxBatch: maxBatch, window: window) { sessions, tokens, context in
            try CogVLMSession.decodeBatch(sessions, tokens: tokens, context: context)
        }
    }

    /// A batcher whose steps run `step` (tests wrap `decodeBatch` to inject failures).
    init(model: CogVLMModel, precision: MatmulPrecision, threadsPerSequence: Int, maxThreads: Int, maxBatch: Int,
         window: Duration, step: @escaping Step) {
        self.model = model
        self.precision = precision
        self.threadsPerSequence = max(1, threadsPerSequence)
        self.maxThreads = max(self.threadsPerSequence, maxThreads)
        self.maxBatch = min(max(1, maxBatch), CogVLMSession.maxDecodeBatch)
        self.window = max(.zero, window)
        self.step = step
    }

    /// What the batcher has done so far.
    public var statistics: Statistics {
        shared.condition.lock()
        defer { shared.condition.unlock() }
        return shared.statistics
    }

    /// Sequences that have joined and not left.
    public var memberCount: Int {
        shared.condition.lock()
        defer { shared.condition.unlock() }
        return shared.members.count
    }

    /// Feeds `token` to `session` in the next batched step and returns the logits `[vocab]` for the
    /// token after it — what `session.decode(token:)` returns. The first call joins the session
    /// to the batch; call `leave(_:)` when its generation ends (however it ends). Blocks the
    /// calling thread until the step has run; call it from a dedicated thread, never from the
    /// Swift cooperative pool.
    /// - Throws: `InferenceError` if this submission cannot be decoded (it fails alone);
    ///   `PipelineError.decodeStepFailed` if the step it was part of failed.
    public func decode(_ session: CogVLMSession, token: Int) throws -> [Float] {
        guard session.model === model else {
            throw InferenceError(.badInput, "this session belongs to another model than the decode batcher's")
        }
        guard session.context.precision == precision else {
            throw InferenceError(.badInput, "this session computes with \(session.context.precision.rawValue) "
                                 + "precision but the decode batcher with \(precision.rawValue)")
        }
        try session.checkDecodable(token: token)
        let ticket = Ticket(session: session, token: token, submitted: .now)
        let shared = self.shared
        shared.condition.lock()
        shared.members.insert(ObjectIdentifier(session))
        shared.pending.append(ticket)
        shared.condition.broadcast()  // a leader waiting for stragglers counts this arrival
        while ticket.result == nil {
            if shared.leading {
                shared.condition.wait()
            } else {
                lead(shared)
            }
        }
        let result = ticket.result
        shared.condition.unlock()
        switch result {
        case .success(let logits): return logits
        case .failure(let error): throw error
        case nil: throw PipelineError(.decodeStepFailed, "internal error: a decode step ended without a result")
        }
    }

    /// Takes `session` out of the batch: steps no longer wait for it. Call it when its generation
    /// ends (end of sequence, token limit, cancellation, error); a session that never joined, or
    /// already left, is ignored. Decoding again later joins it again.
    public func leave(_ session: CogVLMSession) {
        shared.condition.lock()
        if shared.members.remove(ObjectIdentifier(session)) != nil {
            shared.condition.broadcast()  // a leader may have been waiting for it
        }
        shared.condition.unlock()
    }

    /// Forms and runs one step. Called with `condition` locked and no leader; returns with it
    /// locked, the step's results delivered and `leading` false.
    private func lead(_ shared: Shared) {
        shared.leading = true
        var expired = false
        while let oldest = shared.pending.first?.submitted,
              shared.pending.count < min(shared.members.count, maxBatch) {
            // The window opens when this step could start: at the oldest submission, or when the
            // previous step ended (its sequences are about to submit again).
            let opened = max(oldest, shared.lastStepEnd ?? oldest)
            let remaining = opened + window - .now
            if remaining <= .zero {
                expired = true
                break
            }
            let seconds = Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18
            _ = shared.condition.wait(until: Date(timeIntervalSinceNow: seconds))
        }
        let batch = Array(shared.pending.prefix(maxBatch))
        shared.pending.removeFirst(batch.count)
        guard !batch.isEmpty else {
            shared.leading = false
            return
        }
        let threads = min(maxThreads, threadsPerSequence * batch.count)
        let context: ComputeContext
        if let existing = shared.contexts[threads] {
            context = existing
        } else {
            context = ComputeContext(threads: threads, precision: precision)
            shared.contexts[threads] = context
        }
        shared.condition.unlock()

        let sessions = batch.map(\.session), tokens = batch.map(\.token)
        let outcome = Result { try step(sessions, tokens, context) }

        shared.condition.lock()
        switch outcome {
        case .success(let logits) where logits.count == batch.count:
            for (ticket, row) in zip(batch, logits) { ticket.result = .success(row) }
        case .success(let logits):
            let error = PipelineError(.decodeStepFailed, "a decode step returned \(logits.count) results for "
                                      + "\(batch.count) sequences")
            for ticket in batch { ticket.result = .failure(error) }
            shared.statistics.failedSteps += 1
        case .failure(let error):
            let failure = PipelineError(.decodeStepFailed, "a batched decode step of \(batch.count) sequence(s) "
                                        + "failed: \(error); the job can be retried")
            for ticket in batch { ticket.result = .failure(failure) }
            shared.statistics.failedSteps += 1
        }
        shared.statistics.steps += 1
        shared.statistics.tokens += batch.count
        shared.statistics.largestBatch = max(shared.statistics.largestBatch, batch.count)
        if expired { shared.statistics.windowExpiries += 1 }
        shared.lastStepEnd = .now
        shared.leading = false
        shared.condition.broadcast()
    }
}

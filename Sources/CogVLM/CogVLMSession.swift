import CogTensor
import CogWeights

/// One sequence being computed on a shared `CogVLMModel`: its KV cache, token history and
/// scratch. Not `Sendable` — a session belongs to the thread that uses it; run several sessions
/// on several threads to serve several jobs on one loaded model.
public final class CogVLMSession {
    public let model: CogVLMModel
    var cache: KVCache
    /// Token ids of everything processed so far (image slots hold the pad id).
    public internal(set) var tokenIDs: [Int] = []
    /// Token types of everything processed so far (positions depend on the whole history).
    public internal(set) var tokenTypes: [TokenType] = []
    /// Position id of the last processed token.
    var lastPosition = -1
    private var scores: [Float] = []
    /// Threads and scratch for this session's kernels.
    public let context: ComputeContext

    init(model: CogVLMModel, threads: Int) {
        self.model = model
        context = ComputeContext(threads: threads)
        let c = model.config
        cache = KVCache(layers: c.numHiddenLayers, width: c.numKeyValueHeads * c.headDim)
    }

    /// Tokens processed so far (prompt plus generated).
    public var length: Int { cache.length }
    /// Position id of the last processed token (-1 before the first prefill).
    public var lastPositionID: Int { lastPosition }
    /// Bytes of KV cache this session attends to (a shared prefix included).
    public var cacheBytes: Int { cache.byteCount }
    /// Bytes of KV cache this session holds alone (not counting a prefix shared with snapshots
    /// and other sessions).
    public var ownedCacheBytes: Int { cache.ownByteCount }

    /// Forgets the sequence, keeping allocated capacity.
    public func reset() {
        cache.truncate(to: 0)
        tokenIDs = []
        tokenTypes = []
        lastPosition = -1
    }

    // MARK: - Prefix reuse

    /// An immutable copy of a session's state — typically after `BOS + image` — that other
    /// sessions of the same model can start from, so a second question about the same image
    /// costs only its own text tokens. In CogVLM's layout the image sits before all text, so that
    /// prefix is exactly shareable. Taking a snapshot freezes the session's KV rows into a shared
    /// `KVPrefix` (one copy, once); the session, the snapshot and every session restored from it
    /// then read that one prefix and append their own rows after it, so restoring costs nothing
    /// and N sequences on one image hold its keys and values once.
    public struct Snapshot: Sendable {
        let cache: KVCache
        public let tokenIDs: [Int]
        public let tokenTypes: [TokenType]
        let lastPosition: Int
        /// Bytes of KV cache held.
        public var byteCount: Int { cache.byteCount }

        /// The same state with a private copy of its KV rows: sessions restored from it share
        /// nothing with those restored from `self` (what jobs on different images look like; for
        /// benchmarks).
        public func independentCopy() -> Snapshot {
            Snapshot(cache: cache.independentCopy(), tokenIDs: tokenIDs, tokenTypes: tokenTypes, lastPosition: lastPosition)
        }
    }

    /// The current state, to restore into other sessions later.
    public func snapshot() -> Snapshot {
        cache.freeze()
        return Snapshot(cache: cache, tokenIDs: tokenIDs, tokenTypes: tokenTypes, lastPosition: lastPosition)
    }

    /// Replaces this session's state with `snapshot` (taken from a session of the same model).
    public func restore(_ snapshot: Snapshot) {
        cache = snapshot.cache
        tokenIDs = snapshot.tokenIDs
        tokenTypes = snapshot.tokenTypes
        lastPosition = snapshot.lastPosition
    }

    // MARK: - Prefill and decode

    /// Runs the prompt (or a continuation of it) through the decoder, filling the KV cache.
    ///
    /// - Parameters:
    ///   - inputIDs: `[T]` token ids; image slots hold the pad id (ignored).
    ///   - tokenTypes: `[T]` language / vision; vision slots receive `imageFeatures` rows in order.
    ///   - imageFeatures: `[#vision slots, hiddenSize]` from `CogVLMModel.encodeImage`, or nil.
    ///   - allLogits: return logits for every row (`[T, vocab]`) instead of the last (`[vocab]`).
    /// An image span must be processed in one call (the expert mask looks one token ahead).
    /// ref: modeling_cogvlm.py `CogVLMModel.forward` / `llm_forward`.
    public func prefill(inputIDs: [Int], tokenTypes newTypes: [TokenType], imageFeatures: [Float]?,
                        allLogits: Bool = false, trace: ForwardTrace? = nil) throws -> [Float] {
        let c = model.config
        let t = inputIDs.count
        let h = c.hiddenSize
        guard t > 0 else { throw InferenceError(.badInput, "prefill needs at least one token") }
        guard newTypes.count == t else {
            throw InferenceError(.badInput, "input_ids has \(t) entries but token_type_ids has \(newTypes.count)")
        }
        let visionSlots = newTypes.filter { $0 == .vision }.count
        let featureRows = (imageFeatures?.count ?? 0) / h
        guard visionSlots == featureRows, (imageFeatures?.count ?? 0) % h == 0 else {
            throw InferenceError(.imageSlotMismatch,
                "the sequence has \(visionSlots) image slots but \(featureRows) image feature rows were given (this model inserts \(c.imageTokenCount) per image)")
        }
        for (i, id) in inputIDs.enumerated() where newTypes[i] == .language && (id < 0 || id >= c.vocabSize) {
            throw InferenceError(.tokenOutOfRange, "token id \(id) at index \(i) is outside the vocabulary (0..<\(c.vocabSize))")
        }

        // Positions and routing are functions of the whole history (architecture doc §3.4–3.5).
        let allTypes = tokenTypes + newTypes
        let positions = Array(SequenceLayout.positionIDs(tokenTypes: allTypes)[cache.length...])
        let visionMask = Array(SequenceLayout.visionExpertMask(tokenTypes: allTypes)[cache.length...])

        // Embeddings, with image rows overwritten in order (ref: `inputs_embeds.index_put`).
        let x = FloatBuffer(count: t * h)  // [T, H] residual stream
        var imageRow = 0
        for i in 0..<t {
            let dst = x.pointer + i * h
            if newTypes[i] == .vision, let features = imageFeatures {
                features.withUnsafeBufferPointer { f in
                    if let base = f.baseAddress { dst.update(from: base + imageRow * h, count: h) }
                }
                imageRow += 1
            } else {
                model.weights.embedTokens.convertToFloat(into: dst, elements: inputIDs[i] * h ..< (inputIDs[i] + 1) * h)
            }
        }
        trace?("lm.inputs_embeds", [t, h], x.bufferPointer)

        if cache.length == 0 {
            // The cache's storage follows the session's precision, decided at the first prefill.
            cache = KVCache(layers: c.numHiddenLayers, width: c.numKeyValueHeads * c.headDim,
                            precision: context.precision == .fast ? .f16 : .f32)
        }
        cache.reserve(tokens: cache.length + t)
        try runLayers(x: x, rows: t, positions: positions, visionMask: visionMask, trace: trace)
        tokenTypes = allTypes
        tokenIDs += inputIDs
        lastPosition = positions.last ?? lastPosition
        return logits(x: x, rows: t, allRows: allLogits, trace: trace)
    }

    /// Feeds one generated token (language type, next position, language expert) and returns
    /// the logits `[vocab]` for the token after it. ref: HF generate with `past_key_values`.
    public func decode(token: Int, trace: ForwardTrace? = nil) throws -> [Float] {
        let c = model.config
        try checkDecodable(token: token)
        let h = c.hiddenSize
        let x = FloatBuffer(count: h)  // [1, H]
        model.weights.embedTokens.convertToFloat(into: x.pointer, elements: token * h ..< (token + 1) * h)
        let position = lastPosition + 1
        try runLayers(x: x, rows: 1, positions: [position], visionMask: [false], trace: trace)
        tokenTypes.append(.language)
        tokenIDs.append(token)
        lastPosition = position
        return logits(x: x, rows: 1, allRows: false, trace: trace)
    }

    // MARK: - Decoder

    /// Rows of one chunk split by expert.
    private struct ExpertRows {
        let language: [Int]
        let vision: [Int]
        init(mask: [Bool]) {
            language = mask.indices.filter { !mask[$0] }
            vision = mask.indices.filter { mask[$0] }
        }

        /// `rows` as one range when they are consecutive (the image's rows always are).
        static func run(_ rows: [Int]) -> Range<Int>? {
            guard let first = rows.first, let last = rows.last, last - first + 1 == rows.count else { return nil }
            return first ..< last + 1
        }
    }

    /// Applies `pick(expert)` to the rows of `input` (`[rows, inCols]`) belonging to each expert,
    /// writing `[rows, outCols]` into `output`. An expert whose rows are consecutive (the image
    /// block) works on them in place; otherwise (the language rows around an image: BOS before it,
    /// the text after it, a few dozen rows) they are gathered into contiguous blocks. In place
    /// spares copying and freshly allocating (page-faulting) the image block's hundreds of MB per
    /// layer; each row's result is the same either way.
    private func perExpert(_ layer: CogVLMWeights.DecoderLayer, _ groups: ExpertRows,
                           input: UnsafePointer<Float>, inCols: Int, output: UnsafeMutablePointer<Float>, outCols: Int,
                           _ body: (CogVLMWeights.Expert, UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>) -> Void) {
        for (expert, rows) in [(layer.language, groups.language), (layer.vision, groups.vision)] where !rows.isEmpty {
            if let run = ExpertRows.run(rows) {
                body(expert, input + run.lowerBound * inCols, run.count, output + run.lowerBound * outCols)
                continue
            }
            let gathered = FloatBuffer(count: rows.count * inCols)  // [rows_e, inCols]
            let result = FloatBuffer(count: rows.count * outCols)   // [rows_e, outCols]
            for (j, r) in rows.enumerated() {
                (gathered.pointer + j * inCols).update(from: input + r * inCols, count: inCols)
            }
            body(expert, gathered.pointer, rows.count, result.pointer)
            for (j, r) in rows.enumerated() {
                (output + r * outCols).update(from: result.pointer + j * outCols, count: outCols)
            }
        }
    }

    /// All decoder layers over a chunk of `rows` new tokens in `x` (`[rows, H]`, updated in place).
    /// ref: modeling_cogvlm.py `CogVLMDecoderLayer`, `VisionExpertAttention`, `VisionExpertMLP`.
    private func runLayers(x: FloatBuffer, rows t: Int, positions: [Int], visionMask: [Bool], trace: ForwardTrace?) throws {
        let c = model.config
        let h = c.hiddenSize, hd = c.headDim, nh = c.numAttentionHeads, nkv = c.numKeyValueHeads
        let qkvWidth = (nh + 2 * nkv) * hd
        let inter = c.intermediateSize
        let groups = ExpertRows(mask: visionMask)
        let normed = FloatBuffer(count: t * h)          // [T, H]
        let qkv = FloatBuffer(count: t * qkvWidth)      // [T, (nH + 2·nKV)·hd]: q | k | v, head-major
        let attn = FloatBuffer(count: t * nh * hd)      // [T, nH·hd]
        let branch = FloatBuffer(count: t * h)          // [T, H]
        let gate = FloatBuffer(count: t * inter)        // [T, I] (an expert's rows use the first n·I)
        let up = FloatBuffer(count: t * inter)          // [T, I]
        var scores = self.scores
        defer { self.scores = scores }
        let context = self.context

        for (l, layer) in model.weights.layers.enumerated() {
            // Attention block.
            Ops.rmsNorm(x.pointer, weight: layer.inputNorm, eps: c.rmsNormEps, rows: t, dim: h, out: normed.pointer, runner: context.runner)
            perExpert(layer, groups, input: normed.pointer, inCols: h, output: qkv.pointer, outCols: qkvWidth) { e, inp, n, out in
                e.qkv.apply(inp, rows: n, into: out, bias: e.qkvBias, context: context)
            }
            positions.withUnsafeBufferPointer { pos in
                guard let p = pos.baseAddress else { return }
                model.rotary.apply(qkv.pointer, rows: t, stride: qkvWidth, offset: 0, heads: nh, positions: p, runner: context.runner)
                model.rotary.apply(qkv.pointer, rows: t, stride: qkvWidth, offset: nh * hd, heads: nkv, positions: p, runner: context.runner)
            }
            cache.append(layer: l, keys: qkv.pointer + nh * hd, values: qkv.pointer + (nh + nkv) * hd, stride: qkvWidth, count: t)
            try cache.attend(layer: l, q: qkv.pointer, qStride: qkvWidth, out: attn.pointer, outStride: nh * hd,
                             queries: t, qHeads: nh, kvHeads: nkv, headDim: hd, scores: &scores, context: context)
            perExpert(layer, groups, input: attn.pointer, inCols: nh * hd, output: branch.pointer, outCols: h) { e, inp, n, out in
                e.dense.apply(inp, rows: n, into: out, context: context)
            }
            Ops.add(branch.pointer, into: x.pointer, count: t * h, runner: context.runner)

            // MLP block: down(silu(gate(m)) ⊙ up(m)) per expert.
            Ops.rmsNorm(x.pointer, weight: layer.postAttentionNorm, eps: c.rmsNormEps, rows: t, dim: h, out: normed.pointer, runner: context.runner)
            perExpert(layer, groups, input: normed.pointer, inCols: h, output: branch.pointer, outCols: h) { e, inp, n, out in
                WeightMatrix.applyBoth(e.gate, e.up, inp, rows: n, into: gate.pointer, up.pointer, context: context)
                Ops.siluMul(gate.pointer, up.pointer, count: n * inter, out: gate.pointer, runner: context.runner)
                e.down.apply(gate.pointer, rows: n, into: out, context: context)
            }
            Ops.add(branch.pointer, into: x.pointer, count: t * h, runner: context.runner)
            trace?("lm.layers.\(l).out", [t, h], x.bufferPointer)
        }
        cache.commit(t)
    }

    /// Final RMSNorm and lm_head: `[rows, vocab]` or the last row's `[vocab]`.
    private func logits(x: FloatBuffer, rows t: Int, allRows: Bool, trace: ForwardTrace?) -> [Float] {
        let c = model.config
        let h = c.hiddenSize, vocab = c.vocabSize
        Ops.rmsNorm(x.pointer, weight: model.weights.finalNorm, eps: c.rmsNormEps, rows: t, dim: h, out: x.pointer, runner: context.runner)
        trace?("lm.final_norm_out", [t, h], x.bufferPointer)
        let first = allRows ? 0 : t - 1
        let n = t - first
        var out = [Float](repeating: 0, count: n * vocab)  // [n, vocab]
        out.withUnsafeMutableBufferPointer { o in
            guard let base = o.baseAddress else { return }
            model.weights.lmHead.apply(x.pointer + first * h, rows: n, into: base, context: context)
            trace?("logits", [n, vocab], UnsafeBufferPointer(o))
        }
        return out
    }
}

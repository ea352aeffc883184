import CKernels
import CogTensor

extension CogVLMSession {
    /// The most sequences one `decodeBatch` call should take: up to this many token rows share one
    /// pass over each weight matrix in the small-batch kernels (`CK_SMALL_N_MAX`). Larger batches
    /// still work but go through the prefill GEMM path, whose arithmetic differs from `decode`'s.
    public static let maxDecodeBatch = Int(CK_SMALL_N_MAX)

    /// Throws if `token` cannot be fed to this session by `decode(token:)` or `decodeBatch`: the
    /// id must be in the vocabulary and the session must have been prefilled.
    public func checkDecodable(token: Int) throws {
        let vocab = model.config.vocabSize
        guard token >= 0 && token < vocab else {
            throw InferenceError(.tokenOutOfRange, "token id \(token) is outside the vocabulary (0..<\(vocab))")
        }
        guard cache.length > 0 else { throw InferenceError(.badInput, "decode needs a prefilled sequence") }
    }

    /// Advances several sequences by one token each in a single pass over the weights: the
    /// token rows form one `[N, H]` batch for every matrix (one read of each weight per layer
    /// serves all N — decode is memory-bound, so N sequences cost little more than one), while
    /// rotary positions and attention stay per sequence, over each session's own KV cache.
    ///
    /// All sessions must belong to the same model, compute with the same precision and be
    /// prefilled. With `.exact` precision on bf16 weights each sequence's logits are bit-identical
    /// to what `decode(token:)` returns for it alone, whatever the batch (up to `maxDecodeBatch`)
    /// and thread count: every activation row goes through the same one-row f32-exact GEMV, and
    /// norms, rotary and attention are per row. Other formats use the several-row kernels
    /// (`ck_gemm_small_*`), which `ckernels.h` documents as matching the one-row ones except for
    /// bf16 on AMX (the `.fast` path). Under `.fast`, sequences that continue from one shared KV
    /// prefix (restored from one snapshot: jobs on the same image) attend to it together — its
    /// keys and values are read once per step for all of them — and each one's attention is merged
    /// from that part and its own rows (`Attention.mergePartials`; a few roundings away from
    /// decoding alone). Under `.exact` every sequence attends alone, so the bit-identity holds.
    /// Nothing is changed when a check fails; an error thrown during the layers leaves the
    /// sessions unusable (start them again).
    /// - Parameter context: the threads to compute with; nil = the first session's. Its precision
    ///   must be the sessions'.
    /// - Returns: the next-token logits `[vocab]` per session, in order.
    /// ref: the same math as `decode(token:)`, rows stacked.
    public static func decodeBatch(_ sessions: [CogVLMSession], tokens: [Int],
                                   context: ComputeContext? = nil) throws -> [[Float]] {
        guard let first = sessions.first else { return [] }
        let model = first.model
        let c = model.config
        let context = context ?? first.context
        guard sessions.count == tokens.count else {
            throw InferenceError(.badInput, "\(sessions.count) sessions but \(tokens.count) tokens")
        }
        guard sessions.allSatisfy({ $0.model === model }) else {
            throw InferenceError(.badInput, "a decode batch must use sessions of one model")
        }
        guard sessions.allSatisfy({ $0.context.precision == context.precision }) else {
            throw InferenceError(.badInput, "a decode batch must use sessions of one precision "
                                 + "(\(context.precision.rawValue), as its compute context)")
        }
        guard Set(sessions.map { ObjectIdentifier($0) }).count == sessions.count else {
            throw InferenceError(.badInput, "a session appears twice in one decode batch")
        }
        for (s, t) in zip(sessions, tokens) { try s.checkDecodable(token: t) }
        let n = sessions.count
        let h = c.hiddenSize, hd = c.headDim, nh = c.numAttentionHeads, nkv = c.numKeyValueHeads
        let qkvWidth = (nh + 2 * nkv) * hd
        let inter = c.intermediateSize
        let x = FloatBuffer(count: n * h)             // [N, H] residual stream
        for (i, t) in tokens.enumerated() {
            model.weights.embedTokens.convertToFloat(into: x.pointer + i * h, elements: t * h ..< (t + 1) * h)
        }
        let positions = sessions.map { $0.lastPosition + 1 }  // [N]
        let normed = FloatBuffer(count: n * h)        // [N, H]
        let qkv = FloatBuffer(count: n * qkvWidth)    // [N, (nH + 2·nKV)·hd]
        let attn = FloatBuffer(count: n * nh * hd)    // [N, nH·hd]
        let branch = FloatBuffer(count: n * h)        // [N, H]
        let gate = FloatBuffer(count: n * inter)      // [N, I]
        let up = FloatBuffer(count: n * inter)        // [N, I]
        var scores: [Float] = []
        // `fast` sequences continuing from one shared prefix (jobs on the same image) attend to it
        // together: its keys and values are read once per step for the whole group.
        let groups = context.precision == .fast ? SharedPrefixGroup.find(sessions) : []
        let grouped = Set(groups.flatMap(\.members))
        let groupRows = groups.map(\.members.count).max() ?? 0
        let groupQ = FloatBuffer(count: groupRows * nh * hd)          // [G, nH·hd] the group's query rows
        let groupOut = FloatBuffer(count: groupRows * nh * hd)        // [G, nH·hd] attention over the prefix
        let groupStats = FloatBuffer(count: 2 * groupRows * nh)       // [2][G, nH] its max / sum per row and head
        let ownStats = FloatBuffer(count: 2 * nh)                     // [2][nH]

        for (l, layer) in model.weights.layers.enumerated() {
            let e = layer.language  // every decode token is text: language expert
            Ops.rmsNorm(x.pointer, weight: layer.inputNorm, eps: c.rmsNormEps, rows: n, dim: h, out: normed.pointer, runner: context.runner)
            e.qkv.apply(normed.pointer, rows: n, into: qkv.pointer, bias: e.qkvBias, context: context)
            positions.withUnsafeBufferPointer { pos in
                guard let p = pos.baseAddress else { return }
                model.rotary.apply(qkv.pointer, rows: n, stride: qkvWidth, offset: 0, heads: nh, positions: p, runner: context.runner)
                model.rotary.apply(qkv.pointer, rows: n, stride: qkvWidth, offset: nh * hd, heads: nkv, positions: p, runner: context.runner)
            }
            for (i, s) in sessions.enumerated() {
                let row = qkv.pointer + i * qkvWidth
                s.cache.append(layer: l, keys: row + nh * hd, values: row + (nh + nkv) * hd, stride: qkvWidth, count: 1)
                guard !grouped.contains(i) else { continue }
                try s.cache.attend(layer: l, q: row, qStride: qkvWidth, out: attn.pointer + i * nh * hd, outStride: nh * hd,
                                   queries: 1, qHeads: nh, kvHeads: nkv, headDim: hd, scores: &scores, context: context)
            }
            for group in groups {
                // Prefix part for all members at once, then each member's own rows, merged.
                for (g, i) in group.members.enumerated() {
                    (groupQ.pointer + g * nh * hd).update(from: qkv.pointer + i * qkvWidth, count: nh * hd)
                }
                let rows = group.members.count
                let prefixStats = Attention.SoftmaxStats(max: groupStats.pointer, sum: groupStats.pointer + rows * nh)
                try KVCache.attendSharedPrefix(group.prefix, layer: l, q: groupQ.pointer, qStride: nh * hd,
                                               out: groupOut.pointer, outStride: nh * hd, rows: rows, qHeads: nh,
                                               kvHeads: nkv, headDim: hd, stats: prefixStats,
                                               context: context)
                let own = Attention.SoftmaxStats(max: ownStats.pointer, sum: ownStats.pointer + nh)
                for (g, i) in group.members.enumerated() {
                    let out = attn.pointer + i * nh * hd
                    try sessions[i].cache.attendOwnRows(layer: l, q: groupQ.pointer + g * nh * hd, out: out, qHeads: nh,
                                                        kvHeads: nkv, headDim: hd, stats: own, context: context)
                    let memberStats = Attention.SoftmaxStats(max: prefixStats.max + g * nh, sum: prefixStats.sum + g * nh)
                    Attention.mergePartials(into: out, aStride: nh * hd, aStats: own,
                                            from: groupOut.pointer + g * nh * hd, bStride: nh * hd, bStats: memberStats,
                                            rows: 1, qHeads: nh, headDim: hd)
                }
            }
            e.dense.apply(attn.pointer, rows: n, into: branch.pointer, context: context)
            Ops.add(branch.pointer, into: x.pointer, count: n * h, runner: context.runner)
            Ops.rmsNorm(x.pointer, weight: layer.postAttentionNorm, eps: c.rmsNormEps, rows: n, dim: h, out: normed.pointer, runner: context.runner)
            WeightMatrix.applyBoth(e.gate, e.up, normed.pointer, rows: n, into: gate.pointer, up.pointer, context: context)
            Ops.siluMul(gate.pointer, up.pointer, count: n * inter, out: gate.pointer, runner: context.runner)
            e.down.apply(gate.pointer, rows: n, into: branch.pointer, context: context)
            Ops.add(branch.pointer, into: x.pointer, count: n * h, runner: context.runner)
        }
        for (i, s) in sessions.enumerated() {
            s.cache.commit(1)
            s.tokenTypes.append(.language)
            s.tokenIDs.append(tokens[i])
            s.lastPosition = positions[i]
        }
        Ops.rmsNorm(x.pointer, weight: model.weights.finalNorm, eps: c.rmsNormEps, rows: n, dim: h, out: x.pointer, runner: context.runner)
        var logits = [Float](repeating: 0, count: n * c.vocabSize)  // [N, vocab]
        logits.withUnsafeMutableBufferPointer { o in
            guard let base = o.baseAddress else { return }
            model.weights.lmHead.apply(x.pointer, rows: n, into: base, context: context)
        }
        return (0..<n).map { Array(logits[($0 * c.vocabSize)..<(($0 + 1) * c.vocabSize)]) }
    }
}

/// Sequences of one decode batch that continue from the same shared KV prefix (fp16).
struct SharedPrefixGroup {
    let prefix: KVPrefix
    /// Indices into the batch.
    let members: [Int]

    /// Groups of two or more fp16 sessions with the same non-empty prefix.
    static func find(_ sessions: [CogVLMSession]) -> [SharedPrefixGroup] {
        var byPrefix: [ObjectIdentifier: (KVPrefix, [Int])] = [:]
        for (i, s) in sessions.enumerated() {
            guard s.cache.precision == .f16, let prefix = s.cache.prefix, prefix.length > 0 else { continue }
            byPrefix[ObjectIdentifier(prefix), default: (prefix, [])].1.append(i)
        }
        return byPrefix.values.filter { $0.1.count >= 2 }.map { SharedPrefixGroup(prefix: $0.0, members: $0.1) }
            .sorted { $0.members[0] < $1.members[0] }
    }
}

extension TokenizerBuilder {
    /// Builds the parts from a decoded Hugging Face `tokenizer.json`.
    ///
    /// A `ByteLevel` pre-tokenizer makes a byte-level tokenizer (Llama-3); no pre-tokenizer makes a
    /// SentencePiece-style one (LLaMA-2 with `Prepend` / `Replace` normalizers and byte fallback). Any other
    /// combination is reported as unsupported rather than guessed at.
    // ref: huggingface/tokenizers models/bpe/model.rs (BPE::from vocab + merges), added_vocabulary.rs
    init(tokenizerJSON json: TokenizerJSON) throws(TokenizerError) {
        let model = json.model
        // The pipeline components first, so that an unsupported one is named before any vocabulary check.
        let isByteLevel = try Self.isByteLevel(json)
        let normalizerSteps = try Self.normalizerSteps(json.normalizer, key: "normalizer")
        let preTokenizer = isByteLevel ? try Self.byteLevelSplitter(json.preTokenizer) : nil
        let decoderKind: TokenDecoder.Kind = isByteLevel ? .byteLevel : try Self.sentencePieceDecoder(json.decoder)
        let (prefixIDs, suffixIDs) = try Self.template(json.postProcessor)

        // Token strings by id: the model vocabulary, then the added tokens (which may reuse a vocabulary id).
        // Tables are keyed by UTF-8 bytes: Swift `String` keys would merge canonically equivalent tokens.
        let tokenCount = model.vocab.count + json.addedTokens.count
        var tokenStrings = [String?](repeating: nil, count: tokenCount)
        var vocab: [[UInt8]: Int] = [:]  // token UTF-8 → id
        vocab.reserveCapacity(model.vocab.count)
        for (token, id) in model.vocab {
            guard id >= 0 && id < tokenCount else {
                throw TokenizerError(
                    code: .invalidField,
                    message: "Token id \(id) is outside 0..<\(tokenCount) (the number of tokens); ids must be dense.",
                    key: JSONField.path("model.vocab", key: token))
            }
            if let other = tokenStrings[id] {
                throw TokenizerError(
                    code: .invalidField, message: "Tokens \"\(other)\" and \"\(token)\" share the id \(id).",
                    key: JSONField.path("model.vocab", key: token))
            }
            guard vocab.updateValue(id, forKey: Array(token.utf8)) == nil else {
                throw TokenizerError(
                    code: .invalidField, message: "The token \"\(token)\" appears twice.",
                    key: JSONField.path("model.vocab", key: token))
            }
            tokenStrings[id] = token
        }
        func vocabID(_ token: String) -> Int? { vocab[Array(token.utf8)] }
        var isSpecial = [Bool](repeating: false, count: tokenCount)
        var addedTokens: [(content: String, id: Int)] = []
        for (index, added) in json.addedTokens.enumerated() {
            let key = "added_tokens[\(index)]"
            guard added.id >= 0 && added.id < tokenCount else {
                throw TokenizerError(
                    code: .invalidField, message: "Added token id \(added.id) is outside 0..<\(tokenCount).",
                    key: key + ".id")
            }
            guard !added.content.isEmpty else {
                throw TokenizerError(code: .invalidField, message: "An added token has empty content.", key: key)
            }
            let options = [
                ("lstrip", added.lstrip), ("rstrip", added.rstrip), ("single_word", added.singleWord),
                ("normalized", added.normalized),
            ]
            for (option, isSet) in options where isSet {
                throw TokenizerError(
                    code: .unsupportedAddedToken,
                    message: "Added token \"\(added.content)\" sets \(option): true, which is not supported.",
                    key: key + ".\(option)")
            }
            tokenStrings[added.id] = added.content
            isSpecial[added.id] = added.special
            addedTokens.append((added.content, added.id))
        }
        // Trailing ids that nothing uses (when added tokens reuse vocabulary ids) are dropped.
        while let last = tokenStrings.last, last == nil { tokenStrings.removeLast() }
        isSpecial.removeLast(isSpecial.count - tokenStrings.count)

        var unknownID: Int32?
        if let unknown = model.unknownToken {
            guard let id = vocabID(unknown) else {
                throw TokenizerError(
                    code: .invalidField, message: "The unk_token \"\(unknown)\" is not in the vocabulary.",
                    key: "model.unk_token")
            }
            unknownID = Int32(id)
        }

        // Symbols: bytes for byte-level vocabularies, characters otherwise.
        func symbolBytes(_ token: String) -> [UInt8]? {
            isByteLevel ? ByteLevelAlphabet.bytes(of: token) : Array(token.utf8)
        }
        var byteIDs = [Int32](repeating: -1, count: 256)  // [256] token id per byte or -1
        var characterIDs: [UInt32: Int32] = [:]
        if isByteLevel {
            for byte in 0..<256 {
                let token = String(ByteLevelAlphabet.characterForByte[byte])
                guard let id = vocabID(token) else {
                    throw TokenizerError(
                        code: .invalidField,
                        message: "A byte-level vocabulary needs a token for every byte; byte \(byte) (\"\(token)\") "
                            + "is missing.",
                        key: "model.vocab")
                }
                byteIDs[byte] = Int32(id)
            }
        } else {
            for (token, id) in model.vocab {
                let scalars = token.unicodeScalars
                if scalars.count == 1, let scalar = scalars.first { characterIDs[scalar.value] = Int32(id) }
            }
            if model.byteFallback {
                for byte in 0..<256 {
                    if let id = vocabID(Self.fallbackToken(byte)) { byteIDs[byte] = Int32(id) }
                }
            }
            guard unknownID != nil || (model.byteFallback && !byteIDs.contains(-1)) else {
                throw TokenizerError(
                    code: .unsupportedModel,
                    message: "The BPE model has no unk_token and no complete byte fallback, so characters outside "
                        + "its vocabulary could not be encoded.",
                    key: "model.unk_token")
            }
        }

        // Merges: rank = position in the list; a later duplicate wins, as in tokenizers' HashMap.
        var merges: [UInt64: BPEModel.Merge] = [:]
        merges.reserveCapacity(model.merges.count)
        // With ignore_merges, tokenizers looks up the whole pre-token (here: the whole segment), so it is not cut.
        var splitsBeforeMetaspace = !isByteLevel && !model.ignoreMerges
        for (rank, (left, right)) in model.merges.enumerated() {
            guard let leftID = vocabID(left), let rightID = vocabID(right), let resultID = vocabID(left + right) else {
                let missing = vocabID(left) == nil ? left : vocabID(right) == nil ? right : left + right
                throw TokenizerError(
                    code: .invalidField,
                    message: "The merge uses the token \"\(missing)\", which is not in the vocabulary.",
                    key: "model.merges[\(rank)]")
            }
            merges[BPEModel.pairKey(Int32(leftID), Int32(rightID))] = .init(rank: Int32(rank), result: Int32(resultID))
            if splitsBeforeMetaspace && left.unicodeScalars.last != "\u{2581}"
                && right.unicodeScalars.first == "\u{2581}"
            {
                splitsBeforeMetaspace = false
            }
        }

        var wholeWordIDs: [ArraySlice<UInt8>: Int32]?
        if model.ignoreMerges {
            var words: [ArraySlice<UInt8>: Int32] = [:]
            words.reserveCapacity(model.vocab.count)
            for (token, id) in model.vocab {
                if let bytes = symbolBytes(token) { words[bytes[...]] = Int32(id) }
            }
            wholeWordIDs = words
        }

        let bpe = BPEModel(
            symbolization: isByteLevel ? .bytes : .characters, mergeOrder: .mergeRank, merges: merges,
            characterIDs: characterIDs, byteIDs: byteIDs, byteFallback: model.byteFallback, unknownID: unknownID,
            fuseUnknown: model.fuseUnknown, wholeWordIDs: wholeWordIDs, splitsBeforeMetaspace: splitsBeforeMetaspace)
        self.init(
            tokenStrings: tokenStrings, isSpecial: isSpecial, addedTokens: addedTokens, model: bpe,
            normalizer: TextNormalizer(steps: normalizerSteps), preTokenizer: preTokenizer, decoderKind: decoderKind,
            prefixIDs: prefixIDs, suffixIDs: suffixIDs, bosTokenID: prefixIDs.first, eosTokenIDs: [],
            padTokenID: nil, unknownTokenID: unknownID.map(Int.init))
    }

    // MARK: Components

    /// Whether the file describes a byte-level tokenizer (a `ByteLevel` pre-tokenizer and decoder).
    private static func isByteLevel(_ json: TokenizerJSON) throws(TokenizerError) -> Bool {
        func containsByteLevel(_ preTokenizer: TokenizerJSON.PreTokenizer?) -> Bool {
            switch preTokenizer {
            case .sequence(let steps): steps.contains { containsByteLevel($0) }
            case .byteLevel: true
            case .split, nil: false
            }
        }
        let byteLevel = containsByteLevel(json.preTokenizer)
        if case .byteLevel = json.decoder {
            guard byteLevel else {
                throw TokenizerError(
                    code: .unsupportedPreTokenizer,
                    message: "A ByteLevel decoder needs a ByteLevel pre-tokenizer, which this file does not have.",
                    key: "pre_tokenizer")
            }
        } else if byteLevel {
            throw TokenizerError(
                code: .unsupportedDecoder, message: "A ByteLevel pre-tokenizer needs the ByteLevel decoder.",
                key: "decoder")
        }
        if !byteLevel, let preTokenizer = json.preTokenizer {
            throw TokenizerError(
                code: .unsupportedPreTokenizer,
                message: "Without ByteLevel, only tokenizers with no pre-tokenizer (the LLaMA-2 layout) are "
                    + "supported; found \(preTokenizer.typeName).",
                key: "pre_tokenizer")
        }
        return byteLevel
    }

    /// The normalizer as a list of steps.
    private static func normalizerSteps(
        _ normalizer: TokenizerJSON.Normalizer?, key: String
    ) throws(TokenizerError) -> [TextNormalizer.Step] {
        switch normalizer {
        case nil:
            return []
        case .sequence(let normalizers):
            var steps: [TextNormalizer.Step] = []
            for (index, inner) in normalizers.enumerated() {
                steps += try normalizerSteps(inner, key: "\(key).normalizers[\(index)]")
            }
            return steps
        case .prepend(let prefix):
            return prefix.isEmpty ? [] : [.prepend(Array(prefix.utf8))]
        case .replace(.string(let pattern), let content):
            guard !pattern.isEmpty else {
                throw TokenizerError(
                    code: .invalidField, message: "A Replace normalizer has an empty pattern.", key: key + ".pattern")
            }
            return [.replace(pattern: Array(pattern.utf8), content: Array(content.utf8))]
        case .replace(.regex(let regex), _):
            throw TokenizerError(
                code: .unsupportedNormalizer,
                message: "A Replace normalizer with the regular expression \"\(regex)\" is not supported (only "
                    + "string patterns).",
                key: key + ".pattern")
        }
    }

    /// Checks the byte-level pre-tokenizer and returns the Llama-3 splitter, or `nil` if there is no `Split`.
    private static func byteLevelSplitter(
        _ preTokenizer: TokenizerJSON.PreTokenizer?
    ) throws(TokenizerError) -> Llama3PreTokenizer? {
        var steps: [(TokenizerJSON.PreTokenizer, String)] = []
        switch preTokenizer {
        case .sequence(let inner): steps = inner.enumerated().map { ($1, "pre_tokenizer.pretokenizers[\($0)]") }
        case let single?: steps = [(single, "pre_tokenizer")]
        case nil: break
        }
        var splitter: Llama3PreTokenizer?
        for (step, key) in steps {
            switch step {
            case .split(let pattern, let behavior, let invert):
                guard pattern == .regex(Llama3PreTokenizer.pattern), behavior == "Isolated", !invert, splitter == nil
                else {
                    throw TokenizerError(
                        code: .unsupportedPreTokenizer,
                        message: "Only one Split with the Llama-3 pattern, behavior Isolated and invert false is "
                            + "supported; found pattern \(pattern), behavior \(behavior), invert \(invert).",
                        key: key)
                }
                splitter = Llama3PreTokenizer()
            case .byteLevel(let addPrefixSpace, let useRegex):
                guard !addPrefixSpace, !useRegex else {
                    throw TokenizerError(
                        code: .unsupportedPreTokenizer,
                        message: "ByteLevel with add_prefix_space \(addPrefixSpace) and use_regex \(useRegex) is not "
                            + "supported (the GPT-2 split); only both false, after a Llama-3 Split, is.",
                        key: key)
                }
            case .sequence:
                throw TokenizerError(
                    code: .unsupportedPreTokenizer, message: "Nested pre-tokenizer sequences are not supported.",
                    key: key)
            }
        }
        return splitter
    }

    /// Checks the SentencePiece decoder sequence and returns how many leading spaces it strips.
    private static func sentencePieceDecoder(_ decoder: TokenizerJSON.Decoder?) throws(TokenizerError)
        -> TokenDecoder.Kind
    {
        let unsupported = TokenizerError(
            code: .unsupportedDecoder,
            message: "The decoder must be Sequence[Replace(\"▁\" → \" \"), ByteFallback, Fuse] optionally followed "
                + "by Strip(\" \", n, 0), as transformers writes it for LLaMA; found \(decoder?.typeName ?? "none").",
            key: "decoder")
        guard case .sequence(let steps) = decoder, steps.count == 3 || steps.count == 4,
            case .replace(.string(metaspace), " ") = steps[0], case .byteFallback = steps[1], case .fuse = steps[2]
        else { throw unsupported }
        guard steps.count == 4 else { return .sentencePiece(stripLeadingSpaces: 0) }
        guard case .strip(" ", let start, 0) = steps[3], start >= 0 else { throw unsupported }
        return .sentencePiece(stripLeadingSpaces: start)
    }

    /// The ids a `TemplateProcessing` post-processor puts before and after a single sequence.
    private static func template(_ postProcessor: TokenizerJSON.PostProcessor?) throws(TokenizerError)
        -> (prefix: [Int], suffix: [Int])
    {
        var templates: [([TokenizerJSON.TemplateItem], [(name: String, ids: [Int])])] = []
        func collect(_ processor: TokenizerJSON.PostProcessor?) {
            switch processor {
            case .sequence(let inner): inner.forEach(collect)
            case .templateProcessing(let single, let specialTokens): templates.append((single, specialTokens))
            case .byteLevel, nil: break  // ByteLevel only adjusts offsets
            }
        }
        collect(postProcessor)
        guard let (single, specialTokens) = templates.first else { return ([], []) }
        guard templates.count == 1 else {
            throw TokenizerError(
                code: .unsupportedPostProcessor, message: "More than one TemplateProcessing is not supported.",
                key: "post_processor")
        }
        var prefix: [Int] = []
        var suffix: [Int] = []
        var sawSequence = false
        for item in single {
            switch item {
            case .sequence:
                guard !sawSequence else {
                    throw TokenizerError(
                        code: .unsupportedPostProcessor, message: "The single template has two sequences.",
                        key: "post_processor.single")
                }
                sawSequence = true
            case .specialToken(let name):
                guard let ids = specialTokens.last(where: { $0.name.utf8.elementsEqual(name.utf8) })?.ids else {
                    throw TokenizerError(
                        code: .invalidField,
                        message: "The template uses \"\(name)\", which special_tokens does not define.",
                        key: "post_processor.special_tokens")
                }
                if sawSequence { suffix += ids } else { prefix += ids }
            }
        }
        return (prefix, suffix)
    }
}

extension TokenizerBuilder {
    /// Builds the parts from a SentencePiece BPE `ModelProto`, matching what sentencepiece does for plain text
    /// and what transformers builds from the same file (`LlamaConverter`) for special tokens and decoding.
    ///
    /// Merges are not stored in a SentencePiece model: any two adjacent symbols whose concatenation is a piece
    /// may merge, the piece with the higher score first. The merge table is therefore made from every split of
    /// every normal piece into two normal pieces, ranked by the score of the whole piece.
    // ref: sentencepiece src/bpe_model.cc (Model::Encode), src/model_interface.cc (InitializePieces);
    //      transformers convert_slow_tokenizer.py LlamaConverter
    init(sentencePiece file: SentencePieceModelFile) throws(TokenizerError) {
        guard file.modelType == 2 else {
            throw TokenizerError(
                code: .unsupportedModel,
                message: "The SentencePiece model type \(file.modelTypeName) is not supported (only BPE).",
                key: "trainer_spec.model_type")
        }
        guard !file.treatWhitespaceAsSuffix else {
            throw TokenizerError(
                code: .unsupportedModel, message: "treat_whitespace_as_suffix is not supported.",
                key: "trainer_spec.treat_whitespace_as_suffix")
        }
        guard !file.hasPrecompiledCharsmap else {
            throw TokenizerError(
                code: .unsupportedNormalizer,
                message: "The normalization rule \"\(file.normalizerName)\" (a precompiled character map) is not "
                    + "supported; only the identity rule is.",
                key: "normalizer_spec.precompiled_charsmap")
        }
        guard !file.pieces.isEmpty else {
            throw TokenizerError(code: .invalidField, message: "The model has no pieces.", key: "pieces")
        }
        let pieces = file.pieces
        let count = pieces.count

        // Normal pieces by string, checking the piece list.
        // Keyed by UTF-8 bytes: `String` keys would merge canonically equivalent pieces (LLaMA has three pairs).
        var normalIDs: [[UInt8]: Int32] = [:]
        normalIDs.reserveCapacity(count)
        var seen = Set<[UInt8]>()
        var byteIDs = [Int32](repeating: -1, count: 256)  // [256] id of the <0xXX> piece per byte or -1
        for (id, piece) in pieces.enumerated() {
            let key = "pieces[\(id)]"
            guard !piece.piece.isEmpty else {
                throw TokenizerError(code: .invalidField, message: "A piece is empty.", key: key + ".piece")
            }
            guard seen.insert(Array(piece.piece.utf8)).inserted else {
                throw TokenizerError(
                    code: .invalidField, message: "The piece \"\(piece.piece)\" appears twice.", key: key + ".piece")
            }
            switch piece.type {
            case .normal:
                normalIDs[Array(piece.piece.utf8)] = Int32(id)
            case .byte:
                guard let byte = Self.fallbackByte(piece.piece) else {
                    throw TokenizerError(
                        code: .invalidField, message: "The BYTE piece \"\(piece.piece)\" is not of the form <0xXX>.",
                        key: key + ".piece")
                }
                byteIDs[Int(byte)] = Int32(id)
            case .userDefined, .unused:
                throw TokenizerError(
                    code: .unsupportedModel,
                    message: "Pieces of type \(piece.type == .unused ? "UNUSED" : "USER_DEFINED") are not supported "
                        + "(\"\(piece.piece)\").",
                    key: key + ".type")
            case .unknown, .control:
                continue
            }
        }
        func optionalID(_ raw: Int64, key: String) throws(TokenizerError) -> Int? {
            guard raw >= 0 else { return nil }
            guard raw < count else {
                throw TokenizerError(
                    code: .invalidField, message: "The id \(raw) is outside 0..<\(count) (the number of pieces).",
                    key: key)
            }
            return Int(raw)
        }
        guard let unknownID = try optionalID(file.unknownID, key: "trainer_spec.unk_id"),
            pieces[unknownID].type == .unknown
        else {
            throw TokenizerError(
                code: .invalidField, message: "unk_id must name the piece of type UNKNOWN.", key: "trainer_spec.unk_id")
        }

        // Single characters, and a check that every character of a normal piece is itself a normal piece, so
        // that merges can be looked up by piece id: a character outside the vocabulary then never merges.
        var characterIDs: [UInt32: Int32] = [:]
        for (id, piece) in pieces.enumerated() where piece.type == .normal && piece.piece.unicodeScalars.count == 1 {
            if let scalar = piece.piece.unicodeScalars.first { characterIDs[scalar.value] = Int32(id) }
        }
        for (id, piece) in pieces.enumerated() where piece.type == .normal {
            for scalar in piece.piece.unicodeScalars where characterIDs[scalar.value] == nil {
                let code = String(scalar.value, radix: 16, uppercase: true)
                throw TokenizerError(
                    code: .unsupportedModel,
                    message: "The piece \"\(piece.piece)\" contains the character U+\(code), which is not a piece of "
                        + "its own; such vocabularies are not supported.",
                    key: "pieces[\(id)]")
            }
        }

        // Dense ranks: the highest score is rank 0; equal scores share a rank, so the leftmost pair wins the tie.
        let scores = Set(normalIDs.values.map { pieces[Int($0)].score }).sorted(by: >)
        var rankOfScore: [UInt32: Int32] = [:]  // Float bit pattern → rank
        for (rank, score) in scores.enumerated() { rankOfScore[score.bitPattern] = Int32(rank) }

        var merges: [UInt64: BPEModel.Merge] = [:]
        var splitsBeforeMetaspace = true
        for (id, piece) in pieces.enumerated() where piece.type == .normal {
            let scalars = Array(piece.piece.unicodeScalars)
            guard scalars.count >= 2 else { continue }
            let rank = rankOfScore[piece.score.bitPattern] ?? 0
            for cut in 1..<scalars.count {
                var left = String.UnicodeScalarView()
                left.append(contentsOf: scalars[..<cut])
                var right = String.UnicodeScalarView()
                right.append(contentsOf: scalars[cut...])
                guard let leftID = normalIDs[Array(String(left).utf8)],
                    let rightID = normalIDs[Array(String(right).utf8)]
                else { continue }
                merges[BPEModel.pairKey(leftID, rightID)] = .init(rank: rank, result: Int32(id))
                if scalars[cut - 1] != "\u{2581}" && scalars[cut] == "\u{2581}" { splitsBeforeMetaspace = false }
            }
        }

        var steps: [TextNormalizer.Step] = []
        if file.removeExtraWhitespaces { steps.append(.collapseSpaces) }
        let space = file.escapeWhitespaces ? Self.metaspace : " "
        if file.addDummyPrefix { steps.append(.prepend(Array(space.utf8))) }
        if file.escapeWhitespaces { steps.append(.replace(pattern: [0x20], content: Array(Self.metaspace.utf8))) }

        // Control and unknown pieces are the special tokens, as in the tokenizer.json transformers makes.
        var isSpecial = [Bool](repeating: false, count: count)
        var addedTokens: [(content: String, id: Int)] = []
        for (id, piece) in pieces.enumerated() where piece.type == .control || piece.type == .unknown {
            isSpecial[id] = true
            addedTokens.append((piece.piece, id))
        }
        let bosID = try optionalID(file.bosID, key: "trainer_spec.bos_id")
        let eosID = try optionalID(file.eosID, key: "trainer_spec.eos_id")
        let model = BPEModel(
            symbolization: .characters, mergeOrder: .pieceScore, merges: merges, characterIDs: characterIDs,
            byteIDs: byteIDs, byteFallback: file.byteFallback, unknownID: Int32(unknownID), fuseUnknown: true,
            wholeWordIDs: nil, splitsBeforeMetaspace: splitsBeforeMetaspace)
        self.init(
            tokenStrings: pieces.map(\.piece), isSpecial: isSpecial, addedTokens: addedTokens, model: model,
            normalizer: TextNormalizer(steps: steps), preTokenizer: nil,
            decoderKind: .sentencePiece(stripLeadingSpaces: file.addDummyPrefix ? 1 : 0),
            prefixIDs: bosID.map { [$0] } ?? [], suffixIDs: [], bosTokenID: bosID,
            eosTokenIDs: eosID.map { [$0] } ?? [], padTokenID: try optionalID(file.padID, key: "trainer_spec.pad_id"),
            unknownTokenID: unknownID)
    }
}

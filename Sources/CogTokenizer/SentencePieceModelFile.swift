/// The fields of a SentencePiece `ModelProto` (`tokenizer.model`) that tokenization depends on.
///
/// Field numbers and defaults are those of `sentencepiece_model.proto` (proto2: an absent field has its
/// declared default, which is why, for example, `removeExtraWhitespaces` defaults to `true`).
// ref: google/sentencepiece src/sentencepiece_model.proto (ModelProto, TrainerSpec, NormalizerSpec)
struct SentencePieceModelFile: Sendable {
    /// `ModelProto.SentencePiece.Type`.
    enum PieceType: Int64, Sendable {
        case normal = 1
        case unknown = 2
        case control = 3
        case userDefined = 4
        case unused = 5
        case byte = 6
    }

    struct Piece: Sendable {
        var piece: String = ""  // field 1
        var score: Float = 0  // field 2
        var type: PieceType = .normal  // field 3, default NORMAL
    }

    var pieces: [Piece] = []  // ModelProto field 1

    // TrainerSpec (ModelProto field 2)
    var modelType: Int64 = 1  // field 3, default UNIGRAM (1); BPE is 2
    var treatWhitespaceAsSuffix = false  // field 24
    var byteFallback = false  // field 35
    var unknownID: Int64 = 0  // field 40
    var bosID: Int64 = 1  // field 41
    var eosID: Int64 = 2  // field 42
    var padID: Int64 = -1  // field 43

    // NormalizerSpec (ModelProto field 3)
    var normalizerName = ""  // field 1
    var hasPrecompiledCharsmap = false  // field 2, non-empty
    var addDummyPrefix = true  // field 3
    var removeExtraWhitespaces = true  // field 4
    var escapeWhitespaces = true  // field 5

    /// The name of `modelType` as the proto spells it.
    var modelTypeName: String {
        switch modelType {
        case 1: "UNIGRAM"
        case 2: "BPE"
        case 3: "WORD"
        case 4: "CHAR"
        default: "\(modelType)"
        }
    }

    /// Parses a serialized `ModelProto`.
    init(bytes: [UInt8]) throws(TokenizerError) {
        var sawTrainerSpec = false
        var sawNormalizerSpec = false
        var reader = ProtobufReader(bytes[...], context: "ModelProto")
        while let (number, value) = try reader.nextField() {
            switch number {
            case 1:
                let payload = try Self.message(value, key: "pieces[\(pieces.count)]")
                pieces.append(try Self.parsePiece(payload, index: pieces.count))
            case 2:
                try parseTrainerSpec(try Self.message(value, key: "trainer_spec"))
                sawTrainerSpec = true
            case 3:
                try parseNormalizerSpec(try Self.message(value, key: "normalizer_spec"))
                sawNormalizerSpec = true
            default:
                continue  // self_test_data, denormalizer_spec and extensions do not affect tokenization
            }
        }
        // The trainer always writes both specs after the pieces; a file cut on a field boundary parses cleanly
        // but lacks them, and their defaults (UNIGRAM, remove_extra_whitespaces) would silently change the model.
        guard sawTrainerSpec, sawNormalizerSpec else {
            throw TokenizerError(
                code: .badProtobuf,
                message: "The SentencePiece model has no \(sawTrainerSpec ? "normalizer_spec" : "trainer_spec"); the "
                    + "file is truncated or is not a SentencePiece tokenizer.model. Copy it again.",
                key: sawTrainerSpec ? "normalizer_spec" : "trainer_spec")
        }
    }

    private static func parsePiece(_ payload: ArraySlice<UInt8>, index: Int) throws(TokenizerError) -> Piece {
        var piece = Piece()
        var reader = ProtobufReader(payload, context: "pieces[\(index)]")
        while let (number, value) = try reader.nextField() {
            switch number {
            case 1:
                let bytes = try message(value, key: "pieces[\(index)].piece")
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw invalid("is not valid UTF-8", key: "pieces[\(index)].piece")
                }
                piece.piece = text
            case 2:
                guard let score = value.float else { throw wrongType("float", key: "pieces[\(index)].score") }
                piece.score = score
            case 3:
                guard let raw = value.integer else { throw wrongType("enum", key: "pieces[\(index)].type") }
                guard let type = PieceType(rawValue: raw) else {
                    throw invalid("has the unknown piece type \(raw)", key: "pieces[\(index)].type")
                }
                piece.type = type
            default:
                continue
            }
        }
        return piece
    }

    private mutating func parseTrainerSpec(_ payload: ArraySlice<UInt8>) throws(TokenizerError) {
        var reader = ProtobufReader(payload, context: "trainer_spec")
        while let (number, value) = try reader.nextField() {
            switch number {
            case 3: modelType = try Self.integer(value, key: "trainer_spec.model_type")
            case 24:
                treatWhitespaceAsSuffix = try Self.integer(value, key: "trainer_spec.treat_whitespace_as_suffix") != 0
            case 35: byteFallback = try Self.integer(value, key: "trainer_spec.byte_fallback") != 0
            case 40: unknownID = try Self.int32(value, key: "trainer_spec.unk_id")
            case 41: bosID = try Self.int32(value, key: "trainer_spec.bos_id")
            case 42: eosID = try Self.int32(value, key: "trainer_spec.eos_id")
            case 43: padID = try Self.int32(value, key: "trainer_spec.pad_id")
            default: continue
            }
        }
    }

    private mutating func parseNormalizerSpec(_ payload: ArraySlice<UInt8>) throws(TokenizerError) {
        var reader = ProtobufReader(payload, context: "normalizer_spec")
        while let (number, value) = try reader.nextField() {
            switch number {
            case 1:
                let bytes = try Self.message(value, key: "normalizer_spec.name")
                normalizerName = String(decoding: bytes, as: UTF8.self)
            case 2:
                hasPrecompiledCharsmap = !(try Self.message(value, key: "normalizer_spec.precompiled_charsmap")).isEmpty
            case 3: addDummyPrefix = try Self.integer(value, key: "normalizer_spec.add_dummy_prefix") != 0
            case 4:
                removeExtraWhitespaces = try Self.integer(value, key: "normalizer_spec.remove_extra_whitespaces") != 0
            case 5: escapeWhitespaces = try Self.integer(value, key: "normalizer_spec.escape_whitespaces") != 0
            default: continue
            }
        }
    }

    private static func message(_ value: ProtobufReader.Value, key: String) throws(TokenizerError) -> ArraySlice<UInt8>
    {
        guard let bytes = value.bytes else { throw wrongType("length-delimited", key: key) }
        return bytes
    }

    private static func integer(_ value: ProtobufReader.Value, key: String) throws(TokenizerError) -> Int64 {
        guard let integer = value.integer else { throw wrongType("varint", key: key) }
        return integer
    }

    private static func int32(_ value: ProtobufReader.Value, key: String) throws(TokenizerError) -> Int64 {
        let raw = try integer(value, key: key)
        guard let narrow = Int32(exactly: raw) else { throw invalid("is out of the int32 range", key: key) }
        return Int64(narrow)
    }

    private static func wrongType(_ expected: String, key: String) -> TokenizerError {
        TokenizerError(
            code: .badProtobuf,
            message: "The SentencePiece model has a field of the wrong wire type (expected \(expected)); the file "
                + "is corrupt or not a SentencePiece model.",
            key: key)
    }

    private static func invalid(_ problem: String, key: String) -> TokenizerError {
        TokenizerError(code: .badProtobuf, message: "The SentencePiece model field \(problem).", key: key)
    }
}

import CogWeights
import Foundation

/// Which release family a checkpoint belongs to. The architecture differs in a few places
/// (architecture doc §2, §3): v2 has grouped-query attention, a bias on the vision expert's QKV,
/// and a 2×2 convolution that downsamples the vision grid before the adapter.
public enum CogVLMVersion: String, Sendable, Codable {
    /// CogVLM-17B: cogvlm-chat-hf, cogvlm-grounding-generalist-hf, cogvlm-base-490-hf.
    case v1
    /// CogVLM2-19B: cogvlm2-llama3-chat-19B.
    case v2

    /// The family of `checkpoint`: only CogVLM2 has the 2×2 downsample conv, and its bias
    /// (`model.vision.conv.bias`) is present in originals and converted copies alike (the weight
    /// itself becomes `….weight.q8` in a quantized conversion).
    public static func of(_ checkpoint: Checkpoint) -> CogVLMVersion {
        checkpoint.tensorIfPresent("model.vision.conv.bias") != nil ? .v2 : .v1
    }
}

/// The model's `config.json`, with the defaults the release files leave out.
///
/// Decoded by hand (not `Codable`) so that every problem names the exact key:
/// `vision_config.num_heads must be an integer`, never a generic decoding failure.
/// ref: configuration_cogvlm.py (`CogVLMConfig`), architecture doc §1.
public struct CogVLMConfiguration: Sendable, Equatable {
    /// Vision tower (EVA2-CLIP-E) settings, `vision_config` in the file.
    public struct Vision: Sendable, Equatable {
        public var imageSize: Int          // "image_size": 490 (v1), 1344 (v2)
        public var patchSize: Int          // "patch_size": 14
        public var inChannels: Int         // "in_channels": 3
        public var hiddenSize: Int         // "hidden_size": 1792
        public var numHiddenLayers: Int    // "num_hidden_layers": 63
        public var numHeads: Int           // "num_heads": 16
        public var intermediateSize: Int   // "intermediate_size": 15360
        public var layerNormEps: Float     // "layer_norm_eps": 1e-6
        public var numPositions: Int       // "num_positions": grid² + 1

        /// Patches per image side.
        public var gridSize: Int { imageSize / patchSize }
        public var headDim: Int { hiddenSize / numHeads }
    }

    public var version: CogVLMVersion
    public var hiddenSize: Int             // "hidden_size": 4096
    public var intermediateSize: Int       // "intermediate_size": 11008 (v1), 14336 (v2)
    public var numHiddenLayers: Int        // "num_hidden_layers": 32
    public var numAttentionHeads: Int      // "num_attention_heads": 32
    /// "num_multi_query_heads": KV heads. Absent in the released v2 config.json (class default 8);
    /// v1 has none (plain multi-head attention, = numAttentionHeads).
    public var numKeyValueHeads: Int
    public var rmsNormEps: Float           // "rms_norm_eps": 1e-5
    public var vocabSize: Int              // "vocab_size": 32000 (v1), 128256 (v2)
    public var bosTokenID: Int             // "bos_token_id"
    public var eosTokenIDs: [Int]          // "eos_token_id": an int (v1) or a list (v2)
    public var padTokenID: Int             // "pad_token_id": also the image placeholder id
    public var templateVersion: String     // "template_version": "chat" | "base" | "vqa"
    public var maxPositionEmbeddings: Int  // "max_position_embeddings"
    /// Rotary base used only when a checkpoint lacks the stored `inv_freq` buffers
    /// (hard-coded in the reference code: 10000 for v1, 500000 for v2).
    public var ropeBase: Double
    public var vision: Vision

    public var headDim: Int { hiddenSize / numAttentionHeads }
    /// Rows the vision tower inserts into the sequence: boi + image tokens + eoi.
    public var imageTokenCount: Int {
        let g = vision.gridSize
        let tokens = version == .v2 ? (g / 2) * (g / 2) : g * g
        return tokens + 2
    }

    /// Reads `config.json`, and the stop tokens of `generation_config.json` next to it when that
    /// file names `eos_token_id`: Hugging Face `generate` takes them from there (its
    /// `GenerationConfig`), falling back to config.json's. `version` is decided by the caller from
    /// the checkpoint's tensors (the released v2 config.json does not say which family it is).
    public static func load(from url: URL, version: CogVLMVersion) throws -> CogVLMConfiguration {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw WeightsError(.missingFile, "cannot read config.json: \(SystemErrorText.reason(error))", file: url.path)
        }
        var config = try parse(data, version: version, path: url.path)
        let generation = url.deletingLastPathComponent().appendingPathComponent("generation_config.json")
        if FileManager.default.fileExists(atPath: generation.path) {
            let path = generation.path
            let root: [String: Any]
            do {
                guard let object = try JSONSerialization.jsonObject(with: Data(contentsOf: generation)) as? [String: Any]
                else { throw WeightsError(.badConfig, "generation_config.json is not a JSON object", file: path) }
                root = object
            } catch let error as WeightsError {
                throw error
            } catch {
                throw WeightsError(.badConfig, "generation_config.json cannot be read as JSON: "
                                   + "\(SystemErrorText.reason(error))", file: path)
            }
            if root["eos_token_id"] != nil {
                config.eosTokenIDs = try eosTokenIDs(root, path: path)
                try config.validate(path: path)
            }
        }
        return config
    }

    /// `eos_token_id` of a config object: an integer (v1) or a list of integers (v2).
    static func eosTokenIDs(_ root: [String: Any], path: String) throws -> [Int] {
        if let list = root["eos_token_id"] as? [Any] {
            return try list.enumerated().map { index, element in
                guard let n = Keys.integer(element) else {
                    throw WeightsError(.badConfig, "must be integers", file: path, key: "eos_token_id[\(index)]")
                }
                return n
            }
        }
        return [try Keys(object: root, prefix: "", path: path).int("eos_token_id")]
    }

    /// Parses config.json bytes (see `load`).
    public static func parse(_ data: Data, version: CogVLMVersion, path: String = "config.json") throws -> CogVLMConfiguration {
        let root: [String: Any]
        do {
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw WeightsError(.badConfig, "config.json is not a JSON object", file: path)
            }
            root = object
        } catch let error as WeightsError {
            throw error
        } catch {
            throw WeightsError(.badConfig, "config.json is not valid JSON: \(SystemErrorText.reason(error))", file: path)
        }
        let top = Keys(object: root, prefix: "", path: path)
        guard let visionObject = root["vision_config"] as? [String: Any] else {
            throw WeightsError(.badConfig, root["vision_config"] == nil ? "missing key (a CogVLM config has a vision_config object)"
                               : "must be an object", file: path, key: "vision_config")
        }
        let v = Keys(object: visionObject, prefix: "vision_config.", path: path)
        let heads = try top.int("num_attention_heads")
        let eos = try eosTokenIDs(root, path: path)
        var config = CogVLMConfiguration(
            version: version,
            hiddenSize: try top.int("hidden_size"),
            intermediateSize: try top.int("intermediate_size"),
            numHiddenLayers: try top.int("num_hidden_layers"),
            numAttentionHeads: heads,
            numKeyValueHeads: try top.optionalInt("num_multi_query_heads") ?? (version == .v2 ? 8 : heads),
            rmsNormEps: Float(try top.optionalDouble("rms_norm_eps") ?? 1e-5),
            vocabSize: try top.int("vocab_size"),
            bosTokenID: try top.optionalInt("bos_token_id") ?? (version == .v2 ? 128000 : 1),
            eosTokenIDs: eos,
            padTokenID: try top.optionalInt("pad_token_id") ?? (version == .v2 ? 128002 : 0),
            templateVersion: try top.optionalString("template_version") ?? "chat",
            maxPositionEmbeddings: try top.optionalInt("max_position_embeddings") ?? 2048,
            ropeBase: version == .v2 ? 500_000 : 10_000,
            vision: Vision(
                imageSize: try v.int("image_size"),
                patchSize: try v.int("patch_size"),
                inChannels: try v.optionalInt("in_channels") ?? 3,
                hiddenSize: try v.int("hidden_size"),
                numHiddenLayers: try v.int("num_hidden_layers"),
                numHeads: try v.int("num_heads"),
                intermediateSize: try v.int("intermediate_size"),
                layerNormEps: Float(try v.optionalDouble("layer_norm_eps") ?? 1e-6),
                numPositions: try v.int("num_positions")))
        if let act = try top.optionalString("hidden_act"), act != "silu" {
            throw WeightsError(.badConfig, "only \"silu\" is supported (the CogVLM releases use it), got \"\(act)\"", file: path, key: "hidden_act")
        }
        if let act = try v.optionalString("hidden_act"), act != "gelu" {
            throw WeightsError(.badConfig, "only \"gelu\" (exact erf) is supported, got \"\(act)\"", file: path, key: "vision_config.hidden_act")
        }
        try config.validate(path: path)
        config.templateVersion = config.templateVersion.lowercased()
        return config
    }

    /// The largest `vision_config.image_size` accepted (CogVLM2 uses 1344).
    public static let maxImageSize = 4096
    /// The largest patch grid per side accepted (CogVLM2: 96, i.e. 9216 patches).
    public static let maxPatchGrid = 128

    /// Checks the relations the forward pass relies on.
    func validate(path: String) throws {
        func fail(_ key: String, _ message: String) -> WeightsError {
            WeightsError(.badConfig, message, file: path, key: key)
        }
        let positives: [(String, Int)] = [
            ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize), ("num_hidden_layers", numHiddenLayers),
            ("num_attention_heads", numAttentionHeads), ("num_multi_query_heads", numKeyValueHeads), ("vocab_size", vocabSize),
            ("vision_config.image_size", vision.imageSize), ("vision_config.patch_size", vision.patchSize),
            ("vision_config.in_channels", vision.inChannels), ("vision_config.hidden_size", vision.hiddenSize),
            ("vision_config.num_hidden_layers", vision.numHiddenLayers), ("vision_config.num_heads", vision.numHeads),
            ("vision_config.intermediate_size", vision.intermediateSize), ("vision_config.num_positions", vision.numPositions),
            ("max_position_embeddings", maxPositionEmbeddings),
        ]
        for (key, value) in positives where value <= 0 { throw fail(key, "must be a positive integer, got \(value)") }
        // Normalization epsilons: a negative or NaN one makes every hidden state NaN.
        for (key, value) in [("rms_norm_eps", rmsNormEps), ("vision_config.layer_norm_eps", vision.layerNormEps)]
            where !(value > 0 && value.isFinite) {
            throw fail(key, "must be a small positive number (the releases use 1e-5 / 1e-6), got \(value)")
        }
        if hiddenSize % numAttentionHeads != 0 { throw fail("num_attention_heads", "must divide hidden_size \(hiddenSize)") }
        if headDim % 2 != 0 { throw fail("num_attention_heads", "head dimension \(headDim) must be even for rotary") }
        if numAttentionHeads % numKeyValueHeads != 0 {
            throw fail("num_multi_query_heads", "must divide num_attention_heads \(numAttentionHeads)")
        }
        if vision.hiddenSize % vision.numHeads != 0 { throw fail("vision_config.num_heads", "must divide vision_config.hidden_size") }
        if vision.imageSize % vision.patchSize != 0 { throw fail("vision_config.patch_size", "must divide vision_config.image_size") }
        // The sizes derived from the vision geometry must fit in an Int (each value alone is
        // below 2^53): the position count, a patch's length and the pixel values per image.
        func product(_ factors: Int...) -> Int? {
            var result = 1
            for factor in factors {
                let (m, overflow) = result.multipliedReportingOverflow(by: factor)
                if overflow { return nil }
                result = m
            }
            return result
        }
        guard let gridSquared = product(vision.gridSize, vision.gridSize), gridSquared < Int.max else {
            throw fail("vision_config.image_size", "(image_size / patch_size)² overflows: a patch grid of \(vision.gridSize) per side")
        }
        guard product(vision.inChannels, vision.patchSize, vision.patchSize) != nil else {
            throw fail("vision_config.in_channels", "in_channels × patch_size² overflows")
        }
        guard product(vision.inChannels, vision.imageSize, vision.imageSize) != nil else {
            throw fail("vision_config.image_size", "in_channels × image_size² overflows")
        }
        // A working-memory bound: one image's pixels (in_channels × image_size² floats) and
        // activations (patches × the vision widths) are allocated whole, so a config naming a
        // 90 000-pixel square or a 300 × 300 patch grid would exhaust memory while running, long
        // after it loaded. The releases use 490 px / 35² patches and 1344 px / 96².
        if vision.imageSize > Self.maxImageSize {
            throw fail("vision_config.image_size", "\(vision.imageSize) px is above the supported \(Self.maxImageSize) px")
        }
        if vision.gridSize > Self.maxPatchGrid {
            throw fail("vision_config.patch_size", "a patch grid of \(vision.gridSize) per side is above the supported "
                       + "\(Self.maxPatchGrid) (\(Self.maxPatchGrid * Self.maxPatchGrid) image tokens)")
        }
        if vision.numPositions != gridSquared + 1 {
            throw fail("vision_config.num_positions", "must be (image_size / patch_size)² + 1 = \(gridSquared + 1)")
        }
        if version == .v2 && vision.gridSize % 2 != 0 {
            throw fail("vision_config.image_size", "CogVLM2's 2×2 downsample needs an even patch grid, got \(vision.gridSize)")
        }
        for (key, id) in [("bos_token_id", bosTokenID), ("pad_token_id", padTokenID)] + eosTokenIDs.map({ ("eos_token_id", $0) })
        where id < 0 || id >= vocabSize {
            throw fail(key, "token id \(id) is outside the vocabulary (0..<\(vocabSize))")
        }
        if !["chat", "base", "vqa"].contains(templateVersion.lowercased()) {
            throw fail("template_version", "must be \"chat\", \"base\" or \"vqa\", got \"\(templateVersion)\"")
        }
    }
}

/// Typed access to one JSON object's keys, with errors that name `prefix + key`.
private struct Keys {
    let object: [String: Any]
    let prefix: String
    let path: String

    /// Whether `value` is a JSON `true` / `false` (Foundation hands those over as NSNumbers too).
    static func isBoolean(_ value: Any) -> Bool {
        guard let n = value as? NSNumber else { return false }
        return String(cString: n.objCType) == "c"
    }

    static func integer(_ value: Any) -> Int? {
        guard let n = value as? NSNumber, !isBoolean(value) else { return nil }
        let d = n.doubleValue
        return d == d.rounded() && abs(d) < 9e15 ? n.intValue : nil
    }

    /// `value` as it stood in the JSON: strings quoted, booleans as `true` / `false`.
    static func shown(_ value: Any) -> String {
        if let s = value as? String { return "\"\(s)\" (a string)" }
        if isBoolean(value), let n = value as? NSNumber { return n.boolValue ? "true" : "false" }
        return "\(value)"
    }

    func int(_ key: String) throws -> Int {
        guard let value = object[key] else {
            throw WeightsError(.badConfig, "missing key", file: path, key: prefix + key)
        }
        guard let n = Keys.integer(value) else {
            if let number = value as? NSNumber, !Keys.isBoolean(value), number.doubleValue == number.doubleValue.rounded() {
                throw WeightsError(.badConfig, "is too large: \(value)", file: path, key: prefix + key)
            }
            throw WeightsError(.badConfig, "must be an integer, got \(Keys.shown(value))", file: path, key: prefix + key)
        }
        return n
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        return try int(key)
    }

    func optionalDouble(_ key: String) throws -> Double? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let n = value as? NSNumber, !Keys.isBoolean(value) else {
            throw WeightsError(.badConfig, "must be a number, got \(Keys.shown(value))", file: path, key: prefix + key)
        }
        return n.doubleValue
    }

    func optionalString(_ key: String) throws -> String? {
        guard let value = object[key], !(value is NSNull) else { return nil }
        guard let s = value as? String else {
            throw WeightsError(.badConfig, "must be a string, got \(Keys.shown(value))", file: path, key: prefix + key)
        }
        return s
    }
}

import CogTestSupport
import CogVLM
import CogWeights
import Foundation
import Testing

/// Every way a checkpoint can be broken gives a `WeightsError` with the right code that names
/// the file and the tensor or key — never a crash.
@Suite("Checkpoint bad input")
struct BadInputTests {
    /// Raw safetensors bytes from a header object and a data section.
    static func rawFile(header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> Data {
        var out = Data()
        var length = (headerLength ?? UInt64(header.utf8.count)).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(contentsOf: Array(header.utf8))
        out.append(contentsOf: data)
        return out
    }

    /// Writes `bytes` to a file and opens it. The directory is removed on return: the file stays
    /// mapped (Linux keeps an unlinked file's pages for as long as the mapping exists).
    static func open(_ bytes: Data) throws -> SafetensorsFile {
        try Fixtures.withTemporaryDirectory("weights") { dir in
            let url = dir.appendingPathComponent("model.safetensors")
            try bytes.write(to: url)
            return try SafetensorsFile(path: url.path)
        }
    }

    static func expectError(_ code: WeightsError.Code, key: String? = nil, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected \(code), got success")
        } catch let error as WeightsError {
            #expect(error.code == code, "\(error)")
            if let key { #expect(error.key == key, "\(error)") }
            #expect(error.file != nil, "error names no file: \(error)")
        } catch {
            Issue.record("expected WeightsError \(code), got \(error)")
        }
    }

    @Test func validFileParses() throws {
        var w = SafetensorsWriter()
        w.add("a", shape: [2, 2], floats: [1, 2, 3, 4])
        w.add("b", shape: [3], int64s: [7, 8, 9])
        w.metadata = ["format": "pt"]
        let f = try Self.open(try w.serialized())
        #expect(f.tensors["a"]?.toFloatArray() == [1, 2, 3, 4])
        #expect(f.tensors["b"]?.toIntArray() == [7, 8, 9])
        #expect(f.metadata == ["format": "pt"])
    }

    @Test func emptyFile() {
        Self.expectError(.truncated) { _ = try Self.open(Data()) }
    }

    @Test func headerLengthPastEnd() {
        Self.expectError(.badHeaderLength) { _ = try Self.open(Self.rawFile(header: "{}", headerLength: 4096)) }
    }

    @Test func malformedHeaderJSON() {
        Self.expectError(.malformedHeader) { _ = try Self.open(Self.rawFile(header: "{\"a\": {\"dtype\": ")) }
        Self.expectError(.malformedHeader) { _ = try Self.open(Self.rawFile(header: "[1, 2]")) }
        Self.expectError(.malformedHeader, key: "a") {
            _ = try Self.open(Self.rawFile(header: #"{"a": {"dtype": "F32", "shape": "x", "data_offsets": [0, 4]}}"#, data: [0, 0, 0, 0]))
        }
    }

    @Test func unknownDType() {
        Self.expectError(.unknownDType, key: "a") {
            _ = try Self.open(Self.rawFile(header: #"{"a": {"dtype": "F8_E9M0", "shape": [1], "data_offsets": [0, 1]}}"#, data: [0]))
        }
    }

    @Test func offsetsOutOfRangeTruncated() {
        // The data section has 4 bytes; the tensor claims 8: the file was cut short.
        Self.expectError(.truncated, key: "a") {
            _ = try Self.open(Self.rawFile(header: #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}"#, data: [0, 0, 0, 0]))
        }
        Self.expectError(.badOffsets, key: "a") {
            _ = try Self.open(Self.rawFile(header: #"{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}"#, data: [0, 0, 0, 0]))
        }
    }

    @Test func offsetsDisagreeWithShape() {
        Self.expectError(.badOffsets, key: "a") {
            _ = try Self.open(Self.rawFile(header: #"{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, data: Array(repeating: 0, count: 12)))
        }
    }

    @Test func overlappingTensors() {
        let header = #"{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#
        Self.expectError(.badOffsets) { _ = try Self.open(Self.rawFile(header: header, data: Array(repeating: 0, count: 12))) }
    }

    /// A zero-sized tensor sorted between two overlapping ones does not hide the overlap (found by fuzzing).
    @Test func overlapBehindAnEmptyTensor() {
        let header = #"{"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}, "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}"#
        Self.expectError(.badOffsets, key: "b") { _ = try Self.open(Self.rawFile(header: header, data: Array(repeating: 0, count: 16))) }
    }

    // MARK: Whole checkpoints (a copy of the tiny fixture, then one thing broken)

    /// Runs `body` on a writable copy of the tiny v1 fixture's model files, removed afterwards.
    static func withFixtureCopy<T>(_ body: (URL) throws -> T) throws -> T {
        try Fixtures.withTemporaryDirectory("ckpt") { dir in
            for name in ["config.json", "model.safetensors.index.json", "model-00001-of-00002.safetensors",
                         "model-00002-of-00002.safetensors"] {
                try FileManager.default.copyItem(at: Fixtures.cogvlmTiny.appendingPathComponent(name),
                                                 to: dir.appendingPathComponent(name))
            }
            return try body(dir)
        }
    }

    /// Rewrites shard 2 of `dir` through `edit` (name → (dtype, shape, bytes)) and fixes the index.
    static func rewriteShard2(_ dir: URL, _ edit: (inout [String: (DType, [Int], Data)]) -> Void) throws {
        let shardName = "model-00002-of-00002.safetensors"
        let url = dir.appendingPathComponent(shardName)
        let shard = try SafetensorsFile(path: url.path)
        var tensors: [String: (DType, [Int], Data)] = [:]
        for (name, v) in shard.tensors { tensors[name] = (v.dtype, v.shape, Data(bytes: v.rawPointer, count: v.byteCount)) }
        edit(&tensors)
        var w = SafetensorsWriter()
        for (name, t) in tensors.sorted(by: { $0.key < $1.key }) { w.add(name, dtype: t.0, shape: t.1, bytes: t.2) }
        let bytes = try w.serialized()
        try FileManager.default.removeItem(at: url)
        try bytes.write(to: url)
        // Index: every tensor of shard 2 listed there.
        let indexURL = dir.appendingPathComponent("model.safetensors.index.json")
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as! [String: Any]
        var map = (index["weight_map"] as! [String: String]).filter { $0.value != shardName }
        for name in tensors.keys { map[name] = shardName }
        index["weight_map"] = map
        try JSONSerialization.data(withJSONObject: index).write(to: indexURL)
    }

    @Test func fixtureCopyLoads() throws {
        try Self.withFixtureCopy { dir in
            let model = try CogVLMModel.load(directory: dir)
            #expect(model.config.version == .v1)
        }
    }

    @Test func missingShard() throws {
        try Self.withFixtureCopy { dir in
            try FileManager.default.removeItem(at: dir.appendingPathComponent("model-00002-of-00002.safetensors"))
            Self.expectError(.missingFile) { _ = try CogVLMModel.load(directory: dir) }
        }
    }

    @Test func truncatedShard() throws {
        try Self.withFixtureCopy { dir in
            let url = dir.appendingPathComponent("model-00002-of-00002.safetensors")
            let bytes = try Data(contentsOf: url)
            try bytes.prefix(bytes.count - 1000).write(to: url)
            Self.expectError(.truncated) { _ = try CogVLMModel.load(directory: dir) }
            // Always the same tensor: the first one, in file order, that reaches past the end.
            var keys: Set<String> = []
            for _ in 0..<5 {
                do { _ = try SafetensorsFile(path: url.path) } catch let error as WeightsError { keys.insert(error.key ?? "") }
            }
            #expect(keys.count == 1, "\(keys)")
        }
    }

    /// convert checks config.json as loading does before writing anything.
    @Test func convertRefusesAConfigTheLoaderRefuses() throws {
        try Self.withFixtureCopy { dir in
            let configURL = dir.appendingPathComponent("config.json")
            var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as! [String: Any]
            config["num_hidden_layers"] = nil
            try JSONSerialization.data(withJSONObject: config).write(to: configURL)
            let out = dir.deletingLastPathComponent().appendingPathComponent(dir.lastPathComponent + "-q8")
            defer { try? FileManager.default.removeItem(at: out) }  // cleanup only
            Self.expectError(.badConfig, key: "num_hidden_layers") {
                _ = try ModelConverter.convert(from: dir, to: out, options: .init(format: .q8))
            }
            #expect(!FileManager.default.fileExists(atPath: out.path), "nothing written")
        }
    }

    @Test func missingModelDirectory() {
        Self.expectError(.missingFile) { _ = try CogVLMModel.load(directory: URL(fileURLWithPath: "/nonexistent/cogvlm")) }
    }

    /// An interrupted conversion leaves only `.partial` shards: both the loader and the next
    /// conversion into that folder say so.
    @Test func interruptedConversionIsNamed() throws {
        let dir = try Fixtures.temporaryDirectory("partial")
        defer { try? FileManager.default.removeItem(at: dir) }  // cleanup only
        #expect(FileManager.default.createFile(atPath: dir.appendingPathComponent("model-00001-of-00001.safetensors.partial").path,
                                               contents: Data([1, 2, 3])))
        let error = #expect(throws: WeightsError.self) { _ = try Checkpoint(directory: dir) }
        #expect(error?.code == .missingFile && error?.message.contains("interrupted") == true, "\(String(describing: error))")
        let refused = #expect(throws: WeightsError.self) { _ = try CheckpointDestination(dir, overwrite: false) }
        #expect(refused?.code == .outputExists && refused?.message.contains("interrupted conversion") == true,
                "\(String(describing: refused))")
    }

    @Test func indexNamesTensorNotInShard() throws {
        try Self.withFixtureCopy { dir in
            let indexURL = dir.appendingPathComponent("model.safetensors.index.json")
            var index = try JSONSerialization.jsonObject(with: Data(contentsOf: indexURL)) as! [String: Any]
            var map = index["weight_map"] as! [String: String]
            map["model.ghost.weight"] = "model-00001-of-00002.safetensors"
            index["weight_map"] = map
            try JSONSerialization.data(withJSONObject: index).write(to: indexURL)
            Self.expectError(.badIndex, key: "model.ghost.weight") { _ = try CogVLMModel.load(directory: dir) }
        }
    }

    @Test func missingTensor() throws {
        try Self.withFixtureCopy { dir in
            try Self.rewriteShard2(dir) { $0.removeValue(forKey: "model.norm.weight") }
            Self.expectError(.missingTensor, key: "model.norm.weight") { _ = try CogVLMModel.load(directory: dir) }
        }
    }

    @Test func extraTensor() throws {
        try Self.withFixtureCopy { dir in
            try Self.rewriteShard2(dir) { $0["model.vision.extra_head.weight"] = (.f32, [2], Data(count: 8)) }
            Self.expectError(.unexpectedTensor, key: "model.vision.extra_head.weight") {
                _ = try CogVLMModel.load(directory: dir)
            }
        }
    }

    @Test func misShapedTensor() throws {
        try Self.withFixtureCopy { dir in
            try Self.rewriteShard2(dir) { $0["model.norm.weight"] = (.bf16, [32], Data(count: 64)) }
            Self.expectError(.shapeMismatch, key: "model.norm.weight") { _ = try CogVLMModel.load(directory: dir) }
        }
    }

    @Test func wrongDTypeTensor() throws {
        try Self.withFixtureCopy { dir in
            try Self.rewriteShard2(dir) { $0["model.norm.weight"] = (.i64, [64], Data(count: 512)) }
            Self.expectError(.dtypeMismatch, key: "model.norm.weight") { _ = try CogVLMModel.load(directory: dir) }
        }
    }

    /// Runs `body` on a fixture copy whose config.json went through `edit` (removed afterwards).
    static func withEditedConfig<T>(_ edit: (inout [String: Any]) -> Void, _ body: (URL) throws -> T) throws -> T {
        try withFixtureCopy { dir in
            let url = dir.appendingPathComponent("config.json")
            var config = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
            edit(&config)
            try JSONSerialization.data(withJSONObject: config).write(to: url)
            return try body(dir)
        }
    }

    @Test func configKeyMissing() throws {
        try Self.withEditedConfig({ $0.removeValue(forKey: "hidden_size") }) { dir in
            Self.expectError(.badConfig, key: "hidden_size") { _ = try CogVLMModel.load(directory: dir) }
        }
    }

    @Test func configKeyWrongType() throws {
        try Self.withEditedConfig({ $0["num_attention_heads"] = "four" }) { dir in
            Self.expectError(.badConfig, key: "num_attention_heads") { _ = try CogVLMModel.load(directory: dir) }
        }
        let nonIntegralHeads: (inout [String: Any]) -> Void = { c in
            var v = c["vision_config"] as! [String: Any]
            v["num_heads"] = 2.5
            c["vision_config"] = v
        }
        try Self.withEditedConfig(nonIntegralHeads) { dir in
            Self.expectError(.badConfig, key: "vision_config.num_heads") { _ = try CogVLMModel.load(directory: dir) }
        }
    }

    @Test func configNotJSON() throws {
        try Self.withFixtureCopy { dir in
            try Data("{ not json".utf8).write(to: dir.appendingPathComponent("config.json"))
            Self.expectError(.badConfig) { _ = try CogVLMModel.load(directory: dir) }
        }
    }

    @Test func configInconsistentShapes() throws {
        try Self.withEditedConfig({ $0["num_attention_heads"] = 3 }) { dir in
            Self.expectError(.badConfig, key: "num_attention_heads") { _ = try CogVLMModel.load(directory: dir) }
        }
    }
}

/// Foundation's file errors say "The operation could not be completed"; the messages give the
/// system's reason instead.
@Suite("SystemErrorText")
struct SystemErrorTextTests {
    @Test func givesTheSystemsReason() throws {
        let wrapped = NSError(domain: NSCocoaErrorDomain, code: 512,
                              userInfo: [NSUnderlyingErrorKey: POSIXError(.ENOSPC)])
        #expect(SystemErrorText.reason(wrapped) == "No space left on device")
        #expect(SystemErrorText.reason(POSIXError(.EFBIG)) == "File too large")
        #expect(SystemErrorText.reason(NSError(domain: NSPOSIXErrorDomain, code: Int(EACCES))) == "Permission denied")
        // A real one: writing into a folder that does not exist.
        let missing = URL(fileURLWithPath: "/nonexistent-cogjobs-\(getpid())/file")
        do {
            try Data("x".utf8).write(to: missing)
            Issue.record("wrote into a folder that does not exist")
        } catch {
            #expect(SystemErrorText.reason(error) == "No such file or directory", "\(error)")
        }
    }
}

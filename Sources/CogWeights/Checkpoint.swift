import Foundation

/// A model directory's weights: one `model.safetensors`, or shards listed by
/// `model.safetensors.index.json` (`weight_map`: tensor name → shard file), all memory-mapped.
///
/// The loader follows the index rather than assuming an order, checks that every tensor the index
/// names is in the shard it names (and nowhere else), and tracks which tensors the model asked for
/// so that leftovers can be reported (`unusedTensorNames`).
public final class Checkpoint: Sendable {
    /// Directory the checkpoint was read from.
    public let directory: URL
    /// Every tensor in every shard, by name.
    public let tensors: [String: TensorView]
    /// The shard files, in index order (one entry for a single-file checkpoint).
    public let shards: [SafetensorsFile]
    /// Merged `__metadata__` of all shards.
    public let metadata: [String: String]

    /// Total bytes of tensor data (what an mmap of the weights costs at most).
    public var totalTensorBytes: Int { tensors.values.reduce(0) { $0 + $1.byteCount } }

    /// The shard index's file name (`weight_map`: tensor name → shard file).
    public static let indexFileName = "model.safetensors.index.json"
    /// The file name of an unsharded checkpoint.
    public static let singleFileName = "model.safetensors"

    /// Opens the safetensors weights in `directory`.
    public init(directory: URL) throws {
        self.directory = directory
        let fm = FileManager.default
        let indexURL = directory.appendingPathComponent(Self.indexFileName)
        let singleURL = directory.appendingPathComponent(Self.singleFileName)
        var shardNames: [String] = []
        var weightMap: [String: String]? = nil
        if fm.fileExists(atPath: indexURL.path) {
            let (names, map) = try Self.readIndex(indexURL)
            shardNames = names
            weightMap = map
        } else if fm.fileExists(atPath: singleURL.path) {
            shardNames = [Self.singleFileName]
        } else {
            var isDir: ObjCBool = false
            let exists = fm.fileExists(atPath: directory.path, isDirectory: &isDir)
            let interrupted = ((try? fm.contentsOfDirectory(atPath: directory.path)) ?? [])
                .contains { $0.hasSuffix(".safetensors.partial") }
            let message = !exists ? "model directory does not exist"
                : isDir.boolValue
                    ? (interrupted
                        ? "no model.safetensors.index.json here, only .partial shards: a conversion into this folder was "
                            + "interrupted; run it again with --overwrite"
                        : "no model.safetensors.index.json or model.safetensors here; point --model at a Hugging Face "
                            + "model directory")
                    : "this is a file, not a directory; point --model at the Hugging Face model directory that holds it"
            throw WeightsError(.missingFile, message, file: directory.path)
        }
        var shards: [SafetensorsFile] = []
        var tensors: [String: TensorView] = [:]
        var metadata: [String: String] = [:]
        for name in shardNames {
            let url = directory.appendingPathComponent(name)
            guard fm.fileExists(atPath: url.path) else {
                throw WeightsError(.missingFile,
                    "shard listed in model.safetensors.index.json is missing (incomplete download?)", file: url.path)
            }
            let shard = try SafetensorsFile(path: url.path)
            shards.append(shard)
            metadata.merge(shard.metadata) { first, _ in first }
            for (tensorName, view) in shard.tensors {
                if let previous = tensors[tensorName] {
                    throw WeightsError(.badIndex, "tensor appears in two shards (also in \(previous.file.path))",
                                       file: url.path, key: tensorName)
                }
                if let map = weightMap, map[tensorName] != name {
                    throw WeightsError(.badIndex,
                        map[tensorName] == nil
                            ? "tensor is in this shard but not in model.safetensors.index.json"
                            : "index says this tensor is in \(map[tensorName] ?? "?")",
                        file: url.path, key: tensorName)
                }
                tensors[tensorName] = view
            }
        }
        if let map = weightMap {
            for (tensorName, shardName) in map.sorted(by: { $0.key < $1.key }) where tensors[tensorName] == nil {
                throw WeightsError(.badIndex, "index lists this tensor in \(shardName), but that shard does not contain it",
                                   file: directory.appendingPathComponent(shardName).path, key: tensorName)
            }
        }
        self.shards = shards
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Reads `model.safetensors.index.json`: shard names in first-seen order and the weight map.
    private static func readIndex(_ url: URL) throws -> ([String], [String: String]) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw WeightsError(.missingFile, "cannot read the shard index: \(SystemErrorText.reason(error))", file: url.path)
        }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            // try? here: any parse failure is reported as the one error below.
            throw WeightsError(.badIndex, "not a JSON object", file: url.path)
        }
        guard let rawMap = object["weight_map"] as? [String: Any] else {
            throw WeightsError(.badIndex, "missing \"weight_map\" object", file: url.path, key: "weight_map")
        }
        var map: [String: String] = [:]
        for (k, v) in rawMap {
            guard let shard = v as? String, !shard.isEmpty, !shard.contains("/"), shard != ".." else {
                throw WeightsError(.badIndex, "shard name must be a plain file name", file: url.path, key: k)
            }
            map[k] = shard
        }
        let names = Array(Set(map.values)).sorted()
        return (names, map)
    }

    /// The tensor `name`, or nil.
    public func tensorIfPresent(_ name: String) -> TensorView? { tensors[name] }

    /// The tensor `name`, checked against an expected shape and allowed dtypes.
    public func tensor(_ name: String, shape: [Int], dtypes: Set<DType> = [.bf16, .f16, .f32]) throws -> TensorView {
        guard let view = tensors[name] else {
            throw WeightsError(.missingTensor, "the model needs this tensor (shape \(shape)) but the checkpoint lacks it",
                               file: directory.path, key: name)
        }
        guard view.shape == shape else {
            throw WeightsError(.shapeMismatch, "shape is \(view.shape), the configuration implies \(shape)",
                               file: view.file.path, key: name)
        }
        guard dtypes.contains(view.dtype) else {
            throw WeightsError(.dtypeMismatch,
                "dtype is \(view.dtype.rawValue); expected one of \(dtypes.map(\.rawValue).sorted().joined(separator: ", "))",
                file: view.file.path, key: name)
        }
        return view
    }

    /// Names present in the checkpoint but not in `used`, sorted.
    public func unusedTensorNames(used: Set<String>) -> [String] {
        tensors.keys.filter { !used.contains($0) }.sorted()
    }
}

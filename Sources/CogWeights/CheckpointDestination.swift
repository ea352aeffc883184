import Foundation

/// The output directory of a checkpoint writer (`cogjobs convert`, `cogjobs dev make-model`).
///
/// A new checkpoint is never mixed into an old one: a directory that already holds checkpoint files
/// (shards, their `.partial` remnants, the shard index) is refused unless `overwrite` is set. When
/// overwriting, what makes the old checkpoint loadable goes first (its index, or a single-file
/// `model.safetensors`), so an interrupted run leaves a directory that fails to load ("no index")
/// rather than an old index naming half-replaced shards; `finish` writes the new
/// index (temporary file + rename) and then removes the old checkpoint's files the new one does not
/// use (a 3-shard q8 checkpoint replaced by a 2-shard q4 one would otherwise keep a stale shard).
/// Other files in the directory are left alone.
public struct CheckpointDestination: Sendable {
    public let directory: URL
    /// Checkpoint files present before writing (names relative to `directory`), sorted.
    public let previous: [String]

    /// Whether `name` is a file a checkpoint writer owns: a safetensors shard, its `.partial`
    /// remnant, or the shard index.
    public static func isCheckpointFile(_ name: String) -> Bool {
        name == Checkpoint.indexFileName || name.hasSuffix(".safetensors") || name.hasSuffix(".safetensors.partial")
            || name == Checkpoint.indexFileName + ".partial"
    }

    /// Prepares `directory` (created if needed). Throws `.outputExists` when it already holds
    /// checkpoint files and `overwrite` is false, `.io` when it cannot be created or read.
    public init(_ directory: URL, overwrite: Bool) throws {
        self.directory = directory
        let fm = FileManager.default
        do { try fm.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw WeightsError(.io, "cannot create the output directory: \(SystemErrorText.reason(error))", file: directory.path)
        }
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: directory.path) } catch {
            throw WeightsError(.io, "cannot list the output directory: \(SystemErrorText.reason(error))", file: directory.path)
        }
        previous = names.filter(Self.isCheckpointFile).sorted()
        guard !previous.isEmpty else { return }
        guard overwrite else {
            let shown = previous.prefix(3).joined(separator: ", ") + (previous.count > 3 ? ", …" : "")
            let interrupted = previous.contains { $0.hasSuffix(".partial") }
                ? " (.partial files are what an interrupted conversion leaves behind)" : ""
            throw WeightsError(.outputExists,
                               "the output directory already holds a checkpoint (\(previous.count) file(s): \(shown))"
                               + "\(interrupted); choose another directory, or pass --overwrite to replace it",
                               file: directory.path)
        }
        for entry in [Checkpoint.indexFileName, Checkpoint.singleFileName] {
            let url = directory.appendingPathComponent(entry)
            guard fm.fileExists(atPath: url.path) else { continue }
            do { try fm.removeItem(at: url) } catch {
                throw WeightsError(.io, "cannot remove the checkpoint being replaced: \(SystemErrorText.reason(error))", file: url.path)
            }
        }
    }

    /// Writes the shard index (`weightMap`: tensor name → shard file; `totalBytes`: the tensors'
    /// bytes, the index's `metadata.total_size`) and removes the previous checkpoint's files that
    /// the new one does not use.
    public func finish(weightMap: [String: String], totalBytes: Int) throws {
        let fm = FileManager.default
        let url = directory.appendingPathComponent(Checkpoint.indexFileName)
        let partial = directory.appendingPathComponent(Checkpoint.indexFileName + ".partial")
        let shards = Set(weightMap.values)
        do {
            let index: [String: Any] = ["metadata": ["total_size": totalBytes], "weight_map": weightMap]
            try JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys]).write(to: partial)
            if fm.fileExists(atPath: url.path) { try fm.removeItem(at: url) }
            try fm.moveItem(at: partial, to: url)
        } catch {
            throw WeightsError(.io, "cannot write the shard index: \(SystemErrorText.reason(error))", file: url.path)
        }
        for name in previous where name != Checkpoint.indexFileName && !shards.contains(name) {
            let stale = directory.appendingPathComponent(name)
            guard fm.fileExists(atPath: stale.path) else { continue }
            do { try fm.removeItem(at: stale) } catch {
                throw WeightsError(.io, "cannot remove a stale file of the replaced checkpoint: \(SystemErrorText.reason(error))",
                                   file: stale.path)
            }
        }
    }
}

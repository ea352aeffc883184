import CogJobStore
import Foundation

/// The model identity stored with every job and result, and part of the deduplication key:
/// `<directory name>@<12 hex digits>`, e.g. `cogvlm-chat-hf@3f2a9c01b7de`.
///
/// The hex digits are the start of the SHA-256 over, in order, the bytes of `config.json` and
/// of the shard index `model.safetensors.index.json` (which lists every tensor and its shard);
/// for an unsharded checkpoint, the name and size of each `*.safetensors` file instead. So the
/// identity changes when the architecture, the tensor layout or the checkpoint files change, but
/// not when the folder is merely moved (the daemon and the CLI compute it independently and must
/// agree). It does not hash the weights themselves: swapping tensor values while keeping the
/// files' names and sizes is not noticed (that would mean reading tens of gigabytes at start-up).
public enum ModelIdentity {
    /// Why `directory/config.json` could not be read, in the terms of what the folder holds.
    static func missingConfigAdvice(_ directory: URL) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) else {
            return "the model directory does not exist; set `model_directory` (or --model) to a CogVLM checkpoint "
                + "folder (config.json + safetensors)"
        }
        guard isDirectory.boolValue else {
            return "the model directory is a file; set `model_directory` (or --model) to the checkpoint's folder"
        }
        let names = Set((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        if names.contains("tokenizer.model") || names.contains("tokenizer.json") {
            return "this folder holds a tokenizer but no config.json: it is a tokenizer folder; set "
                + "`tokenizer_directory` to it and `model_directory` to the CogVLM checkpoint folder"
        }
        return "cannot read config.json; is `model_directory` a CogVLM checkpoint folder (config.json + safetensors)?"
    }

    /// The identity of the model in `directory`.
    /// - Throws: `DaemonError` `.modelLoad` when `config.json` (or every weight file) is missing.
    public static func of(directory: URL) throws(DaemonError) -> String {
        let configURL = directory.appendingPathComponent("config.json")
        guard let config = try? Data(contentsOf: configURL) else {
            // The read error itself adds nothing: what the folder holds says what to fix.
            throw DaemonError(code: .modelLoad, message: missingConfigAdvice(directory), subject: configURL.path)
        }
        var hasher = StreamingSHA256()
        config.withUnsafeBytes { hasher.update($0) }
        hasher.update([0])
        let indexURL = directory.appendingPathComponent("model.safetensors.index.json")
        if let index = try? Data(contentsOf: indexURL) {  // absent for an unsharded checkpoint
            index.withUnsafeBytes { hasher.update($0) }
        } else {
            // An unlistable folder has no weights we can see: reported just below.
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            let weights = files.filter { $0.hasSuffix(".safetensors") }.sorted()
            guard !weights.isEmpty else {
                throw DaemonError(code: .modelLoad, message: "no .safetensors weights next to config.json",
                                  subject: directory.path)
            }
            for name in weights {
                let path = directory.appendingPathComponent(name).path
                // An unreadable size is hashed as -1: the identity still depends on the file's name.
                let attributes = try? FileManager.default.attributesOfItem(atPath: path)
                let size = (attributes?[.size] as? NSNumber)?.int64Value ?? -1
                hasher.update(Array("\(name)\u{0}\(size)\u{0}".utf8))
            }
        }
        let digest = hasher.finalizeHex()
        return "\(directory.standardizedFileURL.lastPathComponent)@\(digest.prefix(12))"
    }
}

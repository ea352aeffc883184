import CogConfig
import CogJobStore
import Foundation
import Glibc

/// What happens to an image from a watched folder once its job has ended and the outcome is
/// committed: the optional `.txt` / `.json` sidecar and the optional move to `move_done_to` /
/// `move_failed_to`. Nothing here runs before the commit, so a sidecar never describes a result
/// the database does not have.
///
/// Order after a success: move the image (if configured), then write the sidecar next to where
/// the image now is. A sidecar is written to a hidden temporary file in the same folder, flushed
/// with `fsync`, then renamed over its final name, so readers see the old file or the new one,
/// never half of one. Moves keep the image's path relative to the watched folder; a name already
/// taken at the destination gets `-job<ID>` before its extension.
///
/// A crash after the commit but before these steps (or a failure in them) is repaired when the
/// image is seen again (start-up scan, rescan): it comes back as a duplicate of a finished job,
/// and `reconcile` performs whatever is still missing. An image already moved out of the watched
/// folder is not seen again, so a crash between a move and its sidecar leaves the moved image
/// without one (its result is in the database).
enum FolderActions {
    /// The watched folder `path` belongs to, if any (the deepest folder that contains it).
    static func folder(containing path: String, in folders: [WatchedFolder]) -> WatchedFolder? {
        let candidates = folders.filter { folder in
            let root = normalized(folder.path)
            guard path.hasPrefix(root == "/" ? "/" : root + "/") else { return false }
            return folder.recursive || !path.dropFirst(root.count + 1).contains("/")
        }
        return candidates.max { normalized($0.path).count < normalized($1.path).count }
    }

    /// What the post-commit actions did.
    struct Report: Sendable {
        /// For the log ("moved to …", "wrote …").
        var done: [String] = []
        /// Where the image now is, if it was moved (the caller records it: `JobStore.imageMoved`).
        var movedTo: String?
    }

    /// Post-commit actions for a succeeded job.
    static func afterSuccess(_ content: SidecarContent, folder: WatchedFolder) throws -> Report {
        var report = Report()
        var imagePath = content.imagePath
        var content = content
        if let target = folder.moveDoneTo, FileManager.default.fileExists(atPath: imagePath) {
            imagePath = try move(imagePath, from: folder, to: target, jobID: content.jobID)
            report.done.append("moved to \(imagePath)")
            report.movedTo = imagePath
            content.imagePath = imagePath  // the sidecar lies next to the moved image and names it
        }
        if folder.sidecar != .none {
            let sidecar = try writeSidecar(content, format: folder.sidecar, nextTo: imagePath)
            report.done.append("wrote \(sidecar)")
        }
        return report
    }

    /// Post-commit actions for a job that failed for good (or was quarantined): a sidecar next to
    /// the image that describes other content (an earlier version of the file, which succeeded) is
    /// removed — it no longer says anything true about the file — then the configured move.
    /// `imageSHA256` is the failed job's content (nil: unknown, the sidecar is left).
    static func afterFailure(imagePath: String, jobID: Int64, imageSHA256: String?, folder: WatchedFolder) throws
        -> Report
    {
        var report = Report()
        if folder.sidecar != .none, let imageSHA256 {
            let probe = SidecarContent(jobID: jobID, resultID: 0, imagePath: imagePath, imageSHA256: imageSHA256,
                                       task: "", prompt: "", output: JobOutput(text: "", rawOutput: "", promptTokens: 0,
                                                                               generatedTokens: 0, model: ""))
            let path = sidecarPath(for: imagePath, format: folder.sidecar)
            // A .txt sidecar holds no hash: after a failure it cannot be shown to match, so it goes too.
            if sidecarState(for: probe, format: folder.sidecar) == .otherContent || folder.sidecar == .txt,
               FileManager.default.fileExists(atPath: path) {
                if unlink(path) == 0 { report.done.append("removed the sidecar of the earlier content \(path)") }
            }
        }
        guard let target = folder.moveFailedTo, FileManager.default.fileExists(atPath: imagePath) else { return report }
        let destination = try move(imagePath, from: folder, to: target, jobID: jobID)
        report.done.append("moved to \(destination)")
        report.movedTo = destination
        return report
    }

    /// The sidecar path for an image: `photo.jpg` → `photo.jpg.txt` / `photo.jpg.json`.
    static func sidecarPath(for imagePath: String, format: SidecarFormat) -> String {
        imagePath + "." + format.rawValue
    }

    /// Whether the sidecar next to `content.imagePath` is there and describes `content`'s image.
    enum SidecarState: Equatable {
        case missing
        /// Written for this content (a `.json` sidecar's `image_sha256`; a `.txt` sidecar's text).
        case current
        /// Written for other bytes that had this name before (or unreadable): to be rewritten.
        case otherContent
    }

    /// Reads the sidecar `format` next to `content.imagePath` and compares it with `content`.
    static func sidecarState(for content: SidecarContent, format: SidecarFormat) -> SidecarState {
        guard format != .none else { return .current }
        let path = sidecarPath(for: content.imagePath, format: format)
        guard let data = FileManager.default.contents(atPath: path) else {
            return FileManager.default.fileExists(atPath: path) ? .otherContent : .missing
        }
        switch format {
        case .none:
            return .current
        case .txt:
            return data == Data((content.text + "\n").utf8) ? .current : .otherContent
        case .json:
            // Unparseable JSON counts as other content: it is rewritten.
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            return object?["image_sha256"] as? String == content.imageSHA256 ? .current : .otherContent
        }
    }

    /// Writes the sidecar atomically (temp + fsync + rename). Returns its path.
    static func writeSidecar(_ content: SidecarContent, format: SidecarFormat,
                             nextTo imagePath: String) throws -> String {
        let path = sidecarPath(for: imagePath, format: format)
        let data: Data
        switch format {
        case .none: return path
        case .txt: data = Data((content.text + "\n").utf8)
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            data = try encoder.encode(content)
        }
        try writeAtomically(data, to: path)
        return path
    }

    static func writeAtomically(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let temporary = folder + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw posixError("create", temporary) }
        var failure: (any Error)? = nil
        data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = posixError("write", temporary)
                    return
                }
                offset += written
            }
        }
        if failure == nil && fsync(descriptor) != 0 { failure = posixError("fsync", temporary) }
        close(descriptor)
        if failure == nil && rename(temporary, path) != 0 { failure = posixError("rename", path) }
        if let failure {
            unlink(temporary)  // best effort: a leftover hidden temp file is ignored by the watcher anyway
            throw failure
        }
    }

    /// Moves `path` into `target`, keeping its path relative to the watched folder.
    static func move(_ path: String, from folder: WatchedFolder, to target: String, jobID: Int64) throws -> String {
        let root = normalized(folder.path)
        let relative = path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1))
            : URL(fileURLWithPath: path).lastPathComponent
        var destination = URL(fileURLWithPath: target).appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: destination.deletingLastPathComponent(),
                                                withIntermediateDirectories: true)
        if FileManager.default.fileExists(atPath: destination.path) {
            let ext = destination.pathExtension
            let stem = destination.deletingPathExtension().lastPathComponent
            destination = destination.deletingLastPathComponent()
                .appendingPathComponent(ext.isEmpty ? "\(stem)-job\(jobID)" : "\(stem)-job\(jobID).\(ext)")
        }
        if rename(path, destination.path) != 0 {
            guard errno == EXDEV else { throw posixError("rename", path) }
            try FileManager.default.moveItem(atPath: path, toPath: destination.path)  // another file system
        }
        return destination.path
    }

    static func normalized(_ path: String) -> String {
        "/" + path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    private static func posixError(_ call: String, _ path: String) -> DaemonError {
        DaemonError(code: .fileUnreadable, message: "\(call) failed", subject: path,
                    cause: String(cString: strerror(errno)))
    }
}

/// The `.json` sidecar (and the `.txt` sidecar's text): one result with its job and boxes.
struct SidecarContent: Encodable, Sendable, Equatable {

    var jobID: Int64
    var resultID: Int64
    var imagePath: String
    var imageSHA256: String
    var task: String
    /// The job's prompt; "" when the task's default prompt was used (written as `null`).
    var prompt: String
    var model: String
    var text: String
    var rawOutput: String
    var promptTokens: Int
    var generatedTokens: Int
    var totalMilliseconds: Double
    /// The Box record of every JSON output (`GroundingBox`'s encoding).
    var boxes: [GroundingBox]

    enum CodingKeys: String, CodingKey {
        case jobID = "job_id", resultID = "result_id", imagePath = "image_path", imageSHA256 = "image_sha256"
        case task, prompt, model, text, rawOutput = "raw_output", promptTokens = "prompt_tokens"
        case generatedTokens = "generated_tokens", totalMilliseconds = "total_ms", boxes
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(jobID, forKey: .jobID)
        try c.encode(resultID, forKey: .resultID)
        try c.encode(imagePath, forKey: .imagePath)
        try c.encode(imageSHA256, forKey: .imageSHA256)
        try c.encode(task, forKey: .task)
        try c.encode(prompt.isEmpty ? nil : prompt, forKey: .prompt)  // null: the task's default prompt
        try c.encode(model, forKey: .model)
        try c.encode(text, forKey: .text)
        try c.encode(rawOutput, forKey: .rawOutput)
        try c.encode(promptTokens, forKey: .promptTokens)
        try c.encode(generatedTokens, forKey: .generatedTokens)
        try c.encode(totalMilliseconds, forKey: .totalMilliseconds)
        try c.encode(boxes, forKey: .boxes)
    }

    init(jobID: Int64, resultID: Int64, imagePath: String, imageSHA256: String, task: String, prompt: String,
         output: JobOutput) {
        self.jobID = jobID
        self.resultID = resultID
        self.imagePath = imagePath
        self.imageSHA256 = imageSHA256
        self.task = task
        self.prompt = prompt
        model = output.model
        text = output.text
        rawOutput = output.rawOutput
        promptTokens = output.promptTokens
        generatedTokens = output.generatedTokens
        totalMilliseconds = output.totalMilliseconds
        boxes = output.boxes
    }
}

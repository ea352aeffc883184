import CogWeights
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where `cogjobs export` writes: standard output, or a file that appears complete or not at all
/// (written to a temporary name next to it, then renamed over it).
final class ExportDestination {
    private let context: CommandContext
    private let finalPath: String?
    private let temporaryPath: String?
    private let handle: FileHandle?
    private var pending = ""
    /// Set once the file is renamed into place.
    private var finished = false

    /// Standard output of `context` when `path` is nil, else a new file at `path`. Refuses a `path`
    /// that names one of `protected` (the job database the export reads and its SQLite side files):
    /// renaming the export over it would replace the live database.
    init(path: String?, protecting protected: [String] = [], context: CommandContext) throws {
        self.context = context
        guard let path else {
            finalPath = nil
            temporaryPath = nil
            handle = nil
            return
        }
        let absolute = path.hasPrefix("/") ? path : URL(fileURLWithPath: path).standardizedFileURL.path
        for input in protected where FileIdentity.same(URL(fileURLWithPath: absolute), URL(fileURLWithPath: input)) {
            throw CLIError(.outputFailed, "--output \(path) is the job database the export reads (\(input)); "
                           + "choose another file")
        }
        let temporary = absolute + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary) else {
            throw CLIError(.outputFailed, "cannot create \(temporary) (for --output \(absolute)): check that the folder exists "
                           + "and is writable")
        }
        finalPath = absolute
        temporaryPath = temporary
        self.handle = handle
    }

    deinit {
        // An export that did not reach `finish()` leaves no partial file behind.
        if !finished, let temporaryPath {
            // Best effort: the export already failed and reported why; a close error adds nothing.
            try? handle?.close()
            unlink(temporaryPath)
        }
    }

    /// A description for messages: the file path or "standard output".
    var name: String { finalPath ?? "standard output" }

    /// Appends `text`; flushed in blocks of about 1 MB.
    func write(_ text: String) throws {
        pending += text
        if pending.utf8.count >= 1 << 20 { try flush() }
    }

    /// Writes what is pending and, for a file, syncs it and renames it into place.
    func finish() throws {
        try flush()
        guard let handle, let temporaryPath, let finalPath else { return }
        do {
            try handle.synchronize()
            try handle.close()
        } catch {
            throw CLIError(.outputFailed, "cannot write \(temporaryPath): \(FileErrors.reason(error))")
        }
        guard rename(temporaryPath, finalPath) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw CLIError(.outputFailed, "cannot rename \(temporaryPath) to \(finalPath): \(reason)")
        }
        finished = true
    }

    private func flush() throws {
        guard !pending.isEmpty else { return }
        defer { pending = "" }
        guard let handle else {
            context.write(pending)
            return
        }
        do {
            try handle.write(contentsOf: Data(pending.utf8))
        } catch {
            throw CLIError(.outputFailed, "cannot write \(temporaryPath ?? name): \(FileErrors.reason(error))")
        }
    }
}

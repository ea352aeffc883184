import Foundation
import SystemPackage

/// One folder to watch, with its recursion flag and name filter.
public struct WatchRoot: Sendable, Equatable {
    /// The folder, absolute and lexically normalized (no `.`/`..`, no trailing slash).
    public let url: URL
    /// Whether subfolders (including ones created later) are watched and scanned too.
    public var recursive: Bool
    /// Which names are reported or descended into.
    public var filter: FileFilter

    /// Creates a root. A relative `url` is resolved against the current directory.
    public init(_ url: URL, recursive: Bool = true, filter: FileFilter = FileFilter()) {
        var path = FilePath(url.path).lexicallyNormalized()
        if !path.isAbsolute {
            path = FilePath(FileManager.default.currentDirectoryPath).pushing(path).lexicallyNormalized()
        }
        self.url = URL(fileURLWithPath: path.string, isDirectory: true)
        self.recursive = recursive
        self.filter = filter
    }

    /// The root's path as a string, without trailing slash.
    var path: String { url.path }

    /// Lists the complete files already under this root, honouring the filter and the recursion flag.
    ///
    /// Use it at start-up (what arrived while the daemon was stopped) and after `.rescanNeeded`.
    /// A scan cannot tell a finished file from one a producer is still writing: start the watcher
    /// before scanning, so such a file is reported again by its `IN_CLOSE_WRITE`, and deduplicate.
    ///
    /// - Throws: `WatcherError` when the root itself is missing, not a folder or unreadable.
    ///   Unreadable subfolders and names that are not UTF-8 do not stop the scan; they are listed
    ///   in `ScanResult.problems`.
    public func scan() throws(WatcherError) -> ScanResult {
        var result = ScanResult(files: [], problems: [])
        try TreeWalker.walk(self, visitDirectory: { _, _ in true }, visitFile: { path, _ in
            result.files.append(WatchedFile(url: URL(fileURLWithPath: path, isDirectory: false), root: url))
        }, problem: { result.problems.append($0) })
        result.files.sort { $0.url.path < $1.url.path }
        return result
    }
}

/// The outcome of a scan: the files found (sorted by path) and the problems that did not stop it.
public struct ScanResult: Sendable, Equatable {
    /// The files found, sorted by path.
    public var files: [WatchedFile]
    /// Subfolders that could not be read, names that could not be decoded, vanished roots.
    public var problems: [WatcherError]

    /// Creates a result.
    public init(files: [WatchedFile], problems: [WatcherError]) {
        self.files = files
        self.problems = problems
    }
}

/// Walks a root's tree depth-first, applying the root's filter and recursion flag, never following
/// symbolic links. Shared by `WatchRoot.scan()` and the watcher's event loop.
enum TreeWalker {
    /// Walks `root`, or the subtree at `startPath` (relative path `startRelativePath`) of it.
    ///
    /// - Parameters:
    ///   - visitDirectory: called for each accepted folder *before* it is listed (the event loop
    ///     adds its watch there, so no file can slip in between); return false to skip the folder.
    ///     An error thrown for the start folder stops the walk; for others it becomes a `problem`.
    ///   - visitFile: called for each accepted regular file.
    ///   - problem: receives every non-fatal error.
    /// - Throws: the start folder's error (missing, not a folder, unreadable, watch limit).
    static func walk(_ root: WatchRoot, startPath: String? = nil, startRelativePath: String = "",
                     visitDirectory: (_ path: String, _ relativePath: String) throws(WatcherError) -> Bool,
                     visitFile: (_ path: String, _ relativePath: String) -> Void,
                     problem: (WatcherError) -> Void) throws(WatcherError) {
        let start = startPath ?? root.path
        let status: FileSystemEntry.Status
        do {
            status = try FileSystemEntry.status(start, followLinks: startPath == nil)
        } catch {
            throw WatcherError.forFolder(start, call: "stat", error)
        }
        guard status.kind == .directory else { throw WatcherError.notADirectory(start) }
        var stack: [(path: String, relativePath: String)] = [(start, startRelativePath)]
        var isStart = true
        while let (path, relativePath) = stack.popLast() {
            let entries: [FileSystemEntry.Entry]
            do {
                guard try visitDirectory(path, relativePath) else { isStart = false; continue }
                entries = try FileSystemEntry.list(path)
            } catch let error as WatcherError {
                if isStart { throw error }
                problem(error)
                continue
            } catch let error as Errno {
                if isStart { throw WatcherError.forFolder(path, call: "opendir", error) }
                // A subfolder deleted between being listed and being opened is not a problem.
                if error != .noSuchFileOrDirectory { problem(.forFolder(path, call: "opendir", error)) }
                continue
            } catch {
                // Unreachable: the closure and `list` only throw WatcherError and Errno.
                continue
            }
            isStart = false
            for entry in entries {
                guard let name = entry.name else {
                    problem(WatcherError(code: .unsupportedName,
                                         message: "the file name is not valid UTF-8 (shown with \\x escapes) and "
                                             + "was skipped; rename it to be processed",
                                         path: path + "/" + PrintableText.fileName(entry.nameBytes)))
                    continue
                }
                let childPath = path + "/" + name
                let childRelative = relativePath.isEmpty ? name : relativePath + "/" + name
                switch entry.kind {
                case .directory:
                    if root.recursive && root.filter.acceptsDirectory(relativePath: childRelative) {
                        stack.append((childPath, childRelative))
                    }
                case .regularFile:
                    if root.filter.acceptsFile(relativePath: childRelative) { visitFile(childPath, childRelative) }
                case .other:
                    continue
                }
            }
        }
    }
}

import Foundation

/// A complete file found under a watched root, by an event or by a scan.
public struct WatchedFile: Sendable, Hashable, CustomStringConvertible {
    /// The file (absolute, below `root`).
    public var url: URL
    /// The watched root the file was found under, exactly as it was given to the watcher.
    public var root: URL

    /// Creates a value; the watcher and `scan()` make these.
    public init(url: URL, root: URL) {
        self.url = url
        self.root = root
    }

    /// The file's path relative to its root (e.g. `2024/june/cat.jpg`).
    public var relativePath: String {
        let rootPath = root.path
        let path = url.path
        guard path.hasPrefix(rootPath + "/") else { return path }
        return String(path.dropFirst(rootPath.count + 1))
    }

    public var description: String { url.path }
}

/// What the directory watcher reports on its event stream.
public enum WatchEvent: Sendable, Equatable, CustomStringConvertible {
    /// A file is complete: its writer closed it (`IN_CLOSE_WRITE`) or it was renamed into the tree
    /// (`IN_MOVED_TO`), or it was found in a folder that appeared after start and stayed unchanged
    /// for the settle interval. The same file can be reported more than once (a writer that closes
    /// it twice); consumers deduplicate.
    case file(WatchedFile)
    /// Events were lost (inotify queue overflow) or the root came back after vanishing: the consumer
    /// should `scan()` this root to catch up. Watches for new subfolders were re-added already.
    case rescanNeeded(root: URL)
    /// A problem that did not stop the watcher: a subfolder that cannot be watched, a vanished root,
    /// the watch limit reached for a new subfolder. Worth logging; the watcher keeps running.
    case error(WatcherError)

    public var description: String {
        switch self {
        case .file(let file): return "file(\(file.url.path))"
        case .rescanNeeded(let root): return "rescanNeeded(\(root.path))"
        case .error(let error): return "error(\(error))"
        }
    }
}

import SystemPackage

/// Why the directory watcher could not watch or scan a folder.
///
/// `code` is stable (safe to store, match and document); `message` tells the operator what to do;
/// `path` is the folder or file concerned; `errno` is the system error behind it, when there is one.
public struct WatcherError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A stable, machine-readable error code.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A watched root does not exist.
        public static let rootMissing = Code(rawValue: "watcher.root_missing")
        /// A watched root exists but is not a directory.
        public static let notADirectory = Code(rawValue: "watcher.not_a_directory")
        /// The process may not read (or watch) a folder.
        public static let permissionDenied = Code(rawValue: "watcher.permission_denied")
        /// `fs.inotify.max_user_watches` is exhausted: a folder could not be watched.
        public static let watchLimitReached = Code(rawValue: "watcher.watch_limit_reached")
        /// `fs.inotify.max_user_instances` (or the process's file descriptor limit) is exhausted.
        public static let instanceLimitReached = Code(rawValue: "watcher.instance_limit_reached")
        /// Two roots overlap (one is the other or lies inside a recursively watched one).
        public static let overlappingRoots = Code(rawValue: "watcher.overlapping_roots")
        /// A watched root was deleted, moved away or unmounted while being watched.
        public static let rootVanished = Code(rawValue: "watcher.root_vanished")
        /// `start()` was called on a watcher that was already started (a watcher runs once).
        public static let alreadyStarted = Code(rawValue: "watcher.already_started")
        /// A file or folder name is not valid UTF-8 and was skipped.
        public static let unsupportedName = Code(rawValue: "watcher.unsupported_name")
        /// Any other failed system call (the `errno` says which).
        public static let systemCallFailed = Code(rawValue: "watcher.system_call_failed")
    }

    /// The stable error code.
    public var code: Code
    /// What went wrong and what to do about it.
    public var message: String
    /// The folder or file this error concerns, if any.
    public var path: String?
    /// The system error behind this one, if any.
    public var errno: Errno?

    /// Creates an error; prefer the static factories below.
    public init(code: Code, message: String, path: String? = nil, errno: Errno? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.errno = errno
    }

    public var description: String { "\(code): \(detail)" }

    /// The message without the code: what the description shows after `code: ` (the CLI prints
    /// `Error: <code>: <detail>`).
    public var detail: String {
        var text = message
        if let path { text += " [path: \(path)]" }
        if let errno { text += " [errno \(errno.rawValue): \(errno)]" }
        return text
    }
}

extension WatcherError {
    static func rootMissing(_ path: String) -> WatcherError {
        WatcherError(code: .rootMissing,
                     message: "the watched folder does not exist; create it or remove it from the configuration",
                     path: path, errno: .noSuchFileOrDirectory)
    }

    static func notADirectory(_ path: String) -> WatcherError {
        WatcherError(code: .notADirectory,
                     message: "the watched path is not a folder; point the configuration at a folder",
                     path: path, errno: .notDirectory)
    }

    static func permissionDenied(_ path: String, _ errno: Errno) -> WatcherError {
        WatcherError(code: .permissionDenied,
                     message: "cannot read or watch this folder; give the daemon's user read and execute "
                         + "permission on it (and check ReadWritePaths=/ReadOnlyPaths= in the systemd unit)",
                     path: path, errno: errno)
    }

    static func watchLimitReached(_ path: String) -> WatcherError {
        WatcherError(code: .watchLimitReached,
                     message: "the inotify watch limit is reached (one watch per folder); raise it with "
                         + "`sysctl fs.inotify.max_user_watches=524288` (persist it in /etc/sysctl.d/), "
                         + "or watch fewer folders",
                     path: path, errno: .noSpace)
    }

    static func instanceLimitReached(_ errno: Errno) -> WatcherError {
        WatcherError(code: .instanceLimitReached,
                     message: "cannot create an inotify instance; raise `sysctl fs.inotify.max_user_instances` "
                         + "or the open-file limit (LimitNOFILE= in the systemd unit)",
                     errno: errno)
    }

    static func rootVanished(_ path: String) -> WatcherError {
        WatcherError(code: .rootVanished,
                     message: "the watched folder was deleted, moved or unmounted; the watcher checks "
                         + "periodically and resumes (with a rescan) when it is back",
                     path: path)
    }

    static func systemCall(_ call: String, _ errno: Errno, path: String? = nil) -> WatcherError {
        WatcherError(code: .systemCallFailed, message: "\(call) failed: \(errno)", path: path, errno: errno)
    }

    /// Maps the errno of a failed `stat`/`opendir`/`inotify_add_watch` on a folder to a watcher error.
    static func forFolder(_ path: String, call: String, _ errno: Errno) -> WatcherError {
        switch errno {
        case .noSuchFileOrDirectory: return .rootMissing(path)
        case .notDirectory: return .notADirectory(path)
        case .permissionDenied, .notPermitted: return .permissionDenied(path, errno)
        case .noSpace: return .watchLimitReached(path)
        default: return .systemCall(call, errno, path: path)
        }
    }
}


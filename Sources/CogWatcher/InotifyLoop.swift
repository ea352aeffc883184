import Foundation
import Glibc
import SystemPackage

/// The watcher's state machine: the inotify instance, the watch table and the files waiting to
/// settle. Built by `DirectoryWatcher.start()`, then handed to the watcher thread, which is the
/// only code that touches it from then on (so it needs no locks and is deliberately not `Sendable`).
///
/// Event policy (see inotify(7)):
/// - a file is reported on `IN_CLOSE_WRITE` (its writer closed it) or `IN_MOVED_TO` (renamed into
///   the tree), never on `IN_CREATE` (it is empty at that moment);
/// - a folder that appears (`IN_CREATE`/`IN_MOVED_TO` with `IN_ISDIR`) is watched, then listed:
///   files already in it may have been written before the watch existed, so each is held as
///   *pending* and reported once its size and mtime stay unchanged for `settleInterval`, unless an
///   `IN_CLOSE_WRITE` reports it first;
/// - a folder moved away (`IN_MOVED_FROM`) loses its watches (their paths would be stale); deleted
///   folders lose theirs through `IN_IGNORED`;
/// - `IN_Q_OVERFLOW` re-walks every root to add missing watches and asks the consumer to rescan;
/// - a root that vanishes (deleted, moved, unmounted) is reported once, polled every
///   `rootRetryInterval`, and re-watched with a `.rescanNeeded` when it is back.
final class InotifyLoop {
    /// A watched folder: where it is and which root it belongs to.
    struct WatchedDirectory: Equatable {
        var path: String
        /// Relative to the root; empty for the root itself.
        var relativePath: String
        var rootIndex: Int
        var isRoot: Bool { relativePath.isEmpty }
    }

    /// A file found in a newly appeared folder, waiting until it stops changing.
    struct PendingFile {
        var rootIndex: Int
        var status: FileSystemEntry.Status
        var deadline: ContinuousClock.Instant
    }

    /// The event bits asked for on every watched folder.
    static let folderMask: InotifyMask = [
        .closeWrite, .movedTo, .movedFrom, .create, .deleteSelf, .moveSelf, .onlyDirectory, .excludeUnlinked,
    ]

    let inotify: Inotify
    let wake: WakeSignal
    let roots: [WatchRoot]
    let options: DirectoryWatcher.Options
    let continuation: AsyncStream<WatchEvent>.Continuation
    private let clock = ContinuousClock()

    /// Watch descriptor → folder.
    private(set) var directories: [Int32: WatchedDirectory] = [:]
    /// Files found in new folders, by path, waiting to settle.
    private(set) var pending: [String: PendingFile] = [:]
    /// Roots that vanished, with the code of the last error reported for each (to report changes only).
    private(set) var vanishedRoots: [Int: WatcherError.Code] = [:]
    private var nextRootRetry: ContinuousClock.Instant?

    init(inotify: Inotify, wake: WakeSignal, roots: [WatchRoot], options: DirectoryWatcher.Options,
         continuation: AsyncStream<WatchEvent>.Continuation) {
        self.inotify = inotify
        self.wake = wake
        self.roots = roots
        self.options = options
        self.continuation = continuation
    }

    // MARK: - Setting up watches

    /// Watches every root's tree. Fatal problems (a root missing or unreadable, the watch limit)
    /// throw; the others (an unreadable subfolder) are returned for the event stream.
    func watchRoots() throws(WatcherError) -> [WatcherError] {
        var problems: [WatcherError] = []
        for index in roots.indices {
            try watchTree(rootIndex: index, path: roots[index].path, relativePath: "", collectPending: false,
                          problems: &problems)
            if let limit = problems.first(where: { $0.code == .watchLimitReached }) { throw limit }
        }
        return problems
    }

    /// Adds watches for the folder at `path` and, for a recursive root, every accepted folder below it.
    /// A folder already watched under another path (renamed while events were lost, or reachable
    /// twice through a bind mount) is recorded under the path found now and not walked twice.
    ///
    /// - Parameter collectPending: also hold the files found as pending (for folders that appeared
    ///   while running, whose files may predate the watch).
    /// - Returns: the watch descriptors of every folder reached.
    @discardableResult
    private func watchTree(rootIndex: Int, path: String, relativePath: String, collectPending: Bool,
                           problems: inout [WatcherError]) throws(WatcherError) -> Set<Int32> {
        let root = roots[rootIndex]
        var visited: Set<Int32> = []
        var limitReached = false
        var found: [(String, PendingFile)] = []
        let now = clock.now
        var collected: [WatcherError] = []
        try TreeWalker.walk(root, startPath: relativePath.isEmpty ? nil : path, startRelativePath: relativePath,
                            visitDirectory: { (folder, folderRelative) throws(WatcherError) -> Bool in
            if limitReached { return false }  // one watch-limit error per walk, not one per folder
            var mask = Self.folderMask
            if !folderRelative.isEmpty { mask.insert(.dontFollow) }  // only the root may be a symlink
            let wd: Int32
            do throws(Errno) {
                wd = try inotify.addWatch(path: folder, mask: mask)
            } catch {
                if error == .noSpace { limitReached = true }
                if error == .noSuchFileOrDirectory && !folderRelative.isEmpty { return false }  // gone already
                throw WatcherError.forFolder(folder, call: "inotify_add_watch", error)
            }
            guard visited.insert(wd).inserted else { return false }  // a bind-mount cycle: walk it once
            directories[wd] = WatchedDirectory(path: folder, relativePath: folderRelative, rootIndex: rootIndex)
            return true
        }, visitFile: { file, _ in
            guard collectPending, let status = try? FileSystemEntry.status(file) else { return }  // vanished: skip
            found.append((file, PendingFile(rootIndex: rootIndex, status: status,
                                            deadline: now + options.settleInterval)))
        }, problem: { collected.append($0) })
        problems += collected
        for (file, entry) in found where pending[file] == nil { pending[file] = entry }
        return visited
    }

    /// Removes the watches of the folder at `path` and everything below it.
    private func unwatchTree(path: String) {
        let prefix = path + "/"
        for (wd, directory) in directories where directory.path == path || directory.path.hasPrefix(prefix) {
            directories[wd] = nil
            // EINVAL means the kernel dropped the watch already (its folder is gone): nothing to undo.
            try? inotify.removeWatch(wd)
        }
        for file in pending.keys where file.hasPrefix(prefix) { pending[file] = nil }
    }

    // MARK: - The loop

    /// Runs until `stop()` wakes it or the consumer goes away; then closes the inotify descriptor
    /// and finishes the stream.
    func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024,
                                                            alignment: MemoryLayout<inotify_event>.alignment)
        defer {
            buffer.deallocate()
            inotify.close()
            continuation.finish()
        }
        while true {
            var descriptors = [
                pollfd(fd: inotify.descriptor.rawValue, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake.readEnd.rawValue, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&descriptors, 2, pollTimeoutMilliseconds())
            if ready < 0 {
                let error = Errno(rawValue: Glibc.errno)
                if error == .interrupted { continue }
                continuation.yield(.error(.systemCall("poll", error)))
                return
            }
            if descriptors[1].revents != 0 { return }  // stop() was called
            if descriptors[0].revents & Int16(POLLIN) != 0 {
                do {
                    for event in try inotify.readAvailable(into: buffer) { handle(event) }
                } catch {
                    continuation.yield(.error(.systemCall("read(inotify)", error)))
                    return
                }
            } else if descriptors[0].revents != 0 {
                continuation.yield(.error(.systemCall("poll(inotify)", .ioError)))
                return
            }
            settlePendingFiles()
            retryVanishedRoots()
        }
    }

    /// How long `poll` may sleep: until the next pending file or root retry is due, else forever.
    private func pollTimeoutMilliseconds() -> Int32 {
        var deadlines = pending.values.map(\.deadline)
        if let nextRootRetry { deadlines.append(nextRootRetry) }
        guard let next = deadlines.min() else { return -1 }
        let wait = clock.now.duration(to: next)
        if wait <= .zero { return 0 }
        let (seconds, attoseconds) = wait.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1  // round up
        return Int32(clamping: milliseconds)
    }

    // MARK: - Events

    /// Applies one inotify event to the watch table and reports what it means.
    func handle(_ event: InotifyEvent) {
        if event.mask.contains(.queueOverflow) {
            recoverFromOverflow()
            return
        }
        guard let directory = directories[event.watchDescriptor] else { return }  // a watch we dropped
        if event.mask.contains(.ignored) {
            directories[event.watchDescriptor] = nil
            if directory.isRoot { rootVanished(directory.rootIndex) }
            return
        }
        if !event.mask.isDisjoint(with: [.deleteSelf, .moveSelf, .unmount]) {
            // A subfolder's own delete/move is handled through its parent (IN_MOVED_FROM) and
            // IN_IGNORED; a root that goes away takes its whole tree with it.
            if directory.isRoot { rootVanished(directory.rootIndex) }
            return
        }
        guard let name = event.name else {
            let shown = PrintableText.fileName(event.nameBytes)
            continuation.yield(.error(WatcherError(code: .unsupportedName,
                                                   message: "the file name is not valid UTF-8 (shown with \\x escapes) "
                                                       + "and was skipped; rename it to be processed",
                                                   path: directory.path + "/" + shown)))
            return
        }
        let root = roots[directory.rootIndex]
        let path = directory.path + "/" + name
        let relativePath = directory.isRoot ? name : directory.relativePath + "/" + name

        if event.mask.contains(.isDirectory) {
            guard root.recursive else { return }
            if event.mask.contains(.movedFrom) {
                unwatchTree(path: path)
            } else if !event.mask.isDisjoint(with: [.create, .movedTo]),
                      root.filter.acceptsDirectory(relativePath: relativePath) {
                var problems: [WatcherError] = []
                do {
                    try watchTree(rootIndex: directory.rootIndex, path: path, relativePath: relativePath,
                                  collectPending: true, problems: &problems)
                } catch where error.code == .rootMissing {
                    // The new folder is gone again already: nothing to watch.
                } catch {
                    problems.append(error)
                }
                for problem in problems { continuation.yield(.error(problem)) }
            }
            return
        }

        if !event.mask.isDisjoint(with: [.closeWrite, .movedTo]) {
            pending[path] = nil
            guard root.filter.acceptsFile(relativePath: relativePath) else { return }
            // Report regular files only (not symlinks or fifos moved in), and only if still there.
            guard let status = try? FileSystemEntry.status(path), status.kind == .regularFile else { return }
            report(path, rootIndex: directory.rootIndex)
        }
    }

    private func report(_ path: String, rootIndex: Int) {
        continuation.yield(.file(WatchedFile(url: URL(fileURLWithPath: path, isDirectory: false),
                                             root: roots[rootIndex].url)))
    }

    /// Events were lost: re-walk every root so the watch table matches the folders as they are now
    /// (new folders watched, renamed ones under their new paths, vanished ones dropped), then ask
    /// for a rescan of each root.
    private func recoverFromOverflow() {
        for index in roots.indices where vanishedRoots[index] == nil {
            var problems: [WatcherError] = []
            do {
                let reached = try watchTree(rootIndex: index, path: roots[index].path, relativePath: "",
                                            collectPending: false, problems: &problems)
                for (wd, directory) in directories where directory.rootIndex == index && !reached.contains(wd) {
                    directories[wd] = nil
                    // EINVAL: the folder went away and the kernel dropped the watch already.
                    try? inotify.removeWatch(wd)
                }
            } catch where error.code == .rootMissing || error.code == .notADirectory {
                rootVanished(index)  // its IN_DELETE_SELF / IN_MOVE_SELF was among the lost events
                continue
            } catch {
                problems.append(error)
            }
            for problem in problems { continuation.yield(.error(problem)) }
            continuation.yield(.rescanNeeded(root: roots[index].url))
        }
    }

    // MARK: - Timers

    /// Reports pending files that have not changed for the settle interval.
    private func settlePendingFiles() {
        let now = clock.now
        for (path, file) in pending where file.deadline <= now {
            guard let status = try? FileSystemEntry.status(path), status.kind == .regularFile else {
                pending[path] = nil  // gone, or replaced by something that is not a file
                continue
            }
            if status == file.status {
                pending[path] = nil
                report(path, rootIndex: file.rootIndex)
            } else {
                pending[path] = PendingFile(rootIndex: file.rootIndex, status: status,
                                            deadline: now + options.settleInterval)
            }
        }
    }

    /// Marks a root as gone: drops its watches and pending files, reports it once, schedules retries.
    private func rootVanished(_ rootIndex: Int) {
        guard vanishedRoots[rootIndex] == nil else { return }
        for (wd, directory) in directories where directory.rootIndex == rootIndex {
            directories[wd] = nil
            // EINVAL: the kernel removed it already along with its folder; nothing to undo.
            try? inotify.removeWatch(wd)
        }
        for (path, file) in pending where file.rootIndex == rootIndex { pending[path] = nil }
        vanishedRoots[rootIndex] = .rootVanished
        continuation.yield(.error(.rootVanished(roots[rootIndex].path)))
        if nextRootRetry == nil { nextRootRetry = clock.now + options.rootRetryInterval }
    }

    /// Re-watches vanished roots that are back, asking for a rescan of each.
    private func retryVanishedRoots() {
        guard let due = nextRootRetry, due <= clock.now else { return }
        for (index, lastCode) in vanishedRoots {
            var problems: [WatcherError] = []
            do {
                try watchTree(rootIndex: index, path: roots[index].path, relativePath: "", collectPending: false,
                              problems: &problems)
            } catch {
                // Still missing (or unreadable): report only when the reason changes, not every retry.
                if error.code != lastCode && error.code != .rootMissing {
                    continuation.yield(.error(error))
                }
                vanishedRoots[index] = error.code == .rootMissing ? lastCode : error.code
                continue
            }
            vanishedRoots[index] = nil
            for problem in problems { continuation.yield(.error(problem)) }
            continuation.yield(.rescanNeeded(root: roots[index].url))
        }
        nextRootRetry = vanishedRoots.isEmpty ? nil : clock.now + options.rootRetryInterval
    }
}

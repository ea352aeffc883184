import Foundation
import Glibc
import Synchronization
import SystemPackage

/// Watches folders with inotify and reports files once they are complete.
///
/// ```swift
/// let watcher = DirectoryWatcher(roots: [WatchRoot(URL(fileURLWithPath: "/srv/inbox"))])
/// try watcher.start()                 // watches are in place when this returns
/// let backlog = watcher.scan()        // what arrived while we were stopped
/// for await event in watcher.events { … }   // .file / .rescanNeeded / .error
/// watcher.stop()                      // from anywhere; the stream then finishes
/// ```
///
/// The blocking `poll`/`read` loop runs on a dedicated thread (never on Swift's cooperative
/// pool); `stop()` wakes it through a pipe polled together with the inotify descriptor. A watcher
/// runs once: after `stop()` make a new one (e.g. for a reloaded configuration).
///
/// What is reported, and when, is documented on `WatchEvent`, `FileFilter` and `InotifyLoop`.
/// Limits of inotify that remain: no events for changes made by other hosts on network file
/// systems (NFS, SMB) — rely on periodic `scan()` there — and a writer that closes a file several
/// times makes it be reported several times.
public final class DirectoryWatcher: Sendable {
    /// Timing knobs.
    public struct Options: Sendable, Equatable {
        /// How long a file found in a newly appeared folder must stay unchanged (size and mtime)
        /// before it is reported without having seen its `IN_CLOSE_WRITE`.
        public var settleInterval: Duration
        /// How often a vanished root is checked for coming back.
        public var rootRetryInterval: Duration

        /// Creates options; defaults: settle 1 s, root retry 10 s.
        public init(settleInterval: Duration = .seconds(1), rootRetryInterval: Duration = .seconds(10)) {
            self.settleInterval = settleInterval
            self.rootRetryInterval = rootRetryInterval
        }
    }

    private enum State: Sendable {
        case idle
        case running(WakeSignal)
        case stopped
    }

    /// The folders watched, in the order given.
    public let roots: [WatchRoot]
    /// The timing knobs.
    public let options: Options
    /// The events, in the order the kernel reported them. Single consumer; it finishes after
    /// `stop()`, when the consumer stops iterating, or after a fatal read error (reported first).
    /// Keep the watcher alive while consuming: releasing it stops it.
    public let events: AsyncStream<WatchEvent>
    private let continuation: AsyncStream<WatchEvent>.Continuation
    private let state = Mutex<State>(.idle)

    /// Creates a watcher for `roots`; nothing happens until `start()`.
    public init(roots: [WatchRoot], options: Options = Options()) {
        self.roots = roots
        self.options = options
        (events, continuation) = AsyncStream.makeStream(of: WatchEvent.self)
        continuation.onTermination = { [weak self] _ in self?.stop() }
    }

    deinit {
        stop()
    }

    /// Checks the roots, watches every folder and starts the event thread.
    ///
    /// When it returns, every existing folder is watched: a file completed after this call is
    /// reported. Subfolders that cannot be watched are reported as `.error` events, not thrown.
    ///
    /// - Throws: `WatcherError` — `.rootMissing`, `.notADirectory`, `.permissionDenied` for a root;
    ///   `.overlappingRoots`; `.watchLimitReached` (raise `fs.inotify.max_user_watches`);
    ///   `.instanceLimitReached` (raise `fs.inotify.max_user_instances`); `.alreadyStarted`.
    public func start() throws(WatcherError) {
        let alreadyStarted = state.withLock { state -> Bool in
            if case .idle = state { return false }
            return true
        }
        if alreadyStarted {
            throw WatcherError(code: .alreadyStarted,
                               message: "this watcher was started (or stopped) before; create a new one")
        }
        try checkRootsDoNotOverlap()

        let inotify: Inotify
        do {
            inotify = try Inotify.open()
        } catch {
            switch error {
            case .tooManyOpenFiles, .tooManyOpenFilesInSystem: throw WatcherError.instanceLimitReached(error)
            default: throw WatcherError.systemCall("inotify_init1", error)
            }
        }
        let wake: WakeSignal
        do {
            wake = try WakeSignal()
        } catch {
            inotify.close()
            throw WatcherError.systemCall("pipe2", error)
        }
        let loop = InotifyLoop(inotify: inotify, wake: wake, roots: roots, options: options,
                               continuation: continuation)
        let problems: [WatcherError]
        do {
            problems = try loop.watchRoots()
        } catch {
            inotify.close()
            throw error
        }

        let raced = state.withLock { state -> Bool in
            guard case .idle = state else { return true }
            state = .running(wake)
            return false
        }
        if raced {  // a concurrent start() or stop() won
            inotify.close()
            throw WatcherError(code: .alreadyStarted,
                               message: "this watcher was started (or stopped) concurrently; create a new one")
        }
        for problem in problems { continuation.yield(.error(problem)) }
        do {
            try DedicatedThread.spawn { loop.run() }
        } catch {
            inotify.close()
            state.withLock { $0 = .stopped }
            continuation.finish()
            throw WatcherError.systemCall("pthread_create", error)
        }
    }

    /// Stops watching: wakes the event thread, which closes the inotify descriptor and finishes
    /// `events`. Returns at once; safe to call from any thread, any number of times.
    public func stop() {
        let previous = state.withLock { state -> State in
            let previous = state
            state = .stopped
            return previous
        }
        switch previous {
        case .running(let wake): wake.signal()
        case .idle: continuation.finish()
        case .stopped: break
        }
    }

    /// Lists the files already under every root (see `WatchRoot.scan()`); a root that cannot be
    /// scanned is listed in `problems`, the others are still scanned.
    public func scan() -> ScanResult {
        var result = ScanResult(files: [], problems: [])
        for root in roots {
            do {
                let rootResult = try root.scan()
                result.files += rootResult.files
                result.problems += rootResult.problems
            } catch {
                result.problems.append(error)
            }
        }
        return result
    }

    /// Rejects two roots that are the same folder, or one inside another that is watched recursively:
    /// the kernel has one watch per folder, so their events could not be told apart.
    private func checkRootsDoNotOverlap() throws(WatcherError) {
        var resolved: [String] = []
        for root in roots {
            guard let real = realpath(root.path, nil) else {
                throw WatcherError.forFolder(root.path, call: "realpath", Errno(rawValue: Glibc.errno))
            }
            resolved.append(String(cString: real))
            free(real)
        }
        for i in roots.indices {
            for j in roots.indices where i != j {
                let same = resolved[i] == resolved[j]
                let inside = roots[i].recursive && resolved[j].hasPrefix(resolved[i] == "/" ? "/" : resolved[i] + "/")
                if (same && i < j) || inside {
                    throw WatcherError(code: .overlappingRoots,
                                       message: "watched folders overlap (\(roots[i].path) and \(roots[j].path)); "
                                           + "watch each folder once",
                                       path: roots[j].path)
                }
            }
        }
    }
}

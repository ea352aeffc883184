import CogWatcher
import Glibc
import Synchronization

/// Files in watched folders that have been seen (a `CLOSE_WRITE` / `MOVED_TO` event or a scan) but
/// not yet taken: a file is taken only once its size, modification time and inode have stayed the
/// same for `quietPeriod`. That keeps a producer that writes a file in several open–write–close
/// rounds (each round ends with a `CLOSE_WRITE`) from getting one job per round, and keeps the
/// start-up scan from taking a file another process is still writing.
///
/// `FolderIntake` adds every file it sees, polls `takeDue(at:)` a few times a second, checks each
/// due file's status again and either takes it (unchanged) or adds it back with the new status
/// (still changing). A file seen again while it waits keeps its place: the re-check finds the change.
/// In memory only: after a restart the start-up scan sees the files again.
final class SettlingFiles: Sendable {
    /// What changes when a file is written or replaced.
    struct Status: Sendable, Equatable, CustomStringConvertible {
        var size: Int64
        var modifiedSeconds: Int
        var modifiedNanoseconds: Int
        var inode: UInt64

        /// The status of the file at `path`; nil if it cannot be `stat`ed (gone, no permission).
        static func of(_ path: String) -> Status? {
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            return Status(size: Int64(info.st_size), modifiedSeconds: info.st_mtim.tv_sec,
                          modifiedNanoseconds: info.st_mtim.tv_nsec, inode: UInt64(info.st_ino))
        }

        var description: String { "\(size) bytes, mtime \(modifiedSeconds).\(modifiedNanoseconds)" }
    }

    /// A file waiting to be quiet.
    struct Entry: Sendable {
        var file: WatchedFile
        /// The status seen at `observedAt`.
        var status: Status
        var observedAt: ContinuousClock.Instant
        /// How many re-checks found the file changed (0 for a file that was quiet from the start).
        var changes: Int
        /// Arrival order, so files are taken in the order they were seen.
        var sequence: Int
        /// How long this file must stay unchanged (its folder's `settle_seconds`).
        var quietPeriod: Duration
    }

    /// How long a file must stay unchanged before it is taken, unless `add` says otherwise.
    let quietPeriod: Duration
    private let state = Mutex<(entries: [String: Entry], nextSequence: Int)>(([:], 0))

    init(quietPeriod: Duration) {
        self.quietPeriod = quietPeriod
    }

    /// Starts the quiet period of `file` (seen with `status` at `now`), unless it is already waiting.
    /// `changes` carries the count of a re-added entry; `quietPeriod` overrides the default one (the
    /// file's folder's `settle_seconds`). Returns whether the file was added.
    @discardableResult
    func add(_ file: WatchedFile, status: Status, at now: ContinuousClock.Instant, changes: Int = 0,
             quietPeriod: Duration? = nil) -> Bool {
        let quiet = quietPeriod ?? self.quietPeriod
        return state.withLock { state in
            let path = file.url.path
            guard state.entries[path] == nil else { return false }
            state.entries[path] = Entry(file: file, status: status, observedAt: now, changes: changes,
                                        sequence: state.nextSequence, quietPeriod: quiet)
            state.nextSequence += 1
            return true
        }
    }

    /// Removes and returns the files whose quiet period has passed at `now`, oldest first. The
    /// caller re-checks each one (and adds it back if it changed).
    func takeDue(at now: ContinuousClock.Instant) -> [Entry] {
        state.withLock { state in
            let due = state.entries.values.filter { $0.observedAt + $0.quietPeriod <= now }
            for entry in due { state.entries[entry.file.url.path] = nil }
            return due.sorted { $0.sequence < $1.sequence }
        }
    }

    /// How many files are waiting.
    var count: Int { state.withLock { $0.entries.count } }
}

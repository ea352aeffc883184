import CogJobStore
import CogWatcher
import Synchronization

/// Watched files whose enqueue failed because of the job database, not the file: it was locked
/// longer than the busy timeout (`store.busy`), the disk was full, the database read-only, an I/O
/// error (`JobStoreError.Code` in `retriedCodes`). `FolderIntake` keeps them here and retries them,
/// oldest first, with a growing pause (`backoff`), until each is enqueued or gone — instead of
/// waiting for a restart's scan.
///
/// Bounded by `capacity`: beyond it a file is not kept, but its watched folder is remembered
/// (`overflowRoots`) and rescanned once the database works again, so nothing is lost either way.
/// In memory only: after a restart the start-up scan sees the files again.
final class DeferredFiles: Sendable {
    /// One waiting file.
    struct Entry: Sendable {
        var file: WatchedFile
        /// The error that deferred it first (for the log line when it gets in).
        var reason: JobStoreError.Code
        var since: ContinuousClock.Instant
        var sequence: Int
    }

    /// What `add` did.
    enum Addition: Equatable {
        case added, alreadyWaiting
        /// The set is full; the file's folder is marked for a rescan instead.
        case overflowed(firstOverflow: Bool)
    }

    /// Store errors that say the database could not take the job right now, whatever the file.
    /// Not retried: `store.invalid_input` (the request itself was refused; the same request fails
    /// again) and the schema errors (a restart with another binary is needed).
    static let retriedCodes: Set<JobStoreError.Code> = [.busy, .diskFull, .readOnly, .sqlite, .openFailed, .corrupt]

    /// The pause before retry round `round` (1, 2, …): 1 s, 2 s, 4 s, then every 5 s.
    static func backoff(round: Int) -> Duration {
        .seconds(min(5, 1 << min(max(round - 1, 0), 3)))
    }

    let capacity: Int
    private struct State {
        var entries: [String: Entry] = [:]
        var nextSequence = 0
        var overflowRoots: Set<String> = []
    }
    private let state = Mutex(State())

    init(capacity: Int = 10_000) {
        self.capacity = capacity
    }

    /// Keeps `file`, deferred by `reason`.
    func add(_ file: WatchedFile, reason: JobStoreError.Code, at now: ContinuousClock.Instant) -> Addition {
        state.withLock { state in
            let path = file.url.path
            if state.entries[path] != nil { return .alreadyWaiting }
            guard state.entries.count < capacity else {
                let first = state.overflowRoots.isEmpty
                state.overflowRoots.insert(file.root.path)
                return .overflowed(firstOverflow: first)
            }
            state.entries[path] = Entry(file: file, reason: reason, since: now, sequence: state.nextSequence)
            state.nextSequence += 1
            return .added
        }
    }

    /// The waiting files, oldest first.
    var waiting: [Entry] {
        state.withLock { $0.entries.values.sorted { $0.sequence < $1.sequence } }
    }

    /// Forgets `path` (enqueued, gone, or failed for a reason a retry does not cure).
    func remove(_ path: String) {
        state.withLock { _ = $0.entries.removeValue(forKey: path) }
    }

    var isEmpty: Bool { state.withLock { $0.entries.isEmpty && $0.overflowRoots.isEmpty } }
    var count: Int { state.withLock { $0.entries.count } }

    /// The roots of files that did not fit, forgetting them (the caller rescans these folders).
    func takeOverflowRoots() -> [String] {
        state.withLock { state in
            let roots = Array(state.overflowRoots).sorted()
            state.overflowRoots = []
            return roots
        }
    }
}

import Synchronization

/// Files in watched folders whose content already has a job that has not finished: the same
/// image saved under a second name while its job waits or runs. The job runs once (one image,
/// one job), but each copy gets the folder's post-commit actions — sidecar, `move_done_to` /
/// `move_failed_to` — when the job finishes, not only the name the job was enqueued under
/// (before, the other copy stayed in the folder until the next daemon start).
///
/// In memory only: after a restart the start-up scan sees such a copy again and reconciles it
/// (`FolderIntake`). Shared by `FolderIntake` (which records copies) and `JobEventHandler` (which
/// takes them when the job's result or failure is committed).
final class WaitingCopies: Sendable {
    private let paths = Mutex<[Int64: [String]]>([:])

    /// Records that `path` holds the content of unfinished job `jobID` (the name it was enqueued
    /// under too: `images.path` follows the latest copy, so the first name would be forgotten).
    func add(_ path: String, for jobID: Int64) {
        paths.withLock { paths in
            if !(paths[jobID] ?? []).contains(path) { paths[jobID, default: []].append(path) }
        }
    }

    /// The copies recorded for `jobID`, forgetting them.
    func take(for jobID: Int64) -> [String] {
        paths.withLock { $0.removeValue(forKey: jobID) ?? [] }
    }

    /// Jobs with recorded copies.
    var jobIDs: [Int64] { paths.withLock { Array($0.keys) } }

    /// Forgets the copies of jobs that ended without this daemon seeing it (cancelled from the
    /// CLI while waiting, or run by another daemon on the same database).
    func forget(_ jobIDs: some Sequence<Int64>) {
        paths.withLock { paths in for id in jobIDs { paths[id] = nil } }
    }

    /// Above this many jobs, `FolderIntake` asks the store which of them ended and forgets those.
    static let checkAbove = 1024
}

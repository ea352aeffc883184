import CogJobStore
import CogWeights
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Stops the daemon when its job database is no longer the file it opened, or SQLite has found
/// it corrupt.
///
/// SQLite keeps writing through its open descriptors when the path is deleted or replaced (a
/// restore from backup, `rm`, an export written over it): every result would then go into a file
/// nobody can open again, while the daemon looks healthy. Every `interval` this service compares
/// the path's device and inode with those recorded at start-up; a missing or different file, or a
/// `store.corrupt` error reported by a worker or the intake (`reportCorruption`), ends the service
/// with `daemon.database` — the service group then drains the workers and the daemon exits 74, so
/// systemd's `Restart=` reopens the path (and `cogjobs status` / the logs say why).
final class DatabaseFileGuard: Service, Sendable {
    private let path: String
    private let opened: FileIdentity
    /// The `-wal` and `-shm` files of the database this daemon opened (recorded at start).
    private let sideFiles: [(path: String, identity: FileIdentity)]
    private let interval: Duration
    private let logger: Logger
    /// The first corruption report (`store.corrupt`) not yet acted on.
    private let corruption = Mutex<String?>(nil)
    /// Connections to a database that is no longer at its path: never closed (see `keepOpen`).
    private static let abandoned = Mutex<[JobStore]>([])

    /// Watches `path`, which the daemon's connections opened as the file `opened`.
    init(path: String, opened: FileIdentity, interval: Duration = .seconds(2), logger: Logger) {
        self.path = path
        self.opened = opened
        self.sideFiles = ["-wal", "-shm"].compactMap { suffix in
            FileIdentity.of(path: path + suffix).map { (path + suffix, $0) }
        }
        self.interval = interval
        self.logger = logger
    }

    /// Keeps `stores` open until the process exits. Closing a connection lets SQLite checkpoint
    /// and delete its `-wal` by *name*, and the name may by then belong to the database that
    /// replaced ours: the connections to a deleted or replaced database are left to the exit.
    static func keepOpen(_ stores: [JobStore]) {
        abandoned.withLock { $0.append(contentsOf: stores) }
    }

    /// Moves this daemon's `-wal` / `-shm` away from the database path (to `NAME.orphaned-PID`),
    /// once the database they belong to is no longer there: SQLite would otherwise replay our WAL
    /// into whatever file is put at the path (a restored backup), which corrupts it. Files at those
    /// names that are not ours (another inode) are left alone. Returns what was moved.
    func moveOwnSideFilesAside() -> [String] {
        var moved: [String] = []
        for side in sideFiles where FileIdentity.of(path: side.path) == side.identity {
            let target = side.path + ".orphaned-\(getpid())"
            if rename(side.path, target) == 0 { moved.append(target) }
        }
        return moved
    }

    /// Records a `store.corrupt` error seen by a worker or the intake; the next check stops the daemon.
    func reportCorruption(_ error: JobStoreError) {
        guard error.code == .corrupt else { return }
        corruption.withLock { if $0 == nil { $0 = error.description } }
    }

    /// Why the daemon must stop now, or nil while the database is the file it opened.
    func problem() -> DaemonError? {
        if let report = corruption.withLock({ $0 }) {
            return DaemonError(code: .database,
                               message: "SQLite reports the job database corrupt; stopping so that no more work "
                                   + "is lost. Check it with `sqlite3 FILE 'PRAGMA integrity_check'` and restore it "
                                   + "from a backup (docs/daemon.md)",
                               subject: path, cause: report)
        }
        guard let now = FileIdentity.of(path: path) else {
            return DaemonError(code: .database,
                               message: "the job database was deleted while the daemon ran (results written from "
                                   + "now on would be lost); stopping. Restore the file, or create a new one with "
                                   + "`cogjobs migrate`, and start the daemon again",
                               subject: path)
        }
        guard now == opened else {
            return DaemonError(code: .database,
                               message: "the job database was replaced while the daemon ran (this process still "
                                   + "writes to the old file: \(opened); the path is now \(now)); stopping so that "
                                   + "the next start opens the new file",
                               subject: path)
        }
        return nil
    }

    func run() async throws {
        // Ends at graceful shutdown (the sleep is cancelled) or by throwing, which stops the group.
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if var problem = self.problem() {
                    if FileIdentity.of(path: self.path) != self.opened {  // deleted or replaced, not corrupt
                        let moved = self.moveOwnSideFilesAside()
                        if !moved.isEmpty {
                            problem.message += "; this daemon's WAL files were moved aside (\(moved.joined(separator: ", "))) "
                                + "so that they cannot be replayed into a file restored at that path"
                        }
                    }
                    throw problem
                }
                try? await Task.sleep(for: self.interval)  // ends early on cancellation
            }
        }
    }
}

@testable import CogJobStore
import CogTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A job database on a read-only file system: WAL needs its -wal/-shm files even to read, so
/// SQLite says only "unable to open database file"; the error must say why.
@Suite("a job database on a read-only file system")
struct ReadOnlyDatabaseTests {
    /// Runs `mount` with `arguments`; true when it succeeded.
    static func mount(_ arguments: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/mount")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    static func umount(_ path: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/umount")
        process.arguments = [path]
        // Cleanup only: a mount left behind in a temporary folder is harmless.
        try? process.run()
        process.waitUntilExit()
    }

    /// Whether this process may mount a tmpfs (root outside a restricted container); the test
    /// needs a real read-only mount, which only root can make.
    static let canMount: Bool = {
        guard geteuid() == 0, let directory = try? Fixtures.temporaryDirectory("ro-probe") else { return false }
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        guard mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", directory.path]) else { return false }
        umount(directory.path)
        return true
    }()

    @Test(.enabled(if: canMount, "needs root to mount a read-only tmpfs"))
    func readOnlyFileSystemIsNamed() throws {
        let directory = try Fixtures.temporaryDirectory("ro-db")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        #expect(Self.mount(["-t", "tmpfs", "-o", "size=4m", "tmpfs", directory.path]))
        defer { Self.umount(directory.path) }
        let path = directory.appendingPathComponent("jobs.sqlite3").path
        do {
            let store = try JobStore(path: path)
            _ = try store.checkpoint()
        }
        #expect(Self.mount(["-o", "remount,ro", directory.path]))
        var configuration = JobStore.Configuration()
        configuration.createIfMissing = false
        configuration.migrationMode = .requireCurrent
        let error = try #require(throws: JobStoreError.self) { _ = try JobStore(path: path, configuration: configuration) }
        #expect(error.code == .readOnly, "\(error)")
        #expect(error.message.contains("read-only file system"), "\(error)")
        print("read-only mount: \(error)")
    }
}

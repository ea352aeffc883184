import CSQLite
import CogScheduler
import Glibc
import Synchronization

/// Test-only: kills the daemon with SIGKILL at the crash point chosen by
/// `COGJOBS_TEST_CRASH_POINT` (see `TestSwitches`). Inert unless that variable is set.
///
/// `in-commit` needs to stop the process inside the store's result transaction, which the store
/// does not expose. It uses SQLite's own hooks instead: `sqlite3_auto_extension` runs a function
/// for every connection this process opens, which installs a `sqlite3_commit_hook`. SQLite calls
/// that hook during `COMMIT`, after every statement of the transaction ran and before the commit
/// is durable. The worker thread arms the hook just before it commits a result (the pool's
/// `.willComplete` event), so only that thread's next commit — the result transaction — kills
/// the process; lease renewals on other threads commit normally.
public final class CrashInjector: Sendable {
    public let point: TestSwitches.CrashPoint?
    public let after: Int
    private let hits = Atomic<Int>(0)

    /// The thread whose next commit is fatal (`pthread_t`, 0 = none), and the `in-commit` hit
    /// count and limit. Static because SQLite's hook is a C function pointer that cannot capture
    /// (a process has at most one injector).
    private static let armedThread = Atomic<UInt>(0)
    private static let commitHits = Atomic<Int>(0)
    private static let commitLimit = Atomic<Int>(1)

    /// Installs the commit hook if the crash point needs it: create the injector before the job
    /// store opens its connection.
    public init(switches: TestSwitches) {
        point = switches.crashPoint
        after = switches.crashAfter
        if point == .inCommit {
            Self.commitLimit.store(after, ordering: .sequentiallyConsistent)
            Self.installCommitHook()
        }
    }

    /// Called by the daemon at each crash point with the point it reached.
    public func reached(_ reachedPoint: TestSwitches.CrashPoint) {
        guard let point, point == reachedPoint else { return }
        if point == .inCommit {
            // Arm the hook for this thread's next commit; counting happens there.
            Self.armedThread.store(UInt(pthread_self()), ordering: .sequentiallyConsistent)
            return
        }
        if hits.add(1, ordering: .sequentiallyConsistent).newValue >= after { Self.die(at: point.rawValue) }
    }

    /// The result transaction is over (committed or not): disarm.
    public func resultWritten() {
        Self.armedThread.store(0, ordering: .sequentiallyConsistent)
    }

    private static func installCommitHook() {
        let entryPoint: @convention(c) (OpaquePointer?, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                        UnsafeRawPointer?) -> Int32 = crashInjectorConnectionOpened
        // sqlite3_auto_extension declares its argument as void(*)(void); SQLite calls it with the
        // extension entry-point signature above.
        sqlite3_auto_extension(unsafeBitCast(entryPoint, to: (@convention(c) () -> Void).self))
    }

    /// The commit hook's decision: `true` kills the process.
    fileprivate static func commitIsFatal() -> Bool {
        guard armedThread.load(ordering: .sequentiallyConsistent) == UInt(pthread_self()) else { return false }
        armedThread.store(0, ordering: .sequentiallyConsistent)
        let hits = commitHits.add(1, ordering: .sequentiallyConsistent).newValue
        return hits >= commitLimit.load(ordering: .sequentiallyConsistent)
    }

    /// Says where it dies (one `write(2)`: safe inside SQLite's hook), then SIGKILLs the process.
    fileprivate static func die(at point: String) -> Never {
        let line = "TEST-ONLY crash point \(point) reached: killing the process with SIGKILL\n"
        _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
        kill(getpid(), SIGKILL)
        _exit(137)  // not reached: SIGKILL cannot be caught
    }
}

/// SQLite auto-extension entry point: runs for every connection the process opens.
private func crashInjectorConnectionOpened(_ db: OpaquePointer?,
                                           _ errorMessage: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                           _ api: UnsafeRawPointer?) -> Int32 {
    _ = sqlite3_commit_hook(db, crashInjectorCommitHook, nil)  // returns the previous hook (none)
    return SQLITE_OK
}

/// SQLite commit hook: called inside `COMMIT`, after the transaction's statements ran.
private func crashInjectorCommitHook(_ context: UnsafeMutableRawPointer?) -> Int32 {
    if CrashInjector.commitIsFatal() { CrashInjector.die(at: "in-commit (inside the result transaction's COMMIT)") }
    return 0  // let the commit proceed
}

import Foundation

/// Wakes idle workers when work may have arrived: an enqueue in this process (`WorkerPool.wake()`),
/// a change committed by another process (seen by the supervisor through `PRAGMA data_version`),
/// or shutdown.
///
/// A generation counter makes a wake-up that happens between a worker's failed claim and its
/// wait count: the worker passes the generation it saw before claiming, and `wait` returns at
/// once if the counter moved since.
///
/// `@unchecked Sendable`: `generation` is only read and written while `condition` is locked, and
/// `NSCondition` itself is a thread-safe pthread mutex + condition variable pair.
final class WorkSignal: @unchecked Sendable {
    private let condition = NSCondition()
    private var generation = 0

    /// The current generation; pass it to `wait(after:timeout:)`.
    var current: Int {
        condition.lock()
        defer { condition.unlock() }
        return generation
    }

    /// Wakes every waiting worker.
    func signal() {
        condition.lock()
        generation &+= 1
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until the generation differs from `seen` or `timeout` passes.
    /// - Returns: `true` if woken by `signal()` (now or since `seen`), `false` on timeout.
    @discardableResult
    func wait(after seen: Int, timeout: Duration) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Self.seconds(timeout))
        condition.lock()
        defer { condition.unlock() }
        while generation == seen {
            if !condition.wait(until: deadline) { return generation != seen }
        }
        return true
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

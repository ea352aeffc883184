import Dispatch

/// Runs blocking calls (SQLite, file hashing, model loading) from async code without blocking
/// Swift's cooperative thread pool: the closure runs on a serial Dispatch queue, whose threads
/// are not the cooperative pool's, and the caller suspends until it finishes.
struct BlockingQueue: Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    /// Runs `body` on the queue and returns its result (or rethrows its error).
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Runs a non-throwing `body` on the queue.
    func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }
}

import Foundation

/// Runs CPU-heavy work (model inference) on a dedicated OS thread and awaits it, so an async
/// command never blocks a thread of the Swift cooperative pool.
enum DedicatedThread {
    static func run(_ name: String, _ body: @escaping @Sendable () throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let thread = Thread {
                do {
                    try body()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = name
            thread.stackSize = 8 << 20
            thread.start()
        }
    }
}

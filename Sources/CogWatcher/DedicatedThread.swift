import Glibc
import SystemPackage

/// Starts a detached POSIX thread for blocking work that must stay off Swift's cooperative pool
/// (the watcher's `poll`/`read` loop).
enum DedicatedThread {
    /// Holds the closure while it crosses into the new thread.
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Runs `body` on a new detached thread. `body` is `sending`: the caller hands over everything
    /// it captures, which is what lets a non-`Sendable` event loop move to its thread without locks.
    /// The corresponding C functions are `pthread_create` and `pthread_detach`.
    static func spawn(_ body: sending @escaping () -> Void) throws(Errno) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let body = Unmanaged<Body>.fromOpaque(raw).takeRetainedValue()
            body.run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw Errno(rawValue: result)
        }
        pthread_detach(thread)
    }
}

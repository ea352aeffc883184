import Foundation
import Glibc

/// Starts detached POSIX threads for the pool's workers and supervisor: blocking, CPU-heavy work
/// that must stay off Swift's cooperative thread pool.
enum DedicatedThread {
    /// Holds the closure while it crosses into the new thread.
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Runs `body` on a new detached thread with an 8 MiB stack (model code keeps sizeable frames).
    /// - Returns: `nil`, or the `errno` value `pthread_create` failed with.
    /// The corresponding C functions are `pthread_create` and `pthread_detach`.
    static func spawn(name: String, _ body: @escaping @Sendable () -> Void) -> Int32? {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, 8 << 20)
        let context = Unmanaged.passRetained(Body {
            // Shown by `top -H` and debuggers; Linux keeps the first 15 bytes.
            Thread.current.name = name
            body()
        }).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { raw in
            guard let raw else { return nil }
            Unmanaged<Body>.fromOpaque(raw).takeRetainedValue().run()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            return result
        }
        pthread_detach(thread)
        return nil
    }
}

import Foundation

/// A fixed team of threads that runs one data-parallel job at a time: `run { part, parts in … }`
/// calls the body once per part (part 0 on the calling thread), and returns when all parts are
/// done. Used for GEMV and other row-split kernels, where OpenBLAS is not involved.
///
/// One runner belongs to one session (one worker), so `threads` is that worker's share of the
/// core budget (`workers × threads ≤ cores`). Helper threads are dedicated OS threads, never the
/// Swift cooperative pool, and sleep on a condition variable between jobs. They hold only the
/// shared `Team` state, so dropping the runner stops them.
public final class ParallelRunner: Sendable {
    public let threads: Int
    private let team: Team

    /// State shared with the helper threads. `@unchecked Sendable`: every field is read and
    /// written under `condition`; `body` is only called between the start and done handshakes.
    private final class Team: @unchecked Sendable {
        let condition = NSCondition()
        var generation = 0
        var remaining = 0
        var body: ((Int, Int) -> Void)? = nil
        var stopping = false

        func helperLoop(index: Int, parts: Int) {
            var seen = 0
            while true {
                condition.lock()
                while generation == seen && !stopping { condition.wait() }
                if stopping {
                    condition.unlock()
                    return
                }
                seen = generation
                let job = body
                condition.unlock()
                job?(index, parts)
                condition.lock()
                remaining -= 1
                if remaining == 0 { condition.broadcast() }
                condition.unlock()
            }
        }
    }

    /// A runner with `threads` parts (≥ 1); `threads − 1` helper threads are started.
    public init(threads: Int) {
        let parts = max(1, threads)
        self.threads = parts
        let team = Team()
        self.team = team
        for index in 1..<parts {
            let thread = Thread { team.helperLoop(index: index, parts: parts) }
            thread.name = "cogjobs-compute-\(index)"
            thread.start()
        }
    }

    deinit {
        team.condition.lock()
        team.stopping = true
        team.condition.broadcast()
        team.condition.unlock()
    }

    /// Runs `body(part, parts)` for every part in `0..<threads` and waits for all of them.
    /// Not reentrant: one `run` at a time per runner (a runner belongs to one session).
    public func run(_ body: @escaping (_ part: Int, _ parts: Int) -> Void) {
        if threads == 1 {
            body(0, 1)
            return
        }
        team.condition.lock()
        team.body = body
        team.remaining = threads - 1
        team.generation += 1
        team.condition.broadcast()
        team.condition.unlock()
        body(0, threads)
        team.condition.lock()
        while team.remaining > 0 { team.condition.wait() }
        team.body = nil
        team.condition.unlock()
    }

    /// Splits `0..<count` into `parts` contiguous ranges whose bounds are multiples of `alignment`.
    public static func range(part: Int, parts: Int, count: Int, alignment: Int = 1) -> Range<Int> {
        let blocks = (count + alignment - 1) / alignment
        let lo = min(count, blocks * part / parts * alignment)
        let hi = min(count, blocks * (part + 1) / parts * alignment)
        return lo..<hi
    }
}

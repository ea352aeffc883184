import CKernels
import Foundation
import Synchronization

/// A fixed team of threads that runs one data-parallel job at a time: `run { part, parts in … }`
/// calls the body once per part (part 0 on the calling thread), and returns when all parts are
/// done. Used for GEMV and other row-split kernels, where OpenBLAS is not involved.
///
/// One runner belongs to one session (one worker), so `threads` is that worker's share of the
/// core budget (`workers × threads ≤ cores`). Helper threads are dedicated OS threads, never the
/// Swift cooperative pool. They hold only the shared `Team` state, so dropping the runner stops them.
///
/// Hand-offs spin briefly before sleeping: a decode step is ~400 jobs of 0.1–1 ms each, and waking
/// a thread parked on a condition variable costs tens of microseconds on a VM — several percent of
/// a token. A helper that finds no new job within `spinIterations` pauses (≈ 50–100 µs) parks on
/// the condition variable, so an idle runner costs nothing.
public final class ParallelRunner: Sendable {
    public let threads: Int
    private let team: Team

    /// Pause instructions a thread spins for new work (helpers) or for the helpers to finish
    /// (the caller) before it parks on the condition variable.
    static let spinIterations = 2_000

    /// State shared with the helper threads. `@unchecked Sendable`: `body` and `stopping` are read
    /// and written under `condition`; `generation` and `remaining` are atomics whose
    /// release/acquire pairs order the hand-off (the body is published under the lock before the
    /// generation is bumped, and a helper reads it under the lock after seeing the new generation).
    private final class Team: @unchecked Sendable {
        let condition = NSCondition()
        /// Bumped once per job; helpers run a job when it moves past the one they last ran.
        let generation = Atomic<Int>(0)
        /// Helper parts still running in the current job.
        let remaining = Atomic<Int>(0)
        var body: ((Int, Int) -> Void)? = nil
        /// The caller's kernel ISA cap for the current job (tests pin a level per thread; the
        /// helpers run their parts at the same level).
        var isaLimit = ck_isa.amx
        var stopping = false

        func helperLoop(index: Int, parts: Int) {
            var seen = 0
            while true {
                var spins = 0
                while generation.load(ordering: .acquiring) == seen && spins < ParallelRunner.spinIterations {
                    ck_cpu_relax()
                    spins += 1
                }
                condition.lock()
                while generation.load(ordering: .acquiring) == seen && !stopping { condition.wait() }
                if stopping {
                    condition.unlock()
                    return
                }
                seen = generation.load(ordering: .acquiring)
                let job = body
                let limit = isaLimit
                condition.unlock()
                if ck_thread_isa_limit() != limit { ck_set_thread_isa_limit(limit) }
                job?(index, parts)
                if remaining.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
                    // The caller may have parked: wake it (cheap when nobody waits).
                    condition.lock()
                    condition.broadcast()
                    condition.unlock()
                }
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
        team.isaLimit = ck_thread_isa_limit()
        team.remaining.store(threads - 1, ordering: .releasing)
        team.generation.add(1, ordering: .acquiringAndReleasing)
        team.condition.broadcast()
        team.condition.unlock()
        body(0, threads)
        var spins = 0
        while team.remaining.load(ordering: .acquiring) > 0 && spins < ParallelRunner.spinIterations * 8 {
            ck_cpu_relax()
            spins += 1
        }
        team.condition.lock()
        while team.remaining.load(ordering: .acquiring) > 0 { team.condition.wait() }
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

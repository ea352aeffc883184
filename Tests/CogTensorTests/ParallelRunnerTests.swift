// ParallelRunnerTests — the compute thread team: every part runs once per job, and helpers run
// their parts at the caller's kernel ISA cap (tests pin a level on the calling thread; a threaded
// kernel must then be checked at that level on every thread, not only the caller's).
import CKernels
import CogTensor
import Foundation
import Testing

/// Values written by runner parts (any thread), read after `run` returns.
private final class PartLog: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int]
    init(count: Int, initial: Int) { values = Array(repeating: initial, count: count) }
    func add(_ part: Int, _ delta: Int) { lock.withLock { values[part] += delta } }
    func set(_ part: Int, _ value: Int) { lock.withLock { values[part] = value } }
    subscript(part: Int) -> Int { lock.withLock { values[part] } }
}

@Suite("ParallelRunner")
struct ParallelRunnerTests {
    @Test("each part runs once per job, jobs after jobs", arguments: [1, 2, 3])
    func partsRunOnce(threads: Int) {
        let runner = ParallelRunner(threads: threads)
        let counts = PartLog(count: threads, initial: 0)
        for _ in 0..<500 {
            runner.run { part, parts in
                #expect(parts == threads)
                counts.add(part, 1)
            }
        }
        #expect((0..<threads).allSatisfy { counts[$0] == 500 })
    }

    @Test("helpers take the caller's ISA cap for each job")
    func helpersFollowTheCallersLevel() throws {
        let runner = ParallelRunner(threads: 2)
        let seen = PartLog(count: 2, initial: -1)
        for level in availableLevels + [availableLevels[0]] {
            let isa = try #require(ck_isa(rawValue: level))
            withISA(isa) {
                runner.run { part, _ in
                    if part == 1 { seen.set(1, Int(ck_active_isa().rawValue)) }
                }
            }
            #expect(seen[1] == Int(isa.rawValue), "caller capped at \(levelName(isa))")
        }
        // Uncapped again: the helper runs at the detected level.
        runner.run { part, _ in if part == 1 { seen.set(1, Int(ck_active_isa().rawValue)) } }
        #expect(seen[1] == Int(ck_detected_isa().rawValue))
    }
}

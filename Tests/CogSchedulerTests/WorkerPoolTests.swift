import CogJobStore
import Foundation
import Testing

@testable import CogScheduler

/// The worker pool against a real SQLite file, with a scripted executor. Serialized: the tests
/// measure latencies and start threads, and the machine has few cores.
@Suite("WorkerPool", .serialized)
struct WorkerPoolTests {
    private func makePool(_ queue: TestQueue, executor: ScriptedExecutor, log: EventLog, workers: Int = 2,
                          configure: (inout WorkerPool.Configuration) -> Void = { _ in }) -> WorkerPool {
        var configuration = WorkerPool.Configuration(workers: workers, threadsPerWorker: 1)
        configuration.leaseDuration = .seconds(30)
        configure(&configuration)
        return WorkerPool(store: queue.store, executor: executor, configuration: configuration, onEvent: log.handler)
    }

    @Test("3 workers run 40 jobs: each executed once, one result each, attempt 1 everywhere")
    func eachJobOnce() async throws {
        let queue = try TestQueue("once")
        defer { queue.remove() }
        let executor = ScriptedExecutor(), log = EventLog()
        let ids = try (0..<40).map { try queue.enqueue($0, script: $0 % 4 == 0 ? "tokens:3:2" : "ok") }
        let pool = makePool(queue, executor: executor, log: log, workers: 3)
        try pool.start()
        #expect(eventually { log.finishes.count == 40 })
        await pool.drain(budget: .seconds(5))

        #expect(executor.executions.withLock { $0 } == Dictionary(uniqueKeysWithValues: ids.map { ($0, 1) }))
        #expect(try queue.rows("SELECT count(*), count(DISTINCT job_id) FROM results")
            == [[.integer(40), .integer(40)]])
        #expect(try queue.rows("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempt = 1")
            == [[.integer(40)]])
        #expect(try queue.rows("SELECT count(*) FROM boxes") == [[.integer(40)]])
        #expect(Set(log.finishes.map(\.worker)).count > 1, "work was spread over the workers")
        #expect(pool.snapshot().counters.succeeded == 40)
        #expect(pool.isStopped)
    }

    @Test("permanent failures fail at once; transient ones retry; unclassified errors count as transient")
    func failureClassification() async throws {
        let queue = try TestQueue("classify", retryBaseSeconds: 0)
        defer { queue.remove() }
        let executor = ScriptedExecutor(), log = EventLog()
        let permanent = try queue.enqueue(1, script: "permanent")
        let flaky = try queue.enqueue(2, script: "transient-once")
        let untyped = try queue.enqueue(3, script: "untyped", maxAttempts: 1)
        let hopeless = try queue.enqueue(4, script: "transient", maxAttempts: 2)
        let pool = makePool(queue, executor: executor, log: log)
        try pool.start()
        #expect(try eventually {
            try [permanent, flaky, untyped, hopeless].allSatisfy {
                ["failed", "succeeded"].contains(try queue.state(of: $0))
            }
        })
        await pool.drain(budget: .seconds(5))

        let permanentRow = try queue.other.job(id: permanent)
        #expect(permanentRow?.job.state == .failed)
        #expect(permanentRow?.job.attempt == 1)
        #expect(permanentRow?.job.lastErrorCode == "image.corrupt")
        #expect(permanentRow?.job.lastErrorMessage == "the test image is corrupt")
        #expect(executor.executions.withLock { $0[permanent] } == 1)

        let flakyRow = try queue.other.job(id: flaky)
        #expect(flakyRow?.job.state == .succeeded)
        #expect(flakyRow?.job.attempt == 2)
        #expect(flakyRow?.errors.map(\.code) == ["test.flaky"])
        #expect(flakyRow?.result != nil)

        let untypedRow = try queue.other.job(id: untyped)
        #expect(untypedRow?.job.state == .failed)
        #expect(untypedRow?.job.lastErrorCode == JobFailure.unclassifiedCode)
        #expect(untypedRow?.job.lastErrorMessage == "something unexpected broke")

        let hopelessRow = try queue.other.job(id: hopeless)
        #expect(hopelessRow?.job.state == .failed)
        #expect(hopelessRow?.job.attempt == 2)
        #expect(hopelessRow?.errors.count == 2)
        #expect(log.finishes.contains { if case .willRetry = $0.outcome { $0.job.id == hopeless } else { false } })
    }

    @Test("a running job cancelled from another connection stops between tokens and ends cancelled")
    func cancelRunning() async throws {
        let queue = try TestQueue("cancel")
        defer { queue.remove() }
        let executor = ScriptedExecutor(), log = EventLog()
        let job = try queue.enqueue(1, script: "tokens:2000:5")
        let pool = makePool(queue, executor: executor, log: log, workers: 1)
        try pool.start()
        #expect(try eventually { try queue.state(of: job) == "running" })
        let requested = ContinuousClock.now
        #expect(try queue.other.cancel(jobID: job) == .requested)
        #expect(eventually(timeout: .seconds(5)) { log.outcome(of: job) != nil })
        let stoppedAfter = ContinuousClock.now - requested
        await pool.drain(budget: .seconds(5))

        #expect(log.outcome(of: job) == .cancelled)
        #expect(executor.stops.withLock { $0[job] } == .cancelled)
        #expect(try queue.state(of: job) == "cancelled")
        #expect(try queue.rows("SELECT count(*) FROM results") == [[.integer(0)]])
        #expect(stoppedAfter < .seconds(2), "cancel noticed within a cancel-check interval plus a token")
        print("cancel of a running job took effect after \(Int(milliseconds(stoppedAfter))) ms")
    }

    @Test("drain: a job that fits the budget finishes; one that does not is stopped and requeued uncounted")
    func gracefulDrain() async throws {
        let queue = try TestQueue("drain")
        defer { queue.remove() }
        let executor = ScriptedExecutor(), log = EventLog()
        let short = try queue.enqueue(1, script: "tokens:30:10")    // ~0.3 s
        let long = try queue.enqueue(2, script: "tokens:100000:5")  // minutes
        let waiting = try queue.enqueue(3, script: "ok")
        let pool = makePool(queue, executor: executor, log: log) { $0.idleClaimInterval = .seconds(5) }
        try pool.start()
        #expect(try eventually { try queue.state(of: short) == "running" && queue.state(of: long) == "running" })
        // The third job is claimed by whichever worker frees up first, unless the drain stops claiming first.
        let drainStart = ContinuousClock.now
        await pool.drain(budget: .milliseconds(800))
        let drainTook = ContinuousClock.now - drainStart

        #expect(log.outcome(of: short).map { if case .succeeded = $0 { true } else { false } } == true)
        #expect(log.outcome(of: long) == .requeued)
        #expect(executor.stops.withLock { $0[long] } == .shutdown)
        let longRow = try queue.other.job(id: long)
        #expect(longRow?.job.state == .queued)
        #expect(longRow?.job.attempt == 0, "the interrupted attempt is not counted")
        #expect(longRow?.errors.isEmpty == true)
        #expect(try queue.state(of: waiting) == "queued", "no new claims after the drain began")
        // The long job would run for minutes: returning well before that shows the drain stopped it
        // at the budget rather than waiting (the margin is for loaded CI machines).
        #expect(drainTook >= .milliseconds(800) && drainTook < .seconds(30))
        #expect(pool.isStopped)
        print("drain with a 0.8 s budget returned after \(Int(milliseconds(drainTook))) ms")
    }

    @Test("a lost lease stops the job and nothing is written; the old claim token cannot complete it")
    func leaseLost() async throws {
        let queue = try TestQueue("lease")
        defer { queue.remove() }
        let executor = ScriptedExecutor(), log = EventLog()
        let checked = try queue.enqueue(1, script: "tokens:100000:5")
        let careless = try queue.enqueue(2, script: "ignore-stop:1500")
        let pool = makePool(queue, executor: executor, log: log) { configuration in
            configuration.leaseDuration = .seconds(10)
            configuration.leaseRenewalInterval = .milliseconds(200)
        }
        try pool.start()
        #expect(try eventually { try queue.state(of: checked) == "running" && queue.state(of: careless) == "running" })
        let tokens = try queue.rows("SELECT id, claim_token FROM jobs ORDER BY id")
        // Another process decides this pool's owner is dead and rescues its jobs; pause so they stay put.
        try queue.other.pause()
        let rescue = try queue.other.rescueOrphans(liveness: { _ in .dead })
        #expect(rescue.requeued == [checked, careless])
        #expect(eventually { log.outcome(of: checked) != nil && log.outcome(of: careless) != nil })
        await pool.drain(budget: .seconds(5))

        #expect(executor.stops.withLock { $0[checked] } == .leaseLost)
        for job in [checked, careless] {
            #expect(log.outcome(of: job).map { if case .abandoned = $0 { true } else { false } } == true)
            #expect(try queue.state(of: job) == "retryable")
        }
        #expect(log.all.contains { if case .leaseLost(let id, _) = $0 { id == checked } else { false } })
        #expect(try queue.rows("SELECT count(*) FROM results") == [[.integer(0)]])
        // The stale worker's token is fenced off.
        let staleToken = try #require(tokens.first?[1].string)
        let output = JobOutput(text: "late", rawOutput: "late", promptTokens: 1, generatedTokens: 1, model: "m")
        #expect(throws: JobStoreError.self) {
            try queue.other.complete(jobID: checked, claimToken: staleToken, output: output)
        }
        do {
            try queue.other.complete(jobID: checked, claimToken: staleToken, output: output)
        } catch let error as JobStoreError {
            #expect(error.code == .staleClaim)
        }
    }

    @Test("an idle pool starts work within milliseconds of wake() and within a tick of another process's enqueue")
    func startLatency() async throws {
        let queue = try TestQueue("latency")
        defer { queue.remove() }
        let executor = ScriptedExecutor(), log = EventLog()
        // A long idle poll, so only the wake-up and the data_version check can explain fast starts.
        let pool = makePool(queue, executor: executor, log: log) { $0.idleClaimInterval = .seconds(30) }
        try pool.start()
        try await Task.sleep(for: .milliseconds(300))  // let both workers go idle

        var inProcess: [Double] = [], crossConnection: [Double] = []
        for round in 0..<5 {
            let id = try queue.enqueue(100 + round, script: "ok")
            let enqueued = ContinuousClock.now  // committed (the fsync is not the pool's latency)
            pool.wake()
            #expect(eventually(timeout: .seconds(2)) { log.startInstant(of: id) != nil })
            inProcess.append(milliseconds(try #require(log.startInstant(of: id)) - enqueued))

            let otherID = try queue.enqueue(200 + round, script: "ok", on: queue.other)  // no wake()
            let otherEnqueued = ContinuousClock.now
            #expect(eventually(timeout: .seconds(2)) { log.startInstant(of: otherID) != nil })
            crossConnection.append(milliseconds(try #require(log.startInstant(of: otherID)) - otherEnqueued))
            try await Task.sleep(for: .milliseconds(50))
        }
        await pool.drain(budget: .seconds(5))
        print("start latency, same process + wake(): \(inProcess.map { Int($0) }) ms; "
              + "other connection (data_version): \(crossConnection.map { Int($0) }) ms")
        #expect(inProcess.max() ?? 1e9 < 250, "milliseconds normally; the bound allows for a loaded machine")
        #expect(crossConnection.max() ?? 1e9 < 1000)
    }

    @Test("a paused queue is not claimed from; resume lets workers claim again")
    func pauseAndResume() async throws {
        let queue = try TestQueue("pause")
        defer { queue.remove() }
        let executor = ScriptedExecutor(), log = EventLog()
        try queue.other.pause()
        let job = try queue.enqueue(1)
        let pool = makePool(queue, executor: executor, log: log)
        try pool.start()
        try await Task.sleep(for: .milliseconds(800))
        #expect(try queue.state(of: job) == "queued")
        try queue.other.resume()
        #expect(try eventually(timeout: .seconds(2)) { try queue.state(of: job) == "succeeded" })
        await pool.drain(budget: .seconds(5))
    }

    @Test("health: a worker stuck in one step longer than the limit makes the pool unhealthy")
    func healthFollowsProgress() async throws {
        let queue = try TestQueue("health")
        defer { queue.remove() }
        let executor = ScriptedExecutor(), log = EventLog()
        let pool = makePool(queue, executor: executor, log: log, workers: 1)
        try pool.start()
        try await Task.sleep(for: .milliseconds(200))
        #expect(pool.health(stallLimit: .milliseconds(300)).isHealthy, "idle workers are healthy")
        let job = try queue.enqueue(1, script: "stall:1200")
        pool.wake()
        #expect(eventually { pool.snapshot().workers[0].jobID == job })
        #expect(pool.health(stallLimit: .milliseconds(300)).isHealthy)
        #expect(eventually(timeout: .seconds(1)) { !pool.health(stallLimit: .milliseconds(300)).isHealthy })
        let problems = pool.health(stallLimit: .milliseconds(300)).problems
        #expect(problems.first?.contains("worker 0 has made no progress on job \(job)") == true)
        #expect(try eventually(timeout: .seconds(3)) { try queue.state(of: job) == "succeeded" })
        #expect(pool.health(stallLimit: .milliseconds(300)).isHealthy)
        await pool.drain(budget: .seconds(5))
    }

    @Test("a database locked by another process delays claims (store errors reported), then work resumes")
    func lockedDatabase() async throws {
        let queue = try TestQueue("locked", busyTimeout: .milliseconds(200))
        defer { queue.remove() }
        let executor = ScriptedExecutor(), log = EventLog()
        let job = try queue.enqueue(1)
        let locker = try SQLiteConnection(path: queue.url.path)
        try locker.execute("BEGIN EXCLUSIVE")
        let pool = makePool(queue, executor: executor, log: log, workers: 1)
        try pool.start()
        #expect(eventually(timeout: .seconds(3)) {
            log.all.contains { if case .storeError("claim", _, let error) = $0 { error.code == .busy } else { false } }
        })
        try locker.execute("COMMIT")
        #expect(try eventually(timeout: .seconds(8)) { try queue.state(of: job) == "succeeded" })
        await pool.drain(budget: .seconds(5))
    }

    @Test("a job whose lease ran out without its worker is rescued by the periodic rescue and run")
    func periodicRescue() async throws {
        let queue = try TestQueue("rescue")
        defer { queue.remove() }
        let executor = ScriptedExecutor(), log = EventLog()
        let pool = makePool(queue, executor: executor, log: log) { $0.rescueInterval = .milliseconds(300) }
        // A worker of this (live) process claimed the job and gave it up: its lease is all that is left.
        let job = try queue.enqueue(1)
        let abandoned = try #require(try queue.other.claim(owner: pool.configuration.owner,
                                                           leaseDuration: .milliseconds(500)))
        #expect(abandoned.id == job)
        try pool.start()
        #expect(try eventually(timeout: .seconds(5)) { try queue.state(of: job) == "succeeded" })
        await pool.drain(budget: .seconds(5))
        #expect(log.all.contains { if case .rescued(let report) = $0 { report.requeued == [job] } else { false } })
        let detail = try queue.other.job(id: job)
        #expect(detail?.job.attempt == 2)
        #expect(detail?.errors.map(\.code) == ["job.lease_expired"])
    }

    @Test("thread budget keeps workers × threads within the cores")
    func threadBudget() {
        #expect(ThreadBudget(workers: 2, requestedThreadsPerWorker: 4, cores: 8).threadsPerWorker == 4)
        let reduced = ThreadBudget(workers: 2, requestedThreadsPerWorker: 4, cores: 4)
        #expect(reduced.threadsPerWorker == 2)
        #expect(reduced.wasReduced)
        #expect(ThreadBudget(workers: 3, requestedThreadsPerWorker: 1, cores: 2).isOversubscribed)
        #expect(ThreadBudget(workers: 2, requestedThreadsPerWorker: 1, cores: 2).description
                == "2 worker(s) × 1 thread(s) on 2 core(s)")
    }

    @Test("start twice is refused; a pool drained before start is stopped")
    func lifecycleErrors() async throws {
        let queue = try TestQueue("lifecycle")
        defer { queue.remove() }
        let pool = makePool(queue, executor: ScriptedExecutor(), log: EventLog())
        try pool.start()
        let refused = SchedulerError(code: .alreadyStarted,
                                     message: "this worker pool was started before; create a new one")
        #expect(throws: refused) {
            try pool.start()
        }
        await pool.drain(budget: .zero)
        #expect(pool.isStopped)
        let unused = makePool(queue, executor: ScriptedExecutor(), log: EventLog())
        await unused.drain(budget: .zero)
        #expect(unused.isStopped)
    }
}

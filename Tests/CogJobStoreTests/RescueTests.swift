@testable import CogJobStore
import Foundation
import Testing

@Suite("Orphan rescue and owner identity")
struct RescueTests {
    /// An owner on this machine and boot whose process has exited.
    static func deadLocalOwner() throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        let me = OwnerIdentity.current()
        return OwnerIdentity(host: me.host, pid: process.processIdentifier, bootID: me.bootID,
                             startTime: me.startTime).description
    }

    @Test("owner identity: this process is alive; exited, rebooted and reused pids are dead; other hosts unknown")
    func liveness() throws {
        let me = OwnerIdentity.current()
        #expect(me.pid == getpid())
        #expect(me.startTime > 0)
        #expect(OwnerIdentity(parsing: me.description) == me)
        #expect(OwnerIdentity.liveness(of: me.description) == .alive)
        #expect(OwnerIdentity.liveness(of: try Self.deadLocalOwner()) == .dead)
        var rebooted = me
        rebooted.bootID = "00000000-0000-0000-0000-000000000000"
        #expect(OwnerIdentity.liveness(of: rebooted.description) == .dead)
        var reused = me
        reused.startTime += 1  // same pid, different process start: the pid was reused
        #expect(OwnerIdentity.liveness(of: reused.description) == .dead)
        var remote = me
        remote.host = "some-other-host"
        #expect(OwnerIdentity.liveness(of: remote.description) == .unknown)
        #expect(OwnerIdentity.liveness(of: "garbage") == .unknown)
    }

    /// A killed daemon is a zombie until its parent reaps it: its pid and start time still match,
    /// but it holds nothing. It must count as dead, or a restart waits out its leases.
    @Test("an exited process not yet reaped (a zombie) is a dead owner", .timeLimit(.minutes(1)))
    func zombieIsDead() throws {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { argv.forEach { free($0) } }
        try #require(posix_spawn(&pid, "/bin/true", nil, nil, argv, environ) == 0)
        defer { var status: Int32 = 0; _ = waitpid(pid, &status, 0) }  // reap it at the end
        // Wait until it has exited (state Z), without reaping it.
        var fields: [Substring] = []  // /proc/<pid>/stat from field 3 (state) on
        for _ in 0..<2000 where fields.first != "Z" {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            if fields.first != "Z" { usleep(1000) }
        }
        try #require(fields.first == "Z" && fields.count > 19, "the child never became a zombie")
        let me = OwnerIdentity.current()
        // Its real start time: only the zombie state tells it apart from a live owner.
        let started = try #require(UInt64(fields[19]))
        let owner = OwnerIdentity(host: me.host, pid: pid, bootID: me.bootID, startTime: started)
        #expect(OwnerIdentity.processStartTime(pid: pid) == nil)
        #expect(OwnerIdentity.liveness(of: owner.description) == .dead)
    }

    @Test("a job whose owner died goes back to retryable at once, its crash and attempt counted")
    func deadOwnerRescued() throws {
        let database = try TestDatabase("rescue")
        defer { database.remove() }
        let store = try database.open()
        let id = try store.enqueueNew(request(1))
        let alive = try store.enqueueNew(request(2))
        let deadOwner = try Self.deadLocalOwner()
        let orphan = try #require(try store.claim(owner: deadOwner, leaseDuration: .seconds(600)))
        #expect(orphan.id == id)
        let healthy = try #require(try store.claim(owner: OwnerIdentity.current().description,
                                                   leaseDuration: .seconds(600)))
        #expect(healthy.id == alive)

        let report = try store.rescueOrphans()  // real liveness check, leases still valid
        #expect(report.requeued == [id])
        #expect(report.untouched == [alive])
        let detail = try #require(try store.job(id: id))
        #expect(detail.job.state == .retryable)
        #expect(detail.job.crashCount == 1)
        #expect(detail.job.attempt == 1)
        #expect(detail.job.runAfter == database.clock.now)
        #expect(detail.errors.map(\.code) == ["job.owner_died"])
        #expect(throws: JobStoreError.self) {
            try store.complete(jobID: id, claimToken: orphan.claimToken, output: output())
        }
        let again = try #require(try store.claim(owner: OwnerIdentity.current().description,
                                                 leaseDuration: .seconds(60)))
        #expect(again.id == id)
        #expect(again.attempt == 2)
        #expect(again.crashCount == 1)
    }

    @Test("a job that took its owner down twice is quarantined and not claimed again")
    func poisonJobQuarantined() throws {
        let database = try TestDatabase("poison")
        defer { database.remove() }
        let store = try database.open()
        let id = try store.enqueueNew(request(1, maxAttempts: 5))
        let dead: (String) -> OwnerLiveness = { _ in .dead }
        _ = try #require(try store.claim(owner: "daemon-run-1", leaseDuration: .seconds(600)))
        #expect(try store.rescueOrphans(liveness: dead).requeued == [id])
        _ = try #require(try store.claim(owner: "daemon-run-2", leaseDuration: .seconds(600)))
        #expect(try store.rescueOrphans(liveness: dead).quarantined == [id])
        let detail = try #require(try store.job(id: id))
        #expect(detail.job.state == .quarantined)
        #expect(detail.job.crashCount == 2)
        #expect(detail.job.lastErrorCode == "job.quarantined")
        #expect(detail.job.lastErrorMessage?.contains("died 2 times") == true)
        #expect(detail.errors.map(\.code) == ["job.owner_died", "job.owner_died", "job.quarantined"])
        #expect(try store.claim(owner: "daemon-run-3", leaseDuration: .seconds(600)) == nil)
        // A user can still decide to run it again.
        try store.retry(jobID: id)
        #expect(try store.job(id: id)?.job.crashCount == 0)
        #expect(try store.claim(owner: "daemon-run-3", leaseDuration: .seconds(600))?.id == id)
    }

    @Test("rescue: last attempt dying fails the job; a cancel requested before the crash stays cancelled")
    func rescueOutcomes() throws {
        let database = try TestDatabase("rescue-outcomes")
        defer { database.remove() }
        let store = try database.open()
        let lastAttempt = try store.enqueueNew(request(1, maxAttempts: 1))
        _ = try #require(try store.claim(owner: "gone", leaseDuration: .seconds(600)))
        let cancelled = try store.enqueueNew(request(2))
        _ = try #require(try store.claim(owner: "gone", leaseDuration: .seconds(600)))
        #expect(try store.cancel(jobID: cancelled) == .requested)
        let report = try store.rescueOrphans(liveness: { _ in .dead })
        #expect(report.failed == [lastAttempt])
        #expect(report.cancelled == [cancelled])
        #expect(try store.state(of: lastAttempt) == .failed)
        #expect(try store.state(of: cancelled) == .cancelled)
        #expect(try store.claim(owner: "me", leaseDuration: .seconds(60)) == nil)
    }

    @Test("an expired lease with a live owner is recovered without counting a crash; renewal prevents it")
    func leaseExpiry() throws {
        let database = try TestDatabase("lease")
        defer { database.remove() }
        let store = try database.open()
        let renewed = try store.enqueueNew(request(1))
        let expired = try store.enqueueNew(request(2))
        let a = try #require(try store.claim(owner: "worker-a", leaseDuration: .seconds(30)))
        let b = try #require(try store.claim(owner: "worker-b", leaseDuration: .seconds(30)))
        #expect(a.id == renewed && b.id == expired)
        database.clock.advance(seconds: 20)
        #expect(try store.renewLease(jobID: renewed, claimToken: a.claimToken, leaseDuration: .seconds(30)))
        database.clock.advance(seconds: 15)
        let report = try store.rescueOrphans(liveness: { _ in .alive })
        #expect(report.requeued == [expired])
        #expect(report.untouched == [renewed])
        let detail = try #require(try store.job(id: expired))
        #expect(detail.job.crashCount == 0)
        #expect(detail.errors.map(\.code) == ["job.lease_expired"])
    }
}

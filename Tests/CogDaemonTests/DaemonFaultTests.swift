import CogJobStore
import CogTestSupport
import Foundation
import Glibc
import Testing

@testable import CogDaemon

/// Crashes, signals and systemd notification against the real daemon binary. These use the
/// test-only echo executor (`COGJOBS_TEST_EXECUTOR=echo`) so that timing is under the test's
/// control; what is tested is the queue and the process, not the model.
extension DaemonProcessTests {
    @Suite("Daemon faults and signals")
    struct DaemonFaultTests {
        private static let slowEcho = ["COGJOBS_TEST_EXECUTOR": "echo", "COGJOBS_TEST_ECHO_TOKENS": "40",
                                       "COGJOBS_TEST_ECHO_TOKEN_MS": "50"]
        private static let fastEcho = ["COGJOBS_TEST_EXECUTOR": "echo", "COGJOBS_TEST_ECHO_TOKENS": "2"]

        @Test("kill -9 while jobs run, then restart: every job succeeds once, attempts counted, stale claims fenced")
        func killDuringJobs() throws {
            let daemon = try DaemonHarness("kill9")
            defer { daemon.remove() }
            try daemon.writeConfig()
            for n in 0..<6 { try TestImages.jpeg(n).write(to: daemon.inbox.appendingPathComponent("k\(n).jpg")) }
            try daemon.startAndWait(environment: Self.slowEcho)
            #expect(daemon.waitForJobs(2, "running", timeout: .seconds(20)))
            usleep(300_000)  // a few tokens into the jobs
            let running = try daemon.query("SELECT id, claim_token FROM jobs WHERE state = 'running' ORDER BY id")
            let crashed = running.compactMap { $0[0].int64 }
            #expect(crashed.count == 2)
            let exit = daemon.stop(signal: SIGKILL)
            #expect(exit?.signaled == true && exit?.status == SIGKILL)

            try daemon.startAndWait(environment: Self.fastEcho)
            #expect(daemon.log.contains("rescued orphaned jobs: requeued \(crashed)"), "\(daemon.log)")
            #expect(daemon.waitForJobs(6, "succeeded", timeout: .seconds(20)))
            #expect(try daemon.count("SELECT count(*) FROM jobs") == 6)
            #expect(try daemon.resultCounts() == [6, 6])
            for id in crashed {
                #expect(try daemon.count("SELECT attempt FROM jobs WHERE id = \(id)") == 2, "the crash counts")
                #expect(try daemon.query("SELECT code FROM job_errors WHERE job_id = \(id)")
                    == [[.text("job.owner_died")]])
            }
            #expect(try daemon.count("SELECT count(*) FROM jobs WHERE attempt = 1") == 4)

            // The dead worker's claim tokens can no longer complete (or fail) anything.
            let store = try daemon.store()
            let output = JobOutput(text: "late", rawOutput: "late", promptTokens: 1, generatedTokens: 1, model: "stale")
            for row in running {
                let id = try #require(row[0].int64), token = try #require(row[1].string)
                #expect(throws: JobStoreError.self) { try store.complete(jobID: id, claimToken: token, output: output) }
                #expect(throws: JobStoreError.self) {
                    try store.fail(jobID: id, claimToken: token, code: "x", message: "y", permanent: true)
                }
            }
            #expect(try daemon.count("SELECT count(*) FROM results") == 6)
            print("kill -9 during jobs \(crashed): after restart 6/6 succeeded, 6 results, crashed jobs on attempt 2")
            #expect(daemon.stop()?.status == 0)
        }

        @Test("crash points around the result commit: no lost job, no duplicate result, attempts counted",
              arguments: ["after-claim", "before-commit", "in-commit", "after-commit-before-sidecar"])
        func crashPoint(_ point: String) throws {
            let daemon = try DaemonHarness("crash-\(point)")
            defer { daemon.remove() }
            try daemon.writeConfig(watch: [["path": daemon.inbox.path, "task": "caption", "sidecar": "json"]])
            try daemon.startAndWait(environment: Self.fastEcho.merging(["COGJOBS_TEST_CRASH_POINT": point]) { $1 })
            let image = daemon.inbox.appendingPathComponent("victim.jpg")
            try TestImages.jpeg(42).write(to: image)
            let exit = daemon.waitForExit(timeout: .seconds(20))
            #expect(exit?.signaled == true && exit?.status == SIGKILL, "the daemon killed itself at \(point)")
            #expect(daemon.log.contains("TEST-ONLY crash point \(point)"), "\(daemon.log)")

            let committed = point == "after-commit-before-sidecar"
            #expect(try daemon.query("SELECT state, attempt FROM jobs")
                == [[.text(committed ? "succeeded" : "running"), .integer(1)]])
            #expect(try daemon.count("SELECT count(*) FROM results") == (committed ? 1 : 0), "nothing half-written")
            #expect(FileManager.default.fileExists(atPath: image.path + ".json") == false)

            try daemon.startAndWait(environment: Self.fastEcho)
            let sidecarPath = image.path + ".json"
            let reconciled = poll(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: sidecarPath) }
            #expect(reconciled, "\(daemon.log)")
            #expect(try daemon.query("SELECT state, attempt FROM jobs")
                == [[.text("succeeded"), .integer(committed ? 1 : 2)]])
            #expect(try daemon.resultCounts() == [1, 1])
            let errors = try daemon.query("SELECT code FROM job_errors").compactMap { $0.first?.string }
            #expect(errors == (committed ? [] : ["job.owner_died"]))
            let sidecar = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: sidecarPath)))
            #expect((sidecar as? [String: Any])?["job_id"] as? Int == 1)
            print("crash at \(point): restart → job succeeded on attempt \(committed ? 1 : 2), 1 result, sidecar "
                  + (committed ? "reconciled by the start-up scan" : "written after the rerun"))
            #expect(daemon.stop()?.status == 0)
        }

        @Test("a job that kills the daemon twice is quarantined, and the daemon keeps running")
        func poisonJob() throws {
            let daemon = try DaemonHarness("poison")
            defer { daemon.remove() }
            try daemon.writeConfig()
            try TestImages.jpeg(13).write(to: daemon.inbox.appendingPathComponent("poison.jpg"))
            let crashing = Self.fastEcho.merging(["COGJOBS_TEST_CRASH_POINT": "in-commit"]) { $1 }
            for run in 1...2 {
                try daemon.start(environment: crashing)
                let exit = daemon.waitForExit(timeout: .seconds(20))
                #expect(exit?.signaled == true, "run \(run) crashed in the commit")
            }
            try daemon.startAndWait(environment: crashing)
            #expect(try daemon.query("SELECT state, crash_count, attempt, last_error_code FROM jobs")
                == [[.text("quarantined"), .integer(2), .integer(2), .text("job.quarantined")]])
            #expect(try daemon.count("SELECT count(*) FROM results") == 0)
            usleep(500_000)
            #expect(daemon.process?.isRunning == true, "the quarantined job is not run again")
            #expect(daemon.stop()?.status == 0)
        }

        /// SQLite goes on writing through its open descriptors when the path is deleted or replaced:
        /// the daemon must notice and stop (exit 74) instead of filing results nobody can read.
        @Test("the database file deleted, replaced or corrupted under the daemon stops it with exit 74", arguments: ["delete", "replace", "corrupt"])
        func databaseFileGuard(_ how: String) throws {
            let daemon = try DaemonHarness("dbguard-\(how)")
            defer { daemon.remove() }
            try daemon.writeConfig()
            try TestImages.jpeg(1).write(to: daemon.inbox.appendingPathComponent("a.jpg"))
            // Corrupt: with a job running for a while (its result can never be written), the daemon
            // must still stop within its drain time.
            try daemon.startAndWait(environment: how == "corrupt" ? Self.slowEcho : Self.fastEcho)
            let path = daemon.database.path
            let backup = daemon.directory.appendingPathComponent("backup.sqlite3")
            if how == "corrupt" {
                #expect(daemon.waitForJobs(1, "running"))
                // Same file, pages past the header overwritten: every statement now reads garbage.
                try daemon.store().checkpoint()
                let handle = try FileHandle(forWritingTo: daemon.database)
                let size = try handle.seekToEnd()
                try handle.seek(toOffset: 4096)
                try handle.write(contentsOf: Data(repeating: 0xA5, count: Int(size) - 4096))
                try handle.close()
                try TestImages.jpeg(2).write(to: daemon.inbox.appendingPathComponent("b.jpg"))
            } else {
                #expect(daemon.waitForJobs(1, "succeeded"))
                try daemon.store().checkpoint()
                try FileManager.default.copyItem(at: daemon.database, to: backup)  // a backup, as an operator keeps
                if how == "delete" {
                    unlink(path)  // the -wal and -shm stay, as after an `rm jobs.sqlite3`
                } else {
                    let copy = daemon.directory.appendingPathComponent("copy.sqlite3").path
                    #expect(try daemon.cli(["migrate", "--database", copy]).status == 0)
                    #expect(rename(copy, path) == 0)
                }
            }
            let started = ContinuousClock.now
            let exit = daemon.waitForExit(timeout: .seconds(30))
            #expect(exit?.signaled == false && exit?.status == 74, "\(String(describing: exit)) \(daemon.log)")
            let reason = ["delete": "the job database was deleted", "replace": "the job database was replaced",
                          "corrupt": "SQLite reports the job database corrupt"][how] ?? "?"
            #expect(daemon.log.contains(reason), "\(daemon.log)")
            if how != "corrupt" {
                // The daemon's own WAL no longer sits at the path: restoring the backup there gives
                // the backup, intact (SQLite replayed the old WAL into it before).
                #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "\(daemon.log)")
                unlink(path)
                try FileManager.default.copyItem(at: backup, to: daemon.database)
                let restored = try daemon.store()
                try restored.quickCheck()
                #expect(try daemon.count("SELECT count(*) FROM jobs") == 1)
            }
            print("database file \(how) under the daemon: exit \(exit?.status ?? -1) after "
                  + "\(started.duration(to: .now))")
        }

        /// A file name is user input: a newline in it must not split a log event or forge one.
        @Test("a file name with a newline is logged on one line")
        func logLinesStayOneLine() throws {
            let daemon = try DaemonHarness("oneline")
            defer { daemon.remove() }
            try daemon.writeConfig()
            try daemon.startAndWait(environment: Self.fastEcho)
            try TestImages.jpeg(3).write(to: daemon.inbox.appendingPathComponent("a\nFAKE stopped.jpg"))
            #expect(daemon.waitForJobs(1, "succeeded"))
            #expect(daemon.stop()?.status == 0)
            let lines = daemon.log.split(separator: "\n")
            #expect(!lines.contains { $0.hasPrefix("FAKE") }, "\(daemon.log)")
            #expect(daemon.log.contains("a\\nFAKE stopped.jpg"), "\(daemon.log)")
            #expect(OneLineLogHandler.oneLine("x\r\u{1B}[2J\ty") == "x\\r\\x1B[2J\ty")
        }

        @Test("SIGTERM drains: a running job longer than the budget is requeued without counting the attempt; a repeated SIGTERM is logged once")
        func gracefulShutdownRequeues() throws {
            let daemon = try DaemonHarness("drain")
            defer { daemon.remove() }
            try daemon.writeConfig(["shutdown_drain_seconds": 0.5, "workers": 1])
            try TestImages.jpeg(3).write(to: daemon.inbox.appendingPathComponent("long.jpg"))
            try daemon.startAndWait(environment: Self.slowEcho)
            #expect(daemon.waitForJobs(1, "running", timeout: .seconds(10)))
            let stopped = ContinuousClock.now
            // Two SIGTERMs for one stop (as `timeout` sends them): one shutdown, logged once.
            daemon.signal(SIGTERM)
            usleep(50_000)
            let exit = daemon.stop()
            #expect(exit?.status == 0 && exit?.signaled == false)
            #expect(daemon.log.components(separatedBy: "received SIGTERM: shutting down").count == 2, "\(daemon.log)")
            let took = milliseconds(ContinuousClock.now - stopped)
            #expect(try daemon.query("SELECT state, attempt FROM jobs") == [[.text("queued"), .integer(0)]])
            #expect(daemon.log.contains("put back in the queue (shutdown)"))
            print("SIGTERM with a 0.5 s drain budget: exited 0 after \(Int(took)) ms, job requeued with attempt 0")
        }

        @Test("SIGHUP: an invalid configuration is rejected and the old one kept; a valid one adds a folder")
        func reloadOnSighup() throws {
            let daemon = try DaemonHarness("sighup")
            defer { daemon.remove() }
            let second = daemon.directory.appendingPathComponent("questions", isDirectory: true)
            try FileManager.default.createDirectory(at: second, withIntermediateDirectories: true)
            try daemon.writeConfig()
            let listener = try NotifyListener(directory: daemon.directory)
            defer { listener.close() }
            try daemon.startAndWait(environment: Self.fastEcho.merging(["NOTIFY_SOCKET": listener.path]) { $1 })

            try daemon.writeConfig(watch: [["path": daemon.inbox.path, "task": "paint"]])
            daemon.signal(SIGHUP)
            #expect(daemon.waitForLog("reload rejected, keeping the old configuration"), "\(daemon.log)")
            #expect(daemon.log.contains("watch[0].task"))
            try TestImages.jpeg(1).write(to: daemon.inbox.appendingPathComponent("after-bad-reload.jpg"))
            #expect(daemon.waitForJobs(1, "succeeded", timeout: .seconds(10)))

            try daemon.writeConfig(["workers": 1, "max_attempts": 5],
                                   watch: [["path": daemon.inbox.path, "task": "caption"],
                                           ["path": second.path, "task": "vqa", "prompt": "How many?"]])
            daemon.signal(SIGHUP)
            #expect(daemon.waitForLog("now watching 2 folder(s)"), "\(daemon.log)")
            // The keys that wait for a restart are named.
            #expect(daemon.waitForLog("`max_attempts`, `workers` changed and take(s) effect only after a restart"),
                    "\(daemon.log)")
            try TestImages.jpeg(2).write(to: second.appendingPathComponent("question.jpg"))
            #expect(daemon.waitForJobs(2, "succeeded", timeout: .seconds(10)))
            #expect(try daemon.query("SELECT task, prompt FROM jobs ORDER BY id DESC LIMIT 1")
                == [[.text("vqa"), .text("How many?")]])
            // Each reload, accepted or rejected, is bracketed by RELOADING=1 … READY=1.
            let reloading = listener.arrivals(of: "RELOADING=1"), ready = listener.arrivals(of: "READY=1")
            #expect(reloading.count == 2 && ready.count == 3)
            if reloading.count == 2 && ready.count == 3 {
                #expect(ready[0] < reloading[0] && reloading[0] < ready[1] && ready[1] < reloading[1]
                        && reloading[1] < ready[2])
            }
            #expect(daemon.stop()?.status == 0)
        }

        @Test("sd_notify: EXTEND_TIMEOUT_USEC while loading, then READY=1, STATUS=, WATCHDOG=1 and STOPPING=1")
        func systemdNotifications() throws {
            let daemon = try DaemonHarness("notify")
            defer { daemon.remove() }
            try daemon.writeConfig(["workers": 1])
            let listener = try NotifyListener(directory: daemon.directory)
            defer { listener.close() }
            // The model executor, so READY=1 must come after a real model load.
            try daemon.start(environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "600000"])
            #expect(poll(timeout: .seconds(30)) { !listener.arrivals(of: "READY=1").isEmpty }, "\(daemon.log)")
            let ready = try #require(listener.arrivals(of: "READY=1").first)
            let extend = try #require(listener.arrivals(of: "EXTEND_TIMEOUT_USEC=").first)
            #expect(extend < ready)
            #expect(daemon.log.range(of: "loaded cogvlm-tiny")?.lowerBound ?? daemon.log.endIndex
                    < daemon.log.range(of: "ready:")?.lowerBound ?? daemon.log.startIndex)
            #expect(poll(timeout: .seconds(5)) { listener.arrivals(of: "STATUS=queued").count >= 1 })
            #expect(poll(timeout: .seconds(3)) { listener.arrivals(of: "WATCHDOG=1").count >= 4 })
            #expect(daemon.stop()?.status == 0)
            #expect(poll(timeout: .seconds(2)) { !listener.arrivals(of: "STOPPING=1").isEmpty })
            let statuses = listener.received.map(\.1).filter { $0.hasPrefix("STATUS=queued") }
            print("sd_notify: \(listener.received.count) datagrams; first status line: \(statuses.first ?? "-")")
        }

        @Test("watchdog pings stop while a worker is stuck in one step, and resume after it")
        func watchdogFollowsProgress() throws {
            let daemon = try DaemonHarness("watchdog")
            defer { daemon.remove() }
            try daemon.writeConfig(["workers": 1])
            let listener = try NotifyListener(directory: daemon.directory)
            defer { listener.close() }
            try daemon.startAndWait(environment: Self.fastEcho.merging(["COGJOBS_TEST_ECHO_STALL_MS": "2500",
                                                                       "NOTIFY_SOCKET": listener.path,
                                                                       "WATCHDOG_USEC": "600000"]) { $1 })
            #expect(poll(timeout: .seconds(3)) { listener.arrivals(of: "WATCHDOG=1").count >= 4 })
            let dropped = ContinuousClock.now
            try TestImages.jpeg(9).write(to: daemon.inbox.appendingPathComponent("stuck.jpg"))
            #expect(daemon.waitForJobs(1, "succeeded", timeout: .seconds(10)))
            usleep(600_000)
            let pings = listener.arrivals(of: "WATCHDOG=1").filter { $0 > dropped }
            let gaps = zip(pings, pings.dropFirst()).map { milliseconds($1 - $0) }
            let longest = gaps.max() ?? 0
            #expect(longest > 1200, "pings stopped during the 2.5 s stall (longest gap \(Int(longest)) ms)")
            #expect(longest < 3000)
            #expect(daemon.log.contains("withholding systemd watchdog pings"))
            #expect(daemon.log.contains("watchdog pings resumed"))
            print("watchdog (WATCHDOG_USEC 0.6 s): normal gap ≈ \(Int(gaps.min() ?? 0)) ms; "
                  + "during a 2.5 s stuck step the longest gap was \(Int(longest)) ms")
            #expect(daemon.stop()?.status == 0)
        }
    }
}

extension DaemonProcessTests {
    @Suite("Daemon intake edge cases")
    struct DaemonIntakeEdgeTests {
        @Test("a producer that creates a file empty and fills it later yields one job, for the complete file")
        func createThenFill() throws {
            let daemon = try DaemonHarness("create-fill")
            defer { daemon.remove() }
            try daemon.writeConfig()
            try daemon.startAndWait(environment: ["COGJOBS_TEST_EXECUTOR": "echo"])
            let image = daemon.inbox.appendingPathComponent("scanner.jpg")
            let data = try TestImages.jpeg(77)
            try TestImages.createThenFill(data, to: image)
            #expect(daemon.waitForJobs(1, "succeeded", timeout: .seconds(10)))
            usleep(2_000_000)  // past the quiet period (FolderIntake.settleQuietPeriod): no late second job
            let hash = data.withUnsafeBytes { StreamingSHA256.hexDigest($0) }
            #expect(try daemon.query("SELECT i.sha256, j.state FROM jobs j JOIN images i ON i.id = j.image_id")
                == [[.text(hash), .text("succeeded")]])
            #expect(daemon.stop()?.status == 0)
        }
    }
}

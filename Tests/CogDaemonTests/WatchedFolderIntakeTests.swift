import CogConfig
import CogJobStore
import CogTestSupport
import CogWatcher
import Foundation
import Glibc
import Testing

@testable import CogDaemon

/// The watched-folder intake's answers to an operator's fault tests: deduplication that ignores
/// endings about a path (not the content), the quiet period before a file is taken, the files kept
/// and retried while the database refuses them, stale sidecars and `describe-box` prompts.
@Suite("Watched-folder intake rules")
struct WatchedFolderIntakeRuleTests {
    private static func request(_ content: String, path: String) -> EnqueueRequest {
        let hash = Array(content.utf8).withUnsafeBytes { StreamingSHA256.hexDigest($0) }
        return EnqueueRequest(image: ImageInfo(sha256: hash, path: path), task: "caption", model: "m@1")
    }

    @Test("dedup skips jobs that ended for their path (changed, missing, unreadable, superseded), not their content")
    func dedupIgnoresPathBoundFailures() throws {
        try Fixtures.withTemporaryDirectory("dedup-path") { directory in
            let store = try JobStore(url: directory.appendingPathComponent("jobs.sqlite3"))
            let endings: [(code: String, newJob: Bool)] = [
                ("job.image_changed", true), ("job.image_missing", true), ("job.image_unreadable", true),
                ("image.truncated", false), ("image.unknown_format", false), ("job.file_too_large", false),
            ]
            for (index, ending) in endings.enumerated() {
                let request = Self.request("content \(index)", path: "/in/\(index).jpg")
                let first = try store.enqueue(request)
                guard case .enqueued(let firstID) = first else {
                    Issue.record("\(ending.code): \(first)")
                    continue
                }
                let claimed = try #require(try store.claim(owner: "test", leaseDuration: .seconds(30)))
                #expect(claimed.id == firstID)
                try store.fail(jobID: firstID, claimToken: claimed.claimToken, code: ending.code, message: "test",
                               permanent: true)
                let again = try store.enqueue(request)
                if ending.newJob {
                    #expect(again != .duplicate(of: firstID, state: .failed), "\(ending.code)")
                    guard case .enqueued(let secondID) = again else { continue }
                    // The new job holds the key now: a third sighting is its duplicate.
                    #expect(try store.enqueue(request) == .duplicate(of: secondID, state: .queued), "\(ending.code)")
                    // The old job keeps its record and can still be retried.
                    #expect(try store.query("SELECT state, last_error_code FROM jobs WHERE id = ?", [firstID])
                        == [[.text("failed"), .text(ending.code)]])
                    try store.retry(jobID: firstID)
                    #expect(try store.cancel(jobID: secondID) == .cancelled)
                    #expect(try store.cancel(jobID: firstID) == .cancelled)
                } else {
                    #expect(again == .duplicate(of: firstID, state: .failed), "\(ending.code) is about the content")
                }
            }
            // A job cancelled by the daemon because its file was rewritten does not block the content
            // either; a user's cancel does.
            let superseded = Self.request("superseded", path: "/in/s.jpg")
            let oldID = try store.enqueue(superseded).jobID
            try store.cancel(jobID: oldID, supersededBy: 999)
            #expect(try store.enqueue(superseded) != .duplicate(of: oldID, state: .cancelled))
            let userCancelled = Self.request("user", path: "/in/u.jpg")
            let userID = try store.enqueue(userCancelled).jobID
            try store.cancel(jobID: userID)
            #expect(try store.enqueue(userCancelled) == .duplicate(of: userID, state: .cancelled))
        }
    }

    @Test("settling: a file is due only after the quiet period, oldest first, once")
    func settlingBookkeeping() {
        let settling = SettlingFiles(quietPeriod: .seconds(1))
        let root = URL(fileURLWithPath: "/in")
        let a = WatchedFile(url: URL(fileURLWithPath: "/in/a.jpg"), root: root)
        let b = WatchedFile(url: URL(fileURLWithPath: "/in/b.jpg"), root: root)
        let status = SettlingFiles.Status(size: 1, modifiedSeconds: 2, modifiedNanoseconds: 3, inode: 4)
        let start = ContinuousClock.now
        #expect(settling.add(b, status: status, at: start))
        #expect(settling.add(a, status: status, at: start + .milliseconds(10)))
        #expect(!settling.add(a, status: status, at: start + .milliseconds(20)), "a waiting file keeps its place")
        #expect(settling.takeDue(at: start + .milliseconds(900)).isEmpty)
        #expect(settling.takeDue(at: start + .milliseconds(1005)).map(\.file) == [b])
        #expect(settling.takeDue(at: start + .seconds(5)).map(\.file) == [a])
        #expect(settling.count == 0)
        // A folder's own quiet period (settle_seconds) overrides the default.
        #expect(settling.add(a, status: status, at: start, quietPeriod: .seconds(3)))
        #expect(settling.takeDue(at: start + .seconds(2)).isEmpty)
        #expect(settling.takeDue(at: start + .seconds(3)).map(\.file) == [a])
    }

    @Test("deferred files: bounded, kept in order, overflow marks the folder for a rescan; backoff 1, 2, 4, 5 s")
    func deferredBookkeeping() {
        let deferred = DeferredFiles(capacity: 2)
        let root = URL(fileURLWithPath: "/in")
        let files = (0..<4).map { WatchedFile(url: URL(fileURLWithPath: "/in/\($0).jpg"), root: root) }
        #expect(deferred.add(files[0], reason: .busy, at: .now) == .added)
        #expect(deferred.add(files[1], reason: .diskFull, at: .now) == .added)
        #expect(deferred.add(files[0], reason: .busy, at: .now) == .alreadyWaiting)
        #expect(deferred.add(files[2], reason: .busy, at: .now) == .overflowed(firstOverflow: true))
        #expect(deferred.add(files[3], reason: .busy, at: .now) == .overflowed(firstOverflow: false))
        #expect(deferred.waiting.map(\.file) == [files[0], files[1]])
        deferred.remove(files[0].url.path)
        deferred.remove(files[1].url.path)
        #expect(!deferred.isEmpty, "the overflow still waits for its rescan")
        #expect(deferred.takeOverflowRoots() == ["/in"])
        #expect(deferred.isEmpty)
        #expect((1...6).map { DeferredFiles.backoff(round: $0) }
            == [.seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5), .seconds(5)])
        #expect(DeferredFiles.retriedCodes.contains(.busy) && DeferredFiles.retriedCodes.contains(.diskFull))
        #expect(!DeferredFiles.retriedCodes.contains(.invalidInput), "a refused request fails the same way again")
    }

    @Test("a describe-box folder whose prompt is not a box is refused, naming watch[N].prompt")
    func describeBoxPrompt() throws {
        let good = WatchedFolder(path: "/in", task: .describeBox, prompt: " 086,540,400,760 ")
        let bad = WatchedFolder(path: "/other", task: .describeBox, prompt: "hello")
        try FolderIntake.checkPrompts([good, WatchedFolder(path: "/c", task: .caption, prompt: "hello")])
        do {
            try FolderIntake.checkPrompts([good, bad])
            Issue.record("a prompt that is not a box must be refused")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.subject == "watch[1].prompt")
            #expect(error.description.contains("hello") && error.description.contains("086,540,400,760"))
        }
    }

    @Test("a sidecar is current only when it describes the same content")
    func sidecarState() throws {
        try Fixtures.withTemporaryDirectory("sidecar-state") { directory in
            let image = directory.appendingPathComponent("a.jpg").path
            let output = JobOutput(text: "a cat", rawOutput: "a cat", promptTokens: 1, generatedTokens: 1, model: "m@1")
            let a = SidecarContent(jobID: 1, resultID: 1, imagePath: image,
                                   imageSHA256: String(repeating: "a", count: 64), task: "caption", prompt: "",
                                   output: output)
            var b = a
            b.imageSHA256 = String(repeating: "b", count: 64)
            b.text = "a dog"
            for format in [SidecarFormat.json, .txt] {
                #expect(FolderActions.sidecarState(for: a, format: format) == .missing)
                _ = try FolderActions.writeSidecar(b, format: format, nextTo: image)
                #expect(FolderActions.sidecarState(for: a, format: format) == .otherContent, "\(format)")
                #expect(FolderActions.sidecarState(for: b, format: format) == .current, "\(format)")
            }
        }
    }
}

/// The same rules against the real daemon binary, a real watched folder and a real SQLite file.
extension DaemonProcessTests {
    @Suite("Watched-folder intake faults")
    struct WatchedFolderIntakeFaultTests {
        private static let echo = ["COGJOBS_TEST_EXECUTOR": "echo", "COGJOBS_TEST_ECHO_TOKENS": "2"]

        private static func sha256(_ data: Data) -> String { data.withUnsafeBytes { StreamingSHA256.hexDigest($0) } }

        @Test("a file dropped while the database is locked longer than the busy timeout is enqueued once it is free")
        func lockedDatabaseDefersFiles() throws {
            let daemon = try DaemonHarness("intake-locked")
            defer { daemon.remove() }
            try daemon.writeConfig()
            try daemon.startAndWait(environment: Self.echo)
            let locker = try SQLiteConnection(path: daemon.database.path)
            try locker.execute("BEGIN IMMEDIATE")
            let image = daemon.inbox.appendingPathComponent("during-lock.jpg")
            try TestImages.jpeg(31).write(to: image)
            // Quiet period (1.5 s) + the daemon's 5 s busy timeout.
            #expect(daemon.waitForLog("cannot enqueue \(image.path) now: store.busy", timeout: .seconds(20)),
                    "\(daemon.log)")
            #expect(daemon.log.contains("retried every few seconds"), "\(daemon.log)")
            usleep(3_000_000)  // at least one retry still refused
            try locker.execute("COMMIT")
            #expect(daemon.waitForJobs(1, "succeeded", timeout: .seconds(30)), "\(daemon.log)")
            #expect(daemon.waitForLog("the job database takes jobs again"), "\(daemon.log)")
            #expect(daemon.log.contains("by store.busy)"), "the enqueue line says it was deferred: \(daemon.log)")
            #expect(try daemon.query("SELECT path FROM images") == [[.text(image.path)]])
            #expect(daemon.stop()?.status == 0)
        }

        @Test("content whose job failed because its file went missing is enqueued again when it comes back")
        func missingFileDoesNotBlockItsContent() throws {
            let daemon = try DaemonHarness("intake-missing")
            defer { daemon.remove() }
            try daemon.writeConfig()
            try daemon.startAndWait(environment: Self.echo)
            #expect(try daemon.cli(["pause", "--config", daemon.configFile.path]).status == 0)
            let image = daemon.inbox.appendingPathComponent("gone.jpg")
            let data = try TestImages.jpeg(32)
            try data.write(to: image)
            #expect(daemon.waitForJobs(1, "queued"), "\(daemon.log)")
            try FileManager.default.removeItem(at: image)
            #expect(try daemon.cli(["resume", "--config", daemon.configFile.path]).status == 0)
            #expect(daemon.waitForJobs(1, "failed"), "\(daemon.log)")
            #expect(try daemon.query("SELECT last_error_code FROM jobs") == [[.text("job.image_missing")]])
            try data.write(to: image)
            #expect(daemon.waitForJobs(1, "succeeded"), "\(daemon.log)")
            #expect(!daemon.log.contains("is already job 1 (failed)"), "\(daemon.log)")
            #expect(try daemon.count("SELECT count(*) FROM jobs") == 2)
            #expect(daemon.stop()?.status == 0)
        }

        @Test("a file written in open–write–close rounds, and one still open at the start-up scan: one job each")
        func filesStillBeingWritten() throws {
            let daemon = try DaemonHarness("intake-settle")
            defer { daemon.remove() }
            try daemon.writeConfig()

            // Open at the start-up scan: half written, touched while the daemon starts, finished after.
            let open = daemon.inbox.appendingPathComponent("open.jpg")
            let openData = try TestImages.noisyJPEG(width: 64, height: 64, seed: 3)
            let descriptor = Glibc.open(open.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            try #require(descriptor >= 0)
            let half = openData.count / 2
            _ = openData.prefix(half).withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            let writing = Thread {
                // Rewrites the first byte (same value) every 300 ms: the file keeps changing (mtime).
                var first = openData[0]
                for _ in 0..<1000 {
                    if pwrite(descriptor, &first, 1, 0) != 1 { return }  // closed by the test
                    usleep(300_000)
                }
            }
            writing.start()
            try daemon.startAndWait(environment: Self.echo)
            usleep(1_000_000)
            _ = openData.dropFirst(half).withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, off_t(half)) }
            close(descriptor)

            // Written in 5 rounds (open, write a piece, close, pause 0.6 s), like `dd conv=notrunc seek=…` in a loop.
            let rounds = daemon.inbox.appendingPathComponent("rounds.jpg")
            let roundsData = try TestImages.noisyJPEG(width: 64, height: 64, seed: 4)
            try TestImages.writeInRounds(roundsData, to: rounds, rounds: 5, pause: .milliseconds(600))
            #expect(daemon.waitForJobs(2, "succeeded", timeout: .seconds(20)), "\(daemon.log)")
            usleep(2_000_000)  // nothing else arrives late
            let jobs = try daemon.query("""
                SELECT i.path, i.sha256, j.state FROM jobs j JOIN images i ON i.id = j.image_id ORDER BY i.path
                """)
            #expect(jobs == [[.text(open.path), .text(Self.sha256(openData)), .text("succeeded")],
                             [.text(rounds.path), .text(Self.sha256(roundsData)), .text("succeeded")]],
                    "\(jobs)\n\(daemon.log)")
            #expect(daemon.log.contains("is still being written"), "\(daemon.log)")
            #expect(daemon.stop()?.status == 0)
        }

        /// A producer pausing 2 s between rounds: with the default 1.5 s quiet period each round
        /// would be a (failed) job; `settle_seconds: 3` waits it out.
        @Test("settle_seconds: a folder's longer quiet period waits out a producer's longer pauses")
        func settleSecondsPerFolder() throws {
            let daemon = try DaemonHarness("intake-settle-seconds")
            defer { daemon.remove() }
            try daemon.writeConfig(watch: [["path": daemon.inbox.path, "task": "caption", "settle_seconds": 3]])
            try daemon.startAndWait(environment: Self.echo)
            let file = daemon.inbox.appendingPathComponent("slow.jpg")
            let data = try TestImages.noisyJPEG(width: 64, height: 64, seed: 5)
            try TestImages.writeInRounds(data, to: file, rounds: 3, pause: .seconds(2))
            #expect(daemon.waitForJobs(1, "succeeded", timeout: .seconds(20)), "\(daemon.log)")
            #expect(try daemon.count("SELECT count(*) FROM jobs") == 1, "\(daemon.log)")
            #expect(daemon.stop()?.status == 0)
        }

        @Test("content A, then B, then A again: the sidecar is rewritten with A's result")
        func sidecarFollowsTheContent() throws {
            let daemon = try DaemonHarness("intake-sidecar")
            defer { daemon.remove() }
            try daemon.writeConfig(watch: [["path": daemon.inbox.path, "task": "caption", "sidecar": "json"]])
            try daemon.startAndWait(environment: Self.echo)
            let image = daemon.inbox.appendingPathComponent("photo.jpg")
            let sidecar = image.path + ".json"
            func sidecarHash() -> String? {
                guard let data = FileManager.default.contents(atPath: sidecar) else { return nil }
                return ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any])?["image_sha256"] as? String
            }
            let a = try TestImages.jpeg(41), b = try TestImages.jpeg(42)
            try a.write(to: image)
            #expect(poll(timeout: .seconds(20)) { sidecarHash() == Self.sha256(a) }, "\(daemon.log)")
            try b.write(to: image)
            #expect(poll(timeout: .seconds(20)) { sidecarHash() == Self.sha256(b) }, "\(daemon.log)")
            try a.write(to: image)
            #expect(poll(timeout: .seconds(20)) { sidecarHash() == Self.sha256(a) }, "\(daemon.log)")
            // The daemon logs what it did after doing it: wait for the line, not only the file.
            #expect(poll(timeout: .seconds(5)) { daemon.log.contains("its result is reused") }, "\(daemon.log)")
            #expect(try daemon.count("SELECT count(*) FROM jobs") == 2)
            // New content whose job fails: the sidecar of the old content goes, it is no longer true.
            try Data("not an image".utf8).write(to: image)
            #expect(poll(timeout: .seconds(20)) { !FileManager.default.fileExists(atPath: sidecar) }, "\(daemon.log)")
            #expect(poll(timeout: .seconds(5)) { daemon.log.contains("removed the sidecar of the earlier content") },
                    "\(daemon.log)")
            #expect(daemon.stop()?.status == 0)
        }

        @Test("a describe-box folder whose prompt is not a box stops the start with status 78 naming watch[0].prompt")
        func describeBoxPromptAtStart() throws {
            let daemon = try DaemonHarness("intake-box")
            defer { daemon.remove() }
            try daemon.writeConfig(watch: [["path": daemon.inbox.path, "task": "describe-box", "prompt": "hello"]])
            try daemon.start(environment: Self.echo)
            #expect(daemon.waitForExit(timeout: .seconds(30))?.status == 78, "\(daemon.log)")
            #expect(daemon.log.contains("watch[0].prompt"), "\(daemon.log)")
        }
    }
}

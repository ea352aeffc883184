import CogJobStore
import CogPipeline
import CogTestSupport
import Foundation
import Glibc
import Testing

/// The daemon as users run it: the built `cogjobs` binary started as a subprocess with a temporary
/// configuration, the tiny fixture model and a real SQLite file, fed through a real watched folder
/// and the `cogjobs enqueue` CLI. Serialized: each test runs a daemon, and the machine has 2 cores.
extension DaemonProcessTests {
    @Suite("Daemon end to end")
    struct DaemonEndToEndTests {
        @Test("20 images dropped into watched folders (slow writes, moves, copies) give 20 results and their boxes")
        func twentyImagesThroughTheModel() throws {
            let daemon = try DaemonHarness("e2e")
            defer { daemon.remove() }
            let grounded = daemon.directory.appendingPathComponent("grounded", isDirectory: true)
            let staging = daemon.directory.appendingPathComponent("staging", isDirectory: true)
            for folder in [grounded, staging] {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            }
            try daemon.writeConfig(watch: [["path": daemon.inbox.path, "task": "caption"],
                                           ["path": grounded.path, "task": "ground-caption", "sidecar": "json"]])
            try daemon.startAndWait()
            #expect(daemon.log.contains("batched decode: on"), "batch_decode is on by default")

            var paths: [String] = []
            var slow = 0, moved = 0, copied = 0
            let dropped = ContinuousClock.now
            for n in 0..<20 {
                let folder = n % 4 == 3 ? grounded : daemon.inbox
                let url = folder.appendingPathComponent("image-\(n).jpg")
                let data = try TestImages.jpeg(n)
                switch n % 3 {
                case 0: try TestImages.writeSlowly(data, to: url); slow += 1
                case 1: try TestImages.moveIn(data, to: url, staging: staging); moved += 1
                default: try data.write(to: url); copied += 1
                }
                paths.append(url.path)
            }
            let finished = poll(timeout: .seconds(120)) {
                (try? daemon.count("SELECT count(*) FROM jobs WHERE state IN ('succeeded', 'failed')")) == 20
            }
            #expect(finished, "not all jobs finished:\n\(daemon.log)")
            let seconds = milliseconds(ContinuousClock.now - dropped) / 1000
            print(String(format: "e2e: 20 images (%d written slowly in chunks, %d moved in, %d copied) processed by the "
                            + "tiny model with 2 workers in %.1f s from the first drop (debug build)",
                         slow, moved, copied, seconds))

            // Every image gave exactly one job and one result, on the first attempt.
            #expect(try daemon.count("SELECT count(*) FROM jobs") == 20)
            #expect(try daemon.count("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempt = 1") == 20)
            #expect(try daemon.resultCounts() == [20, 20])
            let storedPaths = try daemon.query("SELECT path FROM images ORDER BY path").compactMap { $0.first?.string }
            #expect(storedPaths == paths.sorted())
            #expect(try daemon.count("SELECT count(*) FROM jobs WHERE task = 'ground-caption'") == 5)
            let models = try daemon.query("SELECT DISTINCT model FROM results").compactMap { $0.first?.string }
            #expect(models.count == 1 && models.first?.hasPrefix("cogvlm-tiny@") == true)
            #expect(try daemon.count("""
                SELECT count(*) FROM results WHERE prompt_tokens > 0 AND generated_tokens BETWEEN 1 AND 8
                """) == 20)

            // Boxes in SQL are exactly what the grounding parser finds in each stored answer.
            let results = try daemon.query("""
                SELECT r.id, r.raw_output, i.width, i.height FROM results r
                JOIN jobs j ON j.id = r.job_id JOIN images i ON i.id = j.image_id ORDER BY r.id
                """)
            var expectedBoxes = 0
            for row in results {
                let parsed = GroundingParser.parse(row[1].string ?? "", width: Int(row[2].int64 ?? 0),
                                                   height: Int(row[3].int64 ?? 0))
                let stored = try daemon.count("SELECT count(*) FROM boxes WHERE result_id = \(row[0].int64 ?? 0)")
                #expect(stored == parsed.boxes.count)
                expectedBoxes += parsed.boxes.count
            }
            #expect(try daemon.count("SELECT count(*) FROM v_boxes") == expectedBoxes)
            print("e2e: \(expectedBoxes) grounding boxes in the tiny random model's answers, all stored in `boxes`")
            for path in paths where path.hasPrefix(grounded.path) {
                #expect(FileManager.default.fileExists(atPath: path + ".json"), "sidecar for \(path)")
            }

            // `cogjobs status` against the running daemon (the CLI reads the same database).
            let status = try daemon.cli(["status", "--config", daemon.configFile.path, "--json"])
            #expect(status.status == 0, "\(status.stderr)")
            let counts = (try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["counts"]
            #expect((counts as? [String: Int])?["succeeded"] == 20, "\(status.stdout)")

            // `cogjobs enqueue` against the running daemon, and how fast an idle daemon starts the job.
            var latencies: [Double] = []
            for round in 0..<3 {
                let image = daemon.directory.appendingPathComponent("extra-\(round).jpg")
                try TestImages.jpeg(1000 + round).write(to: image)
                usleep(300_000)  // workers idle
                let run = try daemon.cli(["enqueue", "--config", daemon.configFile.path, "--task", "vqa",
                                          "--prompt", "What is shown?", image.path])
                #expect(run.status == 0, "\(run.stderr)")
                // "enqueued job 21: /path"
                let idText = run.stdout.split(separator: " ").dropFirst(2).first?.dropLast()
                let jobID = try #require(idText.flatMap { Int64($0) }, "\(run.stdout)")
                #expect(poll(timeout: .seconds(20)) {
                    (try? daemon.query("SELECT state FROM jobs WHERE id = \(jobID)"))?.first?.first?.string
                        == "succeeded"
                })
                let times = try daemon.query("SELECT started_at - created_at FROM jobs WHERE id = \(jobID)")
                latencies.append(Double(times.first?.first?.int64 ?? -1))
                let again = try daemon.cli(["enqueue", "--config", daemon.configFile.path, "--task", "vqa",
                                            "--prompt", "What is shown?", image.path])
                #expect(again.status == 0)
                #expect(again.stdout.contains("duplicate of job \(jobID) (succeeded)"))
            }
            print("e2e: `cogjobs enqueue` from another process → job started after "
                  + "\(latencies.map { Int($0) }) ms (idle workers)")
            #expect(latencies.allSatisfy { $0 >= 0 && $0 < 1000 })

            // The daemon's own watcher wakes the workers in-process: enqueue to start within milliseconds.
            var watcherLatencies: [Double] = []
            for round in 0..<3 {
                usleep(300_000)  // workers idle
                let url = daemon.inbox.appendingPathComponent("late-\(round).jpg")
                try TestImages.jpeg(2000 + round).write(to: url)
                let jobOfFile = "FROM jobs j JOIN images i ON i.id = j.image_id WHERE i.path = '\(url.path)'"
                #expect(poll(timeout: .seconds(20)) {
                    (try? daemon.count("SELECT count(*) \(jobOfFile) AND j.state = 'succeeded'")) == 1
                })
                let times = try daemon.query("SELECT j.started_at - j.created_at \(jobOfFile)")
                watcherLatencies.append(Double(times.first?.first?.int64 ?? -1))
            }
            print("e2e: watched-folder enqueue → job started after \(watcherLatencies.map { Int($0) }) ms "
                  + "(idle workers)")
            // Milliseconds normally (see the printed numbers); the bound leaves room for a loaded machine.
            #expect(watcherLatencies.allSatisfy { $0 >= 0 && $0 < 500 })

            let exit = daemon.stop()
            #expect(exit?.status == 0 && exit?.signaled == false, "\(daemon.log)")
            #expect(daemon.log.contains("stopped"))
        }

        @Test("4 `cogjobs enqueue` processes × 250 images while 2 workers run: 1000 jobs, each processed exactly once")
        func concurrentEnqueuers() throws {
            let daemon = try DaemonHarness("concurrency")
            defer { daemon.remove() }
            try daemon.writeConfig(watch: [])
            var folders: [URL] = []
            for process in 0..<4 {
                let folder = daemon.directory.appendingPathComponent("batch-\(process)", isDirectory: true)
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                for n in 0..<250 {
                    try TestImages.jpeg(process * 250 + n).write(to: folder.appendingPathComponent("\(n).jpg"))
                }
                folders.append(folder)
            }
            try daemon.startAndWait(environment: ["COGJOBS_TEST_EXECUTOR": "echo", "COGJOBS_TEST_ECHO_TOKENS": "2"])

            let started = ContinuousClock.now
            let enqueuers = try folders.map {
                try daemon.launchCLI(["enqueue", "--config", daemon.configFile.path, $0.path])
            }
            for (process, out, err) in enqueuers {
                process.waitUntilExit()
                #expect(process.terminationStatus == 0, "\((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
                let lines = try String(contentsOf: out, encoding: .utf8).split(separator: "\n")
                #expect(lines.filter { $0.hasPrefix("enqueued job ") }.count == 250)
            }
            let enqueued = ContinuousClock.now - started
            let done = poll(timeout: .seconds(120)) {
                (try? daemon.count("SELECT count(*) FROM jobs WHERE state = 'succeeded'")) == 1000
            }
            let total = ContinuousClock.now - started
            #expect(done, "\(daemon.log.suffix(2000))")

            #expect(try daemon.count("SELECT count(*) FROM jobs") == 1000)
            #expect(try daemon.count("SELECT count(DISTINCT image_id) FROM jobs") == 1000)
            #expect(try daemon.resultCounts() == [1000, 1000])
            // attempt is counted at claim: 1 everywhere means no job was claimed twice.
            #expect(try daemon.count("SELECT count(*) FROM jobs WHERE attempt = 1") == 1000)
            #expect(try daemon.count("SELECT count(*) FROM job_errors") == 0)
            #expect(try daemon.count("SELECT count(*) FROM boxes") == 1000)
            let seconds = milliseconds(total) / 1000
            print(String(format: "concurrency: 4 enqueuers × 250 jobs enqueued in %.1f s; all 1000 done after %.1f s "
                            + "(%.0f jobs/s through the queue with 2 workers, echo executor)",
                         milliseconds(enqueued) / 1000, seconds, 1000 / seconds))
            #expect(daemon.stop()?.status == 0)
        }

        @Test("corrupt, empty, truncated and oversized images fail with stored codes while the daemon goes on")
        func badImages() throws {
            let daemon = try DaemonHarness("bad-input")
            defer { daemon.remove() }
            let failedFolder = daemon.directory.appendingPathComponent("failed", isDirectory: true)
            try daemon.writeConfig(["limits": ["max_pixels": 10_000, "max_file_bytes": 8_000]],
                                   watch: [["path": daemon.inbox.path, "task": "caption",
                                            "move_failed_to": failedFolder.path]])
            try daemon.startAndWait(environment: ["COGJOBS_TEST_EXECUTOR": "echo"])

            let truncated = Fixtures.root.appendingPathComponent("images/inputs/bad_truncated.jpg")
            let cases: [(name: String, data: Data, code: String)] = [
                ("empty.jpg", Data(), "image.empty_file"),
                ("not-an-image.jpg", Data("this is a text file, not a JPEG\n".utf8), "image.unknown_format"),
                ("garbage.jpg", Data([0xFF, 0xD8, 0xFF, 0xE0]) + Data(repeating: 0x5A, count: 600), "image."),
                ("truncated.jpg", try Data(contentsOf: truncated), "image."),
                ("huge.jpg", try TestImages.jpeg(7, width: 200, height: 200), "image.too_many_pixels"),
                ("heavy.jpg", try TestImages.noisyJPEG(width: 90, height: 90), "job.file_too_large"),
            ]
            for item in cases { try item.data.write(to: daemon.inbox.appendingPathComponent(item.name)) }
            let good = daemon.inbox.appendingPathComponent("good.jpg")
            try TestImages.jpeg(1).write(to: good)

            #expect(poll(timeout: .seconds(30)) {
                daemon.jobs("succeeded") + daemon.jobs("failed") == cases.count + 1
            }, "\(daemon.log)")
            for item in cases {
                let rows = try daemon.query("""
                    SELECT j.state, j.attempt, j.last_error_code, j.last_error_message,
                           (SELECT count(*) FROM job_errors e WHERE e.job_id = j.id)
                    FROM jobs j JOIN images i ON i.id = j.image_id WHERE i.path LIKE '%/\(item.name)'
                    """)
                let row = try #require(rows.first, "no job for \(item.name)")
                #expect(row[0].string == "failed", "\(item.name)")
                #expect(row[1].int64 == 1, "\(item.name): a permanent failure is not retried")
                #expect(row[2].string?.hasPrefix(item.code) == true, "\(item.name): \(row[2])")
                #expect((row[3].string ?? "").count > 20, "\(item.name): a message that says what happened")
                #expect(row[4].int64 == 1)
                let moved = failedFolder.appendingPathComponent(item.name).path
                #expect(FileManager.default.fileExists(atPath: moved), "\(item.name) moved to the failed folder")
                // images.path follows the move (it is recorded just after the file is renamed).
                let recorded = try poll(timeout: .seconds(10)) {
                    try daemon.query("SELECT path FROM images WHERE path LIKE '%/\(item.name)'") == [[.text(moved)]]
                }
                #expect(recorded, "images.path of \(item.name) after the move to \(moved)")
                print("bad input: \(item.name) → \(row[2].string ?? "") — \(row[3].string ?? "")")
            }
            // So a retry of a moved job finds its image: it fails again for its content, not as missing.
            let emptyJob = try #require(try daemon.query("""
                SELECT j.id FROM jobs j JOIN images i ON i.id = j.image_id WHERE i.path LIKE '%/empty.jpg'
                """).first?.first?.int64)
            #expect(try daemon.cli(["retry", "--config", daemon.configFile.path, "\(emptyJob)"]).status == 0)
            let failedAgain = try poll(timeout: .seconds(30)) {
                let state = try daemon.query("SELECT state, attempt FROM jobs WHERE id = \(emptyJob)")
                let errors = try daemon.count("SELECT count(*) FROM job_errors WHERE job_id = \(emptyJob)")
                return state == [[.text("failed"), .integer(1)]] && errors == 2
            }
            #expect(failedAgain, "\(daemon.log)")
            let code = try daemon.query("SELECT last_error_code FROM jobs WHERE id = \(emptyJob)")
            #expect(code == [[.text("image.empty_file")]], "retried job: \(code)")
            #expect(try daemon.query("""
                SELECT j.state FROM jobs j JOIN images i ON i.id = j.image_id WHERE i.path = '\(good.path)'
                """) == [[.text("succeeded")]])
            #expect(daemon.process?.isRunning == true)
            #expect(daemon.stop()?.status == 0)
        }

        @Test("an invalid configuration is rejected at start with exit status 78 naming the key; no model: 66")
        func invalidConfiguration() throws {
            let daemon = try DaemonHarness("bad-config")
            defer { daemon.remove() }
            let cases: [(extra: [String: Any], key: String)] = [
                (["workers": 0], "`workers`"),
                (["wrokers": 2], "wrokers"),
                (["limits": ["max_pixels": -5]], "`limits.max_pixels`"),
            ]
            for item in cases {
                try daemon.writeConfig(item.extra)
                try daemon.start()
                let exit = daemon.waitForExit(timeout: .seconds(20))
                #expect(exit?.status == 78, "\(daemon.log)")
                #expect(daemon.log.contains(item.key), "\(daemon.log)")
                // One code, the configuration's, as the CLI prints errors.
                #expect(daemon.log.contains("Error: config.") && !daemon.log.contains("daemon.invalid_configuration"),
                        "\(daemon.log)")
            }
            try daemon.writeConfig(watch: [["path": daemon.inbox.path, "task": "paint"]])
            try daemon.start()
            #expect(daemon.waitForExit(timeout: .seconds(20))?.status == 78)
            #expect(daemon.log.contains("watch[0].task"), "\(daemon.log)")
            // A watched folder that does not exist: refused before the database and the model.
            let missing = daemon.directory.appendingPathComponent("not-there").path
            try daemon.writeConfig(watch: [["path": daemon.inbox.path, "task": "caption"], ["path": missing, "task": "caption"]])
            try daemon.start()
            #expect(daemon.waitForExit(timeout: .seconds(20))?.status == 78)
            #expect(daemon.log.contains("watch[1].path") && !daemon.log.contains("loading the model"), "\(daemon.log)")
            print("invalid configuration: \(daemon.log.trimmingCharacters(in: .whitespacesAndNewlines))")

            // The same value on the command line is a usage error (64), like a malformed --log-level;
            // from the environment it is configuration (78).
            try daemon.writeConfig()
            for arguments in [["--workers", "0"], ["--blas-threads", "0"], ["--log-level", "loud"]] {
                try daemon.start(arguments: arguments)
                #expect(daemon.waitForExit(timeout: .seconds(20))?.status == 64, "\(arguments): \(daemon.log)")
                #expect(daemon.log.contains("Error: cli.usage: \(arguments[0])"), "\(daemon.log)")
            }
            try daemon.start(environment: ["COGJOBS_WORKERS": "0"])
            #expect(daemon.waitForExit(timeout: .seconds(20))?.status == 78, "\(daemon.log)")
            #expect(daemon.log.contains("COGJOBS_WORKERS"), "\(daemon.log)")

            // A model directory without a checkpoint: exit 66 (EX_NOINPUT), naming the file.
            let empty = daemon.directory.appendingPathComponent("no-model", isDirectory: true)
            try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
            try daemon.writeConfig(["model_directory": empty.path])
            try daemon.start()
            #expect(daemon.waitForExit(timeout: .seconds(20))?.status == 66)
            #expect(daemon.log.contains("daemon.model_load") && daemon.log.contains("config.json"), "\(daemon.log)")
            // The tokenizer's folder given as the model: said so.
            try daemon.writeConfig(["model_directory": DaemonHarness.tokenizer])
            try daemon.start()
            #expect(daemon.waitForExit(timeout: .seconds(20))?.status == 66)
            #expect(daemon.log.contains("it is a tokenizer folder"), "\(daemon.log)")
            try daemon.writeConfig(["model_directory": daemon.directory.appendingPathComponent("nowhere").path])
            try daemon.start()
            #expect(daemon.waitForExit(timeout: .seconds(20))?.status == 66)
            #expect(daemon.log.contains("the model directory does not exist"), "\(daemon.log)")
        }

        @Test("precision auto: fast for a quantized model, exact for the released one; explicit exact on a quantized model logs a notice")
        func precisionFollowsTheCheckpoint() throws {
            let daemon = try DaemonHarness("precision")
            defer { daemon.remove() }
            let converted = daemon.directory.appendingPathComponent("tiny-q8", isDirectory: true)
            let conversion = try daemon.cli(["convert", DaemonHarness.model, converted.path, "--format", "q8"])
            #expect(conversion.status == 0, "\(conversion.stderr)")
            try daemon.writeConfig(["model_directory": converted.path])  // precision: the default, auto
            try daemon.startAndWait()
            #expect(daemon.log.contains("precision fast (auto)") && !daemon.log.contains("block-quantized"), "\(daemon.log)")
            daemon.stop()
            try daemon.writeConfig(["model_directory": converted.path, "precision": "exact"])
            try daemon.startAndWait()
            #expect(daemon.log.contains("precision exact") && daemon.log.contains("block-quantized (language q8)")
                    && daemon.log.contains("\"precision\": \"fast\""), "\(daemon.log)")
            daemon.stop()
            try daemon.writeConfig()  // the bf16 fixture as released, auto
            try daemon.startAndWait()
            #expect(daemon.log.contains("precision exact (auto)") && !daemon.log.contains("block-quantized"), "\(daemon.log)")
            daemon.stop()
        }

        @Test("a locked database makes `cogjobs enqueue` wait for --busy-timeout, then exit 3 with store.busy")
        func lockedDatabase() throws {
            let daemon = try DaemonHarness("locked")
            defer { daemon.remove() }
            _ = try daemon.store()  // create and migrate
            let image = daemon.directory.appendingPathComponent("one.jpg")
            try TestImages.jpeg(5).write(to: image)
            let locker = try SQLiteConnection(path: daemon.database.path)
            try locker.execute("BEGIN EXCLUSIVE")
            let arguments = ["enqueue", "--database", daemon.database.path, "--model", DaemonHarness.model,
                             "--busy-timeout", "1", image.path]
            let blocked = try daemon.cli(arguments)
            #expect(blocked.status == 3, "\(blocked.stderr)")
            #expect(blocked.stderr.contains("store.busy"))
            #expect(blocked.seconds >= 0.9 && blocked.seconds < 10)
            print("locked database: enqueue gave up after \(String(format: "%.2f", blocked.seconds)) s with exit 3: "
                  + blocked.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
            try locker.execute("COMMIT")
            let free = try daemon.cli(arguments)
            #expect(free.status == 0, "\(free.stderr)")
            #expect(free.stdout.hasPrefix("enqueued job 1: "))
        }

        @Test("copies of a waiting job's image get its folder actions too; a file rewritten before its job ran supersedes it")
        func copiesAndRewrites() throws {
            let daemon = try DaemonHarness("copies")
            defer { daemon.remove() }
            let done = daemon.directory.appendingPathComponent("done", isDirectory: true)
            try daemon.writeConfig(["log_level": "debug"],
                                   watch: [["path": daemon.inbox.path, "task": "caption", "move_done_to": done.path,
                                            "sidecar": "json"]])
            try daemon.startAndWait(environment: ["COGJOBS_TEST_EXECUTOR": "echo"])
            #expect(try daemon.cli(["pause", "--config", daemon.configFile.path]).status == 0)
            // One content under two names while its job waits.
            let content = try TestImages.jpeg(11)
            try content.write(to: daemon.inbox.appendingPathComponent("pa.jpg"))
            #expect(daemon.waitForJobs(1, "queued"), "\(daemon.log)")
            try content.write(to: daemon.inbox.appendingPathComponent("pb.jpg"))
            #expect(daemon.waitForLog("pb.jpg is already job"), "\(daemon.log)")
            // A file rewritten before its job ran.
            let changing = daemon.inbox.appendingPathComponent("changing.jpg")
            try TestImages.jpeg(12).write(to: changing)
            #expect(daemon.waitForJobs(2, "queued"), "\(daemon.log)")
            try TestImages.jpeg(13).write(to: changing)
            let superseded = try poll(timeout: .seconds(10)) {
                try daemon.count("SELECT count(*) FROM jobs WHERE last_error_code = 'job.superseded'") == 1
            }
            #expect(superseded, "\(daemon.log)")
            #expect(try daemon.cli(["resume", "--config", daemon.configFile.path]).status == 0)
            #expect(daemon.waitForJobs(2, "succeeded"), "\(daemon.log)")
            // Both copies moved, each with its sidecar; nothing left in the inbox but nothing lost.
            let movedBoth = poll(timeout: .seconds(10)) {
                ["pa.jpg", "pb.jpg", "pa.jpg.json", "pb.jpg.json", "changing.jpg", "changing.jpg.json"].allSatisfy {
                    FileManager.default.fileExists(atPath: done.appendingPathComponent($0).path)
                }
            }
            let moved = (try? FileManager.default.contentsOfDirectory(atPath: done.path)) ?? []
            #expect(movedBoth, "\(moved) \(daemon.log)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: daemon.inbox.path).isEmpty)
            let message = try daemon.query("SELECT last_error_message FROM jobs WHERE last_error_code = 'job.superseded'")
            #expect(message.first?.first?.string?.contains("changed before it ran") == true, "\(message)")
            #expect(try daemon.count("SELECT count(*) FROM results") == 2)
            #expect(daemon.stop()?.status == 0)
        }

        @Test("a job enqueued for another model runs with the daemon's, logs a notice, and its result says so")
        func jobForAnotherModel() throws {
            let daemon = try DaemonHarness("other-model")
            defer { daemon.remove() }
            try daemon.writeConfig(watch: [])
            try daemon.startAndWait(environment: ["COGJOBS_TEST_EXECUTOR": "echo"])
            let image = daemon.directory.appendingPathComponent("a.jpg")
            try TestImages.jpeg(5).write(to: image)
            let enqueued = try daemon.cli(["enqueue", "--config", daemon.configFile.path, "--model",
                                           Fixtures.cogvlm2Tiny.path, image.path])
            #expect(enqueued.status == 0, "\(enqueued)")
            #expect(daemon.waitForJobs(1, "succeeded"), "\(daemon.log)")
            let job = try daemon.query("SELECT model FROM jobs").first?.first?.string ?? ""
            let result = try daemon.query("SELECT model FROM results").first?.first?.string ?? ""
            #expect(job.hasPrefix("cogvlm2-tiny@"), "\(job)")
            #expect(result.contains("cogvlm-tiny@"), "\(result)")
            #expect(daemon.log.contains("was enqueued for model \(job)"), "\(daemon.log)")
            #expect(daemon.stop()?.status == 0)
        }

        @Test("enqueue expands folders, globs and a list on stdin; reports missing inputs with exit 1; --json")
        func enqueueInputs() throws {
            let daemon = try DaemonHarness("enqueue-inputs")
            defer { daemon.remove() }
            let photos = daemon.directory.appendingPathComponent("photos", isDirectory: true)
            let nested = photos.appendingPathComponent("2024", isDirectory: true)
            try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
            for n in 0..<3 { try TestImages.jpeg(n).write(to: photos.appendingPathComponent("p\(n).jpg")) }
            for n in 3..<5 { try TestImages.jpeg(n).write(to: nested.appendingPathComponent("q\(n).JPG")) }
            try Data("notes".utf8).write(to: photos.appendingPathComponent("notes.txt"))
            let unmigrated = try daemon.cli(["enqueue", "--database", daemon.database.path,
                                             "--model", DaemonHarness.model, photos.path])
            #expect(unmigrated.status == 4 && unmigrated.stderr.contains("cogjobs migrate"), "\(unmigrated)")
            _ = try daemon.store()  // what the daemon (or `cogjobs migrate`) does first
            let base = ["enqueue", "--database", daemon.database.path, "--model", DaemonHarness.model]

            let flat = try daemon.cli(base + [photos.path])
            #expect(flat.status == 0 && flat.stdout.split(separator: "\n").count == 3, "\(flat)")
            let recursive = try daemon.cli(base + ["--recursive", photos.path])
            #expect(recursive.stdout.components(separatedBy: "duplicate of job").count - 1 == 3)
            #expect(recursive.stdout.components(separatedBy: "enqueued job").count - 1 == 2)
            let globbed = try daemon.cli(base + ["--task", "vqa", "--prompt", "Any cats?", photos.path + "/p*.jpg"])
            #expect(globbed.stdout.components(separatedBy: "enqueued job").count - 1 == 3)
            // A negative priority is a value, not an option.
            let low = try daemon.cli(base + ["--priority", "-5", "--task", "vqa", "--prompt", "Low?", photos.path + "/p0.jpg"])
            #expect(low.status == 0, "\(low)")
            #expect(try daemon.query("SELECT priority FROM jobs WHERE prompt = 'Low?'") == [[.integer(-5)]])
            let listed = try daemon.cli(base + ["--force", "-"],
                                        stdin: "\(photos.path)/p0.jpg\n\n\(nested.path)/q3.JPG\n")
            #expect(listed.stdout.components(separatedBy: "enqueued job").count - 1 == 2, "\(listed)")
            let missing = try daemon.cli(base + ["--json", photos.path + "/p1.jpg", "/nonexistent/x.jpg"])
            #expect(missing.status == 1)
            let reports = try JSONSerialization.jsonObject(with: Data(missing.stdout.utf8)) as? [[String: Any]]
            #expect(reports?.count == 2)
            #expect(reports?.contains { report in
                report["status"] as? String == "duplicate" && report["state"] as? String == "queued"
            } == true)
            #expect(reports?.contains { $0["status"] as? String == "error" } == true)
            let usage = try daemon.cli(base + ["--task", "vqa", photos.path])
            #expect(usage.status == 64 && usage.stderr.contains("needs --prompt"))
            let badBox = try daemon.cli(base + ["--task", "describe-box", "--prompt", "1,2,3", photos.path])
            #expect(badBox.status == 64 && badBox.stderr.contains("pipeline.bad_box"), "\(badBox)")
            let delayed = try daemon.cli(base + ["--force", "--run-after", "+1h", photos.path + "/p2.jpg"])
            #expect(delayed.status == 0)
            #expect(try daemon.count("SELECT count(*) FROM jobs WHERE run_after > created_at + 3500000") == 1)
            #expect(try daemon.count("SELECT count(*) FROM jobs") == 3 + 2 + 3 + 1 + 2 + 1)  // flat, recursive, glob, priority, list, delayed
        }
    }
}

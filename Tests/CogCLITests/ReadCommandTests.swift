@testable import CogCLI
import CogJobStore
import CogTestSupport
import Foundation
import Testing

/// `status`, `list` and `show` on a database filled through `JobStore`.
@Suite("cogjobs status / list / show")
struct ReadCommandTests {
    @Test func statusShowsCountsRunningJobsAndOldestWaiting() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let run = await CLI.run(["status", "--database", db.path])
        #expect(run.status == 0, "\(run)")
        let text = run.standardOutput
        for fact in ["queued 1", "running 1", "succeeded 3", "failed 1", "cancelled 1", "retryable 0",
                     "(total 7)", "accepting work", "Oldest waiting: job \(db.queued)", "generate", "17",
                     SampleDatabase.owner, "/photos/running.jpg", "images/hour", "ETA:"] {
            #expect(text.contains(fact), "missing \(fact) in:\n\(text)")
        }
    }

    /// A job deferred with --run-after cannot start yet: it is not ready work in the ETA, nor the
    /// oldest waiting job; status says when the next deferred job becomes runnable.
    @Test func deferredJobsAreNotCountedAsReadyWork() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let store = try db.open()
        let image = ImageInfo(sha256: SHA256.hexDigest("later"), path: "/photos/later.jpg", width: 64, height: 48,
                              format: "jpeg", byteSize: 100)
        let runAfter = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 3600).rounded())  // whole ms
        let later = try store.enqueue(EnqueueRequest(image: image, task: "caption", prompt: "", paramsJSON: "{}",
                                                     model: "cogvlm-tiny@1", runAfter: runAfter)).jobID
        let run = await CLI.run(["status", "--database", db.path, "--json"])
        let json = try run.json()
        #expect(field(json, "remaining") == 3 && field(json, "runnable") == 2 && field(json, "deferred") == 1, "\(run)")
        #expect(field(json, "next_run_after") == TextFormat.iso8601(runAfter), "\(run)")
        let eta = try #require(field(json, "eta_seconds", as: Double.self))
        let rate = try #require(field(json, "images_per_hour", as: Double.self))
        #expect(abs(eta - 2 / rate * 3600) < 1e-6, "the ETA is for the 2 jobs running or ready, not 3")
        #expect(field(json, "oldest_waiting", "job_id", as: Int64.self) == db.queued)
        let text = await CLI.run(["status", "--database", db.path])
        #expect(text.standardOutput.contains("for 2 jobs running or ready"), "\(text)")
        #expect(text.standardOutput.contains("Deferred:   1 job not due yet (run_after); the next can start in ")
                && text.standardOutput.contains("(\(TextFormat.iso8601(runAfter)))"), "\(text)")

        #expect(later > db.queued)

        // A queue holding only a deferred job: no ETA, no oldest waiting job.
        let directory = try Fixtures.temporaryDirectory("cli-deferred")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        let path = directory.appendingPathComponent("jobs.sqlite3").path
        _ = try JobStore(path: path).enqueue(EnqueueRequest(image: image, task: "caption", prompt: "", paramsJSON: "{}",
                                                            model: "cogvlm-tiny@1", runAfter: runAfter))
        let alone = await CLI.run(["status", "--database", path])
        #expect(!alone.standardOutput.contains("ETA:") && !alone.standardOutput.contains("Oldest waiting"), "\(alone)")
        #expect(alone.standardOutput.contains("Deferred:   1 job"), "\(alone)")
    }

    @Test func statusJSONHasTheDocumentedFields() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let run = await CLI.run(["status", "--database", db.path, "--json"])
        #expect(run.status == 0, "\(run)")
        let json = try run.json()
        #expect(Set(json.keys) == ["database", "generated_at", "counts", "total", "remaining", "paused", "running",
                                   "succeeded_last_hour", "images_per_hour", "average_seconds_per_job",
                                   "eta_seconds", "oldest_waiting", "runnable", "deferred", "next_run_after"])
        #expect(field(json, "counts", "succeeded") == 3)
        #expect(field(json, "counts", "quarantined") == 0)
        #expect(field(json, "total") == 7)
        #expect(field(json, "remaining") == 2)
        #expect(field(json, "runnable") == 2 && field(json, "deferred") == 0)
        #expect(field(json, "next_run_after") as Any? is NSNull)
        #expect(field(json, "paused") == false)
        #expect(field(json, "succeeded_last_hour") == 3)
        #expect((field(json, "images_per_hour", as: Double.self) ?? 0) > 0)
        #expect((field(json, "eta_seconds", as: Double.self) ?? -1) >= 0)
        #expect(field(json, "running", "0", "id", as: Int64.self) == db.running)
        #expect(field(json, "running", "0", "phase") == "generate")
        #expect(field(json, "running", "0", "tokens_generated") == 17)
        #expect(field(json, "running", "0", "owner") == SampleDatabase.owner)
        #expect((field(json, "running", "0", "age_seconds", as: Double.self) ?? -1) >= 0)
        #expect(field(json, "oldest_waiting", "job_id", as: Int64.self) == db.queued)
        #expect(field(json, "database") == db.path)
    }

    @Test func statusWatchRefreshesTheGivenNumberOfTimes() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let run = await CLI.run(["status", "--database", db.path, "--json", "--watch", "0.1", "--count", "3"])
        #expect(run.status == 0, "\(run)")
        let lines = run.standardOutput.split(separator: "\n")
        #expect(lines.count == 3)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(field(object, "counts", "queued") == 1)
        }
        let human = await CLI.run(["status", "--database", db.path, "--watch", "0.1", "--count", "2"])
        #expect(human.standardOutput.components(separatedBy: "Jobs:").count == 3, "\(human)")
        let bad = await CLI.run(["status", "--database", db.path, "--count", "2"])
        #expect(bad.status == 64 && bad.standardError.contains("--count needs --watch"), "\(bad)")
    }

    /// A job that uses its task's default prompt (a caption without --prompt) has `"prompt": null`
    /// in every JSON output, not "" next to null for other unknown values.
    @Test func theDefaultPromptIsNullInJSON() async throws {
        let directory = try Fixtures.temporaryDirectory("cli-default-prompt")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        let path = directory.appendingPathComponent("jobs.sqlite3").path
        let store = try JobStore(path: path)
        let image = ImageInfo(sha256: SHA256.hexDigest("plain"), path: "/photos/plain.jpg", width: 64, height: 48,
                              format: "jpeg", byteSize: 100)
        let id = try store.enqueue(EnqueueRequest(image: image, task: "caption", prompt: "", paramsJSON: "{}",
                                                  model: "cogvlm-tiny@1")).jobID
        let job = try #require(try store.claim(owner: SampleDatabase.owner, leaseDuration: .seconds(600)))
        try store.complete(jobID: id, claimToken: job.claimToken, output: JobOutput(
            text: "A plain image.", rawOutput: "A plain image.", promptTokens: 3, generatedTokens: 4,
            model: "cogvlm-tiny@1"))
        let list = await CLI.run(["list", "--database", path, "--json"])
        let show = await CLI.run(["show", "\(id)", "--database", path, "--json"])
        let results = await CLI.run(["results", "--database", path, "--json"])
        let export = await CLI.run(["export", "--database", path, "--format", "jsonl"])
        let documents: [(String, Any?)] = [
            ("list", field(try list.json(), "jobs", "0")), ("show", field(try show.json(), "job")),
            ("results", field(try results.json(), "results", "0")),
            ("export", try JSONSerialization.jsonObject(with: Data(export.standardOutput.utf8))),
        ]
        for (verb, document) in documents {
            let object = try #require(document as? [String: Any], "\(verb): \(document ?? "nothing")")
            #expect(object["prompt"] is NSNull, "\(verb): \(object["prompt"] ?? "no prompt key")")
        }
        // A prompt that was given stays a string.
        let db = try SampleDatabase()
        defer { db.remove() }
        let given = await CLI.run(["show", "\(db.cat)", "--database", db.path, "--json"])
        #expect(field(try given.json(), "job", "prompt") == "Describe the image.")
    }

    @Test func listFiltersByStateTaskLimitAndSince() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let all = await CLI.run(["list", "--database", db.path])
        #expect(all.status == 0, "\(all)")
        #expect(all.standardOutput.split(separator: "\n").count == 8)  // header + 7 jobs
        #expect(all.standardOutput.contains("image.corrupt"))

        let failed = await CLI.run(["list", "--database", db.path, "--state", "failed", "--json"])
        let failedJobs = try #require(field(try failed.json(), "jobs", as: [[String: Any]].self))
        #expect(failedJobs.count == 1)
        #expect(field(failedJobs[0], "id", as: Int64.self) == db.broken)
        #expect(field(failedJobs[0], "last_error_code") == "image.corrupt")
        #expect(Set(failedJobs[0].keys) == [
            "id", "state", "task", "prompt", "params_json", "model", "priority", "attempt", "max_attempts",
            "crash_count", "cancel_requested", "deduplicated", "image_id", "image_path", "image_sha256",
            "created_at", "run_after", "started_at", "finished_at", "lease_owner", "lease_expires_at",
            "progress_phase", "tokens_generated", "last_error_code", "last_error_message"])

        let two = await CLI.run(["list", "--database", db.path, "--state", "succeeded", "--state", "queued",
                                 "--json"])
        #expect(field(try two.json(), "jobs", as: [Any].self)?.count == 4)

        let ground = await CLI.run(["list", "--database", db.path, "--task", "ground", "--json"])
        #expect(field(try ground.json(), "jobs", "0", "id", as: Int64.self) == db.dog)
        #expect(field(try ground.json(), "jobs", as: [Any].self)?.count == 1)

        let limited = await CLI.run(["list", "--database", db.path, "--limit", "2", "--json"])
        let ids = (field(try limited.json(), "jobs", as: [[String: Any]].self) ?? []).compactMap {
            field($0, "id", as: Int64.self)
        }
        #expect(ids == [db.queued, db.cancelled])

        let recent = await CLI.run(["list", "--database", db.path, "--since", "1h", "--json"])
        #expect(field(try recent.json(), "jobs", as: [Any].self)?.count == 7)
        let future = await CLI.run(["list", "--database", db.path, "--since", "2999-01-01"])
        #expect(future.status == 0 && future.standardOutput.contains("No jobs match."), "\(future)")
        let later = await CLI.run(["list", "--database", db.path, "--since", "1h"],
                                  clock: { Date().addingTimeInterval(7200) })
        #expect(later.standardOutput.contains("No jobs match."), "\(later)")

        let badState = await CLI.run(["list", "--database", db.path, "--state", "done"])
        #expect(badState.status == 64, "\(badState)")
        let badSince = await CLI.run(["list", "--database", db.path, "--since", "yesterday"])
        #expect(badSince.status == 64, "\(badSince)")
    }

    @Test func showPrintsTheJobItsErrorsAndItsResult() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let dog = await CLI.run(["show", "--database", db.path, String(db.dog)])
        #expect(dog.status == 0, "\(dog)")
        for fact in ["Job \(db.dog)", "succeeded", "/photos/dog.jpg", "640×480", "Where is the dog?",
                     "A dog chasing a red ball.", "\"the dog\"  [0, 0, 499, 999]", "(0.0, 0.0)–(319.4, 479.5)",
                     "\"a red ball\"  [500, 500, 600, 600]", "(320.0, 240.0)–(384.0, 288.0)", "Errors: none"] {
            #expect(dog.standardOutput.contains(fact), "missing \(fact) in:\n\(dog.standardOutput)")
        }

        let broken = await CLI.run(["show", "--database", db.path, String(db.broken)])
        for fact in ["failed", "Errors (1, oldest first)", "attempt 1", "image.corrupt: not a JPEG file",
                     "Result: none"] {
            #expect(broken.standardOutput.contains(fact), "missing \(fact) in:\n\(broken.standardOutput)")
        }

        let json = try (await CLI.run(["show", "--database", db.path, "--json", String(db.dog)])).json()
        #expect(Set(json.keys) == ["job", "image_width", "image_height", "errors", "result"])
        #expect(field(json, "image_width") == 640)
        #expect(field(json, "job", "state") == "succeeded")
        #expect(field(json, "result", "text") == "A dog chasing a red ball.")
        #expect(field(json, "result", "boxes", "1", "phrase") == "a red ball")
        #expect(field(json, "result", "boxes", "1", "px_x1") == 384.0)
        #expect(field(json, "result", "boxes", "0", "y1") == 999)
        let brokenJSON = try (await CLI.run(["show", "--database", db.path, "--json", String(db.broken)])).json()
        #expect(field(brokenJSON, "errors", "0", "code") == "image.corrupt")
        #expect(brokenJSON["result"] is NSNull)
    }

    @Test func showOfAMissingJobExitsWithNotFound() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let run = await CLI.run(["show", "--database", db.path, "9999"])
        #expect(run.status == ExitStatus.notFound.rawValue, "\(run)")
        #expect(run.standardError.contains("store.not_found") && run.standardError.contains("9999")
                    && run.standardError.contains(db.path), "\(run)")
        #expect(run.standardOutput.isEmpty)
    }

    @Test func readCommandsRefuseAMissingDatabaseWithoutCreatingIt() async throws {
        let directory = try Fixtures.temporaryDirectory("cli-missing")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        let path = directory.appendingPathComponent("missing.sqlite3").path
        for verb in [["status"], ["list"], ["show", "1"], ["results"], ["export"], ["pause"]] {
            let run = await CLI.run(verb + ["--database", path])
            #expect(run.status == ExitStatus.databaseError.rawValue, "\(verb): \(run)")
            #expect(run.standardError.contains("cogjobs migrate") && run.standardError.contains(path), "\(run)")
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func databaseComesFromTheEnvironmentOrTheConfigurationFile() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let fromEnvironment = await CLI.run(["status", "--json"], environment: ["COGJOBS_DATABASE": db.path])
        #expect(field(try fromEnvironment.json(), "database") == db.path, "\(fromEnvironment)")

        let config = db.directory.appendingPathComponent("cogjobs.json")
        try #"{"database_path": "jobs.sqlite3", "model_directory": "/models/cogvlm"}"#
            .write(to: config, atomically: true, encoding: .utf8)
        let fromFlag = await CLI.run(["status", "--json", "--config", config.path])
        #expect(field(try fromFlag.json(), "database") == db.path, "\(fromFlag)")
        let fromVariable = await CLI.run(["status", "--json"], environment: ["COGJOBS_CONFIG": config.path])
        #expect(field(try fromVariable.json(), "database") == db.path, "\(fromVariable)")
        // --database wins over the environment, which wins over the file.
        let missing = db.directory.appendingPathComponent("other.sqlite3").path
        let flagWins = await CLI.run(["status", "--database", missing, "--config", config.path],
                                     environment: ["COGJOBS_DATABASE": db.path])
        #expect(flagWins.status == 4 && flagWins.standardError.contains(missing), "\(flagWins)")

        let broken = db.directory.appendingPathComponent("broken.json")
        try #"{"database_path": "jobs.sqlite3", "model_directory": "/m", "wrokers": 2}"#
            .write(to: broken, atomically: true, encoding: .utf8)
        let badConfig = await CLI.run(["status", "--config", broken.path])
        #expect(badConfig.status == 1 && badConfig.standardError.contains("wrokers"), "\(badConfig)")
        let missingConfig = await CLI.run(["status", "--config", db.directory.appendingPathComponent("no.json").path])
        #expect(missingConfig.status == 1 && missingConfig.standardError.contains("config.file_missing"),
                "\(missingConfig)")
    }
}

/// Times print exactly as stored (Unix milliseconds), the same text as the SQL views' `finished`.
@Suite("Time format")
struct TimeFormatTests {
    @Test func millisecondsPrintAsStored() {
        let cases: [(Int64, String)] = [
            (1_796_023_193_441, "2026-11-30T07:19:53.441Z"),  // 53.441 is the double 53.4409…: not .440
            (0, "1970-01-01T00:00:00.000Z"), (999, "1970-01-01T00:00:00.999Z"), (1000, "1970-01-01T00:00:01.000Z"),
            (1_796_023_193_999, "2026-11-30T07:19:53.999Z"), (1_738_324_800_000, "2025-01-31T12:00:00.000Z"),
        ]
        for (milliseconds, text) in cases {
            #expect(TextFormat.iso8601(Date(timeIntervalSince1970: Double(milliseconds) / 1000)) == text, "\(milliseconds)")
        }
        // Every millisecond of one second round-trips.
        let base: Int64 = 1_796_023_193_000
        for ms in base..<(base + 1000) {
            let text = TextFormat.iso8601(Date(timeIntervalSince1970: Double(ms) / 1000))
            #expect(text.hasSuffix(String(format: ".%03dZ", Int(ms % 1000))), "\(ms): \(text)")
        }
    }
}

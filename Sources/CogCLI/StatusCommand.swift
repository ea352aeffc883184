import ArgumentParser
import CogJobStore
import CogWatcher
import Foundation

/// `cogjobs status`: the queue at a glance — counts per state, whether it is paused, running jobs
/// with their progress and age, throughput, ETA and the oldest waiting job.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the queue: counts per state, running jobs, throughput, ETA.",
        discussion: """
            Throughput counts the jobs that succeeded in the last hour, over the time since the earliest of them \
            started (so a daemon started ten minutes ago is not under-reported). The ETA divides the jobs that are \
            running or can start now by that throughput; deferred jobs (enqueue --run-after, a retry's back-off) \
            are counted apart, with the time the next one becomes runnable. With --watch the view is redrawn every N \
            seconds until interrupted (or --count times); with --json each refresh prints one JSON object per line.
            """)

    @OptionGroup var store: StoreOptions

    @Flag(name: .long, help: "Print JSON (fields in docs/cli.md).")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Refresh every N seconds.", valueName: "seconds"))
    var watch: Double?

    @Option(name: .long, help: ArgumentHelp("With --watch: stop after this many refreshes.", valueName: "n"))
    var count: Int?

    func validate() throws {
        if let watch, !(watch.isFinite && watch >= 0.1) {
            throw ValidationError("--watch must be at least 0.1 seconds")
        }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
        if count != nil && watch == nil { throw ValidationError("--count needs --watch") }
    }

    func run() throws {
        try reportingFailures {
            let context = CommandContext.current
            let jobStore = try store.openStore()
            guard let watch else {
                try show(try jobStore.status(), path: jobStore.path, context: context, redraw: false)
                return
            }
            var refreshes = 0
            while true {
                try show(try jobStore.status(), path: jobStore.path, context: context, redraw: true)
                refreshes += 1
                if let count, refreshes >= count { return }
                Thread.sleep(forTimeInterval: watch)
            }
        }
    }

    private func show(_ status: QueueStatus, path: String, context: CommandContext, redraw: Bool) throws {
        let now = context.clock()
        if json {
            let record = Record(status: status, database: path, now: now)
            context.write(redraw ? try JSONOutput.line(record) + "\n" : try JSONOutput.document(record))
            return
        }
        var text = Self.render(status, database: path, now: now)
        if redraw {
            // On a terminal: home the cursor and clear the screen; in a pipe or log, separate snapshots.
            text = context.outputIsTerminal ? "\u{1B}[H\u{1B}[2J" + text : text + "\n"
        }
        context.write(text)
    }

    /// The human-readable status.
    static func render(_ status: QueueStatus, database: String, now: Date) -> String {
        var lines: [String] = []
        let total = status.counts.values.reduce(0, +)
        lines.append("Database:   \(database)")
        lines.append("Queue:      " + (status.paused
            ? "PAUSED (running jobs finish; nothing new starts until `cogjobs resume`)" : "accepting work"))
        let counts = JobState.allCases.map { "\($0.rawValue) \(status.counts[$0] ?? 0)" }.joined(separator: ", ")
        lines.append("Jobs:       \(counts) (total \(total))")
        if let rate = status.imagesPerHour {
            var line = "Throughput: \(TextFormat.decimal(rate)) images/hour "
                + "(\(status.succeededLastHour) succeeded in the last hour)"
            if let average = status.averageSecondsPerJob {
                line += ", \(TextFormat.duration(average)) per job on average"
            }
            lines.append(line)
        } else {
            lines.append("Throughput: no job succeeded in the last hour")
        }
        if status.runnable > 0 {
            let work = "\(status.runnable) job\(status.runnable == 1 ? "" : "s") running or ready"
            if status.paused {
                lines.append("ETA:        none while paused (\(work))")
            } else {
                lines.append(status.etaSeconds.map { "ETA:        \(TextFormat.duration($0)) for \(work)" }
                             ?? "ETA:        unknown (\(work), no recent throughput)")
            }
        }
        if status.deferred > 0, let next = status.nextRunAfter {
            let jobs = "\(status.deferred) job\(status.deferred == 1 ? "" : "s")"
            lines.append("Deferred:   \(jobs) not due yet (run_after); the next can start in "
                         + "\(TextFormat.duration(max(0, next.timeIntervalSince(now)))) (\(TextFormat.iso8601(next)))")
        }
        if let id = status.oldestWaitingJobID, let created = status.oldestWaitingCreatedAt {
            lines.append("Oldest waiting: job \(id), enqueued \(TextFormat.ago(created, now: now)) "
                         + "(\(TextFormat.iso8601(created)))")
        }
        var text = lines.joined(separator: "\n") + "\n"
        if status.running.isEmpty {
            text += "Running:    none\n"
        } else {
            text += "Running:\n"
            let rows = status.running.map { job in
                [String(job.id), job.phase ?? "-", String(job.tokensGenerated), TextFormat.duration(job.ageSeconds),
                 String(job.attempt), job.task, job.owner + (job.cancelRequested ? " (cancel requested)" : "")
                    + ownerNote(job, now: now),
                 PrintableText.escapingControlCharacters(job.imagePath)]
            }
            text += TextFormat.table(header: ["ID", "PHASE", "TOKENS", "AGE", "ATTEMPT", "TASK", "WORKER", "IMAGE"],
                                     rows: rows)
        }
        return text
    }

    /// Why a `running` job may not really be running: its worker process is gone (same machine), or
    /// its lease ran out without renewal. The daemon rescues such jobs (at its next start, or when
    /// its supervisor sees the expired lease); until then they still count as running.
    static func ownerNote(_ job: RunningJob, now: Date, liveness: (String) -> OwnerLiveness = OwnerIdentity.liveness)
        -> String
    {
        if liveness(job.owner) == .dead {
            return " (process gone: the job is rescued when a daemon starts)"
        }
        if job.leaseExpiresAt < now {
            return " (lease expired \(TextFormat.ago(job.leaseExpiresAt, now: now)): rescued by the next daemon check)"
        }
        return ""
    }

    /// `status --json`.
    struct Record: Encodable {
        var status: QueueStatus
        var database: String
        var now: Date

        enum CodingKeys: String, CodingKey {
            case database, counts, total, paused, running, remaining
            case succeededLastHour = "succeeded_last_hour", imagesPerHour = "images_per_hour"
            case averageSecondsPerJob = "average_seconds_per_job", etaSeconds = "eta_seconds"
            case oldestWaiting = "oldest_waiting", generatedAt = "generated_at"
            case runnable, deferred, nextRunAfter = "next_run_after"
        }

        struct Running: Encodable {
            var job: RunningJob
            var now: Date
            enum CodingKeys: String, CodingKey {
                case id, task, attempt, owner, phase
                case imagePath = "image_path", tokensGenerated = "tokens_generated", startedAt = "started_at"
                case ageSeconds = "age_seconds", leaseExpiresAt = "lease_expires_at"
                case cancelRequested = "cancel_requested", workerNote = "worker_note"
            }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(job.id, forKey: .id)
                try c.encode(job.imagePath, forKey: .imagePath)
                try c.encode(job.task, forKey: .task)
                try c.encode(job.attempt, forKey: .attempt)
                try c.encode(job.owner, forKey: .owner)
                try c.encode(job.phase, forKey: .phase)
                try c.encode(job.tokensGenerated, forKey: .tokensGenerated)
                try c.encode(TextFormat.iso8601(job.startedAt), forKey: .startedAt)
                try c.encode(job.ageSeconds, forKey: .ageSeconds)
                try c.encode(TextFormat.iso8601(job.leaseExpiresAt), forKey: .leaseExpiresAt)
                try c.encode(job.cancelRequested, forKey: .cancelRequested)
                let note = StatusCommand.ownerNote(job, now: now).trimmingCharacters(in: CharacterSet(charactersIn: " ()"))
                try c.encode(note.isEmpty ? nil : note, forKey: .workerNote)
            }
        }

        struct OldestWaiting: Encodable {
            var jobID: Int64
            var createdAt: String
            var ageSeconds: Double
            enum CodingKeys: String, CodingKey {
                case jobID = "job_id", createdAt = "created_at", ageSeconds = "age_seconds"
            }
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(database, forKey: .database)
            try c.encode(TextFormat.iso8601(now), forKey: .generatedAt)
            let counts = Dictionary(uniqueKeysWithValues: JobState.allCases.map {
                ($0.rawValue, status.counts[$0] ?? 0)
            })
            try c.encode(counts, forKey: .counts)
            try c.encode(counts.values.reduce(0, +), forKey: .total)
            try c.encode(status.remaining, forKey: .remaining)
            try c.encode(status.runnable, forKey: .runnable)
            try c.encode(status.deferred, forKey: .deferred)
            try c.encode(status.nextRunAfter.map(TextFormat.iso8601), forKey: .nextRunAfter)
            try c.encode(status.paused, forKey: .paused)
            try c.encode(status.running.map { Running(job: $0, now: now) }, forKey: .running)
            try c.encode(status.succeededLastHour, forKey: .succeededLastHour)
            try c.encode(status.imagesPerHour, forKey: .imagesPerHour)
            try c.encode(status.averageSecondsPerJob, forKey: .averageSecondsPerJob)
            try c.encode(status.paused ? nil : status.etaSeconds, forKey: .etaSeconds)  // no ETA while paused
            var oldest: OldestWaiting? = nil
            if let id = status.oldestWaitingJobID, let created = status.oldestWaitingCreatedAt {
                oldest = OldestWaiting(jobID: id, createdAt: TextFormat.iso8601(created),
                                       ageSeconds: now.timeIntervalSince(created))
            }
            try c.encode(oldest, forKey: .oldestWaiting)
        }
    }
}

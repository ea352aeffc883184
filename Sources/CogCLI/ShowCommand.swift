import ArgumentParser
import CogJobStore
import CogWatcher
import Foundation

/// `cogjobs show JOB`: one job with its error history and its result (text and boxes).
struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one job: its settings, per-attempt error history, result text and boxes.")

    @OptionGroup var store: StoreOptions

    @Argument(help: ArgumentHelp("The job id.", valueName: "job"))
    var job: Int64

    @Flag(name: .long, help: "Print JSON (fields in docs/cli.md).")
    var json = false

    func run() throws {
        try reportingFailures {
            let context = CommandContext.current
            let jobStore = try store.openStore()
            guard let detail = try jobStore.job(id: job) else {
                throw JobStoreError(code: .notFound, message: "there is no job \(job); `cogjobs list` shows the jobs",
                                    jobID: job, databasePath: jobStore.path)
            }
            let size = try jobStore.query("SELECT width, height FROM images WHERE id = ?", [detail.job.imageID]).first
            let width = size?[0].int64.map(Int.init), height = size?[1].int64.map(Int.init)
            if json {
                let output = Output(job: JSONRecords.Job(summary: detail.job), imageWidth: width, imageHeight: height,
                                    errors: detail.errors.map(JSONRecords.JobError.init),
                                    result: detail.result.map(JSONRecords.StoredResult.init))
                context.write(try JSONOutput.document(output))
            } else {
                context.write(Self.render(detail, width: width, height: height, now: context.clock()))
            }
        }
    }

    static func render(_ detail: JobDetail, width: Int?, height: Int?, now: Date) -> String {
        let job = detail.job
        func time(_ date: Date?) -> String {
            guard let date else { return "-" }
            return "\(TextFormat.iso8601(date)) (\(TextFormat.ago(date, now: now)))"
        }
        var fields: [(String, String)] = [
            ("state", job.state.rawValue + (job.cancelRequested ? " (cancel requested)" : "")),
            ("image", PrintableText.escapingControlCharacters(job.imagePath)),
            ("image size", width.flatMap { w in height.map { "\(w)×\($0)" } } ?? "unknown"),
            ("image sha256", job.imageSHA256),
            ("task", job.task),
            ("prompt", job.prompt.isEmpty ? "(the task's default)" : job.prompt),
            ("parameters", job.paramsJSON),
            ("model", job.model),
            ("priority", String(job.priority)),
            ("attempts", "\(job.attempt) of \(job.maxAttempts)"
                + (job.crashCount > 0 ? ", \(job.crashCount) crashes" : "")),
            ("created", time(job.createdAt)),
            ("run after", time(job.runAfter)),
            ("started", time(job.startedAt)),
            ("finished", time(job.finishedAt)),
        ]
        if job.state == .running {
            fields.append(("worker", job.leaseOwner ?? "-"))
            fields.append(("lease until", time(job.leaseExpiresAt)))
            fields.append(("progress", "\(job.progressPhase ?? "-"), \(job.tokensGenerated) tokens"))
        }
        if let code = job.lastErrorCode {
            fields.append(("last error", "\(code): \(job.lastErrorMessage ?? "")"))
        }
        if !job.deduplicated {
            // A NULL key: enqueued with --force, or given up when the job failed for a reason about the
            // file at that time rather than its content (docs/daemon.md), so the same content can run again.
            let released = JobStore.pathBoundEndings.contains { $0.code == job.lastErrorCode }
            let why = released
                ? "off (released after \(job.lastErrorCode ?? "") to a newer job for the same content)"
                : "off (enqueued with --force, or released to a newer job for the same content)"
            fields.append(("deduplication", why))
        }
        let labelWidth = fields.map(\.0.count).max() ?? 0
        var text = "Job \(job.id)\n"
        for (label, value) in fields {
            text += "  " + (label + ":").padding(toLength: labelWidth + 1, withPad: " ", startingAt: 0) + " \(value)\n"
        }
        if detail.errors.isEmpty {
            text += "Errors: none\n"
        } else {
            text += "Errors (\(detail.errors.count), oldest first):\n"
            for error in detail.errors {
                text += "  attempt \(error.attempt)  \(TextFormat.iso8601(error.at))  \(error.code): \(error.message)\n"
            }
        }
        if let result = detail.result {
            let output = result.output
            text += "Result \(result.id) (\(TextFormat.iso8601(result.createdAt)), model \(output.model)):\n"
            text += "  text: \(output.text)\n"
            if output.rawOutput != output.text { text += "  raw output: \(output.rawOutput)\n" }
            text += "  tokens: \(output.promptTokens) prompt, \(output.generatedTokens) generated\n"
            text += "  time: \(TextFormat.decimal(output.totalMilliseconds)) ms total (preprocess "
                + "\(TextFormat.decimal(output.preprocessMilliseconds)), prefill "
                + "\(TextFormat.decimal(output.prefillMilliseconds)), decode "
                + "\(TextFormat.decimal(output.decodeMilliseconds)))\n"
            if output.boxes.isEmpty {
                text += "  boxes: none\n"
            } else {
                text += "  boxes (\(output.boxes.count); normalized 0–999 → pixels):\n"
                for (index, box) in output.boxes.enumerated() {
                    text += "    \(index)  \"\(box.phrase)\"  [\(box.x0), \(box.y0), \(box.x1), \(box.y1)] → "
                        + "(\(TextFormat.decimal(box.pixelX0)), \(TextFormat.decimal(box.pixelY0)))–"
                        + "(\(TextFormat.decimal(box.pixelX1)), \(TextFormat.decimal(box.pixelY1)))\n"
                }
            }
        } else {
            text += "Result: none\n"
        }
        return text
    }

    /// `show --json`.
    struct Output: Encodable {
        var job: JSONRecords.Job
        var imageWidth: Int?
        var imageHeight: Int?
        var errors: [JSONRecords.JobError]
        var result: JSONRecords.StoredResult?

        enum CodingKeys: String, CodingKey {
            case job, errors, result
            case imageWidth = "image_width", imageHeight = "image_height"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(job, forKey: .job)
            try c.encode(imageWidth, forKey: .imageWidth)
            try c.encode(imageHeight, forKey: .imageHeight)
            try c.encode(errors, forKey: .errors)
            try c.encode(result, forKey: .result)
        }
    }
}

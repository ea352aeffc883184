import CogJobStore
import Foundation

/// The records `--json` output and JSON exports are made of. Field names are part of the CLI's
/// interface (docs/cli.md lists them): add fields, never rename or remove them. Every field is
/// always present; unknown values are `null`. Times are ISO-8601 UTC strings with milliseconds.
enum JSONRecords {
    /// A job, as `list --json` and `show --json` print it.
    struct Job: Encodable {
        var summary: JobSummary

        enum CodingKeys: String, CodingKey {
            case id, state, task, prompt, model, priority, attempt, deduplicated
            case paramsJSON = "params_json", maxAttempts = "max_attempts", crashCount = "crash_count"
            case cancelRequested = "cancel_requested", imageID = "image_id", imagePath = "image_path"
            case imageSHA256 = "image_sha256", createdAt = "created_at", runAfter = "run_after"
            case startedAt = "started_at", finishedAt = "finished_at", leaseOwner = "lease_owner"
            case leaseExpiresAt = "lease_expires_at", progressPhase = "progress_phase"
            case tokensGenerated = "tokens_generated", lastErrorCode = "last_error_code"
            case lastErrorMessage = "last_error_message"
        }

        func encode(to encoder: any Encoder) throws {
            let job = summary
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(job.id, forKey: .id)
            try c.encode(job.state.rawValue, forKey: .state)
            try c.encode(job.task, forKey: .task)
            try c.encode(job.prompt.isEmpty ? nil : job.prompt, forKey: .prompt)  // null: the task's default prompt
            try c.encode(job.paramsJSON, forKey: .paramsJSON)
            try c.encode(job.model, forKey: .model)
            try c.encode(job.priority, forKey: .priority)
            try c.encode(job.attempt, forKey: .attempt)
            try c.encode(job.maxAttempts, forKey: .maxAttempts)
            try c.encode(job.crashCount, forKey: .crashCount)
            try c.encode(job.cancelRequested, forKey: .cancelRequested)
            try c.encode(job.deduplicated, forKey: .deduplicated)
            try c.encode(job.imageID, forKey: .imageID)
            try c.encode(job.imagePath, forKey: .imagePath)
            try c.encode(job.imageSHA256, forKey: .imageSHA256)
            try c.encode(TextFormat.iso8601(job.createdAt), forKey: .createdAt)
            try c.encode(TextFormat.iso8601(job.runAfter), forKey: .runAfter)
            try c.encode(job.startedAt.map(TextFormat.iso8601), forKey: .startedAt)
            try c.encode(job.finishedAt.map(TextFormat.iso8601), forKey: .finishedAt)
            try c.encode(job.leaseOwner, forKey: .leaseOwner)
            try c.encode(job.leaseExpiresAt.map(TextFormat.iso8601), forKey: .leaseExpiresAt)
            try c.encode(job.progressPhase, forKey: .progressPhase)
            try c.encode(job.tokensGenerated, forKey: .tokensGenerated)
            try c.encode(job.lastErrorCode, forKey: .lastErrorCode)
            try c.encode(job.lastErrorMessage, forKey: .lastErrorMessage)
        }
    }

    /// One entry of a job's error history.
    struct JobError: Encodable {
        var attempt: Int
        var code: String
        var message: String
        var at: String

        init(_ record: JobErrorRecord) {
            attempt = record.attempt
            code = record.code
            message = record.message
            at = TextFormat.iso8601(record.at)
        }
    }

    /// A grounding box: normalized corners (0–999, thousandths of width / height) and pixel corners,
    /// named like the `v_boxes` columns.
    /// A job's stored result, as `show --json` prints it.
    struct StoredResult: Encodable {
        var result: CogJobStore.StoredResult

        enum CodingKeys: String, CodingKey {
            case text, model, boxes
            case resultID = "result_id", jobID = "job_id", rawOutput = "raw_output", promptTokens = "prompt_tokens"
            case generatedTokens = "generated_tokens", preprocessMilliseconds = "preprocess_ms"
            case prefillMilliseconds = "prefill_ms", decodeMilliseconds = "decode_ms"
            case totalMilliseconds = "total_ms", createdAt = "created_at"
        }

        func encode(to encoder: any Encoder) throws {
            let output = result.output
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(result.id, forKey: .resultID)
            try c.encode(result.jobID, forKey: .jobID)
            try c.encode(output.text, forKey: .text)
            try c.encode(output.rawOutput, forKey: .rawOutput)
            try c.encode(output.model, forKey: .model)
            try c.encode(output.promptTokens, forKey: .promptTokens)
            try c.encode(output.generatedTokens, forKey: .generatedTokens)
            try c.encode(output.preprocessMilliseconds, forKey: .preprocessMilliseconds)
            try c.encode(output.prefillMilliseconds, forKey: .prefillMilliseconds)
            try c.encode(output.decodeMilliseconds, forKey: .decodeMilliseconds)
            try c.encode(output.totalMilliseconds, forKey: .totalMilliseconds)
            try c.encode(TextFormat.iso8601(result.createdAt), forKey: .createdAt)
            try c.encode(output.boxes, forKey: .boxes)
        }
    }

    /// A result with its image, as `results --json` and `export --format jsonl` print it.
    struct Result: Encodable {
        var row: ResultRow

        enum CodingKeys: String, CodingKey {
            case width, height, task, prompt, text, model, boxes
            case resultID = "result_id", jobID = "job_id", imagePath = "image_path", imageSHA256 = "image_sha256"
            case rawOutput = "raw_output", generatedTokens = "generated_tokens", totalMilliseconds = "total_ms"
            case finishedAt = "finished_at"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(row.resultID, forKey: .resultID)
            try c.encode(row.jobID, forKey: .jobID)
            try c.encode(row.imagePath, forKey: .imagePath)
            try c.encode(row.imageSHA256, forKey: .imageSHA256)
            try c.encode(row.imageWidth, forKey: .width)
            try c.encode(row.imageHeight, forKey: .height)
            try c.encode(row.task, forKey: .task)
            try c.encode(row.prompt.isEmpty ? nil : row.prompt, forKey: .prompt)  // null: the task's default prompt
            try c.encode(row.text, forKey: .text)
            try c.encode(row.rawOutput, forKey: .rawOutput)
            try c.encode(row.model, forKey: .model)
            try c.encode(row.generatedTokens, forKey: .generatedTokens)
            try c.encode(row.totalMilliseconds, forKey: .totalMilliseconds)
            try c.encode(TextFormat.iso8601(row.finishedAt), forKey: .finishedAt)
            try c.encode(row.boxes, forKey: .boxes)
        }
    }
}

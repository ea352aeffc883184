import Foundation

/// A job as listed by `list` and `job(id:)`.
public struct JobSummary: Sendable, Equatable {
    public var id: Int64
    public var imageID: Int64
    public var imagePath: String
    public var imageSHA256: String
    public var task: String
    public var prompt: String
    public var paramsJSON: String
    public var model: String
    public var priority: Int
    public var state: JobState
    public var attempt: Int
    public var maxAttempts: Int
    public var crashCount: Int
    public var cancelRequested: Bool
    public var runAfter: Date
    public var leaseOwner: String?
    public var leaseExpiresAt: Date?
    public var progressPhase: String?
    public var tokensGenerated: Int
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var lastErrorCode: String?
    public var lastErrorMessage: String?
    /// `false` for a job enqueued with `force`.
    public var deduplicated: Bool
}

/// One row of a job's error history (`job_errors`).
public struct JobErrorRecord: Sendable, Equatable {
    public var attempt: Int
    public var code: String
    public var message: String
    public var at: Date
}

/// A stored result with its boxes.
public struct StoredResult: Sendable, Equatable {
    public var id: Int64
    public var jobID: Int64
    public var output: JobOutput
    public var createdAt: Date
}

/// `job(id:)`: the job, its error history (oldest first) and its result if it succeeded.
public struct JobDetail: Sendable, Equatable {
    public var job: JobSummary
    public var errors: [JobErrorRecord]
    public var result: StoredResult?
}

/// Which jobs `list` returns. Newest first.
public struct JobFilter: Sendable, Equatable {
    /// Only these states (empty = all).
    public var states: Set<JobState>
    public var task: String?
    /// Only jobs whose image path contains this text.
    public var pathContains: String?
    public var limit: Int
    /// Only jobs with a smaller id (for paging: pass the last id of the previous page).
    public var beforeID: Int64?

    public init(states: Set<JobState> = [], task: String? = nil, pathContains: String? = nil, limit: Int = 100,
                beforeID: Int64? = nil) {
        self.states = states
        self.task = task
        self.pathContains = pathContains
        self.limit = limit
        self.beforeID = beforeID
    }
}

/// A running job as `status` shows it.
public struct RunningJob: Sendable, Equatable {
    public var id: Int64
    public var imagePath: String
    public var task: String
    public var attempt: Int
    public var owner: String
    public var phase: String?
    public var tokensGenerated: Int
    public var startedAt: Date
    /// Seconds since this attempt was claimed.
    public var ageSeconds: Double
    public var leaseExpiresAt: Date
    public var cancelRequested: Bool
}

/// Everything `cogjobs status` shows, read in one snapshot.
public struct QueueStatus: Sendable, Equatable {
    /// Job count per state (every state present, zero when none).
    public var counts: [JobState: Int]
    public var paused: Bool
    public var running: [RunningJob]
    /// Jobs that succeeded in the last hour.
    public var succeededLastHour: Int
    /// Throughput over the last hour: succeeded jobs ÷ hours from the earliest start among them to
    /// now (so a daemon started ten minutes ago is not under-reported). `nil` without data.
    public var imagesPerHour: Double?
    /// Mean wall time of the (up to) 50 most recent successful attempts, in seconds.
    public var averageSecondsPerJob: Double?
    /// `runnable ÷ imagesPerHour`, in seconds; `nil` without throughput data. Deferred jobs are not
    /// counted: when they become runnable is `nextRunAfter`, not a matter of throughput.
    public var etaSeconds: Double?
    /// The oldest job waiting that can start now (queued or retryable, `run_after` passed), and
    /// when it was enqueued.
    public var oldestWaitingJobID: Int64?
    public var oldestWaitingCreatedAt: Date?
    /// Queued or retryable jobs that cannot start yet (`run_after` in the future: `enqueue
    /// --run-after`, or a retry's back-off).
    public var deferred: Int = 0
    /// The earliest `run_after` among the deferred jobs: when the next one becomes runnable.
    public var nextRunAfter: Date? = nil

    /// Jobs not yet finished.
    public var remaining: Int { (counts[.queued] ?? 0) + (counts[.retryable] ?? 0) + (counts[.running] ?? 0) }
    /// Jobs running or able to start now: `remaining` less the deferred ones.
    public var runnable: Int { max(0, remaining - deferred) }
}

/// One result with its image and boxes, for `cogjobs results` / `export`.
public struct ExportRow: Sendable, Equatable {
    public var resultID: Int64
    public var jobID: Int64
    public var imagePath: String
    public var imageSHA256: String
    public var imageWidth: Int?
    public var imageHeight: Int?
    public var task: String
    public var prompt: String
    public var text: String
    public var rawOutput: String
    public var model: String
    public var generatedTokens: Int
    public var totalMilliseconds: Double
    public var finishedAt: Date
    public var boxes: [GroundingBox]
}

import Foundation

/// What the store records about an image file. The content hash identifies the image; the other
/// fields describe where and what it is (unknown ones may be `nil` and filled in by a later enqueue).
public struct ImageInfo: Sendable, Equatable {
    /// SHA-256 of the file's bytes, 64 lower-case hex digits.
    public var sha256: String
    /// Path the image was found at (the store keeps the latest path seen for this content).
    public var path: String
    public var width: Int?
    public var height: Int?
    /// Container format, e.g. `jpeg`, `png`.
    public var format: String?
    /// File size in bytes.
    public var byteSize: Int64?

    public init(sha256: String, path: String, width: Int? = nil, height: Int? = nil, format: String? = nil,
                byteSize: Int64? = nil) {
        self.sha256 = sha256
        self.path = path
        self.width = width
        self.height = height
        self.format = format
        self.byteSize = byteSize
    }
}

/// A request to run the model on one image.
public struct EnqueueRequest: Sendable, Equatable {
    public var image: ImageInfo
    /// The task name, e.g. `caption`, `vqa`, `ground`. Not empty.
    public var task: String
    /// The prompt or question (may be empty for tasks with a built-in prompt).
    public var prompt: String
    /// Generation parameters as a JSON object (stored verbatim; must be valid JSON).
    public var paramsJSON: String
    /// Model identity (name and revision) the job must run with; part of the deduplication key.
    public var model: String
    /// Higher runs first; default 0. Negative values run after everything at 0.
    public var priority: Int
    /// Do not claim before this time (`nil` = now).
    public var runAfter: Date?
    /// Attempts allowed before a transient failure becomes terminal (`nil` = the store's default).
    public var maxAttempts: Int?
    /// Skip deduplication: always create a new job, even if the same (image, task, prompt, model)
    /// already has one.
    public var force: Bool

    public init(image: ImageInfo, task: String, prompt: String = "", paramsJSON: String = "{}", model: String,
                priority: Int = 0, runAfter: Date? = nil, maxAttempts: Int? = nil, force: Bool = false) {
        self.image = image
        self.task = task
        self.prompt = prompt
        self.paramsJSON = paramsJSON
        self.model = model
        self.priority = priority
        self.runAfter = runAfter
        self.maxAttempts = maxAttempts
        self.force = force
    }

    /// The deduplication key: SHA-256 of the image hash, task, prompt and model, each
    /// length-prefixed so that no two different tuples share a key.
    public var dedupKey: String {
        let parts = [image.sha256, task, prompt, model]
        let joined = parts.map { "\($0.utf8.count):\($0)" }.joined(separator: "|")
        return SHA256.hexDigest(joined)
    }
}

/// What `enqueue` did.
public enum EnqueueOutcome: Sendable, Equatable {
    /// A new job was created.
    case enqueued(jobID: Int64)
    /// The same (image, task, prompt, model) already has a job; nothing was created.
    case duplicate(of: Int64, state: JobState)

    /// The new or existing job's id.
    public var jobID: Int64 {
        switch self {
        case .enqueued(let id), .duplicate(of: let id, state: _): id
        }
    }
}

import Foundation

/// A job a worker has claimed: everything it needs to run, plus the claim token that every later
/// call about this job (`renewLease`, `updateProgress`, `complete`, `fail`, `requeue`) must present.
public struct ClaimedJob: Sendable, Equatable {
    public var id: Int64
    public var image: StoredImage
    public var task: String
    public var prompt: String
    public var paramsJSON: String
    public var model: String
    public var priority: Int
    /// This attempt's number, counted at claim (1 for the first run).
    public var attempt: Int
    public var maxAttempts: Int
    /// Times the job was running when its worker process died (see `rescueOrphans`).
    public var crashCount: Int
    /// Fencing token: a fresh random value per claim.
    public var claimToken: String
    /// When the lease runs out unless renewed.
    public var leaseExpiresAt: Date
}

/// An `images` row.
public struct StoredImage: Sendable, Equatable {
    public var id: Int64
    public var sha256: String
    public var path: String
    public var width: Int?
    public var height: Int?
    public var format: String?
    public var byteSize: Int64?
}

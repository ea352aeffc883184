/// The state of a job. The `jobs.state` column holds the raw values, and a CHECK constraint keeps
/// the column inside this set.
///
/// ```
///  enqueue ─▶ queued ─claim─▶ running ─complete─▶ succeeded
///               ▲  ▲             │ │ └─fail (permanent, or attempts used up)─▶ failed
///    requeue ───┘  │             │ └──cancel requested + worker stops─────────▶ cancelled
///    (shutdown)    │             └─fail (transient)─▶ retryable ─(run_after)─▶ claim again
///                  │      rescue after owner died twice ─────────────────────▶ quarantined
///                  └──── retry (from failed / cancelled / quarantined / retryable)
/// ```
public enum JobState: String, Sendable, CaseIterable, Codable {
    /// Waiting to be claimed (possibly not before `run_after`).
    case queued
    /// Claimed by a worker that holds a lease and a claim token.
    case running
    /// Failed with a transient error; will be claimed again after its backoff (`run_after`).
    case retryable
    /// Finished with a result (terminal).
    case succeeded
    /// Failed permanently or used up its attempts (terminal; `retry` puts it back).
    case failed
    /// Cancelled by a user (terminal; `retry` puts it back).
    case cancelled
    /// Was running when its worker process died `quarantineAfterCrashes` times: a poison job that
    /// is not run again automatically (terminal; `retry` puts it back).
    case quarantined

    /// `true` for states a job only leaves by an explicit `retry`.
    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled, .quarantined: true
        case .queued, .running, .retryable: false
        }
    }

    /// States a worker may claim from.
    public static let claimable: [JobState] = [.queued, .retryable]
}

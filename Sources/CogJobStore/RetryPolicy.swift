/// Exponential backoff with jitter for transient failures.
///
/// After failed attempt `n` (1-based, as counted at claim) the job becomes `retryable` with
///
///     delay(n) = min(cap, base × 2^(n−1)) × (1 + jitter × u),   u uniform in [0, 1)
///
/// so with the defaults (base 10 s, cap 10 min, jitter 0.25) the waits are 10–12.5 s, 20–25 s,
/// 40–50 s, …, never more than 12.5 min. Jitter only lengthens the wait, so the base delay is
/// a guaranteed minimum; it spreads out jobs that failed together (e.g. when the model was
/// briefly unavailable).
public struct RetryPolicy: Sendable, Equatable {
    /// Delay after the first failed attempt, in seconds.
    public var baseSeconds: Double
    /// Upper bound of the exponential part, in seconds.
    public var capSeconds: Double
    /// Fraction of the delay added at random (0 = no jitter).
    public var jitter: Double

    public init(baseSeconds: Double = 10, capSeconds: Double = 600, jitter: Double = 0.25) {
        precondition(baseSeconds >= 0 && capSeconds >= 0 && jitter >= 0, "retry policy values must be >= 0")
        self.baseSeconds = baseSeconds
        self.capSeconds = capSeconds
        self.jitter = jitter
    }

    /// The wait in seconds after failed attempt `attempt`, for a random draw `unitRandom` in [0, 1).
    public func delaySeconds(afterAttempt attempt: Int, unitRandom: Double) -> Double {
        let exponent = Double(max(0, attempt - 1))
        let exponential = min(capSeconds, baseSeconds * pow2(exponent))
        let u = min(max(unitRandom, 0), 1)
        return exponential * (1 + jitter * u)
    }

    private func pow2(_ exponent: Double) -> Double {
        // Beyond 2^60 the cap has long taken over; avoid overflowing to infinity for silly attempt counts.
        exponent >= 60 ? Double(1 << 60) : Double(1 << Int(exponent))
    }
}

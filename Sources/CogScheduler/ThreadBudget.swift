/// How many compute threads each worker gets, so that `workers × threads ≤ cores`: the scheduler
/// owns the machine's core budget.
///
/// Oversubscribing cores makes every worker slower (threads of one matmul wait for each other
/// while the OS time-slices them), so a request above the budget is cut down, and the cut is
/// reported for the log rather than silently applied.
public struct ThreadBudget: Sendable, Equatable, CustomStringConvertible {
    /// Worker threads (jobs running at once).
    public let workers: Int
    /// Compute threads per worker after applying the budget (≥ 1).
    public let threadsPerWorker: Int
    /// What was asked for per worker.
    public let requestedThreadsPerWorker: Int
    /// Cores available.
    public let cores: Int

    /// Fits `requested` threads per worker for `workers` workers into `cores` cores.
    /// A worker always gets at least one thread, so with more workers than cores the product can
    /// exceed the cores; `isOversubscribed` says so.
    public init(workers: Int, requestedThreadsPerWorker: Int, cores: Int) {
        self.workers = max(1, workers)
        self.cores = max(1, cores)
        self.requestedThreadsPerWorker = max(1, requestedThreadsPerWorker)
        threadsPerWorker = max(1, min(self.requestedThreadsPerWorker, self.cores / self.workers))
    }

    /// `true` if the request had to be cut down to fit.
    public var wasReduced: Bool { threadsPerWorker < requestedThreadsPerWorker }

    /// `true` if even one thread per worker exceeds the cores (more workers than cores).
    public var isOversubscribed: Bool { workers * threadsPerWorker > cores }

    public var description: String {
        var text = "\(workers) worker(s) × \(threadsPerWorker) thread(s) on \(cores) core(s)"
        if wasReduced { text += " (asked for \(requestedThreadsPerWorker) per worker; reduced to fit the cores)" }
        if isOversubscribed { text += " (more workers than cores: they will compete for CPU)" }
        return text
    }
}

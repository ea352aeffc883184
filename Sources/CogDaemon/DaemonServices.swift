import CogScheduler
import Logging
import ServiceLifecycle
import UnixSignals

/// The worker pool as a service: runs until graceful shutdown, then drains (running jobs get the
/// drain budget to finish, then are requeued without counting the attempt). First in the service
/// group, so it is the last to stop: intake and status stop before it.
struct WorkerPoolService: Service {
    let pool: WorkerPool
    let drainBudget: Duration
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            // Cancelled instead of shut down gracefully: drain with no budget.
            await pool.drain(budget: .zero)
            return
        }
        let busy = pool.snapshot().busyWorkers
        let line = "shutting down: \(busy) job(s) running; they get up to \(drainBudget) to finish, "
            + "then are requeued"
        logger.notice("\(line)")
        do {
            try notifier.status("stopping: waiting up to \(drainBudget) for \(busy) running job(s)")
        } catch {
            logger.warning("cannot send STATUS to systemd: \(error)")
        }
        await pool.drain(budget: drainBudget)
        logger.notice("all workers stopped")
    }
}

/// SIGHUP: reload the configuration (see `CogjobsDaemon.reload`).
struct ReloadService: Service {
    let signals: UnixSignalsSequence
    let reload: @Sendable () async -> Void

    func run() async throws {
        for await _ in signals.cancelOnGracefulShutdown() { await reload() }
    }
}

import CogJobStore
import CogScheduler
import Foundation
import Logging
import ServiceLifecycle

/// Keeps systemd informed while the daemon runs:
/// - `STATUS=` every `statusInterval`: queue counts from the database, busy workers and the
///   throughput of the last few minutes (what `systemctl status cogjobs` shows);
/// - `WATCHDOG=1` every quarter of `WatchdogSec`, but only while `WorkerPool.health` holds: a
///   worker stuck in one step for longer than the watchdog interval stops the pings, and systemd
///   restarts the daemon (the restarted daemon rescues the stuck job);
/// - `STOPPING=1` as soon as graceful shutdown begins (it is the last service in the group, so
///   it hears of the shutdown first).
final class StatusReporter: Service, Sendable {
    private let notifier: SystemdNotifier
    private let pool: WorkerPool
    private let store: JobStore
    private let statusInterval: Duration
    private let logger: Logger
    private let io = BlockingQueue(label: "cogjobs.status")

    init(notifier: SystemdNotifier, pool: WorkerPool, store: JobStore, statusInterval: Duration, logger: Logger) {
        self.notifier = notifier
        self.pool = pool
        self.store = store
        self.statusInterval = statusInterval
        self.logger = logger
    }

    func run() async throws {
        let watchdog: Duration?
        do {
            watchdog = try notifier.watchdogInterval()
        } catch {
            logger.error("systemd watchdog settings unusable, not pinging: \(error)")
            watchdog = nil
        }
        if let watchdog { logger.info("systemd watchdog every \(watchdog); pinging while workers make progress") }
        await withGracefulShutdownHandler {
            // The loops end when shutdown begins (cancellation), so the next service stops at once.
            await cancelWhenGracefulShutdown {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await self.statusLoop() }
                    if let watchdog { group.addTask { await self.watchdogLoop(interval: watchdog) } }
                }
            }
        } onGracefulShutdown: {
            self.send("STOPPING=1") { try self.notifier.stopping() }
        }
    }

    private func statusLoop() async {
        var samples: [(ContinuousClock.Instant, Int)] = []
        while !Task.isCancelled {
            let snapshot = pool.snapshot()
            let now = ContinuousClock.now
            samples.append((now, snapshot.counters.succeeded))
            samples.removeAll { now - $0.0 > .seconds(300) }
            let status = await io.run { [store] in Result { try store.status() } }
            var line: String
            switch status {
            case .success(let queue):
                let counts = queue.counts
                line = "queued \(counts[.queued] ?? 0), running \(counts[.running] ?? 0), "
                    + "retryable \(counts[.retryable] ?? 0), succeeded \(counts[.succeeded] ?? 0), "
                    + "failed \(counts[.failed] ?? 0), cancelled \(counts[.cancelled] ?? 0), "
                    + "quarantined \(counts[.quarantined] ?? 0)"
                if queue.paused { line += " (paused)" }
            case .failure(let error):
                line = "queue counts unavailable (\(error))"
            }
            line += "; \(snapshot.busyWorkers)/\(snapshot.workers.count) workers busy"
            if let first = samples.first, let last = samples.last, last.0 - first.0 >= .seconds(1) {
                let seconds = Self.seconds(last.0 - first.0)
                line += String(format: ", %.0f images/h", Double(last.1 - first.1) / seconds * 3600)
            }
            send("STATUS") { try self.notifier.status(line) }
            // Ends early on cancellation; the loop condition then stops it.
            try? await Task.sleep(for: statusInterval)  // ends early on cancellation
        }
    }

    private func watchdogLoop(interval: Duration) async {
        var wasHealthy = true
        while !Task.isCancelled {
            let health = pool.health(stallLimit: interval)
            if health.isHealthy {
                send("WATCHDOG=1") { try self.notifier.watchdog() }
                if !wasHealthy { logger.notice("workers make progress again; watchdog pings resumed") }
            } else if wasHealthy {
                logger.error("withholding systemd watchdog pings: \(health.problems.joined(separator: "; "))")
            }
            wasHealthy = health.isHealthy
            try? await Task.sleep(for: interval / 4)  // ends early on cancellation
        }
    }

    private func send(_ what: String, _ body: () throws -> Void) {
        do {
            try body()
        } catch {
            logger.warning("cannot send \(what) to systemd: \(error)")
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

import CogConfig
import CogJobStore
import CogScheduler
import Foundation
import Logging

/// What the daemon does with the worker pool's events: log them, run the post-commit actions for
/// watched folders (`FolderActions`), and — in tests only — kill the process at a crash point.
/// Runs synchronously on the pool's threads.
struct JobEventHandler: Sendable {
    let logger: Logger
    let settings: DaemonSettings
    let crash: CrashInjector
    /// Where a moved image's new path is recorded.
    let store: JobStore
    /// The identity of the model this daemon runs every job with (`ModelIdentity`).
    let modelIdentity: String
    /// Other copies of a finished job's image in watched folders, which get the same actions.
    let waitingCopies: WaitingCopies
    /// Told of every database error, so that a corrupt database stops the daemon.
    let databaseGuard: DatabaseFileGuard?

    func handle(_ event: SchedulerEvent) {
        switch event {
        case .started(let job, let worker):
            let line = "job \(job.id) started on worker \(worker): \(job.task) \(job.image.path) "
                + "(attempt \(job.attempt) of \(job.maxAttempts))"
            logger.info("\(line)")
            if job.model != modelIdentity {
                // The job's model is part of its duplicate check; the daemon has one model.
                let line = "job \(job.id) was enqueued for model \(job.model); it runs with this daemon's model "
                    + "\(modelIdentity), which its result records"
                logger.notice("\(line)")
            }
            crash.reached(.afterClaim)
        case .willComplete:
            crash.reached(.beforeCommit)
            crash.reached(.inCommit)
        case .finished(let finish):
            crash.resultWritten()
            log(finish)
            afterCommit(finish)
        case .leaseLost(let jobID, let worker):
            logger.warning("worker \(worker) lost its lease on job \(jobID); it stops without writing a result")
        case .rescued(let report):
            let line = "rescued jobs whose lease ran out: requeued \(report.requeued), failed \(report.failed), "
                + "quarantined \(report.quarantined), cancelled \(report.cancelled)"
            logger.warning("\(line)")
        case .storeError(let operation, let jobID, let error):
            logger.error("database error during \(operation)\(jobID.map { " of job \($0)" } ?? ""): \(error)")
            databaseGuard?.reportCorruption(error)
        }
    }

    private func log(_ finish: JobFinish) {
        let seconds = StatusReporter.seconds(finish.duration)
        let head = "job \(finish.job.id) (worker \(finish.worker), \(String(format: "%.2f", seconds)) s)"
        switch finish.outcome {
        case .succeeded(let resultID, let output):
            let line = "\(head) succeeded: result \(resultID), \(output.generatedTokens) tokens, "
                + "\(output.boxes.count) box(es)"
            logger.info("\(line)")
        case .failed(let failure):
            logger.warning("\(head) failed: \(failure.code): \(failure.message)")
        case .willRetry(let failure, let runAfter):
            logger.warning("\(head) will be retried after \(runAfter): \(failure.code): \(failure.message)")
        case .cancelled:
            logger.notice("\(head) cancelled")
        case .requeued:
            logger.notice("\(head) put back in the queue (shutdown)")
        case .abandoned(let reason):
            logger.warning("\(head) abandoned: \(reason)")
        }
    }

    /// Sidecars and moves for jobs of a watched folder: the image lies in the folder and the job
    /// has the folder's task and prompt (a job enqueued by hand for another task on the same image
    /// must not move it away or overwrite the folder's sidecar).
    private func folder(of job: ClaimedJob, at path: String) -> WatchedFolder? {
        guard let folder = FolderActions.folder(containing: path, in: settings.current.watch),
              folder.task.rawValue == job.task, (folder.prompt ?? "") == job.prompt else { return nil }
        return folder
    }

    private func afterCommit(_ finish: JobFinish) {
        let job = finish.job
        switch finish.outcome {
        case .succeeded(let resultID, let output):
            crash.reached(.afterCommitBeforeSidecar)
            for path in paths(of: job) {
                guard let folder = folder(of: job, at: path) else { continue }
                let content = SidecarContent(jobID: job.id, resultID: resultID, imagePath: path,
                                             imageSHA256: job.image.sha256, task: job.task, prompt: job.prompt,
                                             output: output)
                perform(job, path) { try FolderActions.afterSuccess(content, folder: folder) }
            }
        case .failed:
            for path in paths(of: job) {
                guard let folder = folder(of: job, at: path) else { continue }
                perform(job, path) {
                    try FolderActions.afterFailure(imagePath: path, jobID: job.id, imageSHA256: job.image.sha256,
                                                   folder: folder)
                }
            }
        case .cancelled:
            _ = waitingCopies.take(for: job.id)
        case .willRetry, .requeued, .abandoned:
            return  // copies wait for the job's end
        }
    }

    /// The job's image path, then the other copies of its content that arrived while it waited
    /// (still holding that content: a copy rewritten since belongs to a newer job).
    private func paths(of job: ClaimedJob) -> [String] {
        let copies = waitingCopies.take(for: job.id).filter { path in
            guard path != job.image.path else { return false }
            return (try? ImageIntake.inspect(URL(fileURLWithPath: path)).image.sha256) == job.image.sha256
        }
        return [job.image.path] + copies
    }

    private func perform(_ job: ClaimedJob, _ path: String, _ actions: () throws -> FolderActions.Report) {
        let report: FolderActions.Report
        do {
            report = try actions()
        } catch {
            logger.error("job \(job.id): post-commit action for \(path) failed (the result is stored): \(error)")
            return
        }
        if !report.done.isEmpty { logger.info("job \(job.id): \(report.done.joined(separator: "; "))") }
        if let movedTo = report.movedTo {
            do {
                try store.imageMoved(sha256: job.image.sha256, from: path, to: movedTo)
            } catch {
                logger.error("job \(job.id): moved its image to \(movedTo) but cannot record the new path: \(error)")
            }
        }
    }
}

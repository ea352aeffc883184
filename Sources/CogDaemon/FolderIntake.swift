import CogConfig
import CogJobStore
import CogWatcher
import Foundation
import Glibc
import Logging
import ServiceLifecycle
import Synchronization

/// The watched folders: a `DirectoryWatcher` over the configured folders, feeding every complete
/// file through `ImageIntake` into the queue, and waking the workers after each new job.
///
/// - `start()` (before the daemon reports ready) puts the watches in place, then scans the
///   folders for what arrived while the daemon was stopped. Watching before scanning means a
///   file finished during the scan is reported by its event too; deduplication makes that safe.
/// - `run()` consumes watcher events until graceful shutdown: files are enqueued one at a time on
///   a dedicated queue (hashing is blocking work), a `rescanNeeded` (inotify overflow, a root
///   that came back) rescans that folder, watcher errors are logged.
/// - `apply(_:)` (SIGHUP) swaps in a watcher for a new folder list; if the new one cannot start,
///   the old one keeps running and the error is returned.
/// A file seen again after its job finished is reconciled (`FolderActions`): a missing sidecar is
/// written, a configured move is done.
final class FolderIntake: Service, Sendable {
    private struct State: Sendable {
        var watcher: DirectoryWatcher?
        /// Watched folder settings by the watcher root's path.
        var folders: [String: WatchedFolder] = [:]
        var stopped = false
    }

    private let store: JobStore
    private let intake: ImageIntake
    private let settings: DaemonSettings
    private let wakeWorkers: @Sendable () -> Void
    private let logger: Logger
    private let io = BlockingQueue(label: "cogjobs.intake")
    private let state = Mutex(State())
    /// Copies of images whose job has not finished (see `WaitingCopies`).
    private let waitingCopies: WaitingCopies

    init(store: JobStore, intake: ImageIntake, settings: DaemonSettings, logger: Logger,
         waitingCopies: WaitingCopies = WaitingCopies(), wakeWorkers: @escaping @Sendable () -> Void) {
        self.store = store
        self.intake = intake
        self.settings = settings
        self.logger = logger
        self.waitingCopies = waitingCopies
        self.wakeWorkers = wakeWorkers
    }

    // MARK: Start, reload, stop

    /// Watches the configured folders and enqueues their current contents.
    func start() async throws(DaemonError) {
        let folders = settings.current.watch
        guard !folders.isEmpty else {
            logger.info("no watched folders configured; jobs come from `cogjobs enqueue` only")
            return
        }
        let (watcher, byRoot) = try Self.makeWatcher(folders)
        state.withLock { state in
            state.watcher = watcher
            state.folders = byRoot
        }
        logger.info("watching \(folders.count) folder(s): \(folders.map(\.path).joined(separator: ", "))")
        await scan(watcher.roots)
    }

    /// Switches to `configuration`'s folders. Throws (keeping the current watcher) if the new
    /// watcher cannot start, e.g. a folder does not exist.
    func apply(_ configuration: CogjobsConfiguration) async throws(DaemonError) {
        let folders = configuration.watch
        let current = state.withLock { $0.folders }
        if Set(current.values.map(\.path)) == Set(folders.map(\.path)), current.count == folders.count,
           folders.allSatisfy({ current[Self.root(for: $0).url.path] == $0 }) {
            return  // same folders, same settings
        }
        var replacement: DirectoryWatcher? = nil
        var byRoot: [String: WatchedFolder] = [:]
        if !folders.isEmpty { (replacement, byRoot) = try Self.makeWatcher(folders) }
        let old = state.withLock { state -> DirectoryWatcher? in
            let old = state.watcher
            state.watcher = replacement
            state.folders = byRoot
            return old
        }
        old?.stop()
        logger.info("now watching \(folders.count) folder(s): \(folders.map(\.path).joined(separator: ", "))")
        if let replacement { await scan(replacement.roots) }
    }

    private func stopAll() {
        let watcher = state.withLock { state -> DirectoryWatcher? in
            state.stopped = true
            return state.watcher
        }
        watcher?.stop()
    }

    private static func root(for folder: WatchedFolder) -> WatchRoot {
        var ignore = folder.ignore
        if folder.sidecar != .none { ignore.append("*.\(folder.sidecar.rawValue)") }  // never our own output
        let filter = FileFilter(ignoreHidden: true, temporaryPatterns: folder.temporaryPatterns,
                                ignorePatterns: ignore, extensions: Set(folder.normalizedExtensions))
        return WatchRoot(URL(fileURLWithPath: folder.path, isDirectory: true), recursive: folder.recursive,
                         filter: filter)
    }

    private static func makeWatcher(_ folders: [WatchedFolder]) throws(DaemonError)
        -> (DirectoryWatcher, [String: WatchedFolder])
    {
        let roots = folders.map(root(for:))
        let watcher = DirectoryWatcher(roots: roots)
        do {
            try watcher.start()
        } catch {
            throw DaemonError(code: .startFailed, message: "cannot watch the configured folders: \(error.message)",
                              subject: error.path ?? "watch", cause: error.code.rawValue)
        }
        var byRoot: [String: WatchedFolder] = [:]
        for (root, folder) in zip(roots, folders) { byRoot[root.url.path] = folder }
        return (watcher, byRoot)
    }

    // MARK: Service

    func run() async throws {
        await withGracefulShutdownHandler {
            while true {
                let (watcher, stopped) = state.withLock { ($0.watcher, $0.stopped) }
                if stopped { return }
                guard let watcher else {
                    // No folders (yet): a reload may add some. Cancellation ends the sleep early, which is fine.
                    try? await Task.sleep(for: .milliseconds(200))  // cancellation ends the wait; checked below
                    if Task.isCancelled { return }
                    continue
                }
                for await event in watcher.events { await handle(event) }
                // The stream ended: replaced by a reload, stopped for shutdown, or failed.
                let (current, nowStopped) = state.withLock { ($0.watcher, $0.stopped) }
                if nowStopped || Task.isCancelled { return }
                if current === watcher {
                    logger.error("the directory watcher stopped unexpectedly; restarting it in 5 s")
                    try? await Task.sleep(for: .seconds(5))  // cancellation ends the wait; checked next loop
                    await restart(after: watcher)
                }
            }
        } onGracefulShutdown: {
            self.stopAll()
        }
    }

    /// Replaces a watcher that died with a fresh one over the same folders.
    private func restart(after dead: DirectoryWatcher) async {
        let folders = state.withLock { Array($0.folders.values) }
        do {
            let (watcher, byRoot) = try Self.makeWatcher(folders)
            let replaced = state.withLock { state -> Bool in
                guard state.watcher === dead, !state.stopped else { return false }
                state.watcher = watcher
                state.folders = byRoot
                return true
            }
            if replaced { await scan(watcher.roots) } else { watcher.stop() }
        } catch {
            logger.error("cannot restart the directory watcher: \(error)")
        }
    }

    // MARK: Events

    private func handle(_ event: WatchEvent) async {
        switch event {
        case .file(let file):
            await ingest(file)
        case .rescanNeeded(let root):
            logger.notice("rescanning \(root.path) (events were lost or the folder came back)")
            let roots = state.withLock { $0.watcher?.roots ?? [] }.filter { $0.url.path == root.path }
            await scan(roots)
        case .error(let error):
            logger.warning("watcher: \(error)")
        }
    }

    /// Lists `roots` and ingests every file found.
    private func scan(_ roots: [WatchRoot]) async {
        for root in roots {
            let result = await io.run { () -> Result<ScanResult, WatcherError> in
                do throws(WatcherError) { return .success(try root.scan()) } catch { return .failure(error) }
            }
            switch result {
            case .success(let scan):
                for problem in scan.problems { logger.warning("scan of \(root.url.path): \(problem)") }
                if !scan.files.isEmpty { logger.info("found \(scan.files.count) file(s) in \(root.url.path)") }
                for file in scan.files { await ingest(file) }
            case .failure(let error):
                logger.error("cannot scan \(root.url.path): \(error)")
            }
        }
    }

    /// Enqueues one file (or reconciles it with its finished job).
    ///
    /// Two guards against producers that close a file before it is complete:
    /// - an empty file is held for `emptyFileSettle` and enqueued only if it is still empty and
    ///   unchanged then (creating a file and filling it later reports an empty `CLOSE_WRITE`
    ///   first; a file that really is empty still gets its failed job);
    /// - when a new version of a file is enqueued, queued jobs of this folder's task for older
    ///   contents of the same path are cancelled as superseded. (A version a worker already
    ///   claimed runs to its end; a partial file then fails with the decoder's error.)
    private func ingest(_ file: WatchedFile, settled: Bool = false) async {
        guard let folder = state.withLock({ $0.folders[file.root.path] }) else { return }
        let spec = ImageIntake.JobSpec(task: folder.task.rawValue, prompt: folder.prompt ?? "",
                                       priority: folder.priority, paramsJSON: settings.paramsJSON)
        for attempt in 1...3 {
            typealias Outcome = Result<(ImageIntake.Inspection, EnqueueOutcome?), any Error>
            let outcome = await io.run { [intake, store] () -> Outcome in
                Result {
                    let inspection = try ImageIntake.inspect(file.url)
                    if inspection.image.byteSize == 0 && !settled { return (inspection, nil) }
                    return (inspection, try store.enqueue(intake.request(for: inspection, spec: spec)))
                }
            }
            switch outcome {
            case .success((_, nil)):
                holdEmptyFile(file)
                return
            case .success((let inspection, .enqueued(let jobID))):
                // The job's image path becomes the last name its content is seen under; this
                // name keeps its folder actions if a copy arrives before the job ends.
                waitingCopies.add(file.url.path, for: jobID)
                wakeWorkers()
                await forgetEndedCopies()
                var line = "enqueued job \(jobID) for \(file.url.path)"
                if let problem = inspection.headerProblem {
                    line += " (header unreadable, the job will fail: \(problem))"
                }
                logger.info("\(line)")
                await supersedeOlderVersions(of: inspection.image, by: jobID, spec: spec)
                return
            case .success((_, .duplicate(let jobID, let jobState))):
                switch jobState {
                case .queued, .running, .retryable:
                    // Its actions come when the job finishes (JobEventHandler takes the copy).
                    waitingCopies.add(file.url.path, for: jobID)
                    let line = "\(file.url.path) is already job \(jobID) (\(jobState.rawValue)); its folder actions "
                        + "follow the job's"
                    logger.debug("\(line)")
                case .cancelled, .failed, .quarantined:
                    let line = "\(file.url.path) is already job \(jobID) (\(jobState.rawValue)); run it again with "
                        + "`cogjobs retry \(jobID)`"
                    logger.info("\(line)")
                case .succeeded:
                    logger.debug("\(file.url.path) is already job \(jobID) (succeeded)")
                }
                await reconcile(file.url.path, jobID: jobID, state: jobState, folder: folder)
                return
            case .failure(let error as DaemonError) where error.code == .fileMissing:
                logger.debug("\(file.url.path) vanished before it could be enqueued")
                return
            case .failure(let error as JobStoreError) where error.code == .busy && attempt < 3:
                logger.warning("database busy while enqueueing \(file.url.path); retrying")
                try? await Task.sleep(for: .seconds(1))  // cancellation just shortens the pause
            case .failure(let error):
                logger.error("cannot enqueue \(file.url.path): \(error); the next scan (restart) picks it up")
                return
            }
        }
    }

    /// How long an empty file must stay empty before it is enqueued (and fails as empty).
    static let emptyFileSettle: Duration = .seconds(1)

    /// Enqueues `file` after `emptyFileSettle` if it is still there, still empty and unchanged.
    private func holdEmptyFile(_ file: WatchedFile) {
        let before = Self.status(of: file.url.path)
        logger.debug("\(file.url.path) is empty; checking again in \(Self.emptyFileSettle)")
        Task {
            try? await Task.sleep(for: Self.emptyFileSettle)  // cancellation (shutdown) ends the wait early
            guard !self.state.withLock({ $0.stopped }), let before, Self.status(of: file.url.path) == before else {
                return  // filled (its own CLOSE_WRITE brings it), replaced or deleted meanwhile
            }
            await self.ingest(file, settled: true)
        }
    }

    /// Size and modification time, to tell whether a file changed.
    private static func status(of path: String) -> [Int]? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return [Int(info.st_size), info.st_mtim.tv_sec, info.st_mtim.tv_nsec, Int(info.st_ino)]
    }

    /// Cancels queued jobs of the same task and prompt for earlier contents of `image.path`.
    private func supersedeOlderVersions(of image: ImageInfo, by jobID: Int64, spec: ImageIntake.JobSpec) async {
        let result = await io.run { [store] () -> Result<[Int64], any Error> in
            Result {
                let rows = try store.query("""
                    SELECT j.id FROM jobs j JOIN images i ON i.id = j.image_id
                    WHERE i.path = ? AND i.sha256 <> ? AND j.task = ? AND j.prompt = ? AND j.id <> ?
                      AND j.state IN ('queued', 'retryable')
                    """, [image.path, image.sha256, spec.task, spec.prompt, jobID])
                let ids = rows.compactMap { $0.first?.int64 }
                for id in ids { try store.cancel(jobID: id, supersededBy: jobID) }
                return ids
            }
        }
        switch result {
        case .success(let ids) where !ids.isEmpty:
            let line = "\(image.path) changed: cancelled job(s) \(ids) for its earlier content, "
                + "superseded by job \(jobID)"
            logger.notice("\(line)")
        case .success:
            break
        case .failure(let error):
            logger.warning("cannot cancel the superseded jobs of \(image.path): \(error)")
        }
    }

    /// Keeps `waitingCopies` bounded: once it holds more than `WaitingCopies.checkAbove` jobs, the
    /// ones that are no longer waiting or running (ended without a finish event here) are dropped.
    private func forgetEndedCopies() async {
        let ids = waitingCopies.jobIDs
        guard ids.count > WaitingCopies.checkAbove else { return }
        let result = await io.run { [store] () -> Result<[Int64], any Error> in
            Result {
                var pending = Swift.Set<Int64>()
                for row in try store.query("SELECT id FROM jobs WHERE state IN ('queued', 'running', 'retryable')") {
                    if let id = row.first?.int64 { pending.insert(id) }
                }
                return ids.filter { !pending.contains($0) }
            }
        }
        switch result {
        case .success(let ended): waitingCopies.forget(ended)
        case .failure(let error): logger.warning("cannot check which jobs ended: \(error)")
        }
    }

    /// A finished job's image showed up again: perform post-commit actions that are missing.
    private func reconcile(_ path: String, jobID: Int64, state: JobState, folder: WatchedFolder) async {
        let needsSuccessActions = state == .succeeded && (folder.moveDoneTo != nil || (folder.sidecar != .none
            && !FileManager.default.fileExists(atPath: FolderActions.sidecarPath(for: path, format: folder.sidecar))))
        let needsFailureActions = (state == .failed || state == .quarantined) && folder.moveFailedTo != nil
        guard needsSuccessActions || needsFailureActions else { return }
        let result = await io.run { [store] () -> Result<[String], any Error> in
            Result {
                let detail = try store.job(id: jobID)
                let report: FolderActions.Report
                if needsFailureActions {
                    report = try FolderActions.afterFailure(imagePath: path, jobID: jobID, folder: folder)
                } else {
                    guard let detail, let stored = detail.result else { return [] }
                    let content = SidecarContent(jobID: jobID, resultID: stored.id, imagePath: path,
                                                 imageSHA256: detail.job.imageSHA256, task: detail.job.task,
                                                 prompt: detail.job.prompt, output: stored.output)
                    report = try FolderActions.afterSuccess(content, folder: folder)
                }
                if let movedTo = report.movedTo, let detail {
                    try store.imageMoved(sha256: detail.job.imageSHA256, from: path, to: movedTo)
                }
                return report.done
            }
        }
        switch result {
        case .success(let actions) where !actions.isEmpty:
            logger.info("job \(jobID) (\(state.rawValue)), seen again: \(actions.joined(separator: "; "))")
        case .success:
            break
        case .failure(let error):
            logger.error("job \(jobID): cannot finish the post-commit actions for \(path): \(error)")
        }
    }
}

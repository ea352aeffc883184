import CogConfig
import CogJobStore
import CogPipeline
import CogWatcher
import Foundation
import Glibc
import Logging
import ServiceLifecycle
import Synchronization

/// The watched folders: a `DirectoryWatcher` over the configured folders, feeding every complete
/// file through `ImageIntake` into the queue, and waking the workers after each new job.
///
/// - `start()` (before the daemon reports ready) checks the folders' prompts, puts the watches in
///   place, then scans the folders for what arrived while the daemon was stopped. Watching before
///   scanning means a file finished during the scan is reported by its event too; deduplication
///   makes that safe.
/// - `run()` until graceful shutdown: consumes watcher events (a `rescanNeeded` — inotify
///   overflow, a root that came back — rescans that folder, watcher errors are logged); takes
///   every file seen once it has been unchanged for `settleQuietPeriod` (`SettlingFiles`) and
///   enqueues it on a dedicated queue (hashing is blocking work); retries the files the database
///   refused for a reason of its own (`DeferredFiles`) until they are in.
/// - `apply(_:)` (SIGHUP) swaps in a watcher for a new folder list; if the new one cannot start,
///   the old one keeps running and the error is returned.
/// A file seen again after its job finished is reconciled (`FolderActions`): a missing or stale
/// sidecar is written, a configured move is done.
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
    /// Told of every database error the intake meets (the daemon passes it to `DatabaseFileGuard`).
    private let onDatabaseError: @Sendable (JobStoreError) -> Void
    private let logger: Logger
    private let io = BlockingQueue(label: "cogjobs.intake")
    private let state = Mutex(State())
    /// Copies of images whose job has not finished (see `WaitingCopies`).
    private let waitingCopies: WaitingCopies
    /// Files waiting out their quiet period before they are hashed (see `SettlingFiles`).
    private let settling = SettlingFiles(quietPeriod: FolderIntake.settleQuietPeriod)
    /// Files the database could not take yet, retried until it does (see `DeferredFiles`).
    private let deferred = DeferredFiles()

    init(store: JobStore, intake: ImageIntake, settings: DaemonSettings, logger: Logger,
         waitingCopies: WaitingCopies = WaitingCopies(), wakeWorkers: @escaping @Sendable () -> Void,
         onDatabaseError: @escaping @Sendable (JobStoreError) -> Void = { _ in }) {
        self.store = store
        self.intake = intake
        self.settings = settings
        self.logger = logger
        self.waitingCopies = waitingCopies
        self.wakeWorkers = wakeWorkers
        self.onDatabaseError = onDatabaseError
    }

    // MARK: Start, reload, stop

    /// Watches the configured folders and enqueues their current contents.
    func start() async throws(DaemonError) {
        let folders = settings.current.watch
        guard !folders.isEmpty else {
            logger.info("no watched folders configured; jobs come from `cogjobs enqueue` only")
            return
        }
        try Self.checkPrompts(folders)
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
        try Self.checkPrompts(folders)
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

    /// Refuses a `describe-box` folder whose prompt is not a box: every one of its jobs would fail
    /// with `pipeline.bad_box`. (The configuration check knows nothing of boxes; the parser is the
    /// one the model executor uses, on the prompt trimmed the same way.)
    static func checkPrompts(_ folders: [WatchedFolder]) throws(DaemonError) {
        for (index, folder) in folders.enumerated() where folder.task == .describeBox {
            let prompt = (folder.prompt ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
            do {
                _ = try CogPipeline.GroundingBox(parsing: prompt)
            } catch {
                throw DaemonError(code: .invalidConfiguration,
                                  message: "task `describe-box` takes the region to describe as its prompt, "
                                      + "x0,y0,x1,y1 in 0–999 thousandths of the image (e.g. \"086,540,400,760\"); "
                                      + "\"\(folder.prompt ?? "")\" is not one",
                                  subject: "watch[\(index)].prompt", cause: "\(error)")
            }
        }
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
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.consumeEvents() }
                group.addTask { await self.settleLoop() }
                group.addTask { await self.retryDeferredLoop() }
            }
            let waiting = self.deferred.count + self.settling.count
            if waiting > 0 {
                let line = "\(waiting) file(s) in watched folders were not enqueued yet (waiting for the database or "
                    + "to stop changing); the next start-up scan picks them up"
                self.logger.notice("\(line)")
            }
        } onGracefulShutdown: {
            self.stopAll()
        }
    }

    private var isStopped: Bool { state.withLock { $0.stopped } }

    /// Sleeps `duration` in short slices, returning early (false) once the intake stops.
    private func pause(_ duration: Duration) async -> Bool {
        let deadline = ContinuousClock.now + duration
        while ContinuousClock.now < deadline {
            if isStopped || Task.isCancelled { return false }
            // Cancellation ends the sleep early; the loop condition then returns.
            try? await Task.sleep(for: min(.milliseconds(100), deadline - .now))
        }
        return !isStopped && !Task.isCancelled
    }

    /// Feeds watcher events into `handle` until shutdown, replacing a watcher that died.
    private func consumeEvents() async {
        while true {
            let (watcher, stopped) = state.withLock { ($0.watcher, $0.stopped) }
            if stopped { return }
            guard let watcher else {
                // No folders (yet): a reload may add some.
                guard await pause(.milliseconds(200)) else { return }
                continue
            }
            for await event in watcher.events { await handle(event) }
            // The stream ended: replaced by a reload, stopped for shutdown, or failed.
            let (current, nowStopped) = state.withLock { ($0.watcher, $0.stopped) }
            if nowStopped || Task.isCancelled { return }
            if current === watcher {
                logger.error("the directory watcher stopped unexpectedly; restarting it in 5 s")
                guard await pause(.seconds(5)) else { return }
                await restart(after: watcher)
            }
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
            await observe([file])
        case .rescanNeeded(let root):
            logger.notice("rescanning \(root.path) (events were lost or the folder came back)")
            await rescan(rootPaths: [root.path])
        case .error(let error):
            logger.warning("watcher: \(error)")
        }
    }

    /// Scans the watched roots with these paths (those still watched).
    private func rescan(rootPaths: [String]) async {
        let roots = state.withLock { $0.watcher?.roots ?? [] }.filter { rootPaths.contains($0.url.path) }
        await scan(roots)
    }

    /// Lists `roots` and starts the quiet period of every file found.
    private func scan(_ roots: [WatchRoot]) async {
        for root in roots {
            let result = await io.run { () -> Result<ScanResult, WatcherError> in
                do throws(WatcherError) { return .success(try root.scan()) } catch { return .failure(error) }
            }
            switch result {
            case .success(let scan):
                for problem in scan.problems { logger.warning("scan of \(root.url.path): \(problem)") }
                if !scan.files.isEmpty { logger.info("found \(scan.files.count) file(s) in \(root.url.path)") }
                await observe(scan.files)
            case .failure(let error):
                logger.error("cannot scan \(root.url.path): \(error)")
            }
        }
    }

    // MARK: Settling

    /// How long a file must stay unchanged (size, modification time, inode) after its
    /// `CLOSE_WRITE` / `MOVED_TO` event or the scan that found it before it is hashed and enqueued,
    /// when its folder does not say (`watch[].settle_seconds`). A producer that writes a file in
    /// rounds with pauses shorter than this gets one job, for the finished file; one that pauses
    /// longer gets a job for what it had written then.
    static let settleQuietPeriod: Duration = .milliseconds(Int64(ConfigDefaults.settleSeconds * 1000))

    /// The quiet period of the watched folder `file` arrived in (`watch[].settle_seconds`).
    private func quietPeriod(for file: WatchedFile) -> Duration {
        guard let folder = FolderActions.folder(containing: file.url.path, in: settings.current.watch) else {
            return Self.settleQuietPeriod
        }
        return .milliseconds(Int64((folder.settleSeconds * 1000).rounded()))
    }
    /// How often files waiting out their quiet period are checked.
    static let settleTick: Duration = .milliseconds(100)

    /// Starts the quiet period of `files` (see `SettlingFiles`).
    private func observe(_ files: [WatchedFile]) async {
        let statuses = await io.run { files.map { SettlingFiles.Status.of($0.url.path) } }
        let now = ContinuousClock.now
        for (file, status) in zip(files, statuses) {
            guard let status else {
                logger.debug("\(file.url.path) vanished before it could be enqueued")
                continue
            }
            settling.add(file, status: status, at: now, quietPeriod: quietPeriod(for: file))
        }
    }

    /// Takes every file whose quiet period passed unchanged; sends changed ones round again.
    private func settleLoop() async {
        while await pause(Self.settleTick) {
            let due = settling.takeDue(at: .now)
            if due.isEmpty { continue }
            let statuses = await io.run { due.map { SettlingFiles.Status.of($0.file.url.path) } }
            for (entry, status) in zip(due, statuses) {
                if isStopped { return }
                let path = entry.file.url.path
                guard let status else {
                    logger.debug("\(path) vanished before it could be enqueued")
                    continue
                }
                guard status == entry.status else {
                    if entry.changes == 0 {
                        let line = "\(path) is still being written (\(entry.status) → \(status)); it is taken "
                            + "once it stays unchanged for \(entry.quietPeriod)"
                        logger.info("\(line)")
                    }
                    settling.add(entry.file, status: status, at: .now, changes: entry.changes + 1,
                                 quietPeriod: entry.quietPeriod)
                    continue
                }
                await take(entry.file, status: status)
            }
        }
    }

    /// A settled file: enqueued now, or — while files wait for the database — put behind them.
    private func take(_ file: WatchedFile, status: SettlingFiles.Status) async {
        if let waiting = deferred.waiting.first {
            park(file, reason: waiting.reason, warning: nil)
            return
        }
        await ingest(file, expected: status, deferredEntry: nil)
    }

    // MARK: Deferred files

    /// Retries the deferred files, oldest first, with `DeferredFiles.backoff` between rounds; a
    /// round stops at the first file the database still refuses.
    private func retryDeferredLoop() async {
        var round = 0  // 0: nothing deferred; n: the next try comes after `backoff(round: n)`
        var episodeStart: ContinuousClock.Instant? = nil
        while await pause(round == 0 ? .milliseconds(200) : DeferredFiles.backoff(round: round)) {
            guard !deferred.isEmpty else {
                round = 0
                continue
            }
            if round == 0 {  // just deferred: the database refused a moment ago, so wait before trying
                round = 1
                episodeStart = episodeStart ?? .now
                continue
            }
            var refused = false, progressed = false
            for entry in deferred.waiting {
                if isStopped { return }
                if await ingest(entry.file, expected: nil, deferredEntry: entry) == .deferred {
                    refused = true
                    break
                }
                progressed = true
            }
            if refused {
                round = progressed ? 1 : round + 1
            } else if deferred.count == 0 {
                let roots = deferred.takeOverflowRoots()
                var line = "the job database takes jobs again: every deferred file is enqueued"
                if let episodeStart { line += " (after \(Self.seconds(.now - episodeStart)))" }
                if !roots.isEmpty {
                    line += "; rescanning \(roots.joined(separator: ", ")) for the files that did not fit"
                }
                logger.notice("\(line)")
                round = 0
                episodeStart = nil
                if !roots.isEmpty { await rescan(rootPaths: roots) }
            } else {
                round = 1  // files added during the round
            }
        }
    }

    private static func seconds(_ duration: Duration) -> String {
        String(format: "%.1f s", Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
    }

    /// Keeps `file` for a retry after the store refused it with `error` (a `DeferredFiles.retriedCodes` code).
    private func deferFile(_ file: WatchedFile, error: JobStoreError) {
        onDatabaseError(error)  // a corrupt database stops the daemon (DatabaseFileGuard)
        park(file, reason: error.code,
             warning: "cannot enqueue \(file.url.path) now: \(error). The file is kept and retried every few "
                + "seconds until the database takes it (or the file is gone)")
    }

    /// Puts `file` among the files waiting for the database. The first one of an outage is logged
    /// as `warning` (when given); the others at debug level only — an outage with thousands of files
    /// arriving must not flood the log.
    private func park(_ file: WatchedFile, reason: JobStoreError.Code, warning: String?) {
        switch deferred.add(file, reason: reason, at: .now) {
        case .added where deferred.count == 1 && warning != nil:
            logger.warning("\(warning ?? "")")
        case .added:
            let line = "\(file.url.path) waits with \(deferred.count - 1) other file(s) for the job database "
                + "(\(reason)); it is enqueued when the database takes jobs again"
            logger.debug("\(line)")
        case .alreadyWaiting:
            break
        case .overflowed(let first):
            if first { logOverflow(file) }
        }
    }

    private func logOverflow(_ file: WatchedFile) {
        let line = "more than \(deferred.capacity) files wait for the job database; \(file.root.path) is "
            + "rescanned when the database takes jobs again, which picks up the rest"
        logger.error("\(line)")
    }

    // MARK: Intake

    /// What `ingest` did with a file.
    private enum IngestResult: Equatable {
        /// Enqueued, matched to an existing job, gone, or failed for a reason a retry does not cure.
        case done
        /// The database refused it for now; it is in `deferred`.
        case deferred
        /// It changed while it was read; it waits out a new quiet period.
        case changed
    }

    /// Enqueues one settled file (or reconciles it with its finished job).
    ///
    /// `expected`: the status the file settled with (nil for a retry of a deferred file). The file's
    /// status is compared before and after hashing; a file that changed meanwhile goes back to
    /// settling. When a new version of a file is enqueued, queued jobs of this folder's task for
    /// older contents of the same path are cancelled as superseded. (A version a worker already
    /// claimed runs to its end; a partial file then fails with the decoder's error.)
    @discardableResult
    private func ingest(_ file: WatchedFile, expected: SettlingFiles.Status?,
                        deferredEntry: DeferredFiles.Entry?) async -> IngestResult {
        let path = file.url.path
        guard let folder = state.withLock({ $0.folders[file.root.path] }) else {
            deferred.remove(path)  // no longer watched
            return .done
        }
        let spec = ImageIntake.JobSpec(task: folder.task.rawValue, prompt: folder.prompt ?? "",
                                       priority: folder.priority, paramsJSON: settings.paramsJSON)
        typealias Outcome = Result<(ImageIntake.Inspection, EnqueueOutcome)?, any Error>
        let outcome = await io.run { [intake, store] () -> Outcome in
            Result {
                let before = SettlingFiles.Status.of(path)
                if let expected, let before, before != expected { return nil }
                let inspection = try ImageIntake.inspect(file.url)
                guard SettlingFiles.Status.of(path) == before else { return nil }  // written while hashed
                return (inspection, try store.enqueue(intake.request(for: inspection, spec: spec)))
            }
        }
        if case .failure(let error as JobStoreError) = outcome, DeferredFiles.retriedCodes.contains(error.code) {
            if deferredEntry == nil { deferFile(file, error: error) }
            return .deferred
        }
        deferred.remove(path)
        switch outcome {
        case .success(nil):
            logger.debug("\(path) changed while it was read; waiting until it is unchanged")
            if let status = SettlingFiles.Status.of(path) {
                settling.add(file, status: status, at: .now, changes: 1, quietPeriod: quietPeriod(for: file))
            }
            return .changed
        case .success((let inspection, .enqueued(let jobID))?):
            // The job's image path becomes the last name its content is seen under; this
            // name keeps its folder actions if a copy arrives before the job ends.
            waitingCopies.add(path, for: jobID)
            wakeWorkers()
            await forgetEndedCopies()
            var line = "enqueued job \(jobID) for \(path)"
            if let deferredEntry {
                line += " (deferred \(Self.seconds(.now - deferredEntry.since)) by \(deferredEntry.reason))"
            }
            if let problem = inspection.headerProblem {
                line += " (header unreadable, the job will fail: \(problem))"
            }
            logger.info("\(line)")
            await supersedeOlderVersions(of: inspection.image, by: jobID, spec: spec)
        case .success((_, .duplicate(let jobID, let jobState))?):
            switch jobState {
            case .queued, .running, .retryable:
                // Its actions come when the job finishes (JobEventHandler takes the copy).
                waitingCopies.add(path, for: jobID)
                let line = "\(path) is already job \(jobID) (\(jobState.rawValue)); its folder actions follow the job's"
                logger.debug("\(line)")
            case .cancelled, .failed, .quarantined:
                let line = "\(path) is already job \(jobID) (\(jobState.rawValue)); run it again with "
                    + "`cogjobs retry \(jobID)`"
                logger.info("\(line)")
            case .succeeded:
                logger.debug("\(path) is already job \(jobID) (succeeded)")
            }
            if let deferredEntry {
                logger.info("\(path), deferred by \(deferredEntry.reason), is in the queue now: job \(jobID)")
            }
            await reconcile(path, jobID: jobID, state: jobState, folder: folder)
        case .failure(let error as DaemonError) where error.code == .fileMissing:
            logger.debug("\(path) vanished before it could be enqueued")
        case .failure(let error):
            let line = "cannot enqueue \(path): \(error); it is taken when it is written again or at the next "
                + "start-up scan"
            logger.error("\(line)")
        }
        return .done
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

    /// A finished job's image showed up again: perform post-commit actions that are missing. For a
    /// succeeded job that means a missing sidecar, or one that describes other content (the file
    /// held other bytes in between, A → B → A: the sidecar still has B's result) — the job's
    /// result is reused for the file and its sidecar rewritten — and a configured move.
    private func reconcile(_ path: String, jobID: Int64, state: JobState, folder: WatchedFolder) async {
        let needsSuccessActions = state == .succeeded && (folder.moveDoneTo != nil || folder.sidecar != .none)
        let needsFailureActions = (state == .failed || state == .quarantined) && folder.moveFailedTo != nil
        guard needsSuccessActions || needsFailureActions else { return }
        let result = await io.run { [store] () -> Result<(done: [String], staleSidecar: Bool), any Error> in
            Result {
                let detail = try store.job(id: jobID)
                let report: FolderActions.Report
                var staleSidecar = false
                if needsFailureActions {
                    report = try FolderActions.afterFailure(imagePath: path, jobID: jobID,
                                                            imageSHA256: detail?.job.imageSHA256, folder: folder)
                } else {
                    guard let detail, let stored = detail.result else { return ([], false) }
                    let content = SidecarContent(jobID: jobID, resultID: stored.id, imagePath: path,
                                                 imageSHA256: detail.job.imageSHA256, task: detail.job.task,
                                                 prompt: detail.job.prompt, output: stored.output)
                    if folder.moveDoneTo == nil {
                        switch FolderActions.sidecarState(for: content, format: folder.sidecar) {
                        case .current: return ([], false)
                        case .missing: break
                        case .otherContent: staleSidecar = true
                        }
                    }
                    report = try FolderActions.afterSuccess(content, folder: folder)
                }
                if let movedTo = report.movedTo, let detail {
                    try store.imageMoved(sha256: detail.job.imageSHA256, from: path, to: movedTo)
                }
                return (report.done, staleSidecar)
            }
        }
        switch result {
        case .success(let report) where report.staleSidecar:
            let line = "\(path) has the content of job \(jobID) (succeeded) again; its result is reused and the "
                + "sidecar, which held another content's result, rewritten: \(report.done.joined(separator: "; "))"
            logger.info("\(line)")
        case .success(let report) where !report.done.isEmpty:
            logger.info("job \(jobID) (\(state.rawValue)), seen again: \(report.done.joined(separator: "; "))")
        case .success:
            break
        case .failure(let error):
            logger.error("job \(jobID): cannot finish the post-commit actions for \(path): \(error)")
        }
    }
}

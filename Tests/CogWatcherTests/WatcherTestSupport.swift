import Foundation
import Synchronization
import SystemPackage

@testable import CogWatcher

/// Collects a watcher's events on a background task so tests can wait for them with a deadline
/// instead of sleeping.
final class EventCollector: Sendable {
    private struct Log {
        var events: [WatchEvent] = []
        var finished = false
    }

    private let log = Mutex(Log())

    init(_ stream: AsyncStream<WatchEvent>) {
        // The task keeps the collector alive until the stream finishes.
        Task {
            for await event in stream { self.log.withLock { $0.events.append(event) } }
            self.log.withLock { $0.finished = true }
        }
    }

    /// Every event so far.
    var events: [WatchEvent] { log.withLock { $0.events } }
    /// Whether the stream has finished.
    var finished: Bool { log.withLock { $0.finished } }

    /// How long the waits below give the watcher. Generous on purpose: every wait returns as soon
    /// as its condition holds, and under `swift test --parallel` the model tests' synchronous work
    /// can starve this collector's task (on the cooperative pool) for tens of seconds — a 5 s
    /// deadline failed a clean-clone run after 48 s of starvation.
    static let patience: Duration = .seconds(60)

    /// Waits until `condition` holds for the events so far, or the deadline passes.
    /// Returns whether it held.
    @discardableResult
    func wait(timeout: Duration = EventCollector.patience, until condition: ([WatchEvent]) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(events) { return true }
            try? await Task.sleep(for: .milliseconds(5))  // polling interval; cancellation just ends the wait early
        }
        return condition(events)
    }

    /// Waits until the stream finishes; returns whether it did before the deadline.
    func waitForFinish(timeout: Duration = EventCollector.patience) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if finished { return true }
            try? await Task.sleep(for: .milliseconds(2))  // polling interval; see above
        }
        return finished
    }

    /// The relative paths of the reported files, in order, relative to `root`.
    func reportedFiles(under root: URL) -> [String] {
        events.compactMap { event in
            guard case .file(let file) = event else { return nil }
            let prefix = root.path + "/"
            return file.url.path.hasPrefix(prefix) ? String(file.url.path.dropFirst(prefix.count)) : file.url.path
        }
    }

    /// Waits until a file with this relative path has been reported (at least once).
    func waitForFile(_ relativePath: String, under root: URL,
                     timeout: Duration = EventCollector.patience) async -> Bool {
        await wait(timeout: timeout) { _ in reportedFiles(under: root).contains(relativePath) }
    }
}

/// A temporary folder for one test, removed by `remove()`.
struct Scratch {
    let url: URL

    init(_ label: String) throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("cogjobs-\(label)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ relative: String) -> String { url.path + "/" + relative }

    func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
    }

    /// Writes a file with plain open/write/close (one `IN_CLOSE_WRITE`, no temp-file rename).
    func write(_ relative: String, bytes: Int = 64) throws {
        let fd = try FileDescriptor.open(FilePath(path(relative)), .writeOnly, options: [.create, .truncate],
                                         permissions: [.ownerReadWrite])
        defer { try? fd.close() }
        _ = try fd.writeAll(Array(repeating: UInt8(ascii: "x"), count: bytes))
    }

    func rename(_ from: String, to: String) throws {
        guard Foundation.rename(from, to) == 0 else { throw Errno(rawValue: errno) }
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)  // best effort: it is a temporary folder
    }
}

@testable import CogCLI
import CogJobStore
import CogWatcher
import Foundation
import Testing

/// What `status`, `list`, `results` and `show` print about jobs whose state is not what it seems
/// (a worker process gone, a lease run out, a paused queue) and about image paths that hold
/// control characters.
@Suite("cogjobs status / list: dead workers, paused ETA, control characters")
struct QueueDisplayTests {
    static func image(_ path: String) -> ImageInfo {
        ImageInfo(sha256: SHA256.hexDigest(path), path: path, width: 10, height: 10, format: "png", byteSize: 10)
    }

    @Test func statusFlagsGoneWorkersAndExpiredLeasesAndHasNoETAWhilePaused() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let store = try db.open()
        // The sample's queued job, claimed by a process of this machine that no longer exists.
        let me = OwnerIdentity.current()
        let gone = OwnerIdentity(host: me.host, pid: Int32.max - 7, bootID: me.bootID, startTime: 1).description
        let claimed = try #require(try store.claim(owner: gone, leaseDuration: .seconds(600)))
        // Another job whose lease (held from another machine) has run out.
        _ = try store.enqueue(EnqueueRequest(image: Self.image("/photos/late.png"), task: "caption",
                                             prompt: "Describe the image.", model: "m"))
        let stale = try #require(try store.claim(owner: "elsewhere:1:boot:1", leaseDuration: .milliseconds(1)))
        usleep(20_000)
        _ = try store.enqueue(EnqueueRequest(image: Self.image("/photos/next.png"), task: "caption",
                                             prompt: "Describe the image.", model: "m"))
        try store.pause()

        let run = await CLI.run(["status", "--database", db.path])
        #expect(run.status == 0, "\(run)")
        let lines = run.standardOutput.split(separator: "\n").map(String.init)
        let goneRow = try #require(lines.first { $0.hasPrefix("\(claimed.id) ") }, "\(run)")
        #expect(goneRow.contains("(process gone: the job is rescued when a daemon starts)"), "\(goneRow)")
        let staleRow = try #require(lines.first { $0.hasPrefix("\(stale.id) ") }, "\(run)")
        #expect(staleRow.contains("(lease expired"), "\(staleRow)")
        let liveRow = try #require(lines.first { $0.hasPrefix("\(db.running) ") }, "\(run)")
        #expect(!liveRow.contains("(process gone") && !liveRow.contains("(lease expired"), "another host's live lease")
        #expect(lines.contains { $0.hasPrefix("ETA:        none while paused (") }, "\(run)")
        let json = try (await CLI.run(["status", "--database", db.path, "--json"])).json()
        #expect(json["eta_seconds"] is NSNull, "no ETA while paused")
        let running = field(json, "running", as: [[String: Any]].self) ?? []
        let notes = Dictionary(uniqueKeysWithValues: running.map {
            (field($0, "id", as: Int64.self) ?? -1, $0["worker_note"] as? String ?? "")
        })
        #expect(notes[claimed.id]?.hasPrefix("process gone") == true, "\(notes)")
        #expect(notes[stale.id]?.hasPrefix("lease expired") == true, "\(notes)")
        #expect(notes[db.running] == "", "null for a live lease: \(notes)")
    }

    @Test func controlCharactersInImagePathsAreEscaped() async throws {
        let db = try SampleDatabase()
        defer { db.remove() }
        let store = try db.open()
        let path = "/photos/evil\n999 succeeded caption fake.png"
        let id = try store.enqueue(EnqueueRequest(image: Self.image(path), task: "caption",
                                                  prompt: "Describe the image.", model: "m")).jobID
        let list = await CLI.run(["list", "--database", db.path])
        #expect(list.status == 0, "\(list)")
        #expect(!list.standardOutput.split(separator: "\n").contains { $0.hasPrefix("999 ") }, "no fake row: \(list)")
        #expect(list.standardOutput.contains("/photos/evil\\n999 succeeded caption fake.png"), "\(list)")
        let show = await CLI.run(["show", String(id), "--database", db.path])
        #expect(show.standardOutput.contains("/photos/evil\\n999"), "\(show)")
        // JSON keeps the path as it is (JSON escapes it itself).
        let json = try (await CLI.run(["list", "--database", db.path, "--json"])).json()
        let paths = (field(json, "jobs", as: [[String: Any]].self) ?? []).compactMap { field($0, "image_path", as: String.self) }
        #expect(paths.contains(path))
        #expect(PrintableText.escapingControlCharacters("a\tb\u{7F}c\r") == "a\\tb\\x7Fc\\r")
        #expect(PrintableText.escapingControlCharacters("cat\u{202E}gpj.exe") == "cat\\u{202E}gpj.exe")
    }
}

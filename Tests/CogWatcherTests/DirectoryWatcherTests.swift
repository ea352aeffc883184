import Foundation
import SystemPackage
import Testing

@testable import CogWatcher

/// Real inotify in temporary folders. Negative checks ("X was not reported") use a sentinel file
/// written after X: inotify delivers events in order, so once the sentinel is reported every event
/// X could have caused has been delivered too.
@Suite("DirectoryWatcher")
struct DirectoryWatcherTests {
    /// Short timers so settle and retry paths finish quickly.
    static let fastOptions = DirectoryWatcher.Options(settleInterval: .milliseconds(150),
                                                      rootRetryInterval: .milliseconds(100))

    private func startWatcher(_ root: URL, recursive: Bool = true, filter: FileFilter = FileFilter())
        throws -> (DirectoryWatcher, EventCollector)
    {
        let watcher = DirectoryWatcher(roots: [WatchRoot(root, recursive: recursive, filter: filter)],
                                       options: Self.fastOptions)
        try watcher.start()
        return (watcher, EventCollector(watcher.events))
    }

    @Test("a file written slowly in chunks is reported once, only after it is closed")
    func slowWriteReportedOnceAfterClose() async throws {
        let scratch = try Scratch("slow")
        defer { scratch.remove() }
        let (watcher, collector) = try startWatcher(scratch.url)
        defer { watcher.stop() }

        let fd = try FileDescriptor.open(FilePath(scratch.path("slow.jpg")), .writeOnly, options: [.create],
                                         permissions: [.ownerReadWrite])
        for _ in 0..<5 {
            _ = try fd.writeAll(Array(repeating: UInt8(0xAB), count: 4096))
            try await Task.sleep(for: .milliseconds(20))
        }
        // While it is still open: a sentinel gets through, the slow file does not.
        try scratch.write("sentinel-1.jpg")
        #expect(await collector.waitForFile("sentinel-1.jpg", under: scratch.url))
        #expect(!collector.reportedFiles(under: scratch.url).contains("slow.jpg"))

        try fd.close()
        #expect(await collector.waitForFile("slow.jpg", under: scratch.url))
        try scratch.write("sentinel-2.jpg")
        #expect(await collector.waitForFile("sentinel-2.jpg", under: scratch.url))
        #expect(collector.reportedFiles(under: scratch.url) == ["sentinel-1.jpg", "slow.jpg", "sentinel-2.jpg"])
    }

    @Test("files renamed in from outside the root and from hidden or temporary names are reported")
    func movedInFilesReported() async throws {
        let scratch = try Scratch("moved")
        defer { scratch.remove() }
        try scratch.mkdir("root")
        try scratch.mkdir("outside")
        let root = scratch.url.appendingPathComponent("root", isDirectory: true)
        let (watcher, collector) = try startWatcher(root)
        defer { watcher.stop() }

        try scratch.write("outside/from-outside.jpg")
        try scratch.rename(scratch.path("outside/from-outside.jpg"), to: scratch.path("root/from-outside.jpg"))
        try scratch.write("root/.upload-1234.jpg")
        try scratch.rename(scratch.path("root/.upload-1234.jpg"), to: scratch.path("root/from-hidden.jpg"))
        try scratch.write("root/download.png.part")
        try scratch.rename(scratch.path("root/download.png.part"), to: scratch.path("root/download.png"))
        try scratch.write("root/sentinel.jpg")

        #expect(await collector.waitForFile("sentinel.jpg", under: root))
        #expect(collector.reportedFiles(under: root)
                    == ["from-outside.jpg", "from-hidden.jpg", "download.png", "sentinel.jpg"])
        for case .file(let file) in collector.events { #expect(file.root.path == root.path) }
    }

    @Test("hidden, temporary, ignored and other-extension names are not reported")
    func filteredNamesNotReported() async throws {
        let scratch = try Scratch("filtered")
        defer { scratch.remove() }
        let filter = FileFilter(ignorePatterns: ["skip-*", "@eaDir", "raw/*.png"])
        let (watcher, collector) = try startWatcher(scratch.url, filter: filter)
        defer { watcher.stop() }

        for name in [".hidden.jpg", "a.jpg.tmp", "b.jpg.part", "c.jpg.crdownload", "d.jpg~", ".#e.jpg",
                     "f.JPG.TMP", "skip-me.jpg", "notes.txt", "no-extension"] {
            try scratch.write(name)
        }
        try scratch.mkdir("@eaDir")
        try scratch.mkdir(".thumbnails")
        try scratch.mkdir("raw")
        try scratch.write("@eaDir/thumb.jpg")
        try scratch.write(".thumbnails/t.jpg")
        try scratch.write("raw/excluded.png")
        try scratch.write("raw/kept.jpg")
        try scratch.write("UPPER.JPG")
        try scratch.write("sentinel.jpg")

        #expect(await collector.waitForFile("sentinel.jpg", under: scratch.url))
        // raw/kept.jpg is in a folder that may have been created before its watch: then it is found
        // by the folder's listing and reported after the settle interval, later than the sentinel.
        #expect(await collector.waitForFile("raw/kept.jpg", under: scratch.url))
        let reported = collector.reportedFiles(under: scratch.url).sorted()
        #expect(reported == ["UPPER.JPG", "raw/kept.jpg", "sentinel.jpg"])
    }

    @Test("a subfolder created after start is watched, and files in it are reported")
    func newSubfolderFilesReported() async throws {
        let scratch = try Scratch("subfolder")
        defer { scratch.remove() }
        let (watcher, collector) = try startWatcher(scratch.url)
        defer { watcher.stop() }

        // Written right after mkdir: the file may predate the watch, then the settle scan finds it.
        try scratch.mkdir("a")
        try scratch.write("a/first.jpg")
        try scratch.mkdir("b/c/d")
        try scratch.write("b/c/d/deep.png")
        #expect(await collector.waitForFile("a/first.jpg", under: scratch.url))
        #expect(await collector.waitForFile("b/c/d/deep.png", under: scratch.url))

        // Once watched, later files are reported through their close event.
        try scratch.write("b/c/later.jpg")
        #expect(await collector.waitForFile("b/c/later.jpg", under: scratch.url))
    }

    @Test("a folder moved in with files in it reports them after they settle, and is then watched")
    func directoryMovedInReportsItsFiles() async throws {
        let scratch = try Scratch("dirmove")
        defer { scratch.remove() }
        try scratch.mkdir("root")
        try scratch.mkdir("outside/album/sub")
        try scratch.write("outside/album/one.jpg")
        try scratch.write("outside/album/sub/two.png")
        try scratch.write("outside/album/.hidden.jpg")
        let root = scratch.url.appendingPathComponent("root", isDirectory: true)
        let (watcher, collector) = try startWatcher(root)
        defer { watcher.stop() }

        try scratch.rename(scratch.path("outside/album"), to: scratch.path("root/album"))
        #expect(await collector.waitForFile("album/one.jpg", under: root))
        #expect(await collector.waitForFile("album/sub/two.png", under: root))
        try scratch.write("root/album/sub/three.jpg")
        #expect(await collector.waitForFile("album/sub/three.jpg", under: root))
        #expect(collector.reportedFiles(under: root).sorted()
                    == ["album/one.jpg", "album/sub/three.jpg", "album/sub/two.png"])
    }

    @Test("a renamed subfolder reports new files under its new name; one moved away is no longer watched")
    func subfolderRenamedAndMovedAway() async throws {
        let scratch = try Scratch("rename")
        defer { scratch.remove() }
        try scratch.mkdir("root/sub")
        try scratch.mkdir("outside")
        let root = scratch.url.appendingPathComponent("root", isDirectory: true)
        let (watcher, collector) = try startWatcher(root)
        defer { watcher.stop() }

        try scratch.rename(scratch.path("root/sub"), to: scratch.path("root/renamed"))
        try scratch.write("root/renamed/a.jpg")
        #expect(await collector.waitForFile("renamed/a.jpg", under: root))

        try scratch.rename(scratch.path("root/renamed"), to: scratch.path("outside/renamed"))
        try scratch.write("outside/renamed/b.jpg")
        try scratch.write("root/sentinel.jpg")
        #expect(await collector.waitForFile("sentinel.jpg", under: root))
        #expect(collector.reportedFiles(under: root) == ["renamed/a.jpg", "sentinel.jpg"])
    }

    @Test("a non-recursive root ignores subfolders, in events and in scans")
    func nonRecursiveIgnoresSubfolders() async throws {
        let scratch = try Scratch("flat")
        defer { scratch.remove() }
        try scratch.mkdir("existing")
        try scratch.write("existing/old.jpg")
        try scratch.write("old-top.jpg")
        let (watcher, collector) = try startWatcher(scratch.url, recursive: false)
        defer { watcher.stop() }

        try scratch.mkdir("sub")
        try scratch.write("sub/x.jpg")
        try scratch.write("existing/y.jpg")
        try scratch.write("top.jpg")
        #expect(await collector.waitForFile("top.jpg", under: scratch.url))
        #expect(collector.reportedFiles(under: scratch.url) == ["top.jpg"])

        let scanned = watcher.scan().files.map(\.relativePath)
        #expect(scanned == ["old-top.jpg", "top.jpg"])
    }

    @Test("scan() lists pre-existing files with the same filters, sorted, without following symlinks")
    func scanFindsExistingFiles() throws {
        let scratch = try Scratch("scan")
        defer { scratch.remove() }
        try scratch.mkdir("root/2024/june")
        try scratch.mkdir("root/.git")
        try scratch.mkdir("root/@eaDir")
        try scratch.mkdir("elsewhere")
        for name in ["root/b.jpg", "root/a.PNG", "root/2024/c.jpeg", "root/2024/june/d.jpg", "root/.hidden.jpg",
                     "root/e.jpg.part", "root/readme.md", "root/.git/f.jpg", "root/@eaDir/g.jpg",
                     "elsewhere/h.jpg"] {
            try scratch.write(name)
        }
        try FileManager.default.createSymbolicLink(atPath: scratch.path("root/link"),
                                                   withDestinationPath: scratch.path("elsewhere"))
        try FileManager.default.createSymbolicLink(atPath: scratch.path("root/link.jpg"),
                                                   withDestinationPath: scratch.path("elsewhere/h.jpg"))
        let root = WatchRoot(scratch.url.appendingPathComponent("root"),
                             filter: FileFilter(ignorePatterns: ["@eaDir"]))

        let result = try root.scan()
        #expect(result.problems.isEmpty)
        #expect(result.files.map(\.relativePath) == ["2024/c.jpeg", "2024/june/d.jpg", "a.PNG", "b.jpg"])
        #expect(result.files.allSatisfy { $0.root.path == root.url.path })

        let flat = WatchRoot(root.url, recursive: false, filter: root.filter)
        #expect(try flat.scan().files.map(\.relativePath) == ["a.PNG", "b.jpg"])

        let anyExtension = WatchRoot(root.url, filter: FileFilter(ignorePatterns: ["@eaDir"], extensions: []))
        #expect(try anyExtension.scan().files.map(\.relativePath).contains("readme.md"))
    }

    @Test("stop() ends the event stream promptly")
    func stopEndsStreamPromptly() async throws {
        let scratch = try Scratch("stop")
        defer { scratch.remove() }
        let (watcher, collector) = try startWatcher(scratch.url)
        let clock = ContinuousClock()
        let started = clock.now
        watcher.stop()
        // No wall-clock bound: in a full parallel test run, CPU-bound suites keep both cores and
        // the cooperative pool (which delivers the stream's end) busy for many seconds. A watcher
        // that did not wake its blocking read on stop() would never finish at all.
        #expect(await collector.waitForFinish(timeout: .seconds(60)))
        print("stop() → stream finished after \(clock.now - started)")
        watcher.stop()  // idempotent

        // A watcher stopped before it started finishes its stream too, and cannot be started.
        let unused = DirectoryWatcher(roots: [WatchRoot(scratch.url)])
        let unusedCollector = EventCollector(unused.events)
        unused.stop()
        #expect(await unusedCollector.waitForFinish(timeout: .seconds(2)))
        #expect(throws: WatcherError.self) { try unused.start() }
    }

    @Test("bad roots give precise errors")
    func badRootErrors() throws {
        let scratch = try Scratch("errors")
        defer { scratch.remove() }
        try scratch.write("plain-file.jpg")
        let missing = scratch.url.appendingPathComponent("does-not-exist")

        let missingError = #expect(throws: WatcherError.self) {
            try DirectoryWatcher(roots: [WatchRoot(missing)]).start()
        }
        #expect(missingError?.code == .rootMissing)
        #expect(missingError?.path == missing.path)
        #expect(missingError?.description.contains("does not exist") == true)

        let fileError = #expect(throws: WatcherError.self) {
            try DirectoryWatcher(roots: [WatchRoot(URL(fileURLWithPath: scratch.path("plain-file.jpg")))]).start()
        }
        #expect(fileError?.code == .notADirectory)

        try scratch.mkdir("outer/inner")
        let overlapError = #expect(throws: WatcherError.self) {
            try DirectoryWatcher(roots: [WatchRoot(scratch.url.appendingPathComponent("outer")),
                                         WatchRoot(scratch.url.appendingPathComponent("outer/inner"))]).start()
        }
        #expect(overlapError?.code == .overlappingRoots)
        // A non-recursive outer root does not overlap with a folder inside it.
        let flatOuter = DirectoryWatcher(roots: [
            WatchRoot(scratch.url.appendingPathComponent("outer"), recursive: false),
            WatchRoot(scratch.url.appendingPathComponent("outer/inner")),
        ])
        try flatOuter.start()
        flatOuter.stop()

        let twice = DirectoryWatcher(roots: [WatchRoot(scratch.url)])
        try twice.start()
        defer { twice.stop() }
        let twiceError = #expect(throws: WatcherError.self) { try twice.start() }
        #expect(twiceError?.code == .alreadyStarted)

        let scanError = #expect(throws: WatcherError.self) { try WatchRoot(missing).scan() }
        #expect(scanError?.code == .rootMissing)
    }

    @Test("files in several roots are reported with their own root")
    func severalRoots() async throws {
        let scratch = try Scratch("roots")
        defer { scratch.remove() }
        try scratch.mkdir("one")
        try scratch.mkdir("two")
        let one = scratch.url.appendingPathComponent("one", isDirectory: true)
        let two = scratch.url.appendingPathComponent("two", isDirectory: true)
        let watcher = DirectoryWatcher(roots: [WatchRoot(one), WatchRoot(two, recursive: false)],
                                       options: Self.fastOptions)
        try watcher.start()
        defer { watcher.stop() }
        let collector = EventCollector(watcher.events)

        try scratch.write("one/a.jpg")
        try scratch.write("two/b.jpg")
        #expect(await collector.wait { events in events.count >= 2 })
        let roots = collector.events.compactMap { event -> [String]? in
            guard case .file(let file) = event else { return nil }
            return [file.url.lastPathComponent, file.root.lastPathComponent]
        }
        #expect(roots == [["a.jpg", "one"], ["b.jpg", "two"]])
    }

    @Test("a name that is not UTF-8 is reported with the folder and the name, escaped, and skipped")
    func nonUTF8NameIsNamed() async throws {
        let scratch = try Scratch("utf8")
        defer { scratch.remove() }
        let (watcher, collector) = try startWatcher(scratch.url)
        defer { watcher.stop() }
        // "bad\xFF\nname.jpg": an invalid byte and a newline.
        let raw: [UInt8] = Array("bad".utf8) + [0xFF, 0x0A] + Array("name.jpg".utf8)
        let path = Array(scratch.url.path.utf8) + [UInt8(ascii: "/")] + raw + [0]
        let fd = path.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { open($0, O_CREAT | O_WRONLY, 0o644) }
        }
        #expect(fd >= 0)
        close(fd)
        #expect(await collector.wait { events in
            events.contains { if case .error(let error) = $0 { error.code == .unsupportedName } else { false } }
        })
        let error = collector.events.compactMap { event -> WatcherError? in
            if case .error(let error) = event, error.code == .unsupportedName { error } else { nil }
        }.first
        #expect(error?.path == scratch.url.path + "/bad\\xFF\\nname.jpg", "\(String(describing: error))")
        #expect(!(error?.description.contains("\n") ?? true), "one log line")
        #expect(PrintableText.fileName(Array("é.jpg".utf8)) == "é.jpg")
        #expect(PrintableText.fileName([0x61, 0x09, 0xC3]) == "a\\t\\xC3")
    }

    @Test("a deleted root is reported, and watched again with a rescan request when it comes back")
    func vanishedRootComesBack() async throws {
        let scratch = try Scratch("vanish")
        defer { scratch.remove() }
        try scratch.mkdir("root/sub")
        let root = scratch.url.appendingPathComponent("root", isDirectory: true)
        let (watcher, collector) = try startWatcher(root)
        defer { watcher.stop() }

        try FileManager.default.removeItem(at: root)
        #expect(await collector.wait { events in
            events.contains { if case .error(let error) = $0 { error.code == .rootVanished } else { false } }
        })
        try scratch.mkdir("root")
        #expect(await collector.wait { events in events.contains(.rescanNeeded(root: WatchRoot(root).url)) })
        try scratch.write("root/back.jpg")
        #expect(await collector.waitForFile("back.jpg", under: root))
        let vanishedReports = collector.events.filter {
            if case .error(let error) = $0 { error.code == .rootVanished } else { false }
        }
        #expect(vanishedReports.count == 1)
    }

    @Test("a queue overflow re-adds missing watches and asks for a rescan of every root")
    func overflowAsksForRescan() async throws {
        let scratch = try Scratch("overflow")
        defer { scratch.remove() }
        try scratch.mkdir("one/old-name")
        try scratch.mkdir("one/doomed")
        try scratch.mkdir("two")
        let roots = [WatchRoot(scratch.url.appendingPathComponent("one")),
                     WatchRoot(scratch.url.appendingPathComponent("two"))]
        let (stream, continuation) = AsyncStream.makeStream(of: WatchEvent.self)
        let inotify = try Inotify.open()
        defer { inotify.close() }
        let loop = InotifyLoop(inotify: inotify, wake: try WakeSignal(), roots: roots,
                               options: Self.fastOptions, continuation: continuation)
        #expect(try loop.watchRoots().isEmpty)
        #expect(loop.directories.count == 4)

        // Changes whose events are lost in the overflow (the loop never reads them here): a new
        // folder, a renamed one and a deleted one.
        try scratch.mkdir("one/missed")
        try scratch.rename(scratch.path("one/old-name"), to: scratch.path("one/new-name"))
        try FileManager.default.removeItem(atPath: scratch.path("one/doomed"))
        loop.handle(InotifyEvent(watchDescriptor: -1, mask: .queueOverflow, cookie: 0, nameBytes: []))
        continuation.finish()

        #expect(Set(loop.directories.values.map(\.relativePath)) == ["", "missed", "new-name"])
        var events: [WatchEvent] = []
        for await event in stream { events.append(event) }
        #expect(events == roots.map { WatchEvent.rescanNeeded(root: $0.url) })
    }

    @Test("packed inotify records decode, including names padded with NULs")
    func decodeRecords() {
        var bytes: [UInt8] = []
        func append(wd: Int32, mask: UInt32, cookie: UInt32, name: String, paddedTo length: Int) {
            withUnsafeBytes(of: wd.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: mask.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: cookie.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: UInt32(length).littleEndian) { bytes += $0 }
            var nameBytes = Array(name.utf8)
            nameBytes += Array(repeating: 0, count: length - nameBytes.count)
            bytes += nameBytes
        }
        append(wd: 3, mask: InotifyMask.closeWrite.rawValue, cookie: 0, name: "cat.jpg", paddedTo: 16)
        append(wd: 4, mask: InotifyMask([.movedTo, .isDirectory]).rawValue, cookie: 77, name: "album", paddedTo: 16)
        append(wd: -1, mask: InotifyMask.queueOverflow.rawValue, cookie: 0, name: "", paddedTo: 0)

        let events = bytes.withUnsafeBytes { InotifyEvent.decode($0) }
        #expect(events.count == 3)
        #expect(events[0] == InotifyEvent(watchDescriptor: 3, mask: .closeWrite, cookie: 0,
                                          nameBytes: Array("cat.jpg".utf8)))
        #expect(events[1].name == "album")
        #expect(events[1].mask.contains(.isDirectory))
        #expect(events[1].cookie == 77)
        #expect(events[2].mask == .queueOverflow)
        #expect(events[2].watchDescriptor == -1)
    }

    @Test("filter rules", arguments: [
        ("photo.jpg", true), ("photo.JPEG", true), ("photo.png", true), ("photo.gif", false),
        (".photo.jpg", false), ("photo.jpg.tmp", false), ("photo.jpg.PART", false), ("photo.crdownload", false),
        ("photo.jpg~", false), (".#photo.jpg", false), ("sub/photo.jpg", true), (".sub/photo.jpg", false),
        ("skip/photo.jpg", false), ("keep/skip-this.jpg", false), ("keep/raw/x.png", false),
        ("raw/x.png", false), ("raw/deeper/x.png", true), ("jpg", false),
    ])
    func filterRules(path: String, accepted: Bool) {
        var filter = FileFilter(ignorePatterns: ["skip", "skip-*", "raw/*.png", "*/raw/*.png"])
        #expect(filter.acceptsFile(relativePath: path) == accepted)
        filter.extensions = [".JPG", "Jpeg", "png"]  // normalized when set
        #expect(filter.acceptsFile(relativePath: path) == accepted)
    }
}

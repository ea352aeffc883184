import CogConfig
import CogJobStore
import CogScheduler
import CogTestSupport
import Foundation
import Testing

@testable import CogDaemon

@Suite("Image intake and helpers")
struct IntakeTests {
    @Test("StreamingSHA256 matches the FIPS 180-4 vectors, the store's SHA256 and sha256sum, in any chunking")
    func sha256() throws {
        func hex(_ text: String) -> String { Array(text.utf8).withUnsafeBytes { StreamingSHA256.hexDigest($0) } }
        #expect(hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var generator = SystemRandomNumberGenerator()
        for length in [1, 55, 56, 63, 64, 65, 119, 120, 1000, 4099] {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let whole = bytes.withUnsafeBytes { StreamingSHA256.hexDigest($0) }
            #expect(whole == CogJobStore.SHA256.hexDigest(bytes), "length \(length)")
            var pieces = StreamingSHA256()
            var offset = 0
            while offset < bytes.count {
                let step = Int.random(in: 1...70, using: &generator)
                pieces.update(Array(bytes[offset..<min(bytes.count, offset + step)]))
                offset += step
            }
            #expect(pieces.finalizeHex() == whole, "length \(length) in random pieces")
        }
        // The same bytes through a file, against coreutils.
        let directory = try Fixtures.temporaryDirectory("sha")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        let file = directory.appendingPathComponent("noise.bin")
        try Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) }).write(to: file)
        let inspection = try ImageIntake.inspect(file)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        process.arguments = [file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        process.waitUntilExit()
        let expected = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64)
        #expect(inspection.image.sha256 == String(expected))
        #expect(inspection.image.byteSize == 3_000_000)
    }

    @Test("StreamingSHA256 throughput (run with -c release for the number that matters)")
    func sha256Throughput() {
        #if DEBUG
        let mebibytes = 2  // unoptimized code hashes a few MB/s; keep the debug run short
        #else
        let mebibytes = 64
        #endif
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: mebibytes << 20, alignment: 16)
        defer { buffer.deallocate() }
        for index in 0..<buffer.count { buffer[index] = UInt8(truncatingIfNeeded: index &* 31) }
        var hasher = StreamingSHA256()
        let start = ContinuousClock.now
        for offset in stride(from: 0, to: buffer.count, by: 1 << 20) {
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + (1 << 20)]))
        }
        _ = hasher.finalize()
        let seconds = milliseconds(.now - start) / 1000
        #if DEBUG
        let build = "debug"
        #else
        let build = "release"
        #endif
        print(String(format: "StreamingSHA256: %.0f MiB/s (%@ build, %d MiB in 1 MiB chunks)",
                     Double(mebibytes) / seconds, build, mebibytes))
        #expect(seconds > 0)
    }

    @Test("inspect reads size, format and dimensions; unreadable headers are reported, not rejected")
    func inspect() throws {
        let directory = try Fixtures.temporaryDirectory("inspect")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        let jpeg = directory.appendingPathComponent("a.jpg")
        try TestImages.jpeg(3, width: 40, height: 24).write(to: jpeg)
        let good = try ImageIntake.inspect(jpeg)
        #expect(good.image.width == 40 && good.image.height == 24 && good.image.format == "jpeg")
        #expect(good.headerProblem == nil)
        #expect(good.image.path == jpeg.path)

        let broken = directory.appendingPathComponent("b.jpg")
        try Data("hello".utf8).write(to: broken)
        let bad = try ImageIntake.inspect(broken)
        #expect(bad.image.width == nil && bad.image.format == nil)
        #expect(bad.headerProblem?.contains("image.unknown_format") == true)

        #expect(throws: DaemonError.self) { try ImageIntake.inspect(directory.appendingPathComponent("missing.jpg")) }
        do {
            _ = try ImageIntake.inspect(directory)
            Issue.record("a folder must not be inspected as an image")
        } catch {
            #expect(error.code == .fileUnreadable)
        }
    }

    /// `cogjobs enqueue` on a FIFO used to wait forever in open(2) for a writer.
    @Test("inspect refuses a named pipe at once", .timeLimit(.minutes(1)))
    func inspectRefusesAPipe() throws {
        try Fixtures.withTemporaryDirectory("inspect-fifo") { directory in
            let fifo = directory.appendingPathComponent("pipe.jpg")
            try #require(mkfifo(fifo.path, 0o600) == 0)
            do {
                _ = try ImageIntake.inspect(fifo)
                Issue.record("a pipe must not be inspected as an image")
            } catch let error as DaemonError {
                #expect(error.code == .fileUnreadable)
                #expect(error.message.contains("not a regular file"), "\(error)")
            }
        }
    }

    @Test("model identity: directory name plus a hash of config.json and the shard index")
    func modelIdentity() throws {
        let identity = try ModelIdentity.of(directory: Fixtures.cogvlmTiny)
        #expect(identity.hasPrefix("cogvlm-tiny@") && identity.count == "cogvlm-tiny@".count + 12)
        #expect(try ModelIdentity.of(directory: Fixtures.cogvlmTiny) == identity)
        #expect(try ModelIdentity.of(directory: Fixtures.cogvlm2Tiny) != identity)
        let directory = try Fixtures.temporaryDirectory("identity")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        #expect(throws: DaemonError.self) { try ModelIdentity.of(directory: directory) }
    }

    @Test("sidecars are written atomically next to the image; folder matching follows recursion")
    func folderActions() throws {
        let directory = try Fixtures.temporaryDirectory("actions")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        let inbox = directory.appendingPathComponent("inbox").path
        let done = directory.appendingPathComponent("done").path
        try FileManager.default.createDirectory(atPath: inbox + "/sub", withIntermediateDirectories: true)
        let flat = WatchedFolder(path: inbox, task: .caption, recursive: false, moveDoneTo: done, sidecar: .json)
        #expect(FolderActions.folder(containing: inbox + "/a.jpg", in: [flat]) == flat)
        #expect(FolderActions.folder(containing: inbox + "/sub/a.jpg", in: [flat]) == nil)
        #expect(FolderActions.folder(containing: directory.path + "/other/a.jpg", in: [flat]) == nil)

        let image = inbox + "/a.jpg"
        try TestImages.jpeg(1).write(to: URL(fileURLWithPath: image))
        let box = GroundingBox(phrase: "a cat", x0: 100, y0: 100, x1: 500, y1: 500, imageWidth: 16, imageHeight: 16)
        let output = JobOutput(text: "a cat", rawOutput: "a cat[[100,100,500,500]]", promptTokens: 5,
                               generatedTokens: 4, model: "m@1", boxes: [box])
        let content = SidecarContent(jobID: 7, resultID: 3, imagePath: image,
                                     imageSHA256: String(repeating: "a", count: 64), task: "caption", prompt: "",
                                     output: output)
        let actions = try FolderActions.afterSuccess(content, folder: flat)
        #expect(actions.done == ["moved to \(done)/a.jpg", "wrote \(done)/a.jpg.json"])
        #expect(actions.movedTo == "\(done)/a.jpg")
        #expect(!FileManager.default.fileExists(atPath: image))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: done + "/a.jpg.json")))
            as? [String: Any]
        #expect(json?["job_id"] as? Int == 7 && json?["text"] as? String == "a cat")
        #expect(json?["prompt"] is NSNull, "the task's default prompt is null, not \"\"")
        // The Box record of every JSON output; image_path names the image where it now is.
        let first = (json?["boxes"] as? [[String: Any]])?.first
        #expect(["x0", "y0", "x1", "y1"].compactMap { first?[$0] as? Int } == [100, 100, 500, 500])
        #expect(["px_x0", "px_y0", "px_x1", "px_y1"].compactMap { first?[$0] as? Double } == [1.6, 1.6, 8, 8])
        #expect(first?["phrase"] as? String == "a cat")
        #expect(json?["image_path"] as? String == "\(done)/a.jpg")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: done).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "no temporary files left behind")

        // A second image with the same name does not overwrite the first one in the done folder.
        try TestImages.jpeg(2).write(to: URL(fileURLWithPath: image))
        let moved = try FolderActions.move(image, from: flat, to: done, jobID: 9)
        #expect(moved == done + "/a-job9.jpg")
    }

    @Test("box markup is removed from the cleaned text")
    func boxMarkupRemoval() {
        #expect(ModelJobExecutor.removingBoxGroups("A dog[[100,200,300,400]] on a mat[[010,020,030,040;1,2,3,4]].")
                == "A dog on a mat.")
        #expect(ModelJobExecutor.removingBoxGroups("[[1,2,3,4]]") == "")
        #expect(ModelJobExecutor.removingBoxGroups("unclosed [[1,2 here") == "unclosed [[1,2 here")
    }

    @Test("test switches parse, and reject values they do not understand")
    func testSwitches() throws {
        let switches = try TestSwitches.from(environment: ["COGJOBS_TEST_EXECUTOR": "echo",
                                                           "COGJOBS_TEST_CRASH_POINT": "in-commit",
                                                           "COGJOBS_TEST_CRASH_AFTER": "2"])
        #expect(switches.useEchoExecutor && switches.crashPoint == .inCommit && switches.crashAfter == 2)
        #expect(switches.activeVariables.count == 3)
        #expect(throws: DaemonError.self) {
            try TestSwitches.from(environment: ["COGJOBS_TEST_CRASH_POINT": "nowhere"])
        }
        #expect(throws: DaemonError.self) { try TestSwitches.from(environment: ["COGJOBS_TEST_EXECUTOR": "model"]) }
        #expect(try TestSwitches.from(environment: [:]) == TestSwitches())
    }
}

@Suite("Waiting copies")
struct WaitingCopiesTests {
    @Test("copies are kept per job once each, taken once, and forgotten on request")
    func bookkeeping() {
        let copies = WaitingCopies()
        copies.add("/in/a.jpg", for: 1)
        copies.add("/in/b.jpg", for: 1)
        copies.add("/in/a.jpg", for: 1)
        copies.add("/in/c.jpg", for: 2)
        copies.add("/in/d.jpg", for: 3)
        #expect(copies.jobIDs.sorted() == [1, 2, 3])
        #expect(copies.take(for: 1) == ["/in/a.jpg", "/in/b.jpg"])
        #expect(copies.take(for: 1).isEmpty)
        copies.forget([2, 99])
        #expect(copies.jobIDs == [3])
    }
}

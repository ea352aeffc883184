import ArgumentParser
@testable import CogCLI
import CogJobStore
import CogTestSupport
import Foundation
import Testing

/// What one `cogjobs` invocation produced.
struct CLIRun: CustomStringConvertible {
    var status: Int32
    var standardOutput: String
    var standardError: String
    /// Wall time of the invocation.
    var seconds: Double

    var description: String {
        "exit \(status)\n--- stdout\n\(standardOutput)\n--- stderr\n\(standardError)"
    }

    /// Standard output parsed as one JSON object.
    func json() throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(standardOutput.utf8))
        return try #require(object as? [String: Any], "stdout is not a JSON object: \(standardOutput)")
    }
}

/// Runs `cogjobs` in-process (`CogJobsCommand.parseAsRoot`) or as the built binary.
enum CLI {
    /// Parses and runs `arguments` in this process with captured output, `environment` as the
    /// whole environment and `clock` as the time; returns the exit status argument-parser's
    /// `main()` would use.
    static func run(_ arguments: [String], environment: [String: String] = [:],
                    clock: @escaping @Sendable () -> Date = { Date() }) async -> CLIRun {
        let output = CapturedText(), errors = CapturedText()
        let context = CommandContext(environment: environment, standardOutput: output, standardError: errors,
                                     outputIsTerminal: false, clock: clock)
        let started = Date()
        let status: Int32 = await CommandContext.$current.withValue(context) {
            do {
                var command = try CogJobsCommand.parseAsRoot(arguments)
                if var asyncCommand = command as? any AsyncParsableCommand {
                    try await asyncCommand.run()
                } else {
                    try command.run()
                }
                return 0
            } catch {
                // As the executable (`CogJobsCommand.runAsMain()`): help goes to stdout, errors to stderr.
                let (message, status) = CogJobsCommand.failureReport(for: error)
                if !message.isEmpty { (status == 0 ? output : errors).write(message + "\n") }
                return status
            }
        }
        return CLIRun(status: status, standardOutput: output.text, standardError: errors.text,
                      seconds: Date().timeIntervalSince(started))
    }

    /// The `cogjobs` executable built next to the test bundle (`swift build` / `swift test` build it).
    static var binary: URL {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("cogjobs")
    }

    /// Runs the built binary with `arguments` and exactly `environment` (plus PATH).
    static func runBinary(_ arguments: [String], environment: [String: String] = [:]) throws -> CLIRun {
        try #require(FileManager.default.isExecutableFile(atPath: binary.path),
                     "the cogjobs executable is missing at \(binary.path); build the package first")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = environment.merging(["PATH": "/usr/bin:/bin"]) { mine, _ in mine }
        let directory = try Fixtures.temporaryDirectory("cli-binary")
        defer { try? FileManager.default.removeItem(at: directory) }  // cleanup only
        let outURL = directory.appendingPathComponent("stdout"), errURL = directory.appendingPathComponent("stderr")
        #expect(FileManager.default.createFile(atPath: outURL.path, contents: nil))
        #expect(FileManager.default.createFile(atPath: errURL.path, contents: nil))
        let outHandle = try FileHandle(forWritingTo: outURL), errHandle = try FileHandle(forWritingTo: errURL)
        process.standardOutput = outHandle
        process.standardError = errHandle
        let started = Date()
        try process.run()
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(started)
        try outHandle.close()
        try errHandle.close()
        return CLIRun(status: process.terminationStatus,
                      standardOutput: try String(contentsOf: outURL, encoding: .utf8),
                      standardError: try String(contentsOf: errURL, encoding: .utf8), seconds: seconds)
    }
}

/// A job database in a temporary folder, filled through `JobStore` with one job in every
/// interesting situation:
///
/// | job | image | task | state |
/// | --- | --- | --- | --- |
/// | `dog` | /photos/dog.jpg 640×480 | ground "Where is the dog?" | succeeded, two boxes |
/// | `cat` | /photos/cat.jpg 800×600 | caption "Describe the image." | succeeded "A cat." |
/// | `catAgain` | /photos/cat.jpg | caption "Describe the cat in one sentence." | succeeded (newer) |
/// | `broken` | /photos/broken.jpg | caption | failed permanently, image.corrupt |
/// | `running` | /photos/running.jpg | caption | running, phase generate, 17 tokens |
/// | `cancelled` | /photos/cancelled.jpg | caption | cancelled while queued |
/// | `queued` | /photos/queued.jpg | vqa "How many?" | queued |
struct SampleDatabase {
    let directory: URL
    let path: String
    var dog: Int64 = 0, cat: Int64 = 0, catAgain: Int64 = 0, broken: Int64 = 0
    var running: Int64 = 0, cancelled: Int64 = 0, queued: Int64 = 0

    static let owner = "test-host:4242:boot:1"

    init() throws {
        directory = try Fixtures.temporaryDirectory("cli")
        path = directory.appendingPathComponent("jobs.sqlite3").path
        let store = try JobStore(path: path)

        func image(_ name: String, width: Int? = 640, height: Int? = 480) -> ImageInfo {
            ImageInfo(sha256: SHA256.hexDigest(name), path: "/photos/\(name).jpg", width: width, height: height,
                      format: "jpeg", byteSize: 1000)
        }
        func enqueue(_ image: ImageInfo, task: String = "caption", prompt: String = "Describe the image.",
                     force: Bool = false) throws -> Int64 {
            try store.enqueue(EnqueueRequest(image: image, task: task, prompt: prompt,
                                             paramsJSON: #"{"max_new_tokens":64}"#, model: "cogvlm-tiny@1",
                                             force: force)).jobID
        }
        func claim(_ id: Int64) throws -> ClaimedJob {
            let job = try #require(try store.claim(owner: Self.owner, leaseDuration: .seconds(600)))
            try #require(job.id == id, "claimed \(job.id), expected \(id)")
            return job
        }
        func output(_ text: String, boxes: [GroundingBox] = []) -> JobOutput {
            JobOutput(text: text, rawOutput: text, promptTokens: 12, generatedTokens: 7, preprocessMilliseconds: 1.5,
                      prefillMilliseconds: 20, decodeMilliseconds: 70, totalMilliseconds: 92, model: "cogvlm-tiny@1",
                      boxes: boxes)
        }

        dog = try enqueue(image("dog"), task: "ground", prompt: "Where is the dog?")
        var job = try claim(dog)
        try store.complete(jobID: dog, claimToken: job.claimToken, output: output(
            "A dog chasing a red ball.",
            boxes: [GroundingBox(phrase: "the dog", x0: 0, y0: 0, x1: 499, y1: 999, imageWidth: 640, imageHeight: 480),
                    GroundingBox(phrase: "a red ball", x0: 500, y0: 500, x1: 600, y1: 600, imageWidth: 640,
                                 imageHeight: 480)]))

        cat = try enqueue(image("cat", width: 800, height: 600))
        job = try claim(cat)
        try store.complete(jobID: cat, claimToken: job.claimToken, output: output("A cat."))
        catAgain = try enqueue(image("cat", width: 800, height: 600), prompt: "Describe the cat in one sentence.")
        job = try claim(catAgain)
        try store.complete(jobID: catAgain, claimToken: job.claimToken, output: output("A grey cat asleep on a sofa."))

        broken = try enqueue(image("broken"))
        job = try claim(broken)
        try store.fail(jobID: broken, claimToken: job.claimToken, code: "image.corrupt",
                       message: "not a JPEG file: starts with 0x00 0x00", permanent: true)

        running = try enqueue(image("running"))
        job = try claim(running)
        #expect(try store.updateProgress(jobID: running, claimToken: job.claimToken, phase: "generate",
                                         tokensGenerated: 17))

        cancelled = try enqueue(image("cancelled"))
        try store.cancel(jobID: cancelled)

        queued = try enqueue(image("queued"), task: "vqa", prompt: "How many?")
    }

    /// A store on the same file (for checking what a command changed).
    func open() throws -> JobStore { try JobStore(path: path) }

    func remove() {
        // Cleanup only; a leftover temporary folder is harmless.
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Fields of a JSON object, for `#expect` on nested values.
func field<T>(_ object: Any?, _ path: String..., as type: T.Type = T.self) -> T? {
    var current = object
    for key in path {
        if let index = Int(key), let array = current as? [Any] {
            current = index < array.count ? array[index] : nil
        } else {
            current = (current as? [String: Any])?[key]
        }
    }
    return current as? T
}

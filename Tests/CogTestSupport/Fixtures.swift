import Foundation

/// Locates the fixture data committed under `Tests/Fixtures/` (copied from the project's shared
/// fixtures, so a fresh clone tests without anything outside the repository).
public enum Fixtures {
    /// `Tests/Fixtures`, found relative to this source file.
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // CogTestSupport
        .deletingLastPathComponent()  // Tests
        .appendingPathComponent("Fixtures", isDirectory: true)

    /// The tiny random CogVLM (v1, cogvlm-chat-hf layout) model directory.
    public static var cogvlmTiny: URL { root.appendingPathComponent("cogvlm-tiny", isDirectory: true) }
    /// The tiny random CogVLM2 (cogvlm2-llama3-chat-19B layout) model directory.
    public static var cogvlm2Tiny: URL { root.appendingPathComponent("cogvlm2-tiny", isDirectory: true) }
    /// Tiny random checkpoints of other shapes than the two above, with a numpy reference's
    /// outputs (`Tests/Fixtures/shapes/README.md`): `cogvlm-d40h5` (v1), `cogvlm2-d64gqa4` (v2).
    public static func shapes(_ name: String) -> URL {
        root.appendingPathComponent("shapes", isDirectory: true).appendingPathComponent(name, isDirectory: true)
    }
    /// The LLaMA-2 / Vicuna SentencePiece tokenizer files and test vectors.
    public static var llama2Tokenizer: URL { root.appendingPathComponent("tokenizers/llama2-spm", isDirectory: true) }
    /// The Llama-3 byte-level BPE tokenizer files and test vectors.
    public static var llama3Tokenizer: URL { root.appendingPathComponent("tokenizers/llama3-bpe", isDirectory: true) }

    /// A fresh temporary directory for one test. The caller must remove it (`removeTemporaryDirectory`,
    /// usually in a `defer`); prefer `withTemporaryDirectory`, which does that itself. Left behind,
    /// it stays until the OS clears /tmp (often only at boot), and a test run makes hundreds, some
    /// holding model checkpoints.
    public static func temporaryDirectory(_ label: String = "test") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("cogjobs-\(label)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Removes a directory made by `temporaryDirectory` and everything in it.
    public static func removeTemporaryDirectory(_ url: URL) {
        // try?: a directory that is already gone (the test removed it) is fine, and a failed
        // clean-up must not turn a passing test into a failing one.
        try? FileManager.default.removeItem(at: url)
    }

    /// Runs `body` with a fresh temporary directory and removes the directory afterwards, whether
    /// `body` returns or throws.
    public static func withTemporaryDirectory<T>(_ label: String = "test", _ body: (URL) throws -> T) throws -> T {
        let url = try temporaryDirectory(label)
        defer { removeTemporaryDirectory(url) }
        return try body(url)
    }

    /// `withTemporaryDirectory` for async bodies (run in the caller's isolation).
    public static func withTemporaryDirectory<T>(
        _ label: String = "test", isolation: isolated (any Actor)? = #isolation, _ body: (URL) async throws -> T
    ) async throws -> T {
        let url = try temporaryDirectory(label)
        defer { removeTemporaryDirectory(url) }
        return try await body(url)
    }
}

extension Fixtures {
    /// The built `cogjobs` executable next to the test bundle (`swift build --build-tests` and
    /// `swift test` build it into the same directory).
    public static var cogjobsBinary: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("cogjobs")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("cogjobs")
    }

    /// Runs the `cogjobs` binary with `arguments`; returns exit status, stdout and stderr.
    public static func runCogjobs(_ arguments: [String], environment: [String: String]? = nil) throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        let process = Process()
        process.executableURL = cogjobsBinary
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}

import CogImage
import CogJobStore
import CogTestSupport
import Foundation
import Glibc
import Synchronization

/// A temporary installation of the daemon for one test: a folder with the job database, a
/// watched inbox, a configuration file, and the real `cogjobs` binary started as a subprocess.
final class DaemonHarness: @unchecked Sendable {
    // @unchecked Sendable: the test that owns a harness drives it from one task; `process` is only
    // replaced by `start`, which tests call sequentially.

    let directory: URL
    let inbox: URL
    let database: URL
    let configFile: URL
    let logFile: URL
    private(set) var process: Process?
    private var logOffset = 0

    /// The tiny fixture model and the LLaMA-2 tokenizer it uses.
    static let model = Fixtures.cogvlmTiny.path
    static let tokenizer = Fixtures.llama2Tokenizer.path

    init(_ label: String) throws {
        directory = try Fixtures.temporaryDirectory("daemon-\(label)")
        inbox = directory.appendingPathComponent("inbox", isDirectory: true)
        database = directory.appendingPathComponent("jobs.sqlite3")
        configFile = directory.appendingPathComponent("cogjobs.json")
        logFile = directory.appendingPathComponent("daemon.log")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
    }

    /// Writes the configuration: the defaults of a test daemon plus `extra` keys (replacing them).
    func writeConfig(_ extra: [String: Any] = [:], watch: [[String: Any]]? = nil) throws {
        var config: [String: Any] = [
            "database_path": database.path, "model_directory": Self.model, "tokenizer_directory": Self.tokenizer,
            "workers": 2, "blas_threads": 1, "lease_duration_seconds": 30, "shutdown_drain_seconds": 5,
            "retry_base_delay_seconds": 0, "generation": ["max_new_tokens": 8],
            "watch": watch ?? [["path": inbox.path, "task": "caption"]],
        ]
        for (key, value) in extra { config[key] = value }
        let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: configFile)
    }

    /// Starts `cogjobs daemon --config …` with `environment` added to this process's environment.
    func start(environment: [String: String] = [:], arguments: [String] = []) throws {
        let process = Process()
        process.executableURL = Fixtures.cogjobsBinary
        process.arguments = ["daemon", "--config", configFile.path] + arguments
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("COGJOBS_") || key == "NOTIFY_SOCKET" || key.hasPrefix("WATCHDOG_") {
            env[key] = nil
        }
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if !FileManager.default.fileExists(atPath: logFile.path) {
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: logFile)
        handle.seekToEndOfFile()
        logOffset = Int(handle.offsetInFile)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
    }

    /// Starts the daemon and waits for its "ready" log line.
    func startAndWait(environment: [String: String] = [:], timeout: Duration = .seconds(30)) throws {
        try start(environment: environment)
        guard waitForLog("ready:", timeout: timeout) else {
            throw HarnessError("the daemon did not become ready:\n\(log)")
        }
    }

    /// The log of the current (latest) run.
    var log: String {
        guard let data = try? Data(contentsOf: logFile), data.count >= logOffset else { return "" }
        return String(decoding: data[logOffset...], as: UTF8.self)
    }

    /// The log of every run so far.
    var fullLog: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    @discardableResult
    func waitForLog(_ text: String, timeout: Duration = .seconds(20)) -> Bool {
        poll(timeout: timeout) { self.log.contains(text) }
    }

    /// Sends `signal` and waits for the process to exit; returns (status, killed by signal).
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(30)) -> (status: Int32, signaled: Bool)? {
        guard let process else { return nil }
        if process.isRunning { kill(process.processIdentifier, signal) }
        return waitForExit(timeout: timeout)
    }

    /// Waits until the process exits; nil on timeout (the process is then killed).
    func waitForExit(timeout: Duration = .seconds(30)) -> (status: Int32, signaled: Bool)? {
        guard let process else { return nil }
        guard poll(timeout: timeout, { !process.isRunning }) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal)
    }

    func signal(_ signal: Int32) {
        if let process, process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// A store on the daemon's database (another connection, as the CLI would have).
    func store() throws -> JobStore {
        var configuration = JobStore.Configuration()
        configuration.busyTimeout = .seconds(10)
        return try JobStore(url: database, configuration: configuration)
    }

    func query(_ sql: String) throws -> [[SQLValue]] { try store().query(sql) }

    func count(_ sql: String) throws -> Int { Int(try query(sql).first?.first?.int64 ?? -1) }

    /// Jobs in `state` (-1 if the database cannot be read right now).
    func jobs(_ state: String) -> Int {
        (try? count("SELECT count(*) FROM jobs WHERE state = '\(state)'")) ?? -1
    }

    /// Waits until exactly `count` jobs are in `state`.
    func waitForJobs(_ count: Int, _ state: String, timeout: Duration = .seconds(20)) -> Bool {
        poll(timeout: timeout) { jobs(state) == count }
    }

    /// `SELECT count(*), count(DISTINCT job_id) FROM results`: equal when no job has two results.
    func resultCounts() throws -> [Int] {
        try query("SELECT count(*), count(DISTINCT job_id) FROM results").first?.map { Int($0.int64 ?? -1) } ?? []
    }

    /// Runs the `cogjobs` binary (the CLI) to completion.
    func cli(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) throws
        -> (status: Int32, stdout: String, stderr: String, seconds: Double)
    {
        let process = Process()
        process.executableURL = Fixtures.cogjobsBinary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("COGJOBS_") { env[key] = nil }
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = directory.appendingPathComponent("cli-\(UUID().uuidString.prefix(8)).out")
        let err = directory.appendingPathComponent("cli-\(UUID().uuidString.prefix(8)).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        let input = Pipe()
        process.standardInput = input
        let started = ContinuousClock.now
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - started).components.seconds)
        return (process.terminationStatus, try String(contentsOf: out, encoding: .utf8),
                try String(contentsOf: err, encoding: .utf8), seconds)
    }

    /// Starts the `cogjobs` binary without waiting; stdout and stderr go to files.
    func launchCLI(_ arguments: [String]) throws -> (process: Process, stdout: URL, stderr: URL) {
        let process = Process()
        process.executableURL = Fixtures.cogjobsBinary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("COGJOBS_") { env[key] = nil }
        process.environment = env
        let name = UUID().uuidString.prefix(8)
        let out = directory.appendingPathComponent("cli-\(name).out")
        let err = directory.appendingPathComponent("cli-\(name).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return (process, out, err)
    }

    func remove() {
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        // Cleanup only; a leftover temp directory is harmless.
        try? FileManager.default.removeItem(at: directory)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
@discardableResult
func poll(timeout: Duration, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return try condition()
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
}

/// Small, distinct test images.
enum TestImages {
    /// A 16×16 JPEG whose four 8×8 blocks encode `n`, so every `n` gives different bytes.
    static func jpeg(_ n: Int, width: Int = 16, height: Int = 16) throws -> Data {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let colors: [[UInt8]] = [
            [UInt8(n & 0xff), UInt8((n >> 8) & 0xff), 40], [200, UInt8((n * 37) & 0xff), UInt8((n * 11) & 0xff)],
            [UInt8((n * 53) & 0xff), 90, UInt8((n >> 4) & 0xff)], [10, 220, UInt8((n * 97) & 0xff)],
        ]
        for y in 0..<height {
            for x in 0..<width {
                let block = (y * 2 / height) * 2 + (x * 2 / width)
                for c in 0..<3 { pixels[(y * width + x) * 3 + c] = colors[block][c] }
            }
        }
        return try RGBImage(width: width, height: height, pixels: pixels).encodeJPEG(quality: 90)
    }

    /// A JPEG full of noise (large for its pixel count).
    static func noisyJPEG(width: Int, height: Int, seed: UInt64 = 1) throws -> Data {
        var state = seed
        let pixels = (0..<(width * height * 3)).map { _ -> UInt8 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        return try RGBImage(width: width, height: height, pixels: pixels).encodeJPEG(quality: 100)
    }

    /// Writes `data` to `url` in `chunks` pieces with `pause` between them, through one open file
    /// (a slow producer: one `CLOSE_WRITE` at the end).
    static func writeSlowly(_ data: Data, to url: URL, chunks: Int = 4, pause: Duration = .milliseconds(40)) throws {
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw HarnessError("open \(url.path): errno \(errno)") }
        defer { close(descriptor) }
        let size = (data.count + chunks - 1) / chunks
        var offset = 0
        while offset < data.count {
            let piece = data[offset..<min(data.count, offset + size)]
            let written = piece.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            guard written == piece.count else { throw HarnessError("short write to \(url.path)") }
            offset += size
            usleep(UInt32(milliseconds(pause) * 1000))
        }
    }

    /// Writes `data` to `url` in `rounds` open–write–close rounds with `pause` after each, like
    /// `dd conv=notrunc seek=…` in a loop: every round ends with a CLOSE_WRITE of a partial file.
    static func writeInRounds(_ data: Data, to url: URL, rounds: Int, pause: Duration) throws {
        let piece = (data.count + rounds - 1) / rounds
        for round in 0..<rounds {
            let handle = open(url.path, O_WRONLY | O_CREAT, 0o644)
            guard handle >= 0 else { throw HarnessError("open \(url.path): errno \(errno)") }
            let bytes = data.dropFirst(round * piece).prefix(piece)
            let written = bytes.withUnsafeBytes { pwrite(handle, $0.baseAddress, $0.count, off_t(round * piece)) }
            close(handle)
            guard written == bytes.count else { throw HarnessError("short write to \(url.path)") }
            usleep(UInt32(milliseconds(pause) * 1000))
        }
    }

    /// Creates `url` empty (closing it), then reopens it and writes `data` in pieces: a producer
    /// that closes the file before it is complete.
    static func createThenFill(_ data: Data, to url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
            throw HarnessError("cannot create \(url.path)")
        }
        usleep(50_000)
        try writeSlowly(data, to: url, chunks: 3, pause: .milliseconds(20))
    }

    /// Writes `data` outside the watched folder, then renames it to `url` (an atomic move in).
    static func moveIn(_ data: Data, to url: URL, staging: URL) throws {
        let temporary = staging.appendingPathComponent("staging-\(UUID().uuidString)")
        try data.write(to: temporary)
        try FileManager.default.moveItem(at: temporary, to: url)
    }
}

/// A real `AF_UNIX` datagram socket standing in for systemd's notification socket; a background
/// thread records every datagram with its arrival time.
final class NotifyListener: Sendable {
    let path: String
    private let descriptor: Int32
    private let messages = Mutex<[(ContinuousClock.Instant, String)]>([])
    private let closed = Atomic<Bool>(false)

    init(directory: URL) throws {
        path = directory.appendingPathComponent("notify.sock").path
        var address = sockaddr_un()
        let bytes = Array(path.utf8)
        // A longer path would trap in copyBytes below and take the whole test process down.
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            throw HarnessError("socket path \(path) is longer than \(capacity - 1) bytes; use a shorter TMPDIR")
        }
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError("socket failed: errno \(errno)") }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + 1)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else { throw HarnessError("bind failed: errno \(errno)") }
        let thread = Thread { [self] in receiveLoop() }
        thread.start()
    }

    private func receiveLoop() {
        defer { Glibc.close(descriptor) }  // closed here, so the descriptor is never reused under the loop
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !closed.load(ordering: .relaxed) {
            var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) == 1 else { continue }
            let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard count > 0 else { continue }
            let text = String(decoding: buffer[0..<count], as: UTF8.self)
            messages.withLock { $0.append((.now, text)) }
        }
    }

    /// Every datagram so far, with arrival times.
    var received: [(ContinuousClock.Instant, String)] { messages.withLock { $0 } }

    /// Datagrams that contain `line` as one of their lines (or start with it, for `STATUS=`).
    func arrivals(of prefix: String) -> [ContinuousClock.Instant] {
        received.filter { $0.1.split(separator: "\n").contains { $0.hasPrefix(prefix) } }.map(\.0)
    }

    func close() {
        closed.store(true, ordering: .relaxed)
    }
}

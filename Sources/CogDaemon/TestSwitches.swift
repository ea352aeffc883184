import Foundation

/// Test-only switches, read from `COGJOBS_TEST_*` environment variables. **Not for production**:
/// they exist so the end-to-end tests can run the real daemon binary and fault it at precise
/// points. None of them is set in the systemd unit, and the daemon logs a warning for each one
/// that is set.
///
/// | variable | values | effect |
/// | --- | --- | --- |
/// | `COGJOBS_TEST_EXECUTOR` | `echo` | run `EchoJobExecutor` (image checks, no model): queue tests measure the queue |
/// | `COGJOBS_TEST_ECHO_TOKENS` | integer, default 4 | tokens the echo executor "generates" |
/// | `COGJOBS_TEST_ECHO_TOKEN_MS` | integer, default 0 | milliseconds per echo token (stop is checked between tokens) |
/// | `COGJOBS_TEST_ECHO_STALL_MS` | integer, default 0 | ms blocked before the first token, no progress (a hung step) |
/// | `COGJOBS_TEST_CRASH_POINT` | see `CrashPoint` | the process kills itself with SIGKILL there |
/// | `COGJOBS_TEST_CRASH_AFTER` | integer ≥ 1, default 1 | … the N-th time it reaches that point |
public struct TestSwitches: Sendable, Equatable {
    /// Where the daemon kills itself (`kill(getpid(), SIGKILL)`, exactly what `kill -9` does).
    public enum CrashPoint: String, Sendable, CaseIterable {
        /// Right after a worker claimed a job (the job is `running` under this process).
        case afterClaim = "after-claim"
        /// After the executor returned its result, before the result transaction begins.
        case beforeCommit = "before-commit"
        /// Inside the result transaction: the result, box and state rows are written but not yet
        /// committed (an SQLite commit hook on the worker's connection).
        case inCommit = "in-commit"
        /// After the result committed, before sidecars are written and files moved.
        case afterCommitBeforeSidecar = "after-commit-before-sidecar"
    }

    public var useEchoExecutor = false
    public var echoTokens = 4
    public var echoTokenMilliseconds = 0
    public var echoStallMilliseconds = 0
    public var crashPoint: CrashPoint?
    public var crashAfter = 1

    public init() {}

    /// The variables that are set, for the start-up warning.
    public var activeVariables: [String] = []

    /// Reads the switches.
    /// - Throws: `DaemonError` `.badTestSwitch` for a value that is not understood.
    public static func from(environment: [String: String]) throws(DaemonError) -> TestSwitches {
        var switches = TestSwitches()
        switches.activeVariables = environment.keys.filter { $0.hasPrefix("COGJOBS_TEST_") }.sorted()
        func integer(_ name: String, minimum: Int) throws(DaemonError) -> Int? {
            guard let text = environment[name], !text.isEmpty else { return nil }
            guard let value = Int(text), value >= minimum else {
                throw DaemonError(code: .badTestSwitch, message: "must be an integer ≥ \(minimum), got `\(text)`",
                                  subject: name)
            }
            return value
        }
        if let executor = environment["COGJOBS_TEST_EXECUTOR"], !executor.isEmpty {
            guard executor == "echo" else {
                throw DaemonError(code: .badTestSwitch, message: "the only test executor is `echo`, got `\(executor)`",
                                  subject: "COGJOBS_TEST_EXECUTOR")
            }
            switches.useEchoExecutor = true
        }
        switches.echoTokens = try integer("COGJOBS_TEST_ECHO_TOKENS", minimum: 0) ?? switches.echoTokens
        switches.echoTokenMilliseconds = try integer("COGJOBS_TEST_ECHO_TOKEN_MS", minimum: 0) ?? 0
        switches.echoStallMilliseconds = try integer("COGJOBS_TEST_ECHO_STALL_MS", minimum: 0) ?? 0
        if let point = environment["COGJOBS_TEST_CRASH_POINT"], !point.isEmpty {
            guard let crashPoint = CrashPoint(rawValue: point) else {
                throw DaemonError(code: .badTestSwitch,
                                  message: "unknown crash point `\(point)`; one of "
                                      + CrashPoint.allCases.map(\.rawValue).joined(separator: ", "),
                                  subject: "COGJOBS_TEST_CRASH_POINT")
            }
            switches.crashPoint = crashPoint
        }
        switches.crashAfter = try integer("COGJOBS_TEST_CRASH_AFTER", minimum: 1) ?? 1
        return switches
    }
}

import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where a command writes text and which environment variables it reads.
///
/// Commands never call `print` or read `ProcessInfo` directly: they go through
/// `CommandContext.current`, a task-local that is the real process by default. Tests bind their own
/// context (captured output, a made-up environment) and run commands in-process, in parallel,
/// without touching the process's file descriptors or environment.
struct CommandContext: Sendable {
    /// Environment variables (`COGJOBS_DATABASE`, `COGJOBS_CONFIG`, …).
    var environment: [String: String]
    /// Receives the command's results (standard output).
    var standardOutput: any TextSink
    /// Receives warnings and error messages (standard error).
    var standardError: any TextSink
    /// `true` when standard output is an interactive terminal (`status --watch` then redraws in place).
    var outputIsTerminal: Bool
    /// The current time (commands compute ages and cut-offs from it).
    var clock: @Sendable () -> Date

    /// The running process: its environment, file descriptors 1 and 2 and the system clock.
    static var process: CommandContext {
        CommandContext(environment: ProcessInfo.processInfo.environment,
                       standardOutput: FileDescriptorSink.standardOutput,
                       standardError: FileDescriptorSink.standardError,
                       outputIsTerminal: isatty(STDOUT_FILENO) != 0,
                       clock: { Date() })
    }

    /// The context commands use; tests bind another one with `CommandContext.$current.withValue`.
    @TaskLocal static var current: CommandContext = .process

    /// Writes `text` to standard output as is.
    func write(_ text: String) { standardOutput.write(text) }

    /// Writes `line` and a newline to standard output.
    func writeLine(_ line: String = "") { standardOutput.write(line + "\n") }

    /// Writes `line` and a newline to standard error.
    func warn(_ line: String) { standardError.write(line + "\n") }
}

/// A destination for text (standard output, standard error, a test's buffer).
protocol TextSink: Sendable {
    func write(_ text: String)
}

/// Writes straight to a file descriptor, unbuffered, so output interleaves correctly with other
/// writers and nothing is lost when the process exits through `exit()`.
struct FileDescriptorSink: TextSink {
    static let standardOutput = FileDescriptorSink(handle: .standardOutput)
    static let standardError = FileDescriptorSink(handle: .standardError)

    let handle: FileHandle

    func write(_ text: String) { handle.write(Data(text.utf8)) }
}

/// Collects everything written to it (for tests that run commands in-process).
final class CapturedText: TextSink {
    private let buffer = Mutex("")

    init() {}

    func write(_ text: String) { buffer.withLock { $0 += text } }

    /// Everything written so far.
    var text: String { buffer.withLock { $0 } }
}

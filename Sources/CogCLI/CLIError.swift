import ArgumentParser
import CogConfig
import CogDaemon
import CogImage
import CogJobStore
import CogPipeline
import CogTensor
import CogTokenizer
import CogVLM
import CogWeights

/// An error as `cogjobs` reports it: `Error: <errorCode>: <errorMessage>` (docs/cli.md, "Exit
/// status"). The code is stable; the message says what is wrong, names the file, job, key or option
/// concerned and what to do.
protocol ReportableError: Error {
    var errorCode: String { get }
    var errorMessage: String { get }
}

// Every domain error has a stable `code` and a `detail`: its description after `code: `.
extension ConfigError: ReportableError { var errorCode: String { code.rawValue }; var errorMessage: String { detail } }
extension DaemonError: ReportableError { var errorCode: String { code.rawValue }; var errorMessage: String { detail } }
extension ImageError: ReportableError { var errorCode: String { code.rawValue }; var errorMessage: String { detail } }
extension JobStoreError: ReportableError { var errorCode: String { code.rawValue }; var errorMessage: String { detail } }
extension PipelineError: ReportableError { var errorCode: String { code.rawValue }; var errorMessage: String { detail } }
extension TensorError: ReportableError { var errorCode: String { code.rawValue }; var errorMessage: String { detail } }
extension TokenizerError: ReportableError { var errorCode: String { code.rawValue }; var errorMessage: String { detail } }
extension InferenceError: ReportableError { var errorCode: String { code.rawValue }; var errorMessage: String { detail } }
extension WeightsError: ReportableError { var errorCode: String { code.rawValue }; var errorMessage: String { detail } }

extension SQLiteError: ReportableError {
    var errorCode: String { JobStoreError.Code.sqlite.rawValue }
    var errorMessage: String { description }
}

/// A failure of the CLI itself (an output file, an input's content), or a domain error that the CLI
/// puts in context (`good.jpg: …`, `--box: …`) while keeping its code and exit status.
struct CLIError: ReportableError, CustomStringConvertible {
    /// The CLI's own codes.
    struct Code: RawRepresentable, Hashable, Sendable {
        let rawValue: String
        init(rawValue: String) { self.rawValue = rawValue }

        /// An output file (`--output`) cannot be created, written or moved into place, or would
        /// overwrite the input.
        static let outputFailed = Code(rawValue: "cli.output_failed")
        /// An input file holds something the command cannot use (a tensor of the wrong shape, …).
        static let badInput = Code(rawValue: "cli.bad_input")
        /// The command line is wrong (argument-parser's usage errors, exit status 64).
        static let usage = Code(rawValue: "cli.usage")
        /// A failure without a stable code of its own: a bug; the message has the details.
        static let unexpected = Code(rawValue: "cli.unexpected")
    }

    let errorCode: String
    let errorMessage: String
    /// The domain error this one puts in context; its exit status is used.
    let underlying: (any Error)?

    init(_ code: Code, _ message: String) {
        errorCode = code.rawValue
        errorMessage = message
        underlying = nil
    }

    /// `error` with `subject` (the file, option or job it concerns) before its message.
    init(_ error: any Error, subject: String) {
        let report = ErrorReport(error)
        errorCode = report.code
        errorMessage = "\(subject): \(report.message)"
        underlying = error
    }

    var description: String { "\(errorCode): \(errorMessage)" }
}

/// The code and message `cogjobs` prints for any error.
struct ErrorReport {
    var code: String
    var message: String

    init(_ error: any Error) {
        if let reportable = error as? any ReportableError {
            (code, message) = (reportable.errorCode, reportable.errorMessage)
        } else {
            (code, message) = (CLIError.Code.unexpected.rawValue,
                               "\(error) (this error has no stable code; please report it)")
        }
    }

    /// `<code>: <message>`, as printed after `Error: `.
    var line: String { "\(code): \(message)" }
}

extension CogJobsCommand {
    /// What `cogjobs` prints for `error` and the status it exits with: argument-parser's help text
    /// (status 0), `Error: cli.usage: <message>` and the usage for a wrong command line (64), and
    /// `Error: <code>: <message>` with the status `ExitStatus(for:)` assigns for everything else.
    public static func failureReport(for error: any Error) -> (text: String, status: Int32) {
        if error is any ReportableError {
            return ("Error: \(ErrorReport(error).line)", ExitStatus(for: error).rawValue)
        }
        let status = exitCode(for: error).rawValue
        let text = fullMessage(for: error)
        let label = "Error: "
        guard status != 0, text.hasPrefix(label) else { return (text, status) }  // help, or a silent ExitCode
        let rest = text.dropFirst(label.count)
        if startsWithCode(rest) { return (text, status) }  // e.g. a coded error thrown by validate()
        let code = status == ExitStatus.usage.rawValue ? CLIError.Code.usage : CLIError.Code.unexpected
        return (label + code.rawValue + ": " + rest, status)
    }

    /// Parses the process's arguments, runs the command and exits, reporting a failure as
    /// `failureReport(for:)` says.
    public static func runAsMain() async -> Never {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            exit()
        } catch {
            let report = failureReport(for: error)
            if !report.text.isEmpty {
                let sink: any TextSink = report.status == 0 ? FileDescriptorSink.standardOutput
                    : FileDescriptorSink.standardError
                sink.write(report.text + "\n")
            }
            exit(withError: ExitCode(report.status))
        }
    }

    /// `true` when `text` starts with a stable code and `: ` (`store.busy: …`).
    static func startsWithCode(_ text: Substring) -> Bool {
        guard let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix(": ") else { return false }
        let parts = text[..<colon].split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { part in
            !part.isEmpty && part.allSatisfy { ($0 >= "a" && $0 <= "z") || $0 == "_" }
        }
    }
}

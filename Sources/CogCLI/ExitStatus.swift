import ArgumentParser
import CogConfig
import CogJobStore

/// The exit statuses of `cogjobs` (documented in docs/cli.md, "Exit status").
///
/// Every command maps failures through `ExitStatus(for:)`, the one table from domain error codes to
/// statuses, so that scripts can tell "no such job" from "the database is busy" from "the setup is
/// broken" whatever the verb.
struct ExitStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    let rawValue: Int32
    init(rawValue: Int32) { self.rawValue = rawValue }

    /// 0: the command did what was asked.
    static let success = ExitStatus(rawValue: 0)
    /// 1: the request cannot be done as asked: an invalid configuration or value, or a job whose
    /// state does not allow the operation (e.g. `retry` of a running job).
    static let failure = ExitStatus(rawValue: 1)
    /// 2: a job named on the command line does not exist.
    static let notFound = ExitStatus(rawValue: 2)
    /// 3: another process held the database lock for longer than the busy timeout.
    static let databaseBusy = ExitStatus(rawValue: 3)
    /// 4: the database cannot be used: missing, unreadable, corrupt, needs `cogjobs migrate`,
    /// written by a newer cogjobs, disk full, read-only, or any other SQLite failure.
    static let databaseError = ExitStatus(rawValue: 4)
    /// 5: `cogjobs check` found at least one problem (each one is listed).
    static let checkFailed = ExitStatus(rawValue: 5)
    /// 64: the command line itself is wrong (unknown flag, missing or malformed argument); set by
    /// swift-argument-parser, which follows sysexits' `EX_USAGE`.
    static let usage = ExitStatus(rawValue: ExitCode.validationFailure.rawValue)

    var description: String { String(rawValue) }

    /// The exit status for each job-store error code. Codes added to `JobStoreError` later fall
    /// back to `databaseError`.
    static let storeStatuses: [JobStoreError.Code: ExitStatus] = [
        .busy: .databaseBusy,
        .notFound: .notFound,
        .invalidState: .failure,
        .invalidInput: .failure,
        .staleClaim: .failure,
        .schemaTooNew: .databaseError,
        .schemaOutdated: .databaseError,
        .migrationChecksumMismatch: .databaseError,
        .migrationFailed: .databaseError,
        .openFailed: .databaseError,
        .diskFull: .databaseError,
        .readOnly: .databaseError,
        .corrupt: .databaseError,
        .sqlite: .databaseError,
    ]

    /// The exit status for `error`: the single mapping from domain errors to exit statuses.
    init(for error: any Error) {
        switch error {
        case let error as JobStoreError:
            self = Self.storeStatuses[error.code] ?? .databaseError
        case let error as SQLiteError:
            self = error.isBusy ? .databaseBusy : .databaseError
        case let batch as BatchFailure:
            self = ExitStatus(for: batch.first)
        case let wrapped as CLIError where wrapped.underlying != nil:
            self = wrapped.underlying.map { ExitStatus(for: $0) } ?? .failure
        case is CheckFailure:
            self = .checkFailed
        case let exit as ExitCode:
            self = ExitStatus(rawValue: exit.rawValue)
        case is ValidationError:
            self = .usage
        default:
            // ConfigError, CLIError, WeightsError, TokenizerError and anything else: the request
            // cannot be done with this setup or input.
            self = .failure
        }
    }
}

/// Thrown by `cogjobs check` after it listed its problems; maps to `ExitStatus.checkFailed`.
struct CheckFailure: ReportableError, CustomStringConvertible {
    var problemCount: Int
    var errorCode: String { "check.problems_found" }
    var errorMessage: String {
        "\(problemCount) problem\(problemCount == 1 ? "" : "s") found (listed above); fix them and run check again"
    }
    var description: String { "\(errorCode): \(errorMessage)" }
}

extension ParsableCommand {
    /// Runs `body`; on failure writes `Error: <code>: <message>` to standard error and throws `ExitCode`
    /// with the status `ExitStatus(for:)` assigns, which argument-parser turns into the process's
    /// exit status without printing anything more.
    func reportingFailures(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let exit as ExitCode {
            throw exit
        } catch let clean as CleanExit {
            throw clean
        } catch {
            CommandContext.current.warn("Error: \(ErrorReport(error).line)")
            throw ExitCode(ExitStatus(for: error).rawValue)
        }
    }
}

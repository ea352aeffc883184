import CogJobStore

/// Runs an operation on several jobs: every job is tried, each failure is reported on standard
/// error as it happens, and the first failure is rethrown at the end (so the exit status is that
/// of the first job that could not be handled). A busy database stops the batch at once: the
/// next job would wait out the same lock.
enum JobBatch {
    static func each(_ ids: [Int64], _ body: (Int64) throws -> Void) throws {
        var firstFailure: (any Error)? = nil
        var failed = 0
        for id in ids {
            do {
                try body(id)
            } catch let error as JobStoreError where error.code == .busy {
                throw error
            } catch {
                CommandContext.current.warn("job \(id): \(ErrorReport(error).line)")
                firstFailure = firstFailure ?? error
                failed += 1
            }
        }
        if let firstFailure { throw BatchFailure(first: firstFailure, failed: failed, total: ids.count) }
    }
}

/// The first failure of a `JobBatch`; already reported job by job, so its message is short; it has
/// the code and exits with the status of that failure.
struct BatchFailure: ReportableError, CustomStringConvertible {
    var first: any Error
    var failed: Int
    var total: Int
    var errorCode: String { ErrorReport(first).code }
    var errorMessage: String { "\(failed) of \(total) jobs could not be handled (see the messages above)" }
    var description: String { "\(errorCode): \(errorMessage)" }
}

import ArgumentParser
import CogJobStore

/// `cogjobs cancel JOB…`: cancels waiting jobs at once and asks running ones to stop.
struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel jobs: waiting ones at once, running ones at their worker's next check.",
        discussion: """
            A queued or retryable job becomes cancelled at once. A running job gets a cancel request; its worker \
            stops between generated tokens and the job becomes cancelled (if it finishes first, its result is \
            kept). A job that already finished is left alone. Every job is tried; the exit status is that of the \
            first job that could not be handled (2 when it does not exist).
            """)

    @OptionGroup var store: StoreOptions

    @Argument(help: ArgumentHelp("Job ids.", valueName: "job"))
    var jobs: [Int64]

    func validate() throws {
        if jobs.isEmpty { throw ValidationError("name at least one job id") }
    }

    func run() throws {
        try reportingFailures {
            let context = CommandContext.current
            let jobStore = try store.openStore()
            try JobBatch.each(jobs) { id in
                switch try jobStore.cancel(jobID: id) {
                case .cancelled:
                    context.writeLine("job \(id): cancelled")
                case .requested:
                    context.writeLine("job \(id): running; cancel requested (its worker stops at the next token)")
                case .alreadyFinished(let state):
                    context.writeLine("job \(id): already \(state.rawValue); nothing to cancel")
                }
            }
        }
    }
}

import ArgumentParser
import CogJobStore

/// `cogjobs retry JOB…` / `cogjobs retry --state failed`: puts finished-without-result jobs back
/// in the queue with a fresh attempt budget.
struct RetryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry",
        abstract: "Put failed, cancelled, quarantined or retryable jobs back in the queue.",
        discussion: """
            A retried job runs as soon as a worker is free, with its attempts and crash count reset; its error \
            history is kept. Succeeded jobs are not retried (enqueue the image again with --force for a new \
            result); queued and running jobs cannot be retried (exit status 1). Name jobs by id, or retry every \
            job in the given states with --state (optionally only one --task). Every job is tried; the exit status \
            is that of the first job that could not be handled.
            """)

    /// States `retry` accepts.
    static let retryableStates: [JobState] = [.failed, .cancelled, .quarantined, .retryable]

    @OptionGroup var store: StoreOptions

    @Argument(help: ArgumentHelp("Job ids.", valueName: "job"))
    var jobs: [Int64] = []

    @Option(name: .long, parsing: .singleValue,
            help: ArgumentHelp("Retry every job in this state: failed, cancelled, quarantined or retryable "
                                   + "(repeat for several).", valueName: "state"))
    var state: [JobState] = []

    @Option(name: .long, help: ArgumentHelp("With --state: only jobs of this task.", valueName: "task"))
    var task: String?

    func validate() throws {
        if jobs.isEmpty && state.isEmpty {
            throw ValidationError("name the job ids to retry, or select them with --state (see cogjobs retry --help)")
        }
        if !jobs.isEmpty && !state.isEmpty {
            throw ValidationError("name job ids or use --state, not both")
        }
        if let bad = state.first(where: { !Self.retryableStates.contains($0) }) {
            throw ValidationError("--state \(bad.rawValue): only failed, cancelled, quarantined and retryable jobs "
                                  + "can be retried")
        }
        if task != nil && state.isEmpty { throw ValidationError("--task needs --state") }
        try TaskOption.validate(task)
    }

    func run() throws {
        try reportingFailures {
            let context = CommandContext.current
            let jobStore = try store.openStore()
            var ids = jobs
            if !state.isEmpty {
                ids = try Self.allJobs(in: jobStore, states: Set(state), task: task)
                if ids.isEmpty {
                    context.writeLine("No jobs in state \(state.map(\.rawValue).joined(separator: " or ")).")
                    return
                }
            }
            var retried = 0
            defer {
                if !state.isEmpty { context.writeLine("Retried \(retried) of \(ids.count) jobs.") }
            }
            try JobBatch.each(ids) { id in
                try jobStore.retry(jobID: id)
                retried += 1
                context.writeLine("job \(id): queued again")
            }
        }
    }

    /// Every job id in `states` (and `task`), oldest first.
    static func allJobs(in store: JobStore, states: Set<JobState>, task: String?) throws -> [Int64] {
        var filter = JobFilter(states: states, task: task, limit: 1000)
        var ids: [Int64] = []
        while true {
            let page = try store.list(filter)
            ids += page.map(\.id)
            guard page.count == filter.limit, let last = page.last else { break }
            filter.beforeID = last.id
        }
        return ids.reversed()
    }
}

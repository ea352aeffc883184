import ArgumentParser
import CogJobStore
import CogWatcher
import Foundation

/// `cogjobs list`: jobs, newest first, filtered by state, task, image path and age.
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List jobs, newest first.",
        discussion: """
            --since takes a span back from now (90s, 15m, 12h, 7d, 2w, 1h30m) or an ISO-8601 date or time \
            (2025-01-31, 2025-01-31T12:00, 2025-01-31T12:00:00Z; local time without an offset) and keeps jobs \
            created at or after it.
            """)

    @OptionGroup var store: StoreOptions

    @Option(name: .long, parsing: .singleValue,
            help: ArgumentHelp("Only jobs in this state (repeat for several).", valueName: "state"))
    var state: [JobState] = []

    @Option(name: .long, help: ArgumentHelp("Only jobs of this task (caption, vqa, ground, …).", valueName: "task"))
    var task: String?

    @Option(name: .long, help: ArgumentHelp("Only jobs whose image path contains this text.", valueName: "text"))
    var image: String?

    @Option(name: .long, help: ArgumentHelp("Only jobs created at or after this time.", valueName: "when"))
    var since: PointInTime?

    @Option(name: .long, help: ArgumentHelp("At most this many jobs.", valueName: "n"))
    var limit: Int = 50

    @Flag(name: .long, help: "Print JSON (fields in docs/cli.md).")
    var json = false

    func validate() throws {
        if limit < 1 { throw ValidationError("--limit must be at least 1") }
        try TaskOption.validate(task)
    }

    func run() throws {
        try reportingFailures {
            let context = CommandContext.current
            let jobStore = try store.openStore()
            let jobs = try Self.jobs(in: jobStore, filter: JobFilter(states: Set(state), task: task,
                                                                    pathContains: image, limit: limit),
                                     since: since?.date(now: context.clock()))
            if json {
                context.write(try JSONOutput.document(Output(jobs: jobs.map(JSONRecords.Job.init))))
            } else if jobs.isEmpty {
                context.writeLine("No jobs match.")
            } else {
                context.write(Self.render(jobs, now: context.clock()))
            }
        }
    }

    /// Jobs matching `filter`, newest first, created at or after `since`.
    ///
    /// `since` is applied while paging backwards through ids (ids grow with creation time), so the
    /// limit counts only matching jobs and paging stops at the first page older than `since`.
    static func jobs(in store: JobStore, filter: JobFilter, since: Date?) throws -> [JobSummary] {
        guard let since else { return try store.list(filter) }
        var page = filter
        page.limit = max(filter.limit, 200)
        var matches: [JobSummary] = []
        while true {
            let batch = try store.list(page)
            matches += batch.filter { $0.createdAt >= since }
            guard matches.count < filter.limit, batch.count == page.limit, let last = batch.last,
                  last.createdAt >= since else { break }
            page.beforeID = last.id
        }
        return Array(matches.prefix(filter.limit))
    }

    static func render(_ jobs: [JobSummary], now: Date) -> String {
        let rows = jobs.map { job in
            [String(job.id), job.state.rawValue + (job.cancelRequested && job.state == .running ? "*" : ""),
             job.task, "\(job.attempt)/\(job.maxAttempts)", TextFormat.ago(job.createdAt, now: now),
             job.lastErrorCode ?? "", PrintableText.escapingControlCharacters(job.imagePath)]
        }
        return TextFormat.table(header: ["ID", "STATE", "TASK", "ATTEMPT", "CREATED", "ERROR", "IMAGE"], rows: rows)
    }

    /// `list --json`.
    struct Output: Encodable {
        var jobs: [JSONRecords.Job]
    }
}

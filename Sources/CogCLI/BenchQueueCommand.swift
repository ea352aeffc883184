import ArgumentParser
import CogJobStore
import Foundation

/// `cogjobs bench queue`: the queue's own cost per job (enqueue, claim, complete; no model), the
/// median over several rounds on fresh database files.
struct BenchQueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Measure the job queue's overhead per job (enqueue + claim + complete, no model).",
        discussion: """
            Each round enqueues --jobs jobs into a fresh database file, then claims and completes them one by one \
            (a result with one box each), as the daemon would; the report gives microseconds per job and jobs per \
            second, the median of the rounds. Every commit is fsynced (synchronous=FULL, as in production), so the \
            numbers depend on the disk: by default the files go to a temporary folder; --database PATH puts them \
            next to PATH (the database itself is not touched) to measure the disk your job database lives on.
            """)

    @Option(name: .long, help: ArgumentHelp("Jobs per round.", valueName: "n"))
    var jobs: Int = 500

    @Option(name: .long, help: ArgumentHelp("Rounds (the median is reported).", valueName: "n"))
    var rounds: Int = 5

    @Option(name: .long,
            help: ArgumentHelp("Run the rounds in this database's folder instead of a temporary one.",
                               valueName: "path"),
            completion: .file())
    var database: String?

    @Flag(name: .long, inversion: .prefixedNo,
          help: ArgumentHelp("Fsync every commit (synchronous=FULL, as in production); --no-durable measures "
                                 + "without, for comparison."))
    var durable = true

    @Flag(name: .long, help: "Print JSON (fields in docs/cli.md).")
    var json = false

    func validate() throws {
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if rounds < 1 { throw ValidationError("--rounds must be at least 1") }
    }

    func run() throws {
        try reportingFailures {
            let context = CommandContext.current
            let parent = database.map { URL(fileURLWithPath: $0).deletingLastPathComponent() }
                ?? FileManager.default.temporaryDirectory
            var isDirectory: ObjCBool = false
            if let database, !(FileManager.default.fileExists(atPath: parent.path, isDirectory: &isDirectory)
                               && isDirectory.boolValue) {
                // A mistyped path must not create a folder chain; the rounds run next to a real database.
                throw CLIError(.outputFailed, "--database \(database): the folder \(parent.path) does not exist; "
                               + "give the path of the job database (or a file in the folder to measure)")
            }
            let directory = parent.appendingPathComponent(".cogjobs-bench-\(UUID().uuidString)", isDirectory: true)
            defer {
                // The rounds delete their own files; this removes the folder. A leftover empty folder is harmless.
                try? FileManager.default.removeItem(at: directory)
            }
            let report = try QueueBenchmark.run(jobs: jobs, at: directory, rounds: rounds, durable: durable)
            if json {
                context.write(try JSONOutput.document(Record(report: report)))
            } else {
                context.writeLine("Queue overhead, median of \(report.rounds) rounds of \(report.jobs) jobs "
                                  + "(\(durable ? "synchronous=FULL" : "synchronous=NORMAL, not durable"), "
                                  + "in \(report.directory)):")
                context.writeLine("  enqueue          \(TextFormat.decimal(report.enqueueMicroseconds)) µs/job")
                context.writeLine("  claim + complete \(TextFormat.decimal(report.claimCompleteMicroseconds)) µs/job")
                context.writeLine("  total            \(TextFormat.decimal(report.totalMicroseconds)) µs/job = "
                                  + "\(TextFormat.decimal(report.jobsPerSecond)) jobs/s")
            }
        }
    }

    /// `bench queue --json`.
    struct Record: Encodable {
        var report: QueueBenchmark.Report

        enum CodingKeys: String, CodingKey {
            case jobs, rounds, durable, directory
            case enqueueMicroseconds = "enqueue_us_per_job"
            case claimCompleteMicroseconds = "claim_complete_us_per_job"
            case totalMicroseconds = "total_us_per_job", jobsPerSecond = "jobs_per_second"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(report.jobs, forKey: .jobs)
            try c.encode(report.rounds, forKey: .rounds)
            try c.encode(report.durable, forKey: .durable)
            try c.encode(report.directory, forKey: .directory)
            try c.encode(report.enqueueMicroseconds, forKey: .enqueueMicroseconds)
            try c.encode(report.claimCompleteMicroseconds, forKey: .claimCompleteMicroseconds)
            try c.encode(report.totalMicroseconds, forKey: .totalMicroseconds)
            try c.encode(report.jobsPerSecond, forKey: .jobsPerSecond)
        }
    }
}

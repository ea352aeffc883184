import ArgumentParser

/// `cogjobs bench …`: benchmarks. `queue` measures the job queue's own overhead; a model benchmark
/// can sit next to it as another subcommand.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks.",
        subcommands: [BenchQueueCommand.self])
}

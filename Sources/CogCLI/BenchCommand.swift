import ArgumentParser

/// `cogjobs bench …`: benchmarks. `queue` measures the job queue's own overhead; a model benchmark
/// can sit next to it as another subcommand.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks.",
        subcommands: [BenchModelCommand.self, BenchQueueCommand.self],
        defaultSubcommand: BenchModelCommand.self)
}

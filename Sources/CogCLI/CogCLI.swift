import ArgumentParser

/// The root `cogjobs` command; each verb is a subcommand in its own file.
public struct CogJobsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cogjobs",
        abstract: "Run CogVLM on CPU: captions, answers and grounding boxes, as a durable job queue.",
        subcommands: [
            RunCommand.self, DrawCommand.self, ConvertCommand.self,
            DaemonCommand.self, EnqueueCommand.self,
            StatusCommand.self, ListCommand.self, ShowCommand.self, CancelCommand.self, RetryCommand.self,
            PauseCommand.self, ResumeCommand.self, PruneCommand.self, ResultsCommand.self, ExportCommand.self,
            MigrateCommand.self, CheckCommand.self, BenchCommand.self,
            TokenizeCommand.self, DevCommand.self,
        ]
    )

    public init() {}
}

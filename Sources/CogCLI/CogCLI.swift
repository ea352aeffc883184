import ArgumentParser

/// The root `cogjobs` command; each verb is a subcommand in its own file.
public struct CogJobsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cogjobs",
        abstract: "Run CogVLM on CPU: captions, answers and grounding boxes, as a durable job queue.",
        subcommands: [RunCommand.self, DrawCommand.self, TokenizeCommand.self, DaemonCommand.self, EnqueueCommand.self,
                      DevCommand.self]
    )

    public init() {}
}

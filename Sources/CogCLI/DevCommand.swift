import ArgumentParser

/// `cogjobs dev …`: debugging tools for developers (not needed to run jobs).
struct DevCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev",
        abstract: "Developer tools: dump intermediate tensors, build synthetic models.",
        subcommands: [DevForwardCommand.self, DevMakeModelCommand.self]
    )
}

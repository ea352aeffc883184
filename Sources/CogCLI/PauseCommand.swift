import ArgumentParser

/// `cogjobs pause`: stops the workers from claiming new jobs (persistent across daemon restarts).
struct PauseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause the queue: running jobs finish, nothing new starts (until `cogjobs resume`).",
        discussion: "The pause is stored in the database, so it survives daemon restarts.")

    @OptionGroup var store: StoreOptions

    func run() throws {
        try reportingFailures {
            let jobStore = try store.openStore()
            try jobStore.pause()
            CommandContext.current.writeLine("Queue paused: running jobs finish; nothing new starts until "
                                             + "`cogjobs resume`.")
        }
    }
}

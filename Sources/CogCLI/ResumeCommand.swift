import ArgumentParser

/// `cogjobs resume`: lets the workers claim jobs again after `cogjobs pause`.
struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Resume the queue after `cogjobs pause`.")

    @OptionGroup var store: StoreOptions

    func run() throws {
        try reportingFailures {
            let jobStore = try store.openStore()
            try jobStore.resume()
            CommandContext.current.writeLine("Queue resumed: workers claim jobs again.")
        }
    }
}

import ArgumentParser
import CogJobStore

// `--state queued`: job states parse from their stored names, and shell completions offer them.
extension JobState: ExpressibleByArgument {}

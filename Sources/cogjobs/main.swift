// Entry point of the `cogjobs` executable: all commands live in CogCLI.
import CogCLI

await CogJobsCommand.main()

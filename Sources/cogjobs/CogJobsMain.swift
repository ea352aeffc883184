// Entry point of the `cogjobs` executable: every command lives in CogCLI.
import CogCLI

@main
enum CogJobsMain {
    static func main() async {
        // As argument-parser's main(), with failures reported as `Error: <code>: <message>`.
        await CogJobsCommand.runAsMain()
    }
}

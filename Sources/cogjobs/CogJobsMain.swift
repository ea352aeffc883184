// Entry point of the `cogjobs` executable: every command lives in CogCLI.
import ArgumentParser
import CogCLI

@main
enum CogJobsMain {
    static func main() async {
        let root: any AsyncParsableCommand.Type = CogJobsCommand.self
        await root.main()
    }
}

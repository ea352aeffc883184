import ArgumentParser
@testable import CogCLI
import Foundation
import Testing

/// Every verb has help that names each of its options.
@Suite("cogjobs help")
struct HelpTests {
    static let verbs: [(arguments: [String], command: any ParsableCommand.Type, flags: [String])] = [
        (["status"], StatusCommand.self, ["--config", "--database", "--busy-timeout", "--json", "--watch", "--count"]),
        (["list"], ListCommand.self, ["--state", "--task", "--image", "--since", "--limit", "--json", "--database"]),
        (["show"], ShowCommand.self, ["<job>", "--json", "--database"]),
        (["cancel"], CancelCommand.self, ["<job> ...", "--database", "--busy-timeout"]),
        (["retry"], RetryCommand.self, ["<job> ...", "--state", "--task", "--database"]),
        (["pause"], PauseCommand.self, ["--database", "--config"]),
        (["resume"], ResumeCommand.self, ["--database", "--config"]),
        (["prune"], PruneCommand.self, ["--older-than", "--dry-run", "--database"]),
        (["results"], ResultsCommand.self, ["--task", "--image", "--since", "--limit", "--json", "--database"]),
        (["export"], ExportCommand.self, ["--format", "--output", "--task", "--since", "--latest", "--database",
                                          "jsonl", "csv", "coco"]),
        (["migrate"], MigrateCommand.self, ["--json", "--database", "--config"]),
        (["check"], CheckCommand.self, ["--model", "--tokenizer", "--json", "--config", "--database"]),
        (["bench", "queue"], BenchQueueCommand.self, ["--jobs", "--rounds", "--database", "--durable",
                                                      "--no-durable", "--json"]),
    ]

    @Test(arguments: verbs.indices)
    func helpListsEveryOption(index: Int) async throws {
        let verb = Self.verbs[index]
        let help = CogJobsCommand.helpMessage(for: verb.command, columns: 200)
        #expect(help.contains("USAGE: cogjobs \(verb.arguments.joined(separator: " "))"), "\(help)")
        for flag in verb.flags + ["--help"] {
            #expect(help.contains(flag), "`cogjobs \(verb.arguments.joined(separator: " ")) --help` lacks \(flag)")
        }
        let run = await CLI.run(verb.arguments + ["--help"])
        #expect(run.status == 0, "\(run)")
        #expect(run.standardOutput.contains("OVERVIEW:"), "\(run)")
    }

    @Test func rootHelpListsEveryVerb() async {
        let run = await CLI.run(["--help"])
        for verb in Self.verbs.map(\.arguments[0]) + ["bench", "dev", "tokenize"] {
            #expect(run.standardOutput.contains("  \(verb) "), "root help lacks \(verb)")
        }
    }
}

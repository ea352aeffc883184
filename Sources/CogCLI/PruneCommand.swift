import ArgumentParser
import CogJobStore
import Foundation

/// `cogjobs prune --older-than 7d`: deletes old failed, cancelled and quarantined job rows.
struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete failed, cancelled and quarantined jobs that finished before a cut-off.",
        discussion: """
            Deletes those jobs with their error history. Results are never deleted, nor are the jobs that \
            produced them (succeeded jobs), nor waiting or running jobs. --older-than takes a span such as 12h, \
            7d or 2w.
            """)

    @OptionGroup var store: StoreOptions

    // .unconditional: `--older-than -5d` reports the bad span instead of a missing value.
    @Option(name: .long, parsing: .unconditional,
            help: ArgumentHelp("Prune jobs that finished longer ago than this (e.g. 7d).", valueName: "span"))
    var olderThan: TimeSpan

    @Flag(name: .long, help: "Only count what would be deleted.")
    var dryRun = false

    func run() throws {
        try reportingFailures {
            let context = CommandContext.current
            let jobStore = try store.openStore()
            let cutoff = context.clock().addingTimeInterval(-olderThan.seconds)
            if dryRun {
                let count = try jobStore.countPrunable(finishedBefore: cutoff)
                context.writeLine("Would delete \(count) jobs that finished before \(TextFormat.iso8601(cutoff)).")
                return
            }
            let deleted = try jobStore.prune(finishedBefore: cutoff)
            context.writeLine("Deleted \(deleted) jobs that finished before \(TextFormat.iso8601(cutoff)).")
        }
    }
}

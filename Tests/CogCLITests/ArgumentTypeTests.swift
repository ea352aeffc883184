import ArgumentParser
@testable import CogCLI
import CogConfig
import CogJobStore
import Foundation
import Testing

/// Parsing of time spans and points in time, and the exit-status mapping.
@Suite("CLI argument types")
struct ArgumentTypeTests {
    @Test(arguments: [("90s", 90.0), ("15m", 900), ("12h", 43_200), ("7d", 604_800), ("2w", 1_209_600),
                      ("1h30m", 5_400), ("0.5h", 1_800), ("7D", 604_800)])
    func timeSpans(text: String, seconds: Double) {
        #expect(TimeSpan(argument: text)?.seconds == seconds)
    }

    @Test(arguments: ["7", "", "d", "7x", "h7", "1h30", "-1d"])
    func badTimeSpans(text: String) {
        #expect(TimeSpan(argument: text) == nil)
    }

    @Test func pointsInTime() throws {
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(PointInTime(argument: "2h")?.date(now: now) == now.addingTimeInterval(-7200))
        #expect(PointInTime(argument: "2025-01-31T12:00:00Z")?.date(now: now)
                == Date(timeIntervalSince1970: 1_738_324_800))
        #expect(PointInTime(argument: "2025-01-31T14:00:00+02:00")?.date(now: now)
                == Date(timeIntervalSince1970: 1_738_324_800))
        let local = try #require(PointInTime(argument: "2025-01-31")?.date(now: now))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .current
        #expect(calendar.dateComponents([.year, .month, .day, .hour], from: local)
                == DateComponents(year: 2025, month: 1, day: 31, hour: 0))
        #expect(PointInTime(argument: "yesterday") == nil)
    }

    @Test func everyStoreErrorCodeHasAnExitStatus() {
        #expect(ExitStatus.storeStatuses[.busy] == .databaseBusy)
        #expect(ExitStatus.storeStatuses[.notFound] == .notFound)
        #expect(ExitStatus(for: CheckFailure(problemCount: 2)) == .checkFailed)
        #expect(ExitStatus(for: CLIError(.badInput, "x")) == .failure)
        #expect(ExitStatus.usage.rawValue == 64)
    }

    /// Every failure prints as `Error: <code>: <message>` with the status of its domain code.
    @Test func failuresPrintTheirCode() {
        struct Uncoded: Error {}
        let busy = JobStoreError(code: .busy, message: "locked", databasePath: "/db")
        let cases: [(any Error, String, Int32)] = [
            (CLIError(.outputFailed, "cannot write /x"), "Error: cli.output_failed: cannot write /x", 1),
            (JobStoreError(code: .notFound, message: "there is no job 9"), "Error: store.not_found: there is no job 9", 2),
            (CLIError(busy, subject: "job 3"), "Error: store.busy: job 3: locked [database /db]", 3),
            (ValidationError("--threads must be at least 1"), "Error: cli.usage: --threads must be at least 1", 64),
            (Uncoded(), "Error: cli.unexpected: ", 1),
            (CheckFailure(problemCount: 2), "Error: check.problems_found: 2 problems found", 5),
        ]
        for (error, prefix, status) in cases {
            let report = CogJobsCommand.failureReport(for: error)
            #expect(report.text.hasPrefix(prefix) && report.status == status, "\(report)")
        }
        #expect(CogJobsCommand.startsWithCode("store.busy: x") && !CogJobsCommand.startsWithCode("Unknown option: x"))
    }

    /// `run` and the daemon's jobs decode alike for the same options: `run`'s generation defaults
    /// are the configuration's, and top-k is Hugging Face `generate`'s 50 in both.
    @Test func runHasTheConfigurationsGenerationDefaults() throws {
        let run = try RunCommand.parse(["--model", "m"])
        let config = GenerationDefaults()
        #expect(run.topK == config.topK && run.topP == config.topP && run.temperature == config.temperature)
        #expect(run.maxNewTokens == config.maxNewTokens && run.repetitionPenalty == config.repetitionPenalty)
        #expect(config.topK == 50)
    }
}

/// The bench's median: an even count of runs reports the mean of the two middle ones.
@Suite("Bench median")
struct BenchMedianTests {
    @Test func oddAndEvenCounts() {
        #expect(median([3, 1, 2]) == 2)
        #expect(median([4, 1]) == 2.5)
        #expect(median([5, 1, 4, 2]) == 3)
        #expect(median([7]) == 7)
        #expect(median([]) == 0)
    }
}

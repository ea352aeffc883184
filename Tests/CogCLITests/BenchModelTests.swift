@testable import CogCLI
import CogTestSupport
import Foundation
import Testing

/// `cogjobs bench model` end to end on the bundled tiny model (real stages, tiny shapes): every
/// figure the issue asks for is printed, including both batched-decode cases.
@Suite("cogjobs bench model")
struct BenchModelTests {
    @Test(arguments: ["exact", "fast"])
    func printsEveryStage(precision: String) throws {
        let run = try CLI.runBinary(["bench", "model", "--model", Fixtures.cogvlmTiny.path, "--runs", "2", "--decode-tokens", "2",
                                     "--jobs", "3", "--precision", precision, "--skip-machine"])
        #expect(run.status == 0, "\(run)")
        let out = run.standardOutput
        for line in ["vision encode:", "language prefill", "one image end to end", "decode at depth", "prefix reuse:",
                     "batched decode, 3 jobs", "on one image (shared prefix KV):", "on different images:",
                     "if a batched step read its bytes as fast as one job's", "peak RSS"] {
            #expect(out.contains(line), "missing \"\(line)\" in:\n\(out)")
        }
        // The decode figure is paired with a read pass over the same weights before each timed run.
        #expect(out.contains("(median; runs ") && out.contains("of a read pass over the same weights just before each run"),
                "\(out)")
    }

    /// Without --precision the bench measures what the daemon would run: exact for the checkpoint as
    /// released, fast for a q8/q4 conversion; --precision overrides.
    @Test func precisionFollowsTheCheckpoint() throws {
        let stages = ["--runs", "1", "--decode-tokens", "1", "--stages", "decode", "--skip-machine"]
        let released = try CLI.runBinary(["bench", "model", "--model", Fixtures.cogvlmTiny.path] + stages)
        #expect(released.status == 0 && released.standardOutput.contains("precision exact (auto)"), "\(released)")
        try Fixtures.withTemporaryDirectory("bench-q8") { dir in
            let converted = dir.appendingPathComponent("q8").path
            let conversion = try CLI.runBinary(["convert", Fixtures.cogvlmTiny.path, converted, "--format", "q8"])
            #expect(conversion.status == 0, "\(conversion)")
            let auto = try CLI.runBinary(["bench", "model", "--model", converted] + stages)
            #expect(auto.status == 0 && auto.standardOutput.contains("precision fast (auto)"), "\(auto)")
            let forced = try CLI.runBinary(["bench", "model", "--model", converted, "--precision", "exact"] + stages)
            #expect(forced.status == 0 && forced.standardOutput.contains("precision exact\n"), "\(forced)")
            let bad = try CLI.runBinary(["bench", "model", "--model", converted, "--precision", "quick"] + stages)
            #expect(bad.status != 0 && bad.standardError.contains("--precision must be exact or fast"), "\(bad)")
        }
    }

    /// The ceiling printed next to each batched ratio: CogVLM-17B q4 reads 3.78 GB of weights and
    /// 0.66 GB of fp16 KV per token at depth 1244.
    @Test func batchCeilingFollowsTheBytesRead() {
        let different = BenchModelCommand.batchCeiling(jobs: 4, weightBytes: 3.78e9, kvBytes: 0.66e9, sharedPrefix: false)
        #expect(abs(different - 4 * 4.44 / 6.42) < 1e-9)
        #expect(BenchModelCommand.batchCeiling(jobs: 4, weightBytes: 3.78e9, kvBytes: 0.66e9, sharedPrefix: true) == 4)
        #expect(BenchModelCommand.batchCeiling(jobs: 1, weightBytes: 3.78e9, kvBytes: 0.66e9, sharedPrefix: false) == 1)
    }

    @Test func unknownStageIsAUsageError() throws {
        let run = try CLI.runBinary(["bench", "model", "--model", Fixtures.cogvlmTiny.path, "--stages", "decode,warp"])
        #expect(run.status != 0)
        #expect(run.standardError.contains("warp"), "\(run)")
        // Stages that would time nothing are refused rather than printing nothing.
        for (stages, message) in [(",", "names no stage"), ("batch", "give --jobs 2 or more"), ("reuse,batch", "--jobs")] {
            let r = try CLI.runBinary(["bench", "model", "--model", Fixtures.cogvlmTiny.path, "--stages", stages])
            #expect(r.status == 64 && r.standardError.contains(message), "\(stages): \(r)")
        }
    }

    /// More threads than cores would only oversubscribe them (100 000 used to start that many).
    @Test func threadsAreBoundedByTheCores() throws {
        for threads in ["0", "100000"] {
            let run = try CLI.runBinary(["bench", "model", "--model", Fixtures.cogvlmTiny.path, "--threads", threads])
            #expect(run.status == 64 && run.standardError.contains("--threads must be between 1 and"), "\(run)")
        }
    }
}

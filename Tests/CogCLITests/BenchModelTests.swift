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
                     "batched decode, 3 jobs", "on one image (shared prefix KV):", "on different images:", "peak RSS"] {
            #expect(out.contains(line), "missing \"\(line)\" in:\n\(out)")
        }
        // The decode figure is paired with a read pass over the same weights before each timed run.
        #expect(out.contains("(median; runs ") && out.contains("of a read pass over the same weights just before each run"),
                "\(out)")
    }

    @Test func unknownStageIsAUsageError() throws {
        let run = try CLI.runBinary(["bench", "model", "--model", Fixtures.cogvlmTiny.path, "--stages", "decode,warp"])
        #expect(run.status != 0)
        #expect(run.standardError.contains("warp"), "\(run)")
    }
}

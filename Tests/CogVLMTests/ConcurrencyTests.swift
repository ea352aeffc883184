import CogTestSupport
import CogVLM
import Foundation
import Synchronization
import Testing

/// Several sequences on one loaded model from several threads give the same results as each
/// run alone: the weights are shared read-only, each session owns its KV cache and buffers.
@Suite("Shared model, concurrent sessions")
struct ConcurrencyTests {
    /// Runs greedy generation of `steps` tokens for one fixture prompt; returns tokens and the
    /// final logits row.
    static func run(_ model: CogVLMModel, prompt: String, features: [Float]?, steps: Int) throws -> ([Int], [Float]) {
        let expected = try ExpectedTensors(Fixtures.cogvlmTiny.appendingPathComponent("expected/\(prompt).safetensors"))
        let types = try expected.ints("token_type_ids").map { TokenType(rawValue: $0) ?? .language }
        let session = model.makeSession()
        var logits = try session.prefill(inputIDs: try expected.ints("input_ids"), tokenTypes: types,
                                         imageFeatures: types.contains(.vision) ? features : nil)
        var tokens: [Int] = []
        for _ in 0..<steps {
            let next = Greedy.argmax(logits)
            tokens.append(next)
            logits = try session.decode(token: next)
        }
        return (tokens, logits)
    }

    @Test func twoThreadsMatchSolo() throws {
        let model = try CogVLMModel.load(directory: Fixtures.cogvlmTiny)
        let pre = try ExpectedTensors(Fixtures.cogvlmTiny.appendingPathComponent("expected/preprocess.safetensors"))
        let features = try model.encodeImage(pixelValues: try pre.floats("pixel_values"))
        let prompts = ["mm_a", "mm_b", "text_only", "mm_a"]
        let solo = try prompts.map { try Self.run(model, prompt: $0, features: features, steps: 12) }

        let results = Mutex<[Int: ([Int], [Float])]>([:])
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        for (i, prompt) in prompts.enumerated() {
            done.enter()
            let thread = Thread {
                do {
                    // Each thread also re-encodes the image, to share the vision weights too.
                    let f = try model.encodeImage(pixelValues: try pre.floats("pixel_values"))
                    let r = try Self.run(model, prompt: prompt, features: f, steps: 12)
                    results.withLock { $0[i] = r }
                } catch {
                    failures.withLock { $0.append("\(prompt): \(error)") }
                }
                done.leave()
            }
            thread.start()
        }
        #expect(done.wait(timeout: .now() + 120) == .success)
        #expect(failures.withLock { $0 }.isEmpty)
        let concurrent = results.withLock { $0 }
        for i in prompts.indices {
            let r = try #require(concurrent[i])
            #expect(r.0 == solo[i].0, "tokens differ for \(prompts[i])")
            let err = maxAbsDifference(r.1, solo[i].1)
            print("concurrent vs solo \(prompts[i]): max abs logit difference \(err)")
            #expect(err == 0, "threads must not change the arithmetic")
        }
    }
}

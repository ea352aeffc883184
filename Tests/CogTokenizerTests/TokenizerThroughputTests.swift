import CogTokenizer
import Foundation
import Testing

/// Encoding speed on about 1 MB of mixed text (every vector text, repeated). The figures are printed; run
/// `swift test -c release -Xswiftc -enable-testing --filter TokenizerThroughputTests` for the number that counts.
@Suite("Tokenizer throughput")
struct TokenizerThroughputTests {
    /// About 1 MB of text made of all vector texts (English, code, CJK, emoji, byte fallback…), joined by newlines.
    static func corpus() throws -> String {
        let texts = try TokenizerVectors.llama3.get().cases.map(\.text).filter { !$0.contains("\u{2581}") }
        let block = texts.joined(separator: "\n")
        let repeats = max(1, 1_000_000 / block.utf8.count + 1)
        return Array(repeating: block, count: repeats).joined(separator: "\n")
    }

    /// Encodes `text` once and returns the ids and MB/s.
    static func measure(_ tokenizer: Tokenizer, _ text: String) -> (ids: [Int], megabytesPerSecond: Double) {
        let clock = ContinuousClock()
        let start = clock.now
        let ids = tokenizer.encode(text, addSpecialTokens: false)
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        return (ids, Double(text.utf8.count) / 1_000_000 / seconds)
    }

    @Test("LLaMA-2 and Llama-3 encode about 1 MB; speed printed", arguments: ["llama2-json", "llama2-model", "llama3"])
    func throughput(_ name: String) throws {
        let tokenizer =
            switch name {
            case "llama2-json": try FixtureTokenizers.llama2(.tokenizerJSON)
            case "llama2-model": try FixtureTokenizers.llama2(.sentencePieceModel)
            default: try FixtureTokenizers.llama3()
            }
        let text = try Self.corpus()
        let (ids, speed) = Self.measure(tokenizer, text)
        print(
            "tokenizer throughput \(name): \(String(format: "%.2f", speed)) MB/s "
                + "(\(text.utf8.count) bytes, \(ids.count) tokens)")
        // The encoding of the big text must be right, not just fast: it decodes back to the text.
        #expect(Exact(tokenizer.decode(ids)) == Exact(text))
        #if !DEBUG
            // A release build is well above this floor (see the report); it only catches a gross slowdown.
            #expect(speed >= 1.0, "release encoding below 1 MB/s")
        #endif
    }
}

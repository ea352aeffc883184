import CogPipeline
import CogTestSupport
import CogVLM
import Foundation
import Testing

/// The fixtures' stand-in tokenizer (fixture README step 5, manifest `tokenizer.rule`): split on
/// whitespace, `id = 100 + crc32(word utf-8) % modulus` (31000 for the v1 fixture, 127000 for v2).
struct WordCRCEncoder: TextEncoding {
    let modulus: UInt32

    func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        text.split(whereSeparator: \.isWhitespace).map { Int(100 + WordCRCEncoder.crc32(Array($0.utf8)) % modulus) }
    }

    /// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF), as
    /// Python's `zlib.crc32`.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return crc ^ 0xFFFF_FFFF
    }
}

/// Decodes ids as `w<id>` words separated by spaces; ids in `special` are skipped when asked.
struct WordDecoder: TextDecoding {
    var special: Set<Int> = []
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        ids.filter { !(skipSpecialTokens && special.contains($0)) }.map { "w\($0)" }.joined(separator: " ")
    }
}

/// One tiny model fixture: its directory, family and stand-in tokenizer.
struct TinyFixture: Sendable, CustomStringConvertible {
    let name: String
    let directory: URL
    let version: CogVLMVersion
    let encoder: WordCRCEncoder
    let prompts: [String]

    var description: String { name }

    static let v1 = TinyFixture(name: "cogvlm-tiny", directory: Fixtures.cogvlmTiny, version: .v1,
                                encoder: WordCRCEncoder(modulus: 31000), prompts: ["mm_a", "mm_b", "text_only"])
    static let v2 = TinyFixture(name: "cogvlm2-tiny", directory: Fixtures.cogvlm2Tiny, version: .v2,
                                encoder: WordCRCEncoder(modulus: 127000), prompts: ["mm_a", "text_only"])
    static let all = [v1, v2]
    /// (fixture, prompt name) for every recorded prompt.
    static let cases: [(TinyFixture, String)] = all.flatMap { f in f.prompts.map { (f, $0) } }
    /// The prompts whose expected file records greedy generation (`gen.new_token_ids`).
    static let generationCases: [(TinyFixture, String)] = cases.filter { fixture, prompt in
        (try? fixture.expected(prompt).shape("gen.new_token_ids")) != nil  // nil: not recorded (or unreadable)
    }

    func config() throws -> CogVLMConfiguration {
        try CogVLMConfiguration.load(from: directory.appendingPathComponent("config.json"), version: version)
    }

    func expected(_ prompt: String) throws -> ExpectedTensors {
        try ExpectedTensors(directory.appendingPathComponent("expected/\(prompt).safetensors"))
    }

    func pixelValues() throws -> [Float] {
        try ExpectedTensors(directory.appendingPathComponent("expected/preprocess.safetensors")).floats("pixel_values")
    }

    /// A prompt as `manifest.json` records it.
    struct ManifestPrompt {
        let query: String
        let history: [ConversationTurn]
        let image: Bool
        let template: String
        let templateText: String
        let textIDs: [Int]
    }

    func manifestPrompt(_ name: String) throws -> ManifestPrompt {
        let data = try Data(contentsOf: directory.appendingPathComponent("manifest.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let prompts = try #require(root["prompts"] as? [String: Any])
        let p = try #require(prompts[name] as? [String: Any])
        let history = try #require(p["history"] as? [[String]]).map { pair in
            ConversationTurn(question: pair[0], answer: pair[1])
        }
        return ManifestPrompt(
            query: try #require(p["query"] as? String), history: history, image: try #require(p["image"] as? Bool),
            template: try #require(p["template_version"] as? String),
            templateText: try #require(p["template_text"] as? String),
            textIDs: try #require(p["text_ids"] as? [Int]))
    }
}

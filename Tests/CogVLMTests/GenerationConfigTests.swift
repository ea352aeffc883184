import CogTestSupport
import CogVLM
import CogWeights
import Foundation
import Testing

/// Stop tokens follow Hugging Face `generate`: `generation_config.json`'s `eos_token_id` when the
/// file names one, else config.json's.
@Suite("generation_config.json")
struct GenerationConfigTests {
    /// A copy of the CogVLM2 fixture's config.json with `generation` as its generation_config.json
    /// (nil: none), loaded.
    func load(generation: String?) throws -> CogVLMConfiguration {
        try Fixtures.withTemporaryDirectory("generation-config") { dir in
            let config = dir.appendingPathComponent("config.json")
            try FileManager.default.copyItem(at: Fixtures.cogvlm2Tiny.appendingPathComponent("config.json"), to: config)
            if let generation {
                try generation.write(to: dir.appendingPathComponent("generation_config.json"), atomically: true,
                                     encoding: .utf8)
            }
            return try CogVLMConfiguration.load(from: config, version: .v2)
        }
    }

    @Test func stopTokensComeFromTheGenerationConfigWhenItNamesThem() throws {
        let plain = try load(generation: nil)
        #expect(plain.eosTokenIDs == [128001, 128009])  // config.json's
        #expect(try load(generation: #"{"eos_token_id": [128001, 4058]}"#).eosTokenIDs == [128001, 4058])
        #expect(try load(generation: #"{"eos_token_id": 128009}"#).eosTokenIDs == [128009])
        #expect(try load(generation: #"{"do_sample": true}"#).eosTokenIDs == plain.eosTokenIDs)
        // The fixture's own file agrees with its config.json.
        let fixture = try CogVLMConfiguration.load(from: Fixtures.cogvlm2Tiny.appendingPathComponent("config.json"),
                                                   version: .v2)
        #expect(fixture.eosTokenIDs == [128001, 128009])
    }

    @Test func aBadGenerationConfigIsAnErrorNamingTheFile() throws {
        for text in ["{not json", #"{"eos_token_id": ["x"]}"#, #"{"eos_token_id": [999999999]}"#] {
            let error = #expect(throws: WeightsError.self) { try load(generation: text) }
            #expect(error?.code == .badConfig, "\(text)")
            #expect(error?.file?.hasSuffix("generation_config.json") == true, "\(text): \(String(describing: error))")
        }
    }
}

import CogPipeline
import CogTestSupport
import CogVLM
import Foundation
import Testing

@Suite("Prompt layout and templates")
struct PromptTests {
    @Test("stand-in tokenizer reproduces the manifest's text ids", arguments: TinyFixture.cases)
    func standInTokenizer(fixture: TinyFixture, prompt: String) throws {
        let manifest = try fixture.manifestPrompt(prompt)
        #expect(fixture.encoder.encode(manifest.templateText, addSpecialTokens: false) == manifest.textIDs)
        #expect(WordCRCEncoder.crc32(Array("123456789".utf8)) == 0xCBF4_3926)  // the CRC-32 check value
    }

    @Test("build gives the fixture's input_ids, token_type_ids, position_ids and template text",
          arguments: TinyFixture.cases)
    func fixtureLayout(fixture: TinyFixture, prompt: String) throws {
        let manifest = try fixture.manifestPrompt(prompt)
        let expected = try fixture.expected(prompt)
        let builder = try PromptBuilder(config: try fixture.config())
        let built = try builder.build(query: manifest.query, history: manifest.history, hasImage: manifest.image,
                                      template: try PromptTemplate(configValue: manifest.template),
                                      encoder: fixture.encoder)
        #expect(built.text == manifest.templateText)
        #expect(built.inputIDs == (try expected.ints("input_ids")))
        #expect(built.tokenTypes.map(\.rawValue) == (try expected.ints("token_type_ids")))
        #expect(built.positionIDs == (try expected.ints("position_ids")))
        // The default template (config.template_version = chat) gives the same prompt.
        let byDefault = try builder.build(query: manifest.query, history: manifest.history, hasImage: manifest.image,
                                          encoder: fixture.encoder)
        #expect(byDefault == built)
        print("[\(fixture.name)/\(prompt)] \(built.count) tokens, \(built.imageSlotCount) image slots: "
              + built.text.debugDescription)
    }

    @Test("image pad id: config.pad_token_id for v1, 128002 for v2 whatever the config says")
    func padIDs() throws {
        var v1 = try TinyFixture.v1.config()
        v1.padTokenID = 7
        #expect(try PromptBuilder(config: v1).imagePadTokenID == 7)
        var v2 = try TinyFixture.v2.config()
        v2.padTokenID = 7
        let builder = try PromptBuilder(config: v2)
        #expect(builder.imagePadTokenID == 128002)
        #expect(builder.bosTokenID == 128000)
        let prompt = try builder.build(query: "Hi", hasImage: true, encoder: TinyFixture.v2.encoder)
        let slots = v2.imageTokenCount
        #expect(Array(prompt.inputIDs.prefix(1 + slots)) == [128000] + Array(repeating: 128002, count: slots))
    }

    @Test("templates: base ignores history; chat and vqa include it")
    func templateTexts() {
        let history = [ConversationTurn(question: "Q1?", answer: "A1."),
                       ConversationTurn(question: "Q2?", answer: "A2.")]
        #expect(PromptTemplate.base.text(query: "Where?", history: history) == "Where?")
        #expect(PromptTemplate.chat.text(query: "Where?", history: history)
                == "Question: Q1? Answer: A1.\nQuestion: Q2? Answer: A2.\nQuestion: Where? Answer:")
        #expect(PromptTemplate.vqa.text(query: "Where?", history: history)
                == "Question: Q1? Short answer: A1.\nQuestion: Q2? Short answer: A2.\nQuestion: Where? Short answer:")
        #expect(PromptTemplate.vqa.text(query: "How many?") == "Question: How many? Short answer:")
    }

    @Test("template override, text-only layout, unknown template names")
    func overrideAndTextOnly() throws {
        let builder = try PromptBuilder(config: try TinyFixture.v1.config())
        let encoder = TinyFixture.v1.encoder
        let base = try builder.build(query: "Describe this image.", hasImage: false, template: .base, encoder: encoder)
        #expect(base.text == "Describe this image.")
        #expect(base.inputIDs == [1] + encoder.encode("Describe this image.", addSpecialTokens: false))
        #expect(base.tokenTypes.allSatisfy { $0 == .language })
        #expect(base.positionIDs == Array(0..<base.count))
        #expect(try PromptTemplate(configValue: "VQA") == .vqa)
        #expect(throws: PipelineError.self) { try PromptTemplate(configValue: "chat_old") }
    }

    @Test("tokenizer failures become pipeline errors")
    func tokenizerFailure() throws {
        struct Failing: TextEncoding {
            struct Boom: Error {}
            func encode(_ text: String, addSpecialTokens: Bool) throws -> [Int] { throw Boom() }
        }
        let builder = try PromptBuilder(config: try TinyFixture.v1.config())
        let error = #expect(throws: PipelineError.self) {
            try builder.build(query: "x", hasImage: false, encoder: Failing())
        }
        #expect(error?.code == .tokenizerFailed)
    }
}

@Suite("Task presets")
struct TaskPresetTests {
    @Test("query wording per task")
    func wording() throws {
        #expect(try TaskPreset.caption.query() == "Describe this image.")
        #expect(try TaskPreset.caption.query(prompt: "What is this?") == "What is this?")
        #expect(try TaskPreset.vqa.query(prompt: "How many cars?") == "How many cars?")
        #expect(try TaskPreset.ground.query(prompt: "the red car")
                == "Where is the red car? answer in [[x0,y0,x1,y1]] format.")
        #expect(try TaskPreset.groundCaption.query()
                == "Can you provide a description of the image and include the coordinates [[x0,y0,x1,y1]] "
                   + "for each mentioned object?")
        let box = try GroundingBox(x0: 86, y0: 540, x1: 400, y1: 760)
        #expect(try TaskPreset.describeBox.query(box: box)
                == "Tell me what you see within the designated area [[086,540,400,760]] in the picture.")
        #expect(try TaskPreset.describeBox.query(prompt: "What is at <objs>?", box: box)
                == "What is at [[086,540,400,760]]?")
        #expect(TaskPreset(rawValue: "ground-caption") == .groundCaption)
        #expect(TaskPreset(rawValue: "describe-box") == .describeBox)
    }

    @Test("missing inputs are errors with stable codes")
    func missing() throws {
        #expect((#expect(throws: PipelineError.self) { try TaskPreset.vqa.query() })?.code == .missingPrompt)
        #expect((#expect(throws: PipelineError.self) { try TaskPreset.vqa.query(prompt: "  ") })?.code
                == .missingPrompt)
        #expect((#expect(throws: PipelineError.self) { try TaskPreset.ground.query() })?.code == .missingPrompt)
        #expect((#expect(throws: PipelineError.self) { try TaskPreset.describeBox.query() })?.code == .missingBox)
        let box = try GroundingBox(x0: 0, y0: 0, x1: 999, y1: 999)
        #expect((#expect(throws: PipelineError.self) {
            try TaskPreset.describeBox.query(prompt: "Describe it.", box: box)
        })?.code == .badTemplate)
    }

    @Test("box text: three-digit padding, parsing, range checks, pixel round trip")
    func boxes() throws {
        let box = try GroundingBox(parsing: "[[86, 540,400,760]]")
        #expect(box.promptText == "[[086,540,400,760]]")
        #expect(try GroundingBox(parsing: "0,5,999,999").coordinateText == "000,005,999,999")
        for bad in ["1,2,3", "1,2,3,x", "500,0,400,10", "0,0,1000,10", "", "[[1,2,3,4;5,6,7,8]]", "-1,0,5,5"] {
            let error = #expect(throws: PipelineError.self, "\(bad)") { try GroundingBox(parsing: bad) }
            #expect(error?.code == .badBox)
        }
        #expect(throws: PipelineError.self) { try GroundingBox(x0: 10, y0: 10, x1: 5, y1: 20) }
        let json = try JSONEncoder().encode(box)
        #expect(try JSONDecoder().decode(GroundingBox.self, from: json) == box)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(GroundingBox.self, from: Data(#"{"x0":5,"y0":0,"x1":1,"y1":9}"#.utf8))
        }
        let fromPixels = try GroundingBox(pixels: PixelBox(x0: 55, y0: 259, x1: 256, y1: 480), width: 640, height: 480)
        #expect(fromPixels == (try GroundingBox(x0: 85, y0: 539, x1: 400, y1: 999)))
        #expect(throws: PipelineError.self) {
            try GroundingBox(pixels: PixelBox(x0: 0, y0: 0, x1: 641, y1: 10), width: 640, height: 480)
        }
    }
}

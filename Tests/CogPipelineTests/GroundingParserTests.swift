import CogPipeline
import Testing

@Suite("Grounding output parser")
struct GroundingParserTests {
    func box(_ a: Int, _ b: Int, _ c: Int, _ d: Int) throws -> GroundingBox {
        try GroundingBox(x0: a, y0: b, x1: c, y1: d)
    }

    @Test("one box: phrase, thousandths and pixels of a 640×480 original")
    func singleBox() throws {
        let result = GroundingParser.parse("A dog[[100,200,300,400]]", width: 640, height: 480)
        #expect(result.problems.isEmpty)
        #expect(result.boxes.count == 1)
        let found = try #require(result.boxes.first)
        #expect(found.phrase == "A dog")
        #expect(found.box == (try box(100, 200, 300, 400)))
        // x·640/1000, y·480/1000: 64, 96, 192, 192.
        #expect(found.pixels == PixelBox(x0: 64, y0: 96, x1: 192, y1: 192))
        #expect(found.offset == 5)
    }

    @Test("pixels follow the official int(v / 1000 * size) in double precision")
    func officialRounding() throws {
        // Python: int(570/1000*100) == 56 (0.57*100 = 56.99999999999999), not 57; 999 of 480 → 479.
        let result = GroundingParser.parse("x[[570,086,999,999]]", width: 100, height: 640)
        #expect(result.boxes.first?.pixels == PixelBox(x0: 56, y0: 55, x1: 99, y1: 639))
        let wide = GroundingParser.parse("the sign[[086,540,400,760]]", width: 640, height: 480)
        #expect(wide.boxes.first?.pixels == PixelBox(x0: 55, y0: 259, x1: 256, y1: 364))
    }

    @Test("several boxes for one phrase share it; several phrases each get their own")
    func severalBoxesAndPhrases() throws {
        let text = "A man[[050,100,400,990]] riding a horse[[300,400,900,999]] next to two cats"
            + "[[010,200,120,300;600,210,690,320]] on the beach[[000,700,999,999]]."
        let result = GroundingParser.parse(text, width: 1000, height: 1000)
        #expect(result.problems.isEmpty)
        #expect(result.boxes.map(\.phrase) == ["A man", "a horse", "two cats", "two cats", "the beach"])
        #expect(result.boxes[2].box == (try box(10, 200, 120, 300)))
        #expect(result.boxes[3].box == (try box(600, 210, 690, 320)))
        #expect(result.boxes[2].offset == result.boxes[3].offset)
        #expect(result.boxes[1].precedingText == "riding a horse")
        #expect(result.boxes[0].pixels == PixelBox(x0: 50, y0: 100, x1: 400, y1: 990))
    }

    @Test("phrase rules: after clause punctuation, after a preposition, the official '?' rule, box first")
    func phraseRules() throws {
        let cases: [(String, String)] = [
            ("There is a red car, and a bus[[100,100,200,200]]", "a bus"),
            ("A cup sitting on grass[[100,100,200,200]]", "grass"),
            ("The largest dogs[[100,100,200,200]]", "The largest dogs"),
            ("Where is the dog?[[100,100,200,200]]", "Where is the dog?"),
            ("[[100,100,200,200]]", ""),
            ("Found it: the lamp [[100,100,200,200]]", "the lamp"),
            ("  people\n[[100,100,200,200]]", "people"),
            ("Cars.\r\nred bikes[[100,100,200,200]]", "red bikes"),
        ]
        for (text, phrase) in cases {
            let result = GroundingParser.parse(text, width: 10, height: 10)
            #expect(result.problems.isEmpty, "\(text)")
            #expect(result.boxes.map(\.phrase) == [phrase], "\(text)")
        }
    }

    @Test("malformed boxes are each reported, never dropped silently, and good boxes survive")
    func malformed() throws {
        let cases: [(String, GroundingProblem.Kind)] = [
            ("a cat[[300,100,200,200]]", .inverted),
            ("a cat[[100,300,200,200]]", .inverted),
            ("a cat[[100,100,1000,200]]", .outOfRange),
            ("a cat[[100,100,200]]", .wrongCoordinateCount),
            ("a cat[[100,100,200,200,300]]", .wrongCoordinateCount),
            ("a cat[[1a0,100,200,200]]", .notANumber),
            ("a cat[[100,-5,200,200]]", .notANumber),
            ("a cat[[100,100,200,200", .unclosedBrackets),
            ("a cat[[100,100,200,200\r\n]]", .unclosedBrackets),
            ("a cat[[100,100,200,200]", .unclosedBrackets),
            ("a cat[[]]", .emptyBox),
            ("a cat[100,100,200,200]", .singleBrackets),
            ("a cat[[99999999999999999999999,1,2,3]]", .outOfRange),
        ]
        for (text, kind) in cases {
            let result = GroundingParser.parse(text, width: 640, height: 480)
            #expect(result.boxes.isEmpty, "\(text)")
            #expect(result.problems.map(\.kind) == [kind], "\(text)")
            #expect(result.problems.first?.message.isEmpty == false)
        }

        let mixed = GroundingParser.parse(
            "a dog[[100,100,200,200;;500,500,400,600;300,300,400,400]] and a cat[[1,2\nthe sky[[000,000,999,300]]",
            width: 640, height: 480)
        let wantBoxes = [try box(100, 100, 200, 200), try box(300, 300, 400, 400), try box(0, 0, 999, 300)]
        #expect(mixed.boxes.map(\.box) == wantBoxes)
        #expect(mixed.boxes.map(\.phrase) == ["a dog", "a dog", "the sky"])
        #expect(mixed.problems.map(\.kind) == [.emptyBox, .inverted, .unclosedBrackets])
        #expect(mixed.problems[1].text == "500,500,400,600")
    }

    @Test("text without boxes gives nothing; random bracket soup never crashes")
    func robustness() {
        #expect(GroundingParser.parse("Just a sentence.", width: 5, height: 5) == GroundingResult())
        let alphabet = Array("[];,0123456789 a?\n.")
        var random = SeededRandom(seed: 5)
        for _ in 0..<2000 {
            let length = Int(random.next() % 40)
            let text = String((0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            let result = GroundingParser.parse(text, width: 640, height: 480)
            for b in result.boxes {
                #expect(b.box.x0 <= b.box.x1 && b.box.y0 <= b.box.y1 && b.box.x1 <= 999 && b.box.y1 <= 999)
                #expect(b.pixels.x1 <= 640 && b.pixels.y1 <= 480)
            }
        }
    }
}

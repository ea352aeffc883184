import CogTestSupport
import Foundation
import Testing

@testable import CogImage

/// Box drawing, the bitmap font and JPEG encoding.
@Suite("Drawing boxes and encoding JPEG")
struct DrawingTests {
    static func fixtureImage() throws -> RGBImage {
        try ImageDecoder.decode(contentsOf: Fixtures.cogvlmTiny.appendingPathComponent("test_image.png"))
    }

    static func blank(width: Int, height: Int, gray: UInt8 = 128) -> RGBImage {
        RGBImage(width: width, height: height, pixels: [UInt8](repeating: gray, count: width * height * 3))
    }

    typealias RGB = (red: UInt8, green: UInt8, blue: UInt8)

    static func isColor(_ pixel: RGB, _ color: RGB) -> Bool {
        pixel.red == color.red && pixel.green == color.green && pixel.blue == color.blue
    }

    @Test("every glyph has 7 rows of 5 columns and printable characters have ink")
    func fontTableIsWellFormed() {
        #expect(BitmapFont.rows.count == 95)
        for (index, rows) in BitmapFont.rows.enumerated() {
            #expect(rows.count == 7, "glyph \(index + 32) has \(rows.count) rows")
            #expect(rows.allSatisfy { $0 < 32 }, "glyph \(index + 32) is wider than 5 columns")
            if index > 0 { #expect(rows.contains { $0 != 0 }, "glyph \(index + 32) is empty") }
        }
        // All 94 visible glyphs differ from each other.
        #expect(Set(BitmapFont.rows.dropFirst()).count == 94)
        // Non-ASCII falls back to "?".
        #expect(BitmapFont.glyph(for: "é") == BitmapFont.glyph(for: "?"))
    }

    @Test("outline pixels take the box colour, inside and outside stay untouched")
    func outlineIsExact() {
        let image = Self.blank(width: 120, height: 90)
        let drawn = image.drawing(boxes: [LabeledBox(x0: 30, y0: 40, x1: 80, y1: 70, label: "")])
        let color = BoxRenderer.color(forBoxAt: 0)
        #expect(BoxRenderer.lineThickness(width: 120, height: 90) == 2)
        for x in 30...80 {
            #expect(Self.isColor(drawn.pixel(x: x, y: 40), color) && Self.isColor(drawn.pixel(x: x, y: 41), color))
            #expect(Self.isColor(drawn.pixel(x: x, y: 70), color) && Self.isColor(drawn.pixel(x: x, y: 69), color))
        }
        for y in 40...70 {
            #expect(Self.isColor(drawn.pixel(x: 30, y: y), color) && Self.isColor(drawn.pixel(x: 31, y: y), color))
            #expect(Self.isColor(drawn.pixel(x: 80, y: y), color) && Self.isColor(drawn.pixel(x: 79, y: y), color))
        }
        // Third pixel inward and everything outside: unchanged.
        #expect(drawn.pixel(x: 32, y: 55) == (128, 128, 128))
        #expect(drawn.pixel(x: 55, y: 42) == (128, 128, 128))
        #expect(drawn.pixel(x: 29, y: 55) == (128, 128, 128))
        #expect(drawn.pixel(x: 55, y: 39) == (128, 128, 128))
        #expect(drawn.pixel(x: 81, y: 71) == (128, 128, 128))
        let changed = zip(drawn.pixels, image.pixels).filter { $0 != $1 }.count / 3
        #expect(changed == 2 * 51 * 2 + 2 * 27 * 2)  // two rows of 51, two columns of 27 (corners once)
    }

    @Test("the label sits above the box on a filled background with contrasting text")
    func labelAboveBox() {
        let image = Self.blank(width: 160, height: 100)
        let drawn = image.drawing(boxes: [
            LabeledBox(x0: 20, y0: 40, x1: 100, y1: 90, label: "car"),
            LabeledBox(x0: 110, y0: 2, x1: 150, y1: 60, label: "HI"),
        ])
        let first = BoxRenderer.color(forBoxAt: 0)
        let text = BoxRenderer.textColor(on: BoxRenderer.palette[0])
        // Background: 3 characters -> (3*6-1) + 2*2 = 21 px wide, 7 + 2*2 = 11 px tall, rows 29..<40.
        var background = 0
        var ink = 0
        for y in 29..<40 {
            for x in 20..<41 {
                let pixel = drawn.pixel(x: x, y: y)
                if Self.isColor(pixel, first) { background += 1 }
                if pixel == (text.red, text.green, text.blue) { ink += 1 }
            }
        }
        #expect(background + ink == 21 * 11)
        #expect(ink > 15)
        #expect(drawn.pixel(x: 41, y: 35) == (128, 128, 128))
        #expect(drawn.pixel(x: 20, y: 28) == (128, 128, 128))
        // No room above the second box (top at y=2): its label goes inside, from y=2 down; the
        // label "HI" is 2*6-1+4 = 15 px wide starting at x=110.
        let second = BoxRenderer.color(forBoxAt: 1)
        #expect(Self.isColor(drawn.pixel(x: 110, y: 12), second))
        #expect(Self.isColor(drawn.pixel(x: 124, y: 3), second))
        #expect(!Self.isColor(first, second))
    }

    @Test("boxes partly or wholly outside the image, swapped or degenerate, do not crash")
    func odditiesAreClipped() {
        let image = Self.blank(width: 40, height: 30)
        let boxes = [
            LabeledBox(x0: -50, y0: -50, x1: 500, y1: 500, label: "everything"),
            LabeledBox(x0: 35, y0: 25, x1: 5, y1: 3, label: "swapped"),
            LabeledBox(x0: 100, y0: 100, x1: 200, y1: 200, label: "outside"),
            LabeledBox(x0: 10, y0: 10, x1: 10, y1: 10, label: "dot"),
            LabeledBox(x0: 0, y0: 0, x1: 39, y1: 29, label: String(repeating: "long label ", count: 20)),
            LabeledBox(x0: 3, y0: 3, x1: 20, y1: 20, label: "ünïcødé 猫"),
        ]
        let drawn = image.drawing(boxes: boxes)
        #expect(drawn.width == 40 && drawn.height == 30)
        #expect(drawn != image)
        // One-pixel image: still fine.
        let tiny = Self.blank(width: 1, height: 1).drawing(boxes: [LabeledBox(x0: 0, y0: 0, x1: 0, y1: 0, label: "x")])
        #expect(tiny.pixels.count == 3)
    }

    @Test("decode -> draw -> encodeJPEG -> decode keeps the box where it was drawn")
    func roundTripThroughJPEG() throws {
        let image = try Self.fixtureImage()  // 97x61
        let box = LabeledBox(x0: 12, y0: 22, x1: 70, y1: 55, label: "disc")
        let drawn = image.drawing(boxes: [box])
        let jpeg = try drawn.encodeJPEG(quality: 95)
        #expect(jpeg.starts(with: [0xFF, 0xD8, 0xFF]))
        let decoded = try ImageDecoder.decode(data: jpeg)
        #expect(decoded.width == image.width && decoded.height == image.height)
        let color = BoxRenderer.color(forBoxAt: 0)
        func distance(_ a: RGB, _ b: RGB) -> Int {
            max(abs(Int(a.red) - Int(b.red)), abs(Int(a.green) - Int(b.green)), abs(Int(a.blue) - Int(b.blue)))
        }
        // Along the middle of each side, the decoded outline is close to the box colour.
        var worstOutline = 0
        for x in 20...62 { worstOutline = max(worstOutline, distance(decoded.pixel(x: x, y: 23), color)) }
        for y in 30...47 { worstOutline = max(worstOutline, distance(decoded.pixel(x: 13, y: y), color)) }
        for y in 30...47 { worstOutline = max(worstOutline, distance(decoded.pixel(x: 69, y: y), color)) }
        // Well inside the box, the picture is what it was before drawing.
        var worstInside = 0
        for y in 30...47 {
            for x in 22...60 {
                worstInside = max(worstInside, distance(decoded.pixel(x: x, y: y), image.pixel(x: x, y: y)))
            }
        }
        print("JPEG round trip (q95, \(jpeg.count) bytes): outline max channel error \(worstOutline), "
            + "interior max error vs original \(worstInside)")
        #expect(worstOutline <= 40)
        #expect(worstInside <= 30)
        // The label background above the box is box-coloured too (rows 11..<22, x 12...).
        #expect(distance(decoded.pixel(x: 13, y: 12), color) <= 60)
    }

    @Test("a larger drawing with several boxes encodes; the file is left for a person to look at")
    func sampleDrawingForPeople() throws {
        let photo = try Self.fixtureImage().resizedBicubic(width: 776, height: 488)
        let drawn = photo.drawing(boxes: [
            LabeledBox(x0: 260, y0: 110, x1: 520, y1: 250, label: "a red rectangle"),
            LabeledBox(x0: 500, y0: 250, x1: 740, y1: 470, label: "the blue disc"),
            LabeledBox(x0: 10, y0: 5, x1: 200, y1: 150, label: "Sky? [[12,5,260,300]] 0-9 {}"),
        ])
        #expect(BoxRenderer.lineThickness(width: 776, height: 488) == 2)
        let jpeg = try drawn.encodeJPEG()
        // One fixed path, replaced by every run (atomically: runs in other checkouts may read it
        // meanwhile), so looking at it never means a new directory per run.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cogjobs-sample-drawing.jpg")
        try jpeg.write(to: url, options: .atomic)
        print("sample drawing written to \(url.path) (\(jpeg.count) bytes)")
        #expect(try ImageDecoder.decode(contentsOf: url).width == 776)
    }

    @Test("encodeJPEG rejects bad quality and produces decodable bytes at the extremes")
    func encoderQuality() throws {
        let image = try Self.fixtureImage()
        for quality in [0, 101, -5] {
            let error = try #require(throws: ImageError.self) { try image.encodeJPEG(quality: quality) }
            #expect(error.code == .invalidArgument)
        }
        let small = try image.encodeJPEG(quality: 1)
        let large = try image.encodeJPEG(quality: 100)
        #expect(small.count < large.count)
        #expect(try ImageDecoder.decode(data: small).width == image.width)
        let decoded = try ImageDecoder.decode(data: large)
        let comparison = PixelComparison(decoded, expected: image.pixels)
        print("JPEG q100 round trip of the fixture image: \(comparison)")
        #expect(comparison.maxAbsoluteDifference <= 6)
    }
}

import CogTestSupport
import Foundation
import Testing

@testable import CogImage

/// Broken, hostile and mislabelled inputs: each gives an `ImageError` with the right code and
/// the file's name, never a crash.
@Suite("Bad image input")
struct BadInputTests {
    @Test("each bad golden file gives its error code and names the file", arguments: GoldenImages.badCases)
    func badFileGivesCode(name: String) throws {
        let testCase = try #require(try GoldenImages.manifest().cases[name])
        let expectedCode = try #require(testCase.expect_code)
        let url = GoldenImages.url(testCase)
        let error = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: url) }
        print("\(name): \(error)   [Pillow: \(testCase.pillow ?? "?")]")
        #expect(error.code.rawValue == expectedCode)
        #expect(error.file == url.path)
        #expect(error.description.contains(url.path))
        #expect(!error.message.isEmpty)
    }

    @Test("a PNG header claiming 30000x30000 is rejected from the header alone")
    func hugeHeaderRejectedBeforeDecoding() throws {
        let url = GoldenImages.directory.appendingPathComponent("inputs/bad_huge_header.png")
        let data = try Data(contentsOf: url)
        #expect(data.count < 200)
        let header = try ImageDecoder.header(of: data)
        #expect(header == ImageHeader(format: .png, width: 30000, height: 30000))
        // The file's IDAT holds 64 bytes, far too little for 30000 rows: had the decoder run, the
        // error would be truncated/corrupt. `.tooManyPixels` proves the header check came first.
        let error = try #require(throws: ImageError.self) { try ImageDecoder.decode(data: data) }
        #expect(error.code == .tooManyPixels)
        #expect(error.width == 30000 && error.height == 30000)
        #expect(error.message.contains("30000x30000 = 900,000,000 pixels (900.0 megapixels)"))
        #expect(error.message.contains("limit of 50,000,000 pixels (50.0 megapixels)"))
        #expect(error.decoderMessage == nil)
    }

    @Test("the pixel limit is configurable and inclusive")
    func pixelLimitIsConfigurable() throws {
        let url = GoldenImages.directory.appendingPathComponent("inputs/png_rgb8.png")
        let pixels = 45 * 31
        let image = try ImageDecoder.decode(contentsOf: url, maxPixels: pixels)
        #expect(image.width * image.height == pixels)
        let error = try #require(throws: ImageError.self) {
            try ImageDecoder.decode(contentsOf: url, maxPixels: pixels - 1)
        }
        #expect(error.code == .tooManyPixels)
        // Small numbers are exact pixel counts, not "0.0 megapixels".
        #expect(error.message.contains("45x31 = 1,395 pixels, more than the limit of 1,394 pixels"), "\(error.message)")
        let jpeg = GoldenImages.directory.appendingPathComponent("inputs/jpeg_progressive.jpg")
        #expect(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: jpeg, maxPixels: 100) }
        let zero = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: url, maxPixels: 0) }
        #expect(zero.code == .invalidArgument)
    }

    @Test("a corrupt CRC carries libpng's message")
    func crcMessage() throws {
        let url = GoldenImages.directory.appendingPathComponent("inputs/bad_crc.png")
        let error = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: url) }
        #expect(error.code == .corrupt)
        #expect(error.decoderMessage?.contains("CRC") == true)
    }

    @Test("a truncated JPEG carries libjpeg's message")
    func truncatedJPEGMessage() throws {
        let url = GoldenImages.directory.appendingPathComponent("inputs/bad_truncated.jpg")
        let error = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: url) }
        #expect(error.code == .truncated)
        #expect(error.decoderMessage?.contains("Premature end of JPEG file") == true)
    }

    @Test("12-bit and lossless JPEGs are reported as unsupported with libjpeg's reason")
    func unsupportedJPEGVariants() throws {
        let original = [UInt8](try Data(
            contentsOf: GoldenImages.directory.appendingPathComponent("inputs/jpeg_baseline_420.jpg")))
        #expect(try ImageDecoder.header(of: Data(original)) == ImageHeader(format: .jpeg, width: 45, height: 31))
        // The SOF0 marker: FF C0, 2-byte length, then the sample precision.
        let sof = try #require((0..<(original.count - 1)).first { original[$0] == 0xFF && original[$0 + 1] == 0xC0 })
        var twelveBit = original
        twelveBit[sof + 4] = 12
        let precisionError = try #require(throws: ImageError.self) { try ImageDecoder.decode(data: Data(twelveBit)) }
        #expect(precisionError.code == .unsupported)
        #expect(precisionError.decoderMessage?.contains("precision 12") == true)
        var lossless = original
        lossless[sof + 1] = 0xC3
        let processError = try #require(throws: ImageError.self) { try ImageDecoder.decode(data: Data(lossless)) }
        #expect(processError.code == .unsupported)
        print("12-bit: \(precisionError)\nlossless: \(processError)")
    }

    @Test("a missing file is unreadable and named")
    func missingFile() throws {
        try Fixtures.withTemporaryDirectory("image") { directory in
            let url = directory.appendingPathComponent("no-such-photo.jpg")
            let error = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: url) }
            #expect(error.code == .unreadable)
            #expect(error.file == url.path)
        }
    }

    @Test("a directory is unreadable, not a crash, and the message says it is a folder")
    func directoryInsteadOfFile() throws {
        try Fixtures.withTemporaryDirectory("image") { url in
            let error = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: url) }
            #expect(error.code == .unreadable)
            #expect(error.message.contains("folder, not an image file"), "\(error)")
        }
    }

    /// Reading a FIFO would block until a writer comes; it is refused at once instead.
    @Test("a named pipe is refused without blocking", .timeLimit(.minutes(1)))
    func pipeInsteadOfFile() throws {
        try Fixtures.withTemporaryDirectory("image") { directory in
            let fifo = directory.appendingPathComponent("pipe.jpg")
            try #require(mkfifo(fifo.path, 0o600) == 0)
            let error = try #require(throws: ImageError.self) { try ImageDecoder.decode(contentsOf: fifo) }
            #expect(error.code == .unreadable)
            #expect(error.message.contains("not a regular file"), "\(error)")
            #expect(throws: ImageError.self) { try ImageDecoder.header(contentsOf: fifo) }
        }
    }

    @Test("formats are detected by magic bytes, not by name")
    func detectionIgnoresName() throws {
        let directory = try Fixtures.temporaryDirectory("image")
        defer { Fixtures.removeTemporaryDirectory(directory) }
        // A PNG named .jpg decodes as PNG.
        let png = try Data(contentsOf: GoldenImages.directory.appendingPathComponent("inputs/png_rgb8.png"))
        let misnamed = directory.appendingPathComponent("actually-a-png.jpg")
        try png.write(to: misnamed)
        let image = try ImageDecoder.decode(contentsOf: misnamed)
        #expect(image.width == 45)
        #expect(try ImageDecoder.header(contentsOf: misnamed).format == .png)
        // Other recognised formats are named in the error.
        let gif = Data("GIF89a\u{1}\u{0}\u{1}\u{0}".utf8)
        let gifError = try #require(throws: ImageError.self) { try ImageDecoder.decode(data: gif) }
        #expect(gifError.code == .unsupported)
        #expect(gifError.message.contains("GIF"))
        let webp = Data("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8)
        #expect(throws: ImageError.self) { try ImageDecoder.decode(data: webp) }
        // Just the magic bytes, nothing after: truncated, not a crash.
        let soiOnly = Data([0xFF, 0xD8, 0xFF])
        let soiError = try #require(throws: ImageError.self) { try ImageDecoder.decode(data: soiOnly) }
        #expect(soiError.code == .truncated || soiError.code == .corrupt)
        let signatureOnly = Data(ImageFormat.pngMagic)
        let signatureError = try #require(throws: ImageError.self) { try ImageDecoder.decode(data: signatureOnly) }
        #expect(signatureError.code == .truncated)
    }

    /// Cuts and byte flips across every golden JPEG and PNG: each attempt either decodes or throws
    /// an `ImageError`; the process must survive all of them (libjpeg / libpng longjmp paths).
    @Test("truncations and byte flips never crash")
    func mangledInputsNeverCrash() throws {
        let manifest = try GoldenImages.manifest()
        var generator = SeededGenerator(seed: 7)
        var decoded = 0
        var failed: [ImageError.Code: Int] = [:]
        for name in (GoldenImages.jpegCases + GoldenImages.pngCases).sorted() {
            let testCase = try #require(manifest.cases[name])
            let original = [UInt8](try Data(contentsOf: GoldenImages.url(testCase)))
            var variants: [[UInt8]] = []
            for cut in stride(from: 0, to: original.count, by: max(1, original.count / 12)) {
                variants.append(Array(original.prefix(cut)))
            }
            for _ in 0..<12 {
                var mangled = original
                for _ in 0..<3 {
                    let position = Int(generator.next() % UInt64(mangled.count))
                    mangled[position] ^= UInt8(truncatingIfNeeded: generator.next() | 1)
                }
                variants.append(mangled)
            }
            for bytes in variants {
                do {
                    let image = try ImageDecoder.decode(data: Data(bytes), maxPixels: 1_000_000)
                    #expect(image.pixels.count == image.width * image.height * 3)
                    decoded += 1
                } catch let error as ImageError {
                    failed[error.code, default: 0] += 1
                }
            }
        }
        print("mangled inputs: \(decoded) decoded, failures by code: "
            + failed.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: ", "))
        #expect(failed.values.reduce(0, +) > 0)
    }
}

/// SplitMix64: a small deterministic generator so the mangling is the same on every run.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

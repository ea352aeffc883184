import CogTestSupport
import Foundation
import Testing

@testable import CogImage

/// The CogVLM fixtures' recorded preprocessing (Pillow decode, Pillow bicubic resize to 56,
/// torchvision ToTensor + Normalize) reproduced from the fixture images.
@Suite("CogVLM fixture preprocessing")
struct FixturePreprocessingTests {
    static let modelDirectories = ["cogvlm-tiny", "cogvlm2-tiny"]

    struct Expected {
        let decoded: SafetensorsTestReader.Tensor  // [H, W, 3] u8
        let resized: SafetensorsTestReader.Tensor  // [S, S, 3] u8
        let pixelValues: SafetensorsTestReader.Tensor  // [3, S, S] f32
    }

    static func expected(_ directory: String) throws -> Expected {
        let reader = try SafetensorsTestReader(
            contentsOf: Fixtures.root.appendingPathComponent("\(directory)/expected/preprocess.safetensors"))
        return Expected(
            decoded: try reader.tensor("decoded_rgb_u8"), resized: try reader.tensor("resized_rgb_u8"),
            pixelValues: try reader.tensor("pixel_values"))
    }

    static func image(_ directory: String, _ name: String) -> URL {
        Fixtures.root.appendingPathComponent("\(directory)/\(name)")
    }

    @Test("test_image.png decodes to decoded_rgb_u8 exactly", arguments: modelDirectories)
    func pngDecodeMatches(directory: String) throws {
        let expected = try Self.expected(directory)
        let image = try ImageDecoder.decode(contentsOf: Self.image(directory, "test_image.png"))
        #expect([image.height, image.width, 3] == expected.decoded.shape)
        let comparison = PixelComparison(image, expected: expected.decoded.u8)
        print("[\(directory)] test_image.png vs decoded_rgb_u8: \(comparison)")
        #expect(comparison.isExact)
    }

    @Test("test_image.jpg through libjpeg matches Pillow's decode", arguments: modelDirectories)
    func jpegDecodeMatches(directory: String) throws {
        let expected = try Self.expected(directory)
        let image = try ImageDecoder.decode(contentsOf: Self.image(directory, "test_image.jpg"))
        #expect([image.height, image.width, 3] == expected.decoded.shape)
        let comparison = PixelComparison(image, expected: expected.decoded.u8)
        print("[\(directory)] test_image.jpg (libjpeg) vs decoded_rgb_u8: \(comparison)")
        // Both sides run libjpeg-turbo with its defaults (accurate integer IDCT, fancy
        // upsampling), so the decode is expected to be identical.
        #expect(comparison.isExact)
    }

    @Test("bicubic resize of decoded_rgb_u8 equals resized_rgb_u8 bit for bit", arguments: modelDirectories)
    func resizeMatches(directory: String) throws {
        let expected = try Self.expected(directory)
        let source = RGBImage(
            width: expected.decoded.shape[1], height: expected.decoded.shape[0], pixels: expected.decoded.u8)
        let size = expected.resized.shape[0]
        let resized = try source.resizedBicubic(width: size, height: size)
        let comparison = PixelComparison(resized, expected: expected.resized.u8)
        print("[\(directory)] resize \(source.width)x\(source.height) -> \(size)x\(size): \(comparison)")
        #expect(comparison.isExact)
    }

    @Test("pixel values from the PNG match pixel_values within 1e-6", arguments: modelDirectories)
    func pixelValuesMatch(directory: String) throws {
        let expected = try Self.expected(directory)
        let image = try ImageDecoder.decode(contentsOf: Self.image(directory, "test_image.png"))
        let size = expected.pixelValues.shape[1]
        let values = try image.pixelValues(size: size)
        let reference = expected.pixelValues.f32
        #expect(values.count == reference.count)
        let maxError = zip(values, reference).map { abs($0 - $1) }.max() ?? .infinity
        let bitIdentical = zip(values, reference).filter { $0.bitPattern != $1.bitPattern }.count
        print("[\(directory)] pixel_values [3, \(size), \(size)]: max |error| \(maxError), "
            + "\(bitIdentical) of \(values.count) values not bit-identical")
        #expect(maxError <= 1e-6)
    }

    @Test("CLIP constants are the float32 roundings of the published values")
    func clipConstants() {
        #expect(CLIPNormalization.mean == [Float(0.48145466 as Double), Float(0.4578275 as Double),
                                           Float(0.40821073 as Double)])
        #expect(CLIPNormalization.std[2] == Float(0.27577711 as Double))
    }
}

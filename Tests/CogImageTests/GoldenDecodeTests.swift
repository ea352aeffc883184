import Foundation
import Testing

@testable import CogImage

/// Decode and resize of small odd images against Pillow's own output (golden data).
@Suite("Golden images vs Pillow")
struct GoldenDecodeTests {
    @Test("every golden case is covered by a test list")
    func manifestIsCovered() throws {
        let manifest = try GoldenImages.manifest()
        let listed = Set(GoldenImages.jpegCases + GoldenImages.pngCases + GoldenImages.badCases)
        #expect(Set(manifest.cases.keys) == listed)
        print("golden images made with Pillow \(manifest.pillow): \(manifest.cases.count) cases")
    }

    @Test("JPEG variants decode to Pillow's pixels", arguments: GoldenImages.jpegCases)
    func jpegMatchesPillow(name: String) throws {
        try checkDecode(name)
    }

    @Test("PNG variants decode to Pillow's pixels", arguments: GoldenImages.pngCases)
    func pngMatchesPillow(name: String) throws {
        try checkDecode(name)
    }

    @Test("bicubic resize matches Pillow for up-, down- and mixed scaling", arguments: GoldenImages.resizeCases)
    func resizeMatchesPillow(name: String) throws {
        let testCase = try #require(try GoldenImages.manifest().cases[name])
        let expected = try GoldenImages.expected()
        let source = try ImageDecoder.decode(contentsOf: GoldenImages.url(testCase))
        let targets = testCase.resize ?? []
        #expect(targets.count >= 3)
        for target in targets {
            let reference = try expected.tensor(target.tensor)
            #expect(reference.shape == [target.height, target.width, 3])
            let resized = try source.resizedBicubic(width: target.width, height: target.height)
            let comparison = PixelComparison(resized, expected: reference.u8)
            print("\(name) \(source.width)x\(source.height) -> \(target.width)x\(target.height): \(comparison)")
            #expect(comparison.isExact, "\(name) -> \(target.width)x\(target.height): \(comparison)")
        }
    }

    private func checkDecode(_ name: String) throws {
        let testCase = try #require(try GoldenImages.manifest().cases[name])
        let reference = try GoldenImages.expected().tensor(name)
        let image = try ImageDecoder.decode(contentsOf: GoldenImages.url(testCase))
        #expect([image.height, image.width, 3] == reference.shape)
        let comparison = PixelComparison(image, expected: reference.u8)
        print("\(name) (Pillow mode \(testCase.pillow_mode ?? "?")): \(comparison)")
        #expect(comparison.isExact, "\(name): \(comparison)")
    }
}

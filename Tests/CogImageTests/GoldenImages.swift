import CogTestSupport
import Foundation

/// The golden images made by Tests/Fixtures/images/generator/make_images.py: inputs, Pillow's RGB decode and
/// Pillow's bicubic resizes (Tests/Fixtures/images).
enum GoldenImages {
    static let directory = Fixtures.root.appendingPathComponent("images", isDirectory: true)

    struct Case: Decodable {
        struct Resize: Decodable {
            let width: Int
            let height: Int
            let tensor: String
        }

        let file: String
        let format: String?
        let pillow_mode: String?
        let width: Int?
        let height: Int?
        let resize: [Resize]?
        let bad: Bool?
        let expect_code: String?
        let pillow: String?
        let note: String?
    }

    struct Manifest: Decodable {
        let pillow: String
        let cases: [String: Case]
    }

    static func manifest() throws -> Manifest {
        try JSONDecoder().decode(Manifest.self, from: Data(contentsOf: directory.appendingPathComponent("cases.json")))
    }

    static func expected() throws -> SafetensorsTestReader {
        try SafetensorsTestReader(contentsOf: directory.appendingPathComponent("expected.safetensors"))
    }

    static func url(_ testCase: Case) -> URL {
        directory.appendingPathComponent(testCase.file)
    }

    /// Every decodable case, by name. Listed here (not read from cases.json) so a case that
    /// disappears from the data makes a test fail instead of silently shrinking the run.
    static let jpegCases = [
        "jpeg_baseline_420", "jpeg_baseline_422", "jpeg_baseline_444", "jpeg_progressive",
        "jpeg_restart_markers", "jpeg_optimized_huffman", "jpeg_gray", "jpeg_cmyk_adobe", "jpeg_ycck",
        "jpeg_cmyk_no_adobe", "jpeg_adobe_rgb",
    ]
    static let pngCases = [
        "png_rgb8", "png_gray8", "png_gray16", "png_gray_alpha8", "png_rgba8", "png_palette8_trns",
        "png_rgb16", "png_rgba16", "png_gray_alpha16", "png_gray1", "png_gray2", "png_gray4",
        "png_palette4_short", "png_interlaced_rgb8", "png_interlaced_gray16",
        "resize_source", "resize_tall", "resize_noise",
    ]
    static let resizeCases = ["resize_source", "resize_tall", "resize_noise"]
    static let badCases = [
        "bad_truncated_jpeg", "bad_truncated_progressive_jpeg", "bad_missing_eoi_jpeg", "bad_empty", "bad_text",
        "bad_huge_header", "bad_crc_png", "bad_truncated_png",
    ]
}

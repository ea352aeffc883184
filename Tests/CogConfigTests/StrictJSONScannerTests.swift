import Foundation
import Testing

@testable import CogConfig

// `decodeError(_:)`: CogjobsConfigurationTests.swift.

@Suite("Strict JSON: repeated keys and trailing commas")
struct StrictJSONScannerTests {
    @Test("a key repeated in one object is an error naming it, whichever value comes first", arguments: [
        (#"{"workers":1,"workers":99}"#, "workers", "line 1, column 2", "line 1, column 14"),
        (#"{"workers":99,"workers":1}"#, "workers", "line 1, column 2", "line 1, column 15"),
        ("{\n  \"model_directory\": \"/m\",\n  \"model_directory\": \"/n\"\n}", "model_directory",
         "line 2, column 3", "line 3, column 3"),
        (#"{"model_directory": "/m", "watch": [{"path": "/a", "task": "caption", "task": "vqa"}]}"#,
         "watch[0].task", "column 52", "column 71"),
        (#"{"model_directory": "/m", "watch": [{"path": "/a", "task": "caption"}, {"path": "/b", "path": "/c"}]}"#,
         "watch[1].path", "column 73", "column 87"),
        (#"{"model_directory": "/m", "limits": {"max_pixels": 1, "max_pixels": 2}}"#, "limits.max_pixels",
         "column 38", "column 55"),
        (#"{"model_directory": "/m", "generation": {"seed": 1, "seed": null}}"#, "generation.seed",
         "column 42", "column 53"),
        // An escaped spelling of the same key is the same key for the decoder.
        (#"{"workers": 1, "wor\u006bers": 2, "model_directory": "/m"}"#, "workers", "column 2", "column 16"),
    ])
    func duplicateKey(json: String, keyPath: String, first: String, second: String) throws {
        let error = try #require(decodeError(json))
        #expect(error.code == .duplicateKey)
        #expect(error.code.rawValue == "config.duplicate_key")
        #expect(error.keyPath == keyPath)
        #expect(error.message.contains(first), "\(error)")
        #expect(error.message.contains(second), "\(error)")
        #expect(error.description.contains("`\(keyPath)`"))
    }

    @Test("equal keys in different objects, and key names inside strings, are not repeats", arguments: [
        #"{"model_directory": "/m", "watch": [{"path": "/a", "task": "caption"}, {"path": "/b", "task": "caption"}]}"#,
        #"{"model_directory": "workers", "workers": 1}"#,
        #"{"model_directory": "/m\",\"workers\":2,\"x", "workers": 1}"#,
        #"{"model_directory": "/m\\", "workers": 1}"#,
        #"{"model_directory": "/m", "limits": {"max_pixels": 5}, "generation": {"seed": 5}}"#,
        #"{"model_directory": "/m", "watch": [{"path": "/a", "task": "caption", "ignore": ["path", "path"]}]}"#,
    ])
    func notARepeat(json: String) throws {
        #expect(decodeError(json) == nil)
    }

    @Test("a comma before } or ] is an error with the key and the comma's position", arguments: [
        (#"{"model_directory": "/m",}"#, "model_directory", "line 1, column 25"),
        ("{\n  \"workers\": 2,\n  \"model_directory\": \"/srv/model\",\n}\n", "model_directory", "line 3, column 34"),
        (#"{"model_directory": "/m", "limits": {"max_pixels": 5, }}"#, "limits.max_pixels", "column 53"),
        (#"{"model_directory": "/m", "watch": [{"path": "/a", "task": "caption", "extensions": ["jpg",]}]}"#,
         "watch[0].extensions[0]", "column 91"),
        (#"{"model_directory": "/m", "watch": [{"path": "/a", "task": "caption"},]}"#, "watch[0]", "column 70"),
        (#"{"model_directory": "/m", "watch": [{"path": "/a", "task": "caption",}]}"#, "watch[0].task", "column 69"),
        ("{\"model_directory\": \"/m\",\n\t\r\n }", "model_directory", "line 1, column 25"),
    ])
    func trailingComma(json: String, keyPath: String, position: String) throws {
        let error = try #require(decodeError(json))
        #expect(error.code == .badJSON)
        #expect(error.keyPath == keyPath)
        #expect(error.message.contains(position), "\(error)")
        #expect(error.message.contains("trailing comma"))
    }

    @Test("commas and brackets inside strings are text, not structure", arguments: [
        #"{"model_directory": "/m,}"}"#,
        #"{"model_directory": "/m", "watch": [{"path": "/a,]", "task": "vqa", "prompt": "a, b, }"}]}"#,
        #"{"model_directory": "/m\"}, ", "workers": 2}"#,
    ])
    func structureInStrings(json: String) throws {
        #expect(decodeError(json) == nil)
    }

    @Test("the scanner never traps, whatever the text", arguments: [
        "", "{", "}", "]", "[", ",", ",}", "\"", "\"\\", "{\"a\"", "{\"a\\", "{\"a\":", "{,}", "[,]",
        "{\"a\":1,\"a\"", "}}}]]]", "{\"\\u00\":1,\"\\u00\":2}", "\u{FEFF}{}", "{\"é\":1,\"é\":2}",
    ])
    func neverTraps(text: String) {
        // Only whether it returns or throws matters here; the outcome for broken text is unspecified
        // (Foundation's parser rejects it before the scanner runs).
        _ = Result { () throws(ConfigError) in try StrictJSONScanner.check(Data(text.utf8)) }
    }

    @Test("positions count lines from 1 and columns in characters, not bytes")
    func positions() {
        let text = Array("{\"é\": 1,\n  \"ü\": 2}".utf8)
        #expect(StrictJSONScanner.lineAndColumn(ofOffset: 0, in: text) == "line 1, column 1")
        let second = text.firstIndex(of: UInt8(ascii: "\n"))! + 3  // the quote before ü
        #expect(StrictJSONScanner.lineAndColumn(ofOffset: second, in: text) == "line 2, column 3")
        let colon = text.firstIndex(of: UInt8(ascii: ":"))!  // after "é", which is 2 bytes
        #expect(StrictJSONScanner.lineAndColumn(ofOffset: colon, in: text) == "line 1, column 5")
        let duplicate = StrictJSONScannerTests.scan("{\"é\":1,\n \"é\":2}")
        #expect(duplicate?.code == .duplicateKey)
        #expect(duplicate?.keyPath == "é")
        #expect(duplicate?.message.contains("line 1, column 2") == true)
        #expect(duplicate?.message.contains("line 2, column 2") == true)
    }

    @Test("a file with a repeated key or a trailing comma does not load, and the error names the file")
    func loadingAFile() throws {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("cogjobs-strict-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }  // temporary folder; best effort
        let file = folder.appendingPathComponent("cogjobs.json").path
        try Data(#"{"model_directory": "/m", "workers": 1, "workers": 99}"#.utf8).write(to: URL(fileURLWithPath: file))
        let repeated = #expect(throws: ConfigError.self) { try CogjobsConfiguration.load(file: file, environment: [:]) }
        #expect(repeated?.code == .duplicateKey)
        #expect(repeated?.file == file)
        #expect(repeated?.description.hasPrefix("config.duplicate_key: \(file): `workers`: ") == true)
    }

    /// The scanner's verdict alone (nil when it passes the text).
    static func scan(_ text: String) -> ConfigError? {
        do {
            try StrictJSONScanner.check(Data(text.utf8))
            return nil
        } catch {
            return error
        }
    }
}

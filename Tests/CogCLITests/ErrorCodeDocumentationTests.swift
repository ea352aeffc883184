import Foundation
import Testing

/// docs/errors.md lists every stable error code: a code added to the sources without a line there
/// fails this test, and so does a documented code that no longer exists.
@Suite("docs/errors.md lists every error code")
struct ErrorCodeDocumentationTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let domains = ["check", "cli", "config", "daemon", "image", "inference", "intake", "job", "pipeline",
                          "scheduler", "store", "systemd", "tensor", "tokenizer", "watcher", "weights"]
    /// String literals of that shape that are file names, not codes.
    static let fileNames: Set<String> = ["config.json", "tokenizer.json", "tokenizer.model"]

    /// Every `"<domain>.<name>"` string literal in Sources/.
    static func codesInSources() throws -> Set<String> {
        let pattern = try Regex("\"(" + domains.joined(separator: "|") + ")\\.[a-z_]+\"")
        var codes: Set<String> = []
        let sources = root.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let url = files?.nextObject() as? URL {
            guard url.pathExtension == "swift" else { continue }
            let text = try String(contentsOf: url, encoding: .utf8)
            for match in text.matches(of: pattern) { codes.insert(String(text[match.range].dropFirst().dropLast())) }
        }
        return codes.subtracting(fileNames)
    }

    /// The codes in the first column of docs/errors.md's tables.
    static func documentedCodes() throws -> Set<String> {
        let text = try String(contentsOf: root.appendingPathComponent("docs/errors.md"), encoding: .utf8)
        return Set(text.matches(of: /\n\| `([a-z]+\.[a-z_]+)` \|/).map { String($0.1) })
    }

    @Test func everyCodeIsDocumented() throws {
        let inSources = try Self.codesInSources(), documented = try Self.documentedCodes()
        #expect(inSources.count >= 100, "the scan found \(inSources.count) codes")
        #expect(inSources.subtracting(documented).sorted() == [], "codes missing from docs/errors.md")
        #expect(documented.subtracting(inSources).sorted() == [], "docs/errors.md lists codes that no longer exist")
        print("docs/errors.md: \(documented.count) codes, all in the sources")
    }
}

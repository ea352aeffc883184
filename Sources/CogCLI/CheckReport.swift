import CogConfig
import CogJobStore
import CogTokenizer
import CogWeights

/// What `cogjobs check` found: for each area (configuration, database, model, tokenizer) the
/// subject checked and a list of passed checks and problems. Encodes as `check --json`.
struct CheckReport: Encodable {
    struct Item: Encodable {
        var area: String
        var ok: Bool
        /// A check not made because an earlier problem left nothing to check (not a problem itself).
        var skipped = false
        /// The stable error code of a problem (`config.invalid_value`, `store.corrupt`, …).
        var code: String?
        /// The configuration key (or tensor / JSON key) a problem concerns.
        var key: String?
        /// The file or directory a problem concerns.
        var path: String?
        var message: String

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(area, forKey: .area)
            try c.encode(ok, forKey: .ok)
            try c.encode(code, forKey: .code)
            try c.encode(key, forKey: .key)
            try c.encode(path, forKey: .path)
            try c.encode(message, forKey: .message)
        }

        enum CodingKeys: String, CodingKey {
            case area, ok, code, key, path, message
        }
    }

    struct Area: Encodable {
        var name: String
        /// The file or directory checked (`?` when it could not be determined).
        var subject: String
        /// Where the subject's path came from, when that is worth saying (`--database`, …).
        var source: String?

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(subject, forKey: .subject)
            try c.encode(source, forKey: .source)
        }

        enum CodingKeys: String, CodingKey {
            case name, subject, source
        }
    }

    private(set) var areas: [Area] = []
    private(set) var items: [Item] = []

    var problemCount: Int { items.filter { !$0.ok }.count }

    /// Whether `area` has a problem so far.
    func hasProblem(in area: String) -> Bool { items.contains { $0.area == area && !$0.ok } }

    /// Starts an area and names what it checks (a file or directory).
    mutating func begin(_ area: String, _ subject: String, source: String? = nil) {
        areas.append(Area(name: area, subject: subject, source: source))
    }

    mutating func ok(_ area: String, _ message: String) {
        items.append(Item(area: area, ok: true, message: message))
    }

    /// A check that could not be made because of a problem reported before (`message` says which).
    mutating func skipped(_ area: String, _ message: String) {
        items.append(Item(area: area, ok: true, skipped: true, message: message))
    }

    /// A problem; its message starts with its code (`code: …`, as `Error:` lines do), which is added
    /// when `message` does not already start with it.
    mutating func problem(_ area: String, code: String, key: String?, path: String?, message: String) {
        let coded = message.hasPrefix(code + ": ") ? message : "\(code): \(message)"
        items.append(Item(area: area, ok: false, code: code, key: key, path: path, message: coded))
    }

    /// A problem from a domain error, with its code, key and file when it has them.
    mutating func problem(_ area: String, _ error: any Error, path: String? = nil) {
        switch error {
        case let error as ConfigError:
            problem(area, code: error.code.rawValue, key: error.keyPath, path: error.file ?? path,
                    message: error.description)
        case let error as JobStoreError:
            problem(area, code: error.code.rawValue, key: nil, path: error.databasePath ?? path,
                    message: error.description)
        case let error as WeightsError:
            problem(area, code: error.code.rawValue, key: error.key, path: error.file ?? path,
                    message: error.description)
        case let error as TokenizerError:
            problem(area, code: error.code.rawValue, key: nil, path: error.file ?? path, message: error.description)
        default:
            problem(area, code: "check.failed", key: nil, path: path, message: "\(error)")
        }
    }

    enum CodingKeys: String, CodingKey {
        case ok, problems, checks, skipped, areas
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(problemCount == 0, forKey: .ok)
        try c.encode(areas, forKey: .areas)
        try c.encode(items.filter { $0.ok && !$0.skipped }, forKey: .checks)
        try c.encode(items.filter(\.skipped), forKey: .skipped)
        try c.encode(items.filter { !$0.ok }, forKey: .problems)
    }

    /// The human-readable report.
    func rendered() -> String {
        var text = ""
        for area in areas {
            text += "\(area.name): \(area.subject)" + (area.source.map { " (from \($0))" } ?? "") + "\n"
            for item in items where item.area == area.name {
                let label = item.skipped ? "skipped" : item.ok ? "ok" : "PROBLEM"
                text += "  " + label.padding(toLength: 9, withPad: " ", startingAt: 0) + "\(item.message)\n"
            }
        }
        let count = problemCount
        text += count == 0 ? "All checks passed.\n" : "\(count) problem\(count == 1 ? "" : "s") found.\n"
        return text
    }
}

import Foundation

/// A pass over configuration JSON for what Foundation's parser lets through: a key that appears twice
/// in one object (the decoder would silently keep one of the values, so a value appended as an
/// override could be ignored) and a comma right before `}` or `]`.
///
/// It runs after `JSONSerialization` has accepted the text, so it follows the structure only: it
/// reads strings (with their escapes), brackets, colons and commas, and skips numbers and literals
/// as runs of other bytes without validating them. It never traps on any input.
enum StrictJSONScanner {
    /// Throws `config.duplicate_key` or `config.bad_json` (trailing comma) for the first such
    /// problem in the text, naming the key path and the line and column.
    static func check(_ data: Data) throws(ConfigError) {
        var scanner = Scanner(bytes: [UInt8](data))
        try scanner.run()
    }

    /// "line L, column C" of a byte offset: lines start at 1 after each `\n`, columns count Unicode
    /// scalars from 1 (UTF-8 continuation bytes do not start a column).
    static func lineAndColumn(ofOffset offset: Int, in bytes: some Collection<UInt8>) -> String {
        var line = 1, column = 1
        for byte in bytes.prefix(max(0, offset)) {
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return "line \(line), column \(column)"
    }

    /// An object or array the scanner is inside of.
    private enum Frame {
        /// `keys`: every key seen so far → the byte offset of its opening quote; `key`: the latest.
        case object(keys: [String: Int], key: String?, expectingKey: Bool)
        /// `index`: the element being read (commas seen so far).
        case array(index: Int)
    }

    private struct Scanner {
        let bytes: [UInt8]
        var offset = 0
        var frames: [Frame] = []
        /// The offset of a comma not yet followed by a value, else nil.
        var pendingComma: Int?

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func run() throws(ConfigError) {
            while offset < bytes.count {
                let byte = bytes[offset]
                switch byte {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                    offset += 1
                case UInt8(ascii: "\""):
                    let start = offset
                    let end = endOfString(from: start)
                    try string(from: start, to: end)
                    offset = end
                case UInt8(ascii: "{"):
                    pendingComma = nil
                    frames.append(.object(keys: [:], key: nil, expectingKey: true))
                    offset += 1
                case UInt8(ascii: "["):
                    pendingComma = nil
                    frames.append(.array(index: 0))
                    offset += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if let comma = pendingComma { throw trailingComma(at: comma) }
                    if !frames.isEmpty { frames.removeLast() }
                    offset += 1
                case UInt8(ascii: ","):
                    pendingComma = offset
                    if case .array(let index)? = frames.last {
                        frames[frames.count - 1] = .array(index: index + 1)
                    } else if case .object(let keys, let key, _)? = frames.last {
                        frames[frames.count - 1] = .object(keys: keys, key: key, expectingKey: true)
                    }
                    offset += 1
                case UInt8(ascii: ":"):
                    offset += 1
                default:
                    // A number or a literal (true, false, null): skip to the next structural byte.
                    pendingComma = nil
                    while offset < bytes.count, !Self.endsBareValue(bytes[offset]) { offset += 1 }
                }
            }
        }

        /// Whether `byte` ends a number or literal (whitespace or a structural character).
        static func endsBareValue(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"),
                 UInt8(ascii: ","), UInt8(ascii: ":"), UInt8(ascii: "{"), UInt8(ascii: "}"),
                 UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "\""):
                return true
            default:
                return false
            }
        }

        /// The offset just past the closing quote of the string opening at `start` (or the end of
        /// the text if it is not closed); a backslash escapes the byte after it.
        func endOfString(from start: Int) -> Int {
            var index = start + 1
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\\"): index += 2
                case UInt8(ascii: "\""): return index + 1
                default: index += 1
                }
            }
            return bytes.count
        }

        /// Handles the string at `start..<end`: a key when an object expects one, else a value.
        mutating func string(from start: Int, to end: Int) throws(ConfigError) {
            pendingComma = nil
            guard case .object(var keys, _, true)? = frames.last else { return }
            let key = decodedString(start..<end)
            if let first = keys[key] {
                let path = keyPath(appending: key)
                throw ConfigError(code: .duplicateKey, keyPath: path,
                                  message: "the key appears twice in the same object (\(position(first)) and "
                                      + "\(position(start))); only one value can apply, so remove the other one")
            }
            keys[key] = start
            frames[frames.count - 1] = .object(keys: keys, key: key, expectingKey: false)
        }

        /// The text of the JSON string literal at `range` (quotes included), escapes decoded the way
        /// the decoder decodes them, so `"wor\u006bers"` is the key `workers`.
        func decodedString(_ range: Range<Int>) -> String {
            let literal = bytes[range]
            let closed = literal.count >= 2 && literal.last == UInt8(ascii: "\"")
            let inner = literal.dropFirst().dropLast(closed ? 1 : 0)
            guard inner.contains(UInt8(ascii: "\\")) else { return String(decoding: inner, as: UTF8.self) }
            // Foundation's parser accepted the whole text already, so this literal parses; if it did
            // not, the raw text still identifies the key well enough for comparison.
            let parsed = try? JSONSerialization.jsonObject(with: Data(literal), options: [.fragmentsAllowed])
            return parsed as? String ?? String(decoding: inner, as: UTF8.self)
        }

        /// The comma at `comma` is followed by `}` or `]`: name the member before it.
        func trailingComma(at comma: Int) -> ConfigError {
            var path: String?
            switch frames.last {
            case .object(_, let key?, _)?:
                path = keyPath(appending: key)
            case .array(let index)? where index > 0:
                path = keyPath(appending: nil) + "[\(index - 1)]"
            default:
                path = nil
            }
            if path?.isEmpty == true { path = nil }
            return ConfigError(code: .badJSON, keyPath: path,
                               message: "not valid JSON: a trailing comma at \(position(comma)), after the last value; "
                                   + "remove it (JSON has no trailing commas)")
        }

        /// The key path of the innermost container, with `key` appended (`watch[0].task`).
        func keyPath(appending key: String?) -> String {
            var text = ""
            for frame in frames.dropLast() {
                switch frame {
                case .object(_, let key, _):
                    if let key { text += text.isEmpty ? key : "." + key }
                case .array(let index):
                    text += "[\(index)]"
                }
            }
            if let key { text += text.isEmpty ? key : "." + key }
            return text
        }

        func position(_ offset: Int) -> String {
            StrictJSONScanner.lineAndColumn(ofOffset: offset, in: bytes)
        }
    }
}

/// A parsed JSON document that keeps every object member, in order, under its exact key.
///
/// Why not `JSONDecoder` / `JSONSerialization`: both put object keys in a Swift `Dictionary<String, …>`, and Swift
/// compares strings by canonical equivalence. Two distinct vocabulary entries such as `"ί"` (U+1F77) and `"ί"`
/// (U+03AF) then collapse into one key and a token silently disappears (three of LLaMA-2's 32,000 pieces do).
/// This parser stores members as an array, and the tokenizer keys its tables by UTF-8 bytes.
// ref: RFC 8259 (JSON grammar)
enum JSONValue {
    case object([(key: String, value: JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(String)  // the literal as written, converted on use
    case bool(Bool)
    case null

    /// A JSON syntax error with its position.
    struct SyntaxError: Error {
        var message: String
        var line: Int
        var column: Int
    }

    /// Parses a complete JSON text (UTF-8). Nesting deeper than 512 levels is rejected.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(SyntaxError) -> JSONValue {
        var parser = Parser(bytes: bytes.bindMemory(to: UInt8.self))
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == parser.bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    /// The JSON type name, for error messages.
    var typeName: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

/// A recursive-descent JSON parser over UTF-8 bytes.
private struct Parser {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0
    private static let maximumDepth = 512

    func error(_ message: String) -> JSONValue.SyntaxError {
        var line = 1
        var lineStart = 0
        for index in 0..<min(position, bytes.count) where bytes[index] == UInt8(ascii: "\n") {
            line += 1
            lineStart = index + 1
        }
        let atEnd = position >= bytes.count
        return .init(
            message: atEnd ? "\(message) (the text ends early: the file may be truncated)" : message, line: line,
            column: position - lineStart + 1)
    }

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONValue.SyntaxError) -> JSONValue {
        guard depth < Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth) levels") }
        guard position < bytes.count else { throw error("expected a value") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character '\(Unicode.Scalar(bytes[position]))'")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONValue.SyntaxError) {
        let count = literal.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw error("expected \(literal)") }
        for offset in 0..<count where bytes[position + offset] != literal.utf8Start[offset] {
            throw error("expected \(literal)")
        }
        position += count
    }

    private mutating func parseObject(depth: Int) throws(JSONValue.SyntaxError) -> JSONValue {
        position += 1  // {
        var members: [(key: String, value: JSONValue)] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("expected a string key")
            }
            let key = try parseString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipWhitespace()
            members.append((key, try parseValue(depth: depth + 1)))
            skipWhitespace()
            guard position < bytes.count else { throw error("expected ',' or '}'") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            } else {
                throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONValue.SyntaxError) -> JSONValue {
        position += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count && bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard position < bytes.count else { throw error("expected ',' or ']'") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            } else {
                throw error("expected ',' or ']'")
            }
        }
    }

    private mutating func parseNumber() throws(JSONValue.SyntaxError) -> String {
        let start = position
        func digits() -> Int {
            let first = position
            while position < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                position += 1
            }
            return position - first
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard digits() > 0 else { throw error("expected digits in a number") }
        if position < bytes.count && bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { throw error("expected digits after '.'") }
        }
        if position < bytes.count && (bytes[position] | 0x20) == UInt8(ascii: "e") {
            position += 1
            if position < bytes.count && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-"))
            {
                position += 1
            }
            guard digits() > 0 else { throw error("expected digits in an exponent") }
        }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }

    private mutating func parseString() throws(JSONValue.SyntaxError) -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes.
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<position])
                guard let text = String(validating: slice, as: UTF8.self) else {
                    throw error("invalid UTF-8 in a string")
                }
                position += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw error("unescaped control character in a string") }
            position += 1
        }
        var buffer = Array(bytes[start..<position])  // [bytes] the string so far, UTF-8
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: buffer, as: UTF8.self) else {
                    throw error("invalid UTF-8 in a string")
                }
                return text
            case UInt8(ascii: "\\"):
                try parseEscape(into: &buffer)
            case 0..<0x20:
                position -= 1
                throw error("unescaped control character in a string")
            default:
                buffer.append(byte)
            }
        }
        throw error("unterminated string")
    }

    private mutating func parseEscape(into buffer: inout [UInt8]) throws(JSONValue.SyntaxError) {
        guard position < bytes.count else { throw error("unterminated escape") }
        let byte = bytes[position]
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(byte)
        case UInt8(ascii: "b"): buffer.append(0x08)
        case UInt8(ascii: "f"): buffer.append(0x0C)
        case UInt8(ascii: "n"): buffer.append(0x0A)
        case UInt8(ascii: "r"): buffer.append(0x0D)
        case UInt8(ascii: "t"): buffer.append(0x09)
        case UInt8(ascii: "u"):
            var value = try parseHex4()
            if (0xD800...0xDBFF).contains(value) {
                // A high surrogate must be followed by an escaped low surrogate.
                guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                    bytes[position + 1] == UInt8(ascii: "u")
                else { throw error("unpaired surrogate in a \\u escape") }
                position += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate in a \\u escape") }
                value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let scalar = Unicode.Scalar(value) else { throw error("unpaired surrogate in a \\u escape") }
            buffer.append(contentsOf: String(scalar).utf8)
        default:
            throw error("invalid escape '\\\(Unicode.Scalar(byte))'")
        }
    }

    private mutating func parseHex4() throws(JSONValue.SyntaxError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in a \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}

/// A JSON value together with its path in the document, for reading typed fields with precise errors.
struct JSONField {
    let value: JSONValue
    /// The path of the enclosing value and this value's place in it; joined only when an error needs it, since
    /// building a path string for each of 400,000 vocabulary and merge entries is measurable.
    private let parentPath: String
    private let component: Component

    private enum Component {
        case root
        case index(Int)
        case key(String)
    }

    static func root(_ value: JSONValue) -> JSONField { JSONField(value: value, parentPath: "", component: .root) }

    /// The path, such as `model.merges[3]` or `model.vocab["▁the"]`.
    var path: String {
        switch component {
        case .root:
            return ""
        case .index(let index):
            return "\(parentPath)[\(index)]"
        case .key(let key):
            return Self.path(parentPath, key: key)
        }
    }

    /// `parent.key` for identifier-like keys, else `parent["key"]` (vocabulary entries such as `"▁the"`).
    static func path(_ parent: String, key: String) -> String {
        let isPlain =
            !key.isEmpty
            && key.utf8.allSatisfy {
                $0 == UInt8(ascii: "_") || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0 | 0x20)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
            }
        if isPlain { return parent.isEmpty ? key : parent + "." + key }
        return parent + "[\"\(key)\"]"
    }

    private func wrongType(_ expected: String) -> TokenizerError {
        TokenizerError(
            code: .invalidField, message: "Expected \(expected), found \(value.typeName).",
            key: path.isEmpty ? "(top level)" : path)
    }

    func string() throws(TokenizerError) -> String {
        guard case .string(let text) = value else { throw wrongType("a string") }
        return text
    }

    func bool() throws(TokenizerError) -> Bool {
        guard case .bool(let flag) = value else { throw wrongType("true or false") }
        return flag
    }

    func int() throws(TokenizerError) -> Int {
        guard case .number(let literal) = value, let integer = Int(literal) else { throw wrongType("an integer") }
        return integer
    }

    func double() throws(TokenizerError) -> Double {
        guard case .number(let literal) = value, let number = Double(literal) else { throw wrongType("a number") }
        return number
    }

    func array() throws(TokenizerError) -> [JSONField] {
        guard case .array(let elements) = value else { throw wrongType("an array") }
        let path = self.path
        return elements.enumerated().map { JSONField(value: $1, parentPath: path, component: .index($0)) }
    }

    /// The members of an object, in file order, with duplicates kept.
    func members() throws(TokenizerError) -> [(key: String, field: JSONField)] {
        guard case .object(let members) = value else { throw wrongType("an object") }
        let path = self.path
        return members.map { ($0.key, JSONField(value: $0.value, parentPath: path, component: .key($0.key))) }
    }

    /// The member `key`, or `nil` when it is absent or null. Keys are compared by their exact UTF-8 bytes.
    func optional(_ key: String) throws(TokenizerError) -> JSONField? {
        guard case .object(let members) = value else { throw wrongType("an object") }
        let keyBytes = Array(key.utf8)
        guard let member = members.last(where: { $0.key.utf8.elementsEqual(keyBytes) }) else { return nil }
        if case .null = member.value { return nil }
        return JSONField(value: member.value, parentPath: path, component: .key(key))
    }

    /// The member `key`; throws `.invalidField` naming the key when it is absent or null.
    func required(_ key: String) throws(TokenizerError) -> JSONField {
        guard let field = try optional(key) else {
            throw TokenizerError(
                code: .invalidField, message: "The required key \"\(key)\" is missing or null.",
                key: JSONField(value: .null, parentPath: path, component: .key(key)).path)
        }
        return field
    }
}

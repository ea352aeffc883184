import Foundation

/// A coding key for any string or index, used to list the keys an object actually has.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// Key-path formatting, unknown-key rejection and typo suggestions shared by the config types.
enum StrictDecoding {
    /// Formats a coding path the way users write it: `watch[1].task`.
    static func keyPath(_ path: [any CodingKey]) -> String {
        var text = ""
        for key in path {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return text
    }

    static func keyPath(_ path: [any CodingKey], appending key: String) -> String {
        let base = keyPath(path)
        return base.isEmpty ? key : base + "." + key
    }

    /// Throws `unknownKey` for the first (alphabetically) key of the object being decoded that is
    /// not one of `Keys`, suggesting the closest known key.
    static func rejectUnknownKeys<Keys: CodingKey & CaseIterable>(in decoder: any Decoder, _: Keys.Type) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        let known = Keys.allCases.map(\.stringValue)
        let unknown = container.allKeys.map(\.stringValue).filter { !known.contains($0) }.sorted()
        guard let first = unknown.first else { return }
        var message = "unknown key"
        if let suggestion = closest(to: first, in: known) {
            message += "; did you mean `\(suggestion)`? Allowed here: "
        } else {
            message += "; allowed here: "
        }
        message += known.joined(separator: ", ")
        throw ConfigError(code: .unknownKey, keyPath: keyPath(decoder.codingPath, appending: first), message: message)
    }

    /// The candidate within edit distance 3 of `word` (case-insensitive), if any.
    static func closest(to word: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 3 else { return nil }
        return best.0
    }

    /// Levenshtein distance between two strings (by Unicode scalar).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)  // [b.count + 1] distances for the previous row
        var current = previous
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// Decodes a string-backed enumeration, naming the key and the allowed values when it is unknown.
    /// `parse` turns the text into a value (default: the exact raw value).
    static func decodeEnumeration<Value: RawRepresentable & CaseIterable>(
        _: Value.Type, from decoder: any Decoder, what: String, parse: (String) -> Value? = Value.init(rawValue:)
    ) throws -> Value where Value.RawValue == String {
        let text = try decoder.singleValueContainer().decode(String.self)
        if let value = parse(text) { return value }
        throw unknownEnumerationValue(text, of: Value.self, what: what, keyPath: keyPath(decoder.codingPath))
    }

    static func unknownEnumerationValue<Value: RawRepresentable & CaseIterable>(
        _ text: String, of _: Value.Type, what: String, keyPath: String
    ) -> ConfigError where Value.RawValue == String {
        let allowed = Value.allCases.map(\.rawValue)
        var message = "`\(text)` is not \(what); allowed: " + allowed.joined(separator: ", ")
        if let suggestion = closest(to: text, in: allowed) { message += " (did you mean `\(suggestion)`?)" }
        return ConfigError.invalid(keyPath, message)
    }

    /// Turns a `DecodingError` from `JSONDecoder` into a `ConfigError` naming the key.
    static func configError(from error: DecodingError) -> ConfigError {
        switch error {
        case .typeMismatch(let type, let context):
            let path = keyPath(context.codingPath)
            if path.isEmpty {
                return ConfigError(code: .wrongType, keyPath: nil,
                                   message: "the configuration must be a JSON object ({ … })")
            }
            return ConfigError(code: .wrongType, keyPath: path,
                               message: "wrong type: expected \(describe(type))" + found(in: context.debugDescription))
        case .valueNotFound(let type, let context):
            return ConfigError(code: .wrongType, keyPath: keyPath(context.codingPath),
                               message: "must not be null: expected \(describe(type)); "
                                   + "leave the key out to use the default")
        case .keyNotFound(let key, let context):
            return .missing(keyPath(context.codingPath, appending: key.stringValue))
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                // The text parsed already (see `CogjobsConfiguration.decode`), so this is a value
                // Foundation could not convert without saying where (e.g. a number too large).
                return ConfigError(code: .wrongType, keyPath: nil,
                                   message: "a value does not fit the type of its key (\(context.debugDescription))")
            }
            return ConfigError(code: .wrongType, keyPath: keyPath(context.codingPath),
                               message: context.debugDescription)
        @unknown default:
            return ConfigError(code: .badJSON, keyPath: nil, message: "\(error)")
        }
    }

    /// ", found a string" from Foundation's "Expected to decode X but found a string instead.", else "".
    static func found(in debugDescription: String) -> String {
        guard let start = debugDescription.range(of: "found ") else { return "" }
        var text = String(debugDescription[start.lowerBound...])
        if text.hasSuffix(" instead.") { text.removeLast(" instead.".count) }
        if text.hasSuffix("dictionary") { text = text.replacingOccurrences(of: "a dictionary", with: "an object") }
        return ", " + text
    }

    /// A user-facing name for the JSON type a Swift type is decoded from.
    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type, is UInt64.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") || name.hasPrefix("[") { return "an array" }
            if name.hasPrefix("Dictionary") || name.contains("KeyedDecodingContainer") { return "an object" }
            return "a value of type \(name)"
        }
    }
}

extension KeyedDecodingContainer {
    /// Decodes `key` if present (a JSON `null` is an error: leave the key out for the default).
    func decode<Value: Decodable>(_ key: Key, default value: @autoclosure () -> Value) throws -> Value {
        contains(key) ? try decode(Value.self, forKey: key) : value()
    }

    /// Decodes an integer, naming the key when the number has a fraction or is out of range.
    ///
    /// Goes through `Double` because Foundation's `JSONDecoder` on Linux reports `1.5` for an `Int`
    /// as "not valid JSON" without the key; integers up to 2^53 are exact in a `Double`.
    func decodeInteger(_ key: Key) throws -> Int {
        let keyPath = StrictDecoding.keyPath(codingPath, appending: key.stringValue)
        let number: Double
        do {
            number = try decode(Double.self, forKey: key)
        } catch DecodingError.typeMismatch(_, let context) {
            throw ConfigError(code: .wrongType, keyPath: keyPath,
                              message: "wrong type: expected an integer"
                                  + StrictDecoding.found(in: context.debugDescription))
        } catch DecodingError.valueNotFound {
            throw ConfigError(code: .wrongType, keyPath: keyPath,
                              message: "must not be null: expected an integer; leave the key out to use the default")
        }
        guard number.rounded() == number, abs(number) <= 9_007_199_254_740_992 else {
            throw ConfigError(code: .wrongType, keyPath: keyPath, message: "expected an integer, got \(number)")
        }
        return Int(number)
    }

    /// Decodes a string-valued enumeration without stopping at a text it does not know, so that the
    /// rest of the configuration is still read: returns the value, or `placeholder` and the text
    /// (which `validationProblems()` then reports with the other bad values). A value that is not a
    /// string (or null) is still a `config.wrong_type` error.
    ///
    /// `parse` turns the text into a value (default: the exact raw value).
    func decodeEnumeration<Value: RawRepresentable & CaseIterable>(
        _ key: Key, placeholder: Value, parse: (String) -> Value? = Value.init(rawValue:)
    ) throws -> (value: Value, rejected: String?) where Value.RawValue == String {
        let text = try decode(String.self, forKey: key)
        if let value = parse(text) { return (value, nil) }
        return (placeholder, text)
    }

    /// `decodeEnumeration`, or `value` when the key is absent.
    func decodeEnumeration<Value: RawRepresentable & CaseIterable>(
        _ key: Key, default value: Value, parse: (String) -> Value? = Value.init(rawValue:)
    ) throws -> (value: Value, rejected: String?) where Value.RawValue == String {
        contains(key) ? try decodeEnumeration(key, placeholder: value, parse: parse) : (value, nil)
    }

    /// `decodeInteger`, or `value` when the key is absent.
    func decodeInteger(_ key: Key, default value: Int) throws -> Int {
        contains(key) ? try decodeInteger(key) : value
    }

    /// `decodeInteger`, or nil when the key is absent or null.
    func decodeIntegerIfPresent(_ key: Key) throws -> Int? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try decodeInteger(key)
    }
}

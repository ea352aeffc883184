/// User-supplied names (file names above all) made safe to print: one line, every character
/// visible. Shared by the watcher's errors, the daemon's log and the CLI's tables, so that a name
/// such as `"a\nfake row.jpg"` or one that is not UTF-8 can neither split a line nor forge one.
public enum PrintableText {
    /// `text` with its control characters escaped: `\n`, `\r`, `\t` (unless `keepingTabs`), others
    /// (C0 and DEL) as `\xHH`, and the bidirectional-text controls (which can make a name display
    /// as another, e.g. U+202E) as `\u{202E}`. Text without any of them is returned as it is.
    public static func escapingControlCharacters(_ text: String, keepingTabs: Bool = false) -> String {
        func isEscaped(_ scalar: Unicode.Scalar) -> Bool {
            (scalar.value < 0x20 && !(keepingTabs && scalar.value == 0x09)) || scalar.value == 0x7F
                || isBidiControl(scalar)
        }
        guard text.unicodeScalars.contains(where: isEscaped) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            guard isEscaped(scalar) else {
                escaped.unicodeScalars.append(scalar)
                continue
            }
            if isBidiControl(scalar) {
                escaped += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                continue
            }
            switch scalar.value {
            case 0x0A: escaped += "\\n"
            case 0x0D: escaped += "\\r"
            case 0x09: escaped += "\\t"
            default: escaped += hex(UInt8(scalar.value))
            }
        }
        return escaped
    }

    /// A file name given as raw bytes (names need not be UTF-8): valid UTF-8 as it is, each byte of
    /// an invalid sequence as `\xHH`, and control characters escaped as above.
    public static func fileName(_ bytes: [UInt8]) -> String {
        var text = ""
        var index = 0
        while index < bytes.count {
            // The longest valid UTF-8 sequence (1–4 bytes) that starts here, if any.
            var length = 0
            for candidate in 1...4 where index + candidate <= bytes.count {
                if let piece = String(validating: bytes[index..<(index + candidate)], as: UTF8.self),
                   piece.unicodeScalars.count == 1 {
                    text += escapingControlCharacters(piece)
                    length = candidate
                    break
                }
            }
            if length == 0 {
                text += hex(bytes[index])
                length = 1
            }
            index += length
        }
        return text
    }

    /// U+061C, U+200E–U+200F, U+202A–U+202E, U+2066–U+2069: the Unicode bidirectional formatting
    /// characters (UAX #9).
    private static func isBidiControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// `\xHH` with two upper-case hex digits.
    private static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return "\\x" + (digits.count < 2 ? "0" + digits : digits)
    }
}

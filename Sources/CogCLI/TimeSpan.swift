import ArgumentParser
import Foundation

/// A length of time on the command line: a number and a unit, repeated if needed —
/// `90s`, `15m`, `12h`, `7d`, `2w`, `1h30m`. Units: `s` seconds, `m` minutes, `h` hours,
/// `d` days, `w` weeks. A bare number is rejected (is `7` seven days or seven seconds?).
struct TimeSpan: ExpressibleByArgument, Sendable, Equatable, CustomStringConvertible {
    /// The length in seconds.
    var seconds: Double
    /// The text it was written as.
    var description: String

    static let unitSeconds: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]

    init(seconds: Double, description: String) {
        self.seconds = seconds
        self.description = description
    }

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).lowercased()
        var total = 0.0
        var number = ""
        var sawUnit = false
        for character in text {
            if character.isNumber || character == "." {
                number.append(character)
            } else if let unit = Self.unitSeconds[character], let value = Double(number) {
                total += value * unit
                number = ""
                sawUnit = true
            } else {
                return nil
            }
        }
        guard sawUnit, number.isEmpty, total.isFinite else { return nil }
        self.init(seconds: total, description: argument)
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// A moment on the command line: either a time span back from now (`2h`, `7d`) or an ISO-8601
/// date or date-time (`2025-01-31`, `2025-01-31T12:00`, `2025-01-31T12:00:00Z`,
/// `2025-01-31T12:00:00+02:00`). A date or time without an offset is in the local time zone.
struct PointInTime: ExpressibleByArgument, Sendable, Equatable, CustomStringConvertible {
    enum Value: Sendable, Equatable {
        case ago(TimeSpan)
        case absolute(Date)
    }

    var value: Value
    var description: String

    init?(argument: String) {
        description = argument
        if let span = TimeSpan(argument: argument) {
            value = .ago(span)
            return
        }
        guard let date = Self.parseDate(argument.trimmingCharacters(in: .whitespaces)) else { return nil }
        value = .absolute(date)
    }

    /// The moment, with spans counted back from `now`.
    func date(now: Date) -> Date {
        switch value {
        case .ago(let span): now.addingTimeInterval(-span.seconds)
        case .absolute(let date): date
        }
    }

    private static func parseDate(_ text: String) -> Date? {
        let withZone = ISO8601DateFormatter()
        withZone.formatOptions = [.withInternetDateTime]
        if let date = withZone.date(from: text) { return date }
        withZone.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = withZone.date(from: text) { return date }
        let local = DateFormatter()
        local.locale = Locale(identifier: "en_US_POSIX")
        local.timeZone = TimeZone.current
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm",
                       "yyyy-MM-dd"] {
            local.dateFormat = format
            if let date = local.date(from: text) { return date }
        }
        return nil
    }
}

import Foundation

/// Formatting shared by the human-readable output of every command. Machine-readable output
/// (`--json`, exports) uses `TextFormat.iso8601` for times and plain numbers otherwise.
enum TextFormat {
    /// `2025-01-31T12:00:00.000Z`: UTC with milliseconds, the same text as the SQL views' `finished`.
    /// Rounded to the millisecond (the stored unit): a stored 53.441 s is the binary double
    /// 53.4409…, which the fractional-seconds format style would print as .440.
    static func iso8601(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, fraction) = (milliseconds - ((milliseconds % 1000) + 1000) % 1000, ((milliseconds % 1000) + 1000) % 1000)
        let whole = Date(timeIntervalSince1970: Double(seconds / 1000)).formatted(Date.ISO8601FormatStyle())
        return whole.dropLast() + String(format: ".%03dZ", Int(fraction))  // whole: "…T12:00:00Z"
    }

    /// A duration for people: `0.4s`, `45s`, `3m 12s`, `2h 05m`, `3d 4h`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let negative = seconds < 0
        let s = abs(seconds)
        let text: String
        if s < 10 {
            text = String(format: "%.1fs", s)
        } else if s < 60 {
            text = "\(Int(s))s"
        } else if s < 3600 {
            text = "\(Int(s) / 60)m \(Int(s) % 60)s"
        } else if s < 86_400 {
            text = String(format: "%dh %02dm", Int(s) / 3600, (Int(s) % 3600) / 60)
        } else {
            text = "\(Int(s) / 86_400)d \((Int(s) % 86_400) / 3600)h"
        }
        return negative ? "-" + text : text
    }

    /// `3m 12s ago` (or `in 3m 12s` for a future time).
    static func ago(_ date: Date, now: Date) -> String {
        let seconds = now.timeIntervalSince(date)
        return seconds >= 0 ? "\(duration(seconds)) ago" : "in \(duration(-seconds))"
    }

    /// A number with one decimal place.
    static func decimal(_ value: Double, places: Int = 1) -> String {
        String(format: "%.\(places)f", value)
    }

    /// `1 worker`, `2 workers`: a count and a noun that takes an `s` in the plural.
    static func count(_ value: Int, _ noun: String) -> String {
        "\(value) \(noun)\(value == 1 ? "" : "s")"
    }

    /// `1.2 MB`-style byte counts.
    static func bytes(_ count: Int) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = Double(count)
        var unit = 0
        while value >= 1000, unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
    }

    /// `text` cut to `width` characters with an ellipsis, on one line.
    static func clipped(_ text: String, to width: Int) -> String {
        let oneLine = text.replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "\n", with: " ")
        guard oneLine.count > width, width > 1 else { return oneLine }
        return String(oneLine.prefix(width - 1)) + "…"
    }

    /// Rows as left-aligned columns separated by two spaces (the last column is not padded).
    static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let columns = all.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in all {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return all.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}

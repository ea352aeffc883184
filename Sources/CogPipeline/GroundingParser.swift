import Foundation

/// One box found in a grounding answer, with the phrase it belongs to.
public struct GroundedBox: Sendable, Equatable {
    /// The noun phrase the box follows (see `GroundingParser` for the rule); empty when the box
    /// opens the answer.
    public var phrase: String
    /// All text between the previous box (or the start) and this box, trimmed: a fuller context
    /// when the phrase rule picks too little.
    public var precedingText: String
    /// The box in the model's 0–999 thousandths.
    public var box: GroundingBox
    /// The box in pixels of the original image.
    public var pixels: PixelBox
    /// Offset in `Character`s of the `[[` this box was written in (several boxes can share one).
    public var offset: Int

    public init(phrase: String, precedingText: String, box: GroundingBox, pixels: PixelBox, offset: Int) {
        self.phrase = phrase
        self.precedingText = precedingText
        self.box = box
        self.pixels = pixels
        self.offset = offset
    }
}

/// Something in a grounding answer that looked like a box but could not be used.
public struct GroundingProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable {
        /// `[[` without a closing `]]` on the same line.
        case unclosedBrackets = "unclosed_brackets"
        /// `[[]]`, or an empty group between `;`.
        case emptyBox = "empty_box"
        /// A group without exactly four coordinates.
        case wrongCoordinateCount = "wrong_coordinate_count"
        /// A coordinate that is not a plain number.
        case notANumber = "not_a_number"
        /// A coordinate above 999.
        case outOfRange = "out_of_range"
        /// x0 > x1 or y0 > y1.
        case inverted
        /// `[x0,y0,x1,y1]` with single brackets: probably a box, but not the model's format.
        case singleBrackets = "single_brackets"
    }

    public var kind: Kind
    /// The offending text as written (the group, or the bracketed text).
    public var text: String
    /// Offset in `Character`s of the bracket the problem was found in.
    public var offset: Int
    public var message: String

    /// The message and where, counting characters from 1: `expected 4 coordinates, found 3 in
    /// "1,2,3" (at character 4)`.
    public var description: String { "\(message) (at character \(offset + 1))" }
}

/// Everything parsed from one answer: the usable boxes in order, and every problem.
public struct GroundingResult: Sendable, Equatable {
    public var boxes: [GroundedBox]
    public var problems: [GroundingProblem]

    public init(boxes: [GroundedBox] = [], problems: [GroundingProblem] = []) {
        self.boxes = boxes
        self.problems = problems
    }
}

/// Parses the grounding models' answers: boxes written inline after the phrase they belong to,
/// `a dog[[120,340,560,980]]`, several boxes for one phrase separated by `;` inside one bracket
/// pair, `two cats[[010,200,300,700;400,210,690,720]]`.
///
/// ref: THUDM/CogVLM `utils/utils/grounding_parser.py`:
/// - Boxes: `\[\[(.*?)\]\]` (on one line), groups split on `;`, each `x0,y0,x1,y1` of digits,
///   pixels `int(int(v) / 1000 * size)` of the original width / height. The official code
///   silently drops groups that are not all digits; here every rejected group is reported in
///   `problems` (and four coordinates, 0–999 and x0 ≤ x1, y0 ≤ y1 are also checked).
/// - Phrase: the official parser takes the last spaCy noun chunk that ends before the box
///   (`text[chunk.start : box].strip()`), and when that ends with `?` the whole text before the
///   box. We have no spaCy model, so a noun chunk is approximated lexically: within the text
///   since the previous box, after the last clause punctuation, scan words backwards from the
///   box and start the phrase at the last determiner / number ("a horse", "the two dogs"), or
///   after the last preposition, conjunction or auxiliary verb ("grass" in "sitting on
///   grass"). The `?` rule is kept as is. The official code lower-cases phrases and merges
///   duplicates (dict keys); here the phrase keeps its case and every box is listed in order.
public enum GroundingParser {
    /// Parses `text` for an original image of `width` × `height` pixels. Never throws: anything
    /// unusable is listed in `problems`.
    public static func parse(_ text: String, width: Int, height: Int) -> GroundingResult {
        let chars = Array(text)
        var result = GroundingResult()
        var segmentStart = 0  // where the text since the previous box starts
        var i = 0
        while i < chars.count {
            if chars[i] == "[" && i + 1 < chars.count && chars[i + 1] == "[" {
                // Find "]]" on the same line, before any new "[[".
                var j = i + 2
                var close: Int? = nil
                while j < chars.count && !chars[j].isNewline {
                    if chars[j] == "]" && j + 1 < chars.count && chars[j + 1] == "]" { close = j; break }
                    if chars[j] == "[" && j + 1 < chars.count && chars[j + 1] == "[" { break }
                    j += 1
                }
                guard let end = close else {
                    result.problems.append(GroundingProblem(
                        kind: .unclosedBrackets, text: String(chars[i..<j]), offset: i,
                        message: "\"[[\" has no closing \"]]\" on its line"))
                    i += 2
                    continue
                }
                let body = String(chars[(i + 2)..<end])
                let (phrase, preceding) = phraseBefore(chars, boxStart: i, segmentStart: segmentStart)
                parseBody(body, offset: i, phrase: phrase, preceding: preceding, width: width, height: height,
                          into: &result)
                i = end + 2
                segmentStart = i
                continue
            }
            if chars[i] == "[", let problem = singleBracketBox(chars, at: i) {
                result.problems.append(problem)
            }
            i += 1
        }
        return result
    }

    /// Splits one bracket body into `;` groups and checks each.
    private static func parseBody(_ body: String, offset: Int, phrase: String, preceding: String,
                                  width: Int, height: Int, into result: inout GroundingResult) {
        if Substring(body).trimmingSpaces().isEmpty {
            result.problems.append(GroundingProblem(kind: .emptyBox, text: "[[\(body)]]", offset: offset,
                                                    message: "empty box"))
            return
        }
        for group in body.split(separator: ";", omittingEmptySubsequences: false) {
            if group.trimmingSpaces().isEmpty {
                result.problems.append(GroundingProblem(kind: .emptyBox, text: "[[\(body)]]", offset: offset,
                                                        message: "empty group between \";\" separators"))
                continue
            }
            switch GroundingBox.parseCoordinates(group) {
            case .success(let box):
                result.boxes.append(GroundedBox(phrase: phrase, precedingText: preceding, box: box,
                                                pixels: box.pixels(width: width, height: height), offset: offset))
            case .failure(let problem):
                let kind: GroundingProblem.Kind
                switch problem {
                case .wrongCoordinateCount: kind = .wrongCoordinateCount
                case .notANumber: kind = .notANumber
                case .outOfRange: kind = .outOfRange
                case .inverted: kind = .inverted
                }
                result.problems.append(GroundingProblem(kind: kind, text: String(group), offset: offset,
                                                        message: "\(problem.message) in \"\(group)\""))
            }
        }
    }

    /// `[` + digits, commas, `;` and spaces + `]` with at least one comma, not part of `[[ ]]`.
    private static func singleBracketBox(_ chars: [Character], at i: Int) -> GroundingProblem? {
        if i > 0 && chars[i - 1] == "[" { return nil }
        var j = i + 1
        var commas = 0
        while j < chars.count, chars[j] != "]" {
            let c = chars[j]
            guard (c.isASCII && c.isWholeNumber) || c == "," || c == ";" || c == " " else { return nil }
            if c == "," { commas += 1 }
            j += 1
        }
        guard j < chars.count, commas > 0, !(j + 1 < chars.count && chars[j + 1] == "]") else { return nil }
        let text = String(chars[i...j])
        return GroundingProblem(kind: .singleBrackets, text: text, offset: i,
                                message: "\(text) has single brackets; the models write boxes as [[x0,y0,x1,y1]]")
    }

    // MARK: - Phrase

    /// Punctuation that ends a clause (the phrase never reaches back across it; newlines too).
    private static let clauseBreaks: Set<Character> = [".", ",", ";", ":", "!", "?", "(", ")", "\"", "“", "”"]
    /// Words that open a noun phrase: the phrase starts at the last of them.
    private static let determiners: Set<String> = [
        "a", "an", "the", "this", "that", "these", "those", "my", "your", "his", "her", "its", "our", "their",
        "some", "any", "each", "every", "another", "both", "several", "many", "few", "no",
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    ]
    /// Words that end the text before a noun phrase: the phrase starts after the last of them.
    private static let connectives: Set<String> = [
        // prepositions
        "on", "in", "at", "of", "with", "by", "near", "behind", "under", "above", "below", "over", "to", "from",
        "for", "into", "onto", "beside", "besides", "between", "among", "around", "inside", "outside", "across",
        "along", "against", "next", "beneath", "atop", "toward", "towards", "through", "underneath", "within",
        // conjunctions, relatives
        "and", "or", "but", "while", "who", "which", "where", "whose",
        // auxiliary and linking verbs
        "is", "are", "was", "were", "be", "been", "being", "has", "have", "had", "there",
    ]

    /// The phrase for a box starting at `boxStart`, and the whole text since `segmentStart`.
    private static func phraseBefore(_ chars: [Character], boxStart: Int, segmentStart: Int) -> (String, String) {
        let segment = String(chars[segmentStart..<boxStart]).trimmingCharacters(in: .whitespacesAndNewlines)
        if segment.hasSuffix("?") {
            // Official rule: a phrase ending in "?" is replaced by all text before the box.
            return (String(chars[0..<boxStart]).trimmingCharacters(in: .whitespacesAndNewlines), segment)
        }
        // Drop trailing punctuation, then keep what follows the last clause break.
        var tail = Substring(segment)
        while let c = tail.last, clauseBreaks.contains(c) || c.isWhitespace { tail.removeLast() }
        if let cut = tail.lastIndex(where: { clauseBreaks.contains($0) || $0.isNewline }) {
            tail = tail[tail.index(after: cut)...]
        }
        let words = tail.split(whereSeparator: { $0.isWhitespace })
        guard !words.isEmpty else { return ("", segment) }
        var first = 0
        for k in stride(from: words.count - 1, through: 0, by: -1) {
            let word = words[k].lowercased().filter { $0.isLetter || $0.isNumber || $0 == "'" }
            if k < words.count - 1 && connectives.contains(word) { first = k + 1; break }
            if determiners.contains(word) || (!word.isEmpty && word.allSatisfy(\.isNumber)) { first = k; break }
        }
        return (String(tail[words[first].startIndex...]), segment)
    }
}

/// A box in the grounding models' coordinate system: corners as thousandths of the original
/// image's width and height, each 0…999, origin top-left, x right, y down, `(x0, y0)` the
/// top-left and `(x1, y1)` the bottom-right corner. Written in prompts and answers as
/// `[[x0,y0,x1,y1]]` with three-digit zero padding, e.g. `[[086,540,400,760]]`.
/// ref: THUDM/CogVLM README "Format of coordination"; architecture doc §4.3.
public struct GroundingBox: Sendable, Hashable, Codable, CustomStringConvertible {
    public let x0: Int
    public let y0: Int
    public let x1: Int
    public let y1: Int

    /// Largest coordinate value the models use.
    public static let maxCoordinate = 999

    /// A checked box; throws `badBox` for values outside 0…999 or inverted corners.
    public init(x0: Int, y0: Int, x1: Int, y1: Int) throws {
        if let problem = GroundingBox.problem(x0: x0, y0: y0, x1: x1, y1: y1) {
            throw PipelineError(.badBox, problem.message + " in box [[\(x0),\(y0),\(x1),\(y1)]]", field: "box")
        }
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
    }

    /// Parses `x0,y0,x1,y1`, with or without the surrounding `[[ ]]`; spaces around the numbers
    /// are allowed. One box only.
    public init(parsing text: String) throws {
        var body = Substring(text).trimmingSpaces()
        if body.hasPrefix("[[") && body.hasSuffix("]]") && body.count >= 4 {
            body = body.dropFirst(2).dropLast(2)
        }
        switch GroundingBox.parseCoordinates(body) {
        case .success(let box): self = box
        case .failure(let problem):
            throw PipelineError(.badBox, "\(problem.message) in \"\(text)\"; write a box as x0,y0,x1,y1 in 0–999 "
                                + "thousandths of the image, e.g. 086,540,400,760", field: "box")
        }
    }

    /// Converts a pixel box of an image of `width` × `height` to thousandths (truncating, and
    /// clamping the far edge to 999), the inverse of `pixels(width:height:)` up to rounding.
    public init(pixels box: PixelBox, width: Int, height: Int) throws {
        guard width > 0, height > 0 else {
            throw PipelineError(.badBox, "the image size \(width)×\(height) must be positive", field: "box")
        }
        func scale(_ v: Int, _ size: Int) -> Int {
            min(GroundingBox.maxCoordinate, Int(Double(v) / Double(size) * 1000))
        }
        guard box.x0 >= 0, box.y0 >= 0, box.x1 <= width, box.y1 <= height else {
            throw PipelineError(.badBox, "pixel box \(box) is outside the \(width)×\(height) image", field: "box")
        }
        try self.init(x0: scale(box.x0, width), y0: scale(box.y0, height),
                      x1: scale(box.x1, width), y1: scale(box.y1, height))
    }

    /// `086,540,400,760`: the coordinates as the models write them.
    public var coordinateText: String { [x0, y0, x1, y1].map(GroundingBox.threeDigits).joined(separator: ",") }
    /// `[[086,540,400,760]]`: the box as the models expect it in a prompt.
    public var promptText: String { "[[" + coordinateText + "]]" }
    public var description: String { promptText }

    /// The box in pixels of the original `width` × `height` image, as the official parser
    /// computes it: `int(int(v) / 1000 * size)` in double precision, truncated.
    /// ref: THUDM/CogVLM `utils/utils/grounding_parser.py` (`boxstr_to_boxes`, `draw_boxes`).
    public func pixels(width: Int, height: Int) -> PixelBox {
        func scale(_ v: Int, _ size: Int) -> Int { Int(Double(v) / 1000 * Double(size)) }
        return PixelBox(x0: scale(x0, width), y0: scale(y0, height), x1: scale(x1, width), y1: scale(y1, height))
    }

    // MARK: - Checking

    /// What is wrong with a box's text or values.
    public enum Problem: Error, Sendable, Equatable {
        /// Not four comma-separated values.
        case wrongCoordinateCount(Int)
        /// A value that is not a plain decimal number.
        case notANumber(String)
        /// A value above 999 (as written).
        case outOfRange(String)
        /// x0 > x1 or y0 > y1.
        case inverted

        public var message: String {
            switch self {
            case .wrongCoordinateCount(let n): return "expected 4 coordinates, found \(n)"
            case .notANumber(let s): return "\"\(s)\" is not a coordinate (digits only)"
            case .outOfRange(let v): return "coordinate \(v) is outside 0–999"
            case .inverted: return "the corners are inverted (need x0 ≤ x1 and y0 ≤ y1)"
            }
        }
    }

    /// The first problem with these values, or nil for a valid box.
    static func problem(x0: Int, y0: Int, x1: Int, y1: Int) -> Problem? {
        for v in [x0, y0, x1, y1] where v < 0 || v > maxCoordinate { return .outOfRange(String(v)) }
        if x0 > x1 || y0 > y1 { return .inverted }
        return nil
    }

    /// Parses one `x0,y0,x1,y1` group (no brackets, no `;`).
    static func parseCoordinates(_ text: Substring) -> Result<GroundingBox, Problem> {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
        guard parts.count == 4 else { return .failure(.wrongCoordinateCount(parts.count)) }
        var values: [Int] = []
        for part in parts {
            // Digits only, as the official `x.replace(',', '').isdigit()` filter (ASCII here).
            guard !part.isEmpty, part.allSatisfy({ $0.isASCII && $0.isWholeNumber }) else {
                return .failure(.notANumber(String(part)))
            }
            guard let v = Int(part), v <= maxCoordinate else { return .failure(.outOfRange(String(part))) }
            values.append(v)
        }
        if let problem = problem(x0: values[0], y0: values[1], x1: values[2], y1: values[3]) {
            return .failure(problem)
        }
        return .success(GroundingBox(unchecked: values))
    }

    private enum CodingKeys: String, CodingKey { case x0, y0, x1, y1 }

    /// Decodes `{"x0":…,"y0":…,"x1":…,"y1":…}` with the same checks as `init(x0:y0:x1:y1:)`.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let values = [try c.decode(Int.self, forKey: .x0), try c.decode(Int.self, forKey: .y0),
                      try c.decode(Int.self, forKey: .x1), try c.decode(Int.self, forKey: .y1)]
        if let problem = GroundingBox.problem(x0: values[0], y0: values[1], x1: values[2], y1: values[3]) {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: decoder.codingPath,
                                                                    debugDescription: problem.message))
        }
        self.init(unchecked: values)
    }

    private init(unchecked v: [Int]) {
        x0 = v[0]
        y0 = v[1]
        x1 = v[2]
        y1 = v[3]
    }

    private static func threeDigits(_ v: Int) -> String {
        let s = String(v)
        return s.count >= 3 ? s : String(repeating: "0", count: 3 - s.count) + s
    }
}

/// A box in pixels of an image (top-left and bottom-right corners).
public struct PixelBox: Sendable, Hashable, Codable, CustomStringConvertible {
    public var x0: Int
    public var y0: Int
    public var x1: Int
    public var y1: Int

    public init(x0: Int, y0: Int, x1: Int, y1: Int) {
        self.x0 = x0
        self.y0 = y0
        self.x1 = x1
        self.y1 = y1
    }

    public var description: String { "(\(x0),\(y0))–(\(x1),\(y1))" }
}

extension Substring {
    /// Without leading and trailing spaces and tabs.
    func trimmingSpaces() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}

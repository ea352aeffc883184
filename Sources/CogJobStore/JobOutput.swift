/// The result a worker hands to `complete`: text, raw model output, token counts, timings, the model
/// identity that produced it, and grounding boxes (possibly none).
public struct JobOutput: Sendable, Equatable {
    /// The cleaned answer / caption.
    public var text: String
    /// The model's decoded output before cleaning (box markup included).
    public var rawOutput: String
    public var promptTokens: Int
    public var generatedTokens: Int
    /// Milliseconds spent decoding and resizing the image.
    public var preprocessMilliseconds: Double
    /// Milliseconds spent on the vision tower and prompt prefill.
    public var prefillMilliseconds: Double
    /// Milliseconds spent generating tokens.
    public var decodeMilliseconds: Double
    /// Wall time of the whole attempt in milliseconds.
    public var totalMilliseconds: Double
    /// Model identity that actually ran.
    public var model: String
    public var boxes: [GroundingBox]

    public init(text: String, rawOutput: String, promptTokens: Int, generatedTokens: Int,
                preprocessMilliseconds: Double = 0, prefillMilliseconds: Double = 0,
                decodeMilliseconds: Double = 0, totalMilliseconds: Double = 0, model: String,
                boxes: [GroundingBox] = []) {
        self.text = text
        self.rawOutput = rawOutput
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
        self.preprocessMilliseconds = preprocessMilliseconds
        self.prefillMilliseconds = prefillMilliseconds
        self.decodeMilliseconds = decodeMilliseconds
        self.totalMilliseconds = totalMilliseconds
        self.model = model
        self.boxes = boxes
    }
}

/// One grounding box, in CogVLM's normalized coordinates (integers 0–999, thousandths of the image
/// width / height) and in pixels of the original image.
public struct GroundingBox: Sendable, Equatable {
    /// The phrase the box belongs to (may be empty).
    public var phrase: String
    public var x0: Int, y0: Int, x1: Int, y1: Int
    public var pixelX0: Double, pixelY0: Double, pixelX1: Double, pixelY1: Double

    public init(phrase: String, x0: Int, y0: Int, x1: Int, y1: Int,
                pixelX0: Double, pixelY0: Double, pixelX1: Double, pixelY1: Double) {
        self.phrase = phrase
        self.x0 = x0; self.y0 = y0; self.x1 = x1; self.y1 = y1
        self.pixelX0 = pixelX0; self.pixelY0 = pixelY0; self.pixelX1 = pixelX1; self.pixelY1 = pixelY1
    }

    /// A box from normalized coordinates, with pixels computed as `n / 1000 × size`.
    public init(phrase: String, x0: Int, y0: Int, x1: Int, y1: Int, imageWidth: Int, imageHeight: Int) {
        let w = Double(imageWidth) / 1000, h = Double(imageHeight) / 1000
        self.init(phrase: phrase, x0: x0, y0: y0, x1: x1, y1: y1,
                  pixelX0: Double(x0) * w, pixelY0: Double(y0) * h, pixelX1: Double(x1) * w, pixelY1: Double(y1) * h)
    }

    /// Why this box cannot be stored, or `nil` if it can.
    var problem: String? {
        let normalized = [x0, y0, x1, y1]
        if normalized.contains(where: { !(0...999).contains($0) }) {
            return "normalized coordinates must be in 0...999, got [\(x0), \(y0), \(x1), \(y1)]"
        }
        if x0 > x1 || y0 > y1 { return "box corners are out of order: [\(x0), \(y0), \(x1), \(y1)]" }
        if ![pixelX0, pixelY0, pixelX1, pixelY1].allSatisfy(\.isFinite) { return "pixel coordinates must be finite" }
        return nil
    }
}

extension GroundingBox: Encodable {
    /// The Box record of every JSON output (`--json`, exports, the daemon's `.json` sidecars):
    /// `phrase`, `x0`…`y1` in 0–999 thousandths of the image, `px_x0`…`px_y1` in its pixels.
    enum CodingKeys: String, CodingKey {
        case phrase, x0, y0, x1, y1
        case pixelX0 = "px_x0", pixelY0 = "px_y0", pixelX1 = "px_x1", pixelY1 = "px_y1"
    }
}

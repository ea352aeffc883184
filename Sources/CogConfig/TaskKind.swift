/// What the model is asked to do with an image.
public enum TaskKind: String, Codable, Sendable, CaseIterable {
    /// Describe the image in prose.
    case caption
    /// Answer the question in `prompt`.
    case vqa
    /// Find the phrase in `prompt` and return its boxes.
    case ground
    /// Describe the image with boxes for the things it mentions.
    case groundCaption = "ground-caption"
    /// Describe the region given in `prompt` (a box).
    case describeBox = "describe-box"

    /// Whether a task cannot run without a prompt.
    public var requiresPrompt: Bool {
        switch self {
        case .vqa, .ground, .describeBox: return true
        case .caption, .groundCaption: return false
        }
    }

    public init(from decoder: any Decoder) throws {
        self = try StrictDecoding.decodeEnumeration(TaskKind.self, from: decoder, what: "a task")
    }
}

/// Whether (and how) a result is also written next to the image after it commits.
public enum SidecarFormat: String, Codable, Sendable, CaseIterable {
    /// No file next to the image; results are in the database only.
    case none
    /// `image.jpg.txt` with the result text.
    case txt
    /// `image.jpg.json` with the result text, boxes and job metadata.
    case json

    public init(from decoder: any Decoder) throws {
        self = try StrictDecoding.decodeEnumeration(SidecarFormat.self, from: decoder, what: "a sidecar format")
    }
}

/// How much the daemon logs (the levels of swift-log).
public enum LogLevel: String, Codable, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    /// The level named `name`, ignoring case (`DEBUG`, `Debug` and `debug` are the same level), as
    /// the file, `COGJOBS_LOG_LEVEL` and `--log-level` accept it; nil for an unknown name.
    public init?(name: String) {
        self.init(rawValue: name.lowercased())
    }

    public init(from decoder: any Decoder) throws {
        self = try StrictDecoding.decodeEnumeration(LogLevel.self, from: decoder, what: "a log level",
                                                    parse: LogLevel.init(name:))
    }
}

/// Limits that reject an image before it is decoded (the `limits` object).
public struct ImageLimits: Codable, Sendable, Equatable {
    /// `max_pixels`: width × height above this fails the job (read from the header, before decoding).
    public var maxPixels: Int
    /// `max_file_bytes`: files larger than this fail the job without being read.
    public var maxFileBytes: Int

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxPixels = "max_pixels"
        case maxFileBytes = "max_file_bytes"
    }

    /// Creates limits; defaults from `ConfigDefaults`.
    public init(maxPixels: Int = ConfigDefaults.maxPixels, maxFileBytes: Int = ConfigDefaults.maxFileBytes) {
        self.maxPixels = maxPixels
        self.maxFileBytes = maxFileBytes
    }

    public init(from decoder: any Decoder) throws {
        try StrictDecoding.rejectUnknownKeys(in: decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        maxPixels = try container.decodeInteger(.maxPixels, default: ConfigDefaults.maxPixels)
        maxFileBytes = try container.decodeInteger(.maxFileBytes, default: ConfigDefaults.maxFileBytes)
    }

    func problems(at path: String) -> [ConfigError] {
        var problems: [ConfigError] = []
        if maxPixels < 1 {
            problems.append(.invalid(path + ".max_pixels", "must be at least 1 (pixels), got \(maxPixels)"))
        }
        if maxFileBytes < 1 {
            problems.append(.invalid(path + ".max_file_bytes", "must be at least 1 (bytes), got \(maxFileBytes)"))
        }
        return problems
    }
}

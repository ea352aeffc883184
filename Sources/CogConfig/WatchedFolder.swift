import Foundation

/// One folder the daemon watches, and what to do with the images that arrive in it
/// (an element of the `watch` array).
public struct WatchedFolder: Codable, Sendable, Equatable {
    /// `path` (required): the folder, absolute.
    public var path: String
    /// `task` (required): what to ask the model for every image.
    public var task: TaskKind { didSet { rejectedTask = nil } }
    /// `prompt`: the question (`vqa`), phrase (`ground`) or box (`describe-box`); optional otherwise.
    public var prompt: String?
    /// `recursive`: also watch subfolders, including ones created later.
    public var recursive: Bool
    /// `ignore`: glob patterns (fnmatch) of names to skip; with a `/` matched against the path
    /// relative to `path`.
    public var ignore: [String]
    /// `temporary_patterns`: globs for names of files still being written (case-insensitive).
    public var temporaryPatterns: [String]
    /// `extensions`: file extensions picked up (without the dot, case-insensitive); empty = all files.
    public var extensions: [String]
    /// `move_done_to`: move images here after their result commits; nil leaves them in place.
    public var moveDoneTo: String?
    /// `move_failed_to`: move images here when their job fails for good; nil leaves them in place.
    public var moveFailedTo: String?
    /// `sidecar`: also write the result next to the image.
    public var sidecar: SidecarFormat { didSet { rejectedSidecar = nil } }
    /// `priority`: the priority of jobs created from this folder (same scale as
    /// `cogjobs enqueue --priority`).
    public var priority: Int
    /// `settle_seconds`: a file is taken once its size and modification time have not changed for
    /// this long (a producer writing in several rounds, a slow network copy).
    public var settleSeconds: Double
    /// The file's `task` text when it names no task (`task` then holds a placeholder): decoding goes
    /// on, and `problems(at:)` reports it with the other bad values. Cleared when `task` is set.
    var rejectedTask: String?
    /// The file's `sidecar` text when it names no format (`sidecar` holds the default), like `rejectedTask`.
    var rejectedSidecar: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case path
        case task
        case prompt
        case recursive
        case ignore
        case temporaryPatterns = "temporary_patterns"
        case extensions
        case moveDoneTo = "move_done_to"
        case moveFailedTo = "move_failed_to"
        case sidecar
        case priority
        case settleSeconds = "settle_seconds"
    }

    /// Creates a watched folder; everything but `path` and `task` defaults from `ConfigDefaults`.
    public init(path: String, task: TaskKind, prompt: String? = nil, recursive: Bool = ConfigDefaults.watchRecursive,
                ignore: [String] = [], temporaryPatterns: [String] = ConfigDefaults.temporaryPatterns,
                extensions: [String] = ConfigDefaults.extensions, moveDoneTo: String? = nil,
                moveFailedTo: String? = nil, sidecar: SidecarFormat = ConfigDefaults.sidecar,
                priority: Int = ConfigDefaults.priority, settleSeconds: Double = ConfigDefaults.settleSeconds) {
        self.path = path
        self.task = task
        self.prompt = prompt
        self.recursive = recursive
        self.ignore = ignore
        self.temporaryPatterns = temporaryPatterns
        self.extensions = extensions
        self.moveDoneTo = moveDoneTo
        self.moveFailedTo = moveFailedTo
        self.sidecar = sidecar
        self.priority = priority
        self.settleSeconds = settleSeconds
    }

    public init(from decoder: any Decoder) throws {
        try StrictDecoding.rejectUnknownKeys(in: decoder, CodingKeys.self)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        path = try container.decode(String.self, forKey: .path)
        let task = try container.decodeEnumeration(.task, placeholder: TaskKind.caption)
        self.task = task.value
        rejectedTask = task.rejected
        prompt = try container.decodeIfPresent(String.self, forKey: .prompt)
        recursive = try container.decode(.recursive, default: ConfigDefaults.watchRecursive)
        ignore = try container.decode(.ignore, default: [])
        temporaryPatterns = try container.decode(.temporaryPatterns, default: ConfigDefaults.temporaryPatterns)
        extensions = try container.decode(.extensions, default: ConfigDefaults.extensions)
        moveDoneTo = try container.decodeIfPresent(String.self, forKey: .moveDoneTo)
        moveFailedTo = try container.decodeIfPresent(String.self, forKey: .moveFailedTo)
        let sidecar = try container.decodeEnumeration(.sidecar, default: ConfigDefaults.sidecar)
        self.sidecar = sidecar.value
        rejectedSidecar = sidecar.rejected
        priority = try container.decodeInteger(.priority, default: ConfigDefaults.priority)
        settleSeconds = try container.decode(.settleSeconds, default: ConfigDefaults.settleSeconds)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(path, forKey: .path)
        try container.encode(task, forKey: .task)
        try container.encode(prompt, forKey: .prompt)  // nulls are written so every key is shown
        try container.encode(recursive, forKey: .recursive)
        try container.encode(ignore, forKey: .ignore)
        try container.encode(temporaryPatterns, forKey: .temporaryPatterns)
        try container.encode(extensions, forKey: .extensions)
        try container.encode(moveDoneTo, forKey: .moveDoneTo)
        try container.encode(moveFailedTo, forKey: .moveFailedTo)
        try container.encode(sidecar, forKey: .sidecar)
        try container.encode(priority, forKey: .priority)
        try container.encode(settleSeconds, forKey: .settleSeconds)
    }

    /// The extensions as the watcher wants them: lowercase, without a leading dot.
    public var normalizedExtensions: [String] {
        extensions.map { ext in String(ext.lowercased().drop(while: { $0 == "." })) }
    }

    func problems(at path: String) -> [ConfigError] {
        var problems: [ConfigError] = []
        problems += ConfigPaths.problems(self.path, at: path + ".path")
        if let rejectedTask {
            problems.append(StrictDecoding.unknownEnumerationValue(rejectedTask, of: TaskKind.self, what: "a task",
                                                                   keyPath: path + ".task"))
        } else if task.requiresPrompt {
            if prompt == nil {
                problems.append(.invalid(path + ".prompt", "is required when `task` is `\(task.rawValue)`"))
            }
        }
        if let prompt, prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            problems.append(.invalid(path + ".prompt", "must not be empty; leave the key out (or null) for none"))
        }
        for (index, pattern) in ignore.enumerated() where pattern.isEmpty {
            problems.append(.invalid(path + ".ignore[\(index)]", "must not be an empty pattern"))
        }
        for (index, pattern) in temporaryPatterns.enumerated() where pattern.isEmpty {
            problems.append(.invalid(path + ".temporary_patterns[\(index)]", "must not be an empty pattern"))
        }
        for (index, ext) in extensions.enumerated() {
            let bare = ext.drop(while: { $0 == "." })
            if bare.isEmpty || bare.contains("/") || bare.contains("*") || bare.contains(" ") {
                problems.append(.invalid(path + ".extensions[\(index)]",
                                         "`\(ext)` is not a file extension; write e.g. \"jpg\" "
                                             + "(an empty list accepts every file)"))
            }
        }
        for (key, target) in [("move_done_to", moveDoneTo), ("move_failed_to", moveFailedTo)] {
            guard let target else { continue }
            let keyPath = path + "." + key
            let targetProblems = ConfigPaths.problems(target, at: keyPath)
            problems += targetProblems
            guard targetProblems.isEmpty, ConfigPaths.problems(self.path, at: "").isEmpty else { continue }
            let folder = ConfigPaths.normalized(self.path), destination = ConfigPaths.normalized(target)
            if folder == destination {
                problems.append(.invalid(keyPath, "must differ from `path` (the watched folder itself)"))
            } else if recursive, destination.hasPrefix(folder == "/" ? "/" : folder + "/"),
                      !isSkipped(relativePath: String(destination.dropFirst(folder.count + 1))) {
                problems.append(.invalid(keyPath,
                    "lies inside the recursively watched folder, so moved images would be picked up again; "
                        + "use a folder outside it, a hidden name (e.g. \(folder)/.done) or add its name to `ignore`"))
            }
        }
        if !(settleSeconds.isFinite && (0...3600).contains(settleSeconds)) {
            problems.append(.invalid(path + ".settle_seconds", "must be between 0 and 3600 seconds, got \(settleSeconds)"))
        }
        if let rejectedSidecar {
            problems.append(StrictDecoding.unknownEnumerationValue(
                rejectedSidecar, of: SidecarFormat.self, what: "a sidecar format", keyPath: path + ".sidecar"))
        }
        return problems
    }

    /// Whether the watcher would skip a folder at this relative path (hidden or ignored by name).
    private func isSkipped(relativePath: String) -> Bool {
        relativePath.split(separator: "/").contains { component in
            component.hasPrefix(".")
                || ignore.contains { !$0.contains("/") && fnmatch($0, String(component), 0) == 0 }
        }
    }
}

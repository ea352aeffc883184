import Glibc

/// Decides which names under a watched root are reported (files) and descended into (folders).
///
/// Rules, applied to every path component below the root (the root's own name never counts):
/// - hidden names (leading `.`) are skipped when `ignoreHidden` is on — files and folders alike;
/// - `ignorePatterns` are `fnmatch(3)` globs, case-sensitive; a pattern without `/` is matched
///   against the bare name (files and folders), one with `/` against the path relative to the root
///   (with `FNM_PATHNAME`, so `*` does not cross `/`);
/// - `temporaryPatterns` are globs for names of files still being written by their producer
///   (`*.part`, `*.crdownload`, …), matched case-insensitively against file names only;
/// - `extensions` (lowercase, no dot) keep only files with one of those extensions, compared
///   case-insensitively; an empty set keeps every file.
public struct FileFilter: Sendable, Equatable {
    /// The temporary-name patterns used unless configured otherwise: partial downloads, editor
    /// backups and lock files.
    public static let defaultTemporaryPatterns = ["*.tmp", "*.part", "*.crdownload", "*~", ".#*"]
    /// The image extensions reported unless configured otherwise (the daemon still sniffs the bytes).
    public static let defaultExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Skip names that start with `.` (files and folders).
    public var ignoreHidden: Bool
    /// Globs for names of files that are still being written (case-insensitive).
    public var temporaryPatterns: [String]
    /// The user's ignore globs (case-sensitive; with `/` matched against the relative path).
    public var ignorePatterns: [String]
    /// The accepted file extensions, lowercase without the dot; empty accepts every file.
    /// Values set are normalized (`".JPG"` becomes `"jpg"`).
    public var extensions: Set<String> {
        didSet { extensions = Set(extensions.map { Self.normalizedExtension($0) }) }
    }

    /// Creates a filter; every parameter has the documented default.
    public init(ignoreHidden: Bool = true,
                temporaryPatterns: [String] = FileFilter.defaultTemporaryPatterns,
                ignorePatterns: [String] = [],
                extensions: Set<String> = FileFilter.defaultExtensions) {
        self.ignoreHidden = ignoreHidden
        self.temporaryPatterns = temporaryPatterns
        self.ignorePatterns = ignorePatterns
        self.extensions = Set(extensions.map { Self.normalizedExtension($0) })
    }

    /// Whether a file at `relativePath` (below the root, `/`-separated) is reported.
    ///
    /// The folders on the way must be accepted too: a file inside an ignored or hidden folder is not.
    public func acceptsFile(relativePath: String) -> Bool {
        let components = relativePath.split(separator: "/", omittingEmptySubsequences: true)
        guard let name = components.last else { return false }
        for folder in components.dropLast() where !acceptsName(String(folder)) { return false }
        guard acceptsName(String(name)), !matchesRelativePattern(relativePath) else { return false }
        let lowercasedName = name.lowercased()
        if temporaryPatterns.contains(where: { Self.fnmatch($0.lowercased(), lowercasedName, flags: 0) }) {
            return false
        }
        return acceptsExtension(of: lowercasedName)
    }

    /// Whether the folder at `relativePath` (below the root) is descended into and watched.
    public func acceptsDirectory(relativePath: String) -> Bool {
        let components = relativePath.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.isEmpty else { return true }  // the root itself
        for component in components where !acceptsName(String(component)) { return false }
        return !matchesRelativePattern(relativePath)
    }

    // MARK: - Rules

    /// Hidden-name and bare-name ignore rules for one path component.
    private func acceptsName(_ name: String) -> Bool {
        if ignoreHidden && name.hasPrefix(".") { return false }
        for pattern in ignorePatterns where !pattern.contains("/") {
            if Self.fnmatch(pattern, name, flags: 0) { return false }
        }
        return true
    }

    /// Ignore patterns that contain `/`, matched against the whole relative path.
    private func matchesRelativePattern(_ relativePath: String) -> Bool {
        ignorePatterns.contains { pattern in
            pattern.contains("/") && Self.fnmatch(pattern, relativePath, flags: FNM_PATHNAME)
        }
    }

    private func acceptsExtension(of lowercasedName: String) -> Bool {
        guard !extensions.isEmpty else { return true }
        guard let dot = lowercasedName.lastIndex(of: "."), dot != lowercasedName.startIndex else { return false }
        return extensions.contains(String(lowercasedName[lowercasedName.index(after: dot)...]))
    }

    static func normalizedExtension(_ value: String) -> String {
        var text = value.lowercased()
        while text.hasPrefix(".") { text.removeFirst() }
        return text
    }

    /// `fnmatch(3)`: true when `name` matches the shell glob `pattern`.
    private static func fnmatch(_ pattern: String, _ name: String, flags: Int32) -> Bool {
        Glibc.fnmatch(pattern, name, flags) == 0
    }
}

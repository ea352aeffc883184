import Foundation

/// Path rules shared by every path-valued key.
enum ConfigPaths {
    /// Problems with a path value: empty, relative, or starting with `~` (never expanded).
    static func problems(_ path: String, at keyPath: String) -> [ConfigError] {
        if path.isEmpty { return [.invalid(keyPath, "must not be empty")] }
        if path.hasPrefix("~") {
            return [.invalid(keyPath, "`~` is not expanded; write the full path (e.g. /home/alice/...)")]
        }
        if !path.hasPrefix("/") {
            return [.invalid(keyPath, "must be an absolute path (in the file, relative paths are resolved "
                                 + "against the file's folder)")]
        }
        return []
    }

    /// `path` made absolute against `base` (unless it is absolute, empty or starts with `~`), with
    /// `.` and `..` components and duplicate slashes removed.
    static func resolve(_ path: String, against base: String) -> String {
        guard !path.isEmpty, !path.hasPrefix("~") else { return path }
        let absolute = path.hasPrefix("/") ? path : base + "/" + path
        return normalized(absolute)
    }

    /// Removes `.`/`..` components, duplicate and trailing slashes (lexically, without touching disk).
    static func normalized(_ path: String) -> String {
        var components: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch component {
            case ".": continue
            case "..": if !components.isEmpty { components.removeLast() }
            default: components.append(component)
            }
        }
        return "/" + components.joined(separator: "/")
    }
}

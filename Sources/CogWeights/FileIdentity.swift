import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A file's device and inode: what names the same file whatever path reaches it. Used by commands
/// that must not write over what they read (`convert` into its own model directory, `draw` onto
/// its input image, `export` over the job database) and by the daemon to notice its database
/// being deleted or replaced.
public struct FileIdentity: Equatable, Sendable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64

    public var description: String { "device \(device), inode \(inode)" }

    /// The identity of the file at `path` (links followed), or nil when it does not exist or
    /// cannot be examined.
    public static func of(path: String) -> FileIdentity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// `true` when `a` and `b` are the same path once `.`, `..` and symbolic links are resolved,
    /// or (both existing) the same device and inode, which also catches hard links and bind mounts.
    public static func same(_ a: URL, _ b: URL) -> Bool {
        if a.standardizedFileURL.resolvingSymlinksInPath().path == b.standardizedFileURL.resolvingSymlinksInPath().path {
            return true
        }
        guard let first = of(path: a.path), let second = of(path: b.path) else { return false }
        return first == second
    }
}

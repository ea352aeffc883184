import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Whether two paths name one file or folder, for commands that must not write over what they
/// read (`convert` into its own model directory, `draw` onto its input image).
public enum FileIdentity {
    /// `true` when `a` and `b` are the same path once `.`, `..` and symbolic links are resolved,
    /// or (both existing) the same device and inode, which also catches hard links and bind mounts.
    public static func same(_ a: URL, _ b: URL) -> Bool {
        if a.standardizedFileURL.resolvingSymlinksInPath().path == b.standardizedFileURL.resolvingSymlinksInPath().path {
            return true
        }
        var statA = stat(), statB = stat()
        guard stat(a.path, &statA) == 0, stat(b.path, &statB) == 0 else { return false }
        return statA.st_dev == statB.st_dev && statA.st_ino == statB.st_ino
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The system's own words for a failed file operation. Foundation's file errors on Linux carry the
/// `errno` as an underlying error and describe themselves vaguely ("The operation could not be
/// completed. (NSCocoaErrorDomain error 512.)"); `strerror` says "File too large", "No space left
/// on device".
public enum SystemErrorText {
    /// `strerror` of the `errno` inside `error` when there is one, else its localized description.
    public static func reason(_ error: any Error) -> String {
        if let posix = error as? POSIXError { return String(cString: strerror(posix.code.rawValue)) }
        let nsError = error as NSError
        if nsError.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(nsError.code))) }
        // Foundation's file errors keep the system's error as their underlying error (a POSIXError
        // on Linux, an NSError elsewhere).
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? any Error {
            let inner = underlying as NSError
            if underlying is POSIXError || inner.domain == NSPOSIXErrorDomain {
                return String(cString: strerror(Int32(inner.code)))
            }
        }
        return nsError.localizedDescription
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Short reasons for failed file operations, for messages that already name the file.
enum FileErrors {
    /// The system's reason (`No such file or directory`, `Permission denied`, …) for a Foundation
    /// file error, instead of its `Error Domain=NSCocoaErrorDomain …` dump.
    static func reason(_ error: any Error) -> String {
        if let reportable = error as? any ReportableError { return reportable.errorMessage }
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

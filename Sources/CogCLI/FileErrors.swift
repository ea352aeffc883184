import CogWeights
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
        return SystemErrorText.reason(error)
    }
}

import CogConfig
import CogImage
import CogJobStore
import CogScheduler
import Foundation
import Glibc

/// Reads and decodes a job's image for an executor, turning every problem into a classified
/// `JobFailure` whose code ends up in the job row:
///
/// | problem | code | kind |
/// | --- | --- | --- |
/// | the file is gone | `job.image_missing` | permanent |
/// | the file cannot be read (permissions, I/O) | `job.image_unreadable` | transient |
/// | larger than `limits.max_file_bytes` | `job.file_too_large` | permanent |
/// | its bytes no longer hash to the job's image | `job.image_changed` | permanent |
/// | empty, unknown format, corrupt, truncated, unsupported, too many pixels | `image.*` from CogImage | permanent |
/// | the decoder ran out of memory | `image.out_of_memory` | transient |
///
/// The hash check matters because jobs point at a path: if a different picture was saved under
/// the same name after the job was enqueued, running it would file the new picture's caption
/// under the old picture's hash. (The watcher enqueues the new content as its own job.)
public struct JobImageLoader: Sendable {
    public var limits: ImageLimits

    public init(limits: ImageLimits) {
        self.limits = limits
    }

    /// The decoded image of `job`.
    public func load(_ job: ClaimedJob) throws(JobFailure) -> RGBImage {
        let path = job.image.path
        var status = stat()
        guard stat(path, &status) == 0 else {
            let reason = String(cString: strerror(errno))
            if errno == ENOENT || errno == ENOTDIR {
                throw .permanent(code: "job.image_missing",
                                 message: "the image file \(path) no longer exists (\(reason)); enqueue it again from "
                                     + "its new location")
            }
            throw .transient(code: "job.image_unreadable", message: "cannot read \(path): \(reason)")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw .permanent(code: "job.image_unreadable",
                             message: "\(path) is no longer a regular file (a folder, pipe or device now has its "
                                 + "name); put the image back or enqueue it again from its new location")
        }
        if Int64(status.st_size) > Int64(limits.maxFileBytes) {
            throw .permanent(code: "job.file_too_large",
                             message: "\(path) has \(status.st_size) bytes, more than `limits.max_file_bytes` "
                                 + "(\(limits.maxFileBytes)); shrink the image or raise the limit")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw .transient(code: "job.image_unreadable",
                             message: "cannot read \(path): \(error.localizedDescription)")
        }
        let hash = data.withUnsafeBytes { StreamingSHA256.hexDigest($0) }
        guard hash == job.image.sha256 else {
            throw .permanent(code: "job.image_changed",
                             message: "\(path) has changed since the job was enqueued (its SHA-256 is now \(hash), the "
                                 + "job was for \(job.image.sha256)); the new content needs its own job")
        }
        do {
            return try ImageDecoder.decode(data: data, maxPixels: limits.maxPixels)
        } catch let error as ImageError {
            var message = "\(path): \(error.message)"
            if let decoder = error.decoderMessage, !decoder.isEmpty { message += " (decoder: \(decoder))" }
            if error.code == .tooManyPixels { message += " (`limits.max_pixels` is \(limits.maxPixels))" }
            throw JobFailure(code: error.code.rawValue, message: message, isPermanent: error.code != .outOfMemory)
        } catch {
            throw .transient(code: "image.decode_failed", message: "\(path): \(error)")
        }
    }
}

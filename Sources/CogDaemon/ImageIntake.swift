import CogImage
import CogJobStore
import Foundation
import Glibc

/// Turns image files into job requests: the one path by which the watcher and `cogjobs enqueue`
/// put work in the queue.
///
/// For each file it reads the bytes once, in 1 MiB chunks: the SHA-256 of the content (the image's
/// identity and part of the deduplication key), the size, and — from the first chunk — the format
/// and dimensions in the header (`ImageDecoder.header`).
///
/// What is enqueued, and what is not:
/// - a file that cannot be opened or read (missing, a folder, no permission) is **not** enqueued:
///   there is no content to identify it by; the caller gets `DaemonError` (`intake.file_missing`,
///   `intake.file_unreadable`) and reports it;
/// - everything else **is** enqueued, even when the header cannot be parsed (empty, corrupt,
///   truncated, unknown format) or the file exceeds the size limit: such a job fails permanently
///   when a worker runs it, with the decoder's stable error code and message stored in the job
///   row and its error history, where `cogjobs status` and SQL show it. That keeps one rule for
///   every file users hand in — each gets a job and a visible outcome — instead of files that
///   silently never appear. Width, height and format stay NULL when the header is unreadable.
/// Deduplication on (content hash, task, prompt, model) is the store's (a unique index), so a
/// file seen twice — a rescan, a second `CLOSE_WRITE`, a copy under another name — yields the
/// existing job, unless `force` is set.
public struct ImageIntake: Sendable {
    /// What to run on the images and how.
    public struct JobSpec: Sendable, Equatable {
        public var task: String
        public var prompt: String
        public var priority: Int
        /// Generation parameters stored with the job (a JSON object).
        public var paramsJSON: String
        public var runAfter: Date?
        public var force: Bool

        public init(task: String, prompt: String = "", priority: Int = 0, paramsJSON: String = "{}",
                    runAfter: Date? = nil, force: Bool = false) {
            self.task = task
            self.prompt = prompt
            self.priority = priority
            self.paramsJSON = paramsJSON
            self.runAfter = runAfter
            self.force = force
        }
    }

    /// What intake learned about a file.
    public struct Inspection: Sendable, Equatable {
        public var image: ImageInfo
        /// Why the header could not be read, if it could not (the job is enqueued anyway).
        public var headerProblem: String?
    }

    /// Model identity stored with every job (see `ModelIdentity`).
    public var model: String
    /// Bytes read per `read(2)` call.
    public static let chunkSize = 1 << 20

    public init(model: String) {
        self.model = model
    }

    /// Reads `url` and describes it (hash, size, header).
    /// - Throws: `DaemonError` `.fileMissing` / `.fileUnreadable`.
    public static func inspect(_ url: URL) throws(DaemonError) -> Inspection {
        let path = url.path
        // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; the type check
        // below then refuses it (regular files ignore the flag).
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw openError(errno, path: path) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw openError(errno, path: path) }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw DaemonError(code: .fileUnreadable, message: "not a regular file; pass image files (or a folder with "
                                  + "--recursive)", subject: path)
        }

        var hasher = StreamingSHA256()
        var head = Data()
        var total: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = read(descriptor, buffer.baseAddress, chunkSize)
            if count < 0 {
                if errno == EINTR { continue }
                throw openError(errno, path: path)
            }
            if count == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            hasher.update(chunk)
            if head.count < headerBytes { head.append(contentsOf: chunk.prefix(headerBytes - head.count)) }
            total += Int64(count)
        }

        var image = ImageInfo(sha256: hasher.finalizeHex(), path: path, byteSize: total)
        var problem: String? = nil
        do {
            let header = try ImageDecoder.header(of: head)
            image.width = header.width
            image.height = header.height
            image.format = header.format.rawValue
        } catch let error as ImageError where error.code == .truncated && total > Int64(headerBytes) {
            // The header did not fit in the first chunk (a huge EXIF block): the size stays unknown
            // here and the worker reads the whole file anyway.
            problem = nil
        } catch {
            problem = String(describing: error)
        }
        return Inspection(image: image, headerProblem: problem)
    }

    /// The request that enqueues `inspection`'s image for `spec`.
    public func request(for inspection: Inspection, spec: JobSpec) -> EnqueueRequest {
        EnqueueRequest(image: inspection.image, task: spec.task, prompt: spec.prompt, paramsJSON: spec.paramsJSON,
                       model: model, priority: spec.priority, runAfter: spec.runAfter, force: spec.force)
    }

    /// Inspects `url` and enqueues it into `store`.
    /// - Throws: `DaemonError` for unreadable files; `JobStoreError` from the store (e.g. `store.busy`).
    public func enqueue(_ url: URL, spec: JobSpec, into store: JobStore) throws -> (Inspection, EnqueueOutcome) {
        let inspection = try Self.inspect(url)
        return (inspection, try store.enqueue(request(for: inspection, spec: spec)))
    }

    /// How much of the file start is kept for the header parse.
    static let headerBytes = 256 * 1024

    private static func openError(_ value: Int32, path: String) -> DaemonError {
        let reason = String(cString: strerror(value))
        if value == ENOENT || value == ENOTDIR {
            return DaemonError(code: .fileMissing, message: "no such file", subject: path, cause: reason)
        }
        return DaemonError(code: .fileUnreadable, message: "cannot read the file; check its permissions",
                           subject: path, cause: reason)
    }
}

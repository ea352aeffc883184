import Glibc
import SystemPackage

/// What a directory entry is, as far as the watcher cares. Symbolic links are `.other`: the watcher
/// never follows them (no loops, no escaping the root), matching what inotify reports.
enum FileKind: Sendable, Equatable {
    case directory
    case regularFile
    case other
}

/// `lstat(2)`/`readdir(3)` helpers shared by the scanner and the event loop.
enum FileSystemEntry {
    /// The result of `lstat` (or `stat` when `followLinks`): kind, size and modification time.
    struct Status: Equatable {
        var kind: FileKind
        var size: Int64
        var modificationSeconds: Int
        var modificationNanoseconds: Int
    }

    /// One entry of a directory listing.
    struct Entry {
        /// The name as raw bytes (names need not be UTF-8).
        var nameBytes: [UInt8]
        var kind: FileKind
        /// The name as a string, or nil when it is not valid UTF-8.
        var name: String? { String(validating: nameBytes, as: UTF8.self) }
    }

    /// The corresponding C functions are `lstat` and `stat`.
    static func status(_ path: String, followLinks: Bool = false) throws(Errno) -> Status {
        var info = stat()
        let result = followLinks ? stat(path, &info) : lstat(path, &info)
        guard result == 0 else { throw Errno(rawValue: Glibc.errno) }
        let kind: FileKind
        switch info.st_mode & S_IFMT {
        case S_IFDIR: kind = .directory
        case S_IFREG: kind = .regularFile
        default: kind = .other
        }
        return Status(kind: kind, size: Int64(info.st_size),
                      modificationSeconds: Int(info.st_mtim.tv_sec),
                      modificationNanoseconds: Int(info.st_mtim.tv_nsec))
    }

    /// Lists a directory (without `.` and `..`). The corresponding C functions are `opendir`,
    /// `readdir` and `closedir`.
    static func list(_ path: String) throws(Errno) -> [Entry] {
        guard let stream = opendir(path) else { throw Errno(rawValue: Glibc.errno) }
        defer { closedir(stream) }
        var entries: [Entry] = []
        while true {
            Glibc.errno = 0
            guard let record = readdir(stream) else {
                if Glibc.errno != 0 { throw Errno(rawValue: Glibc.errno) }
                return entries
            }
            let nameBytes = withUnsafeBytes(of: record.pointee.d_name) { raw -> [UInt8] in
                let bytes = raw.bindMemory(to: UInt8.self)
                let end = bytes.firstIndex(of: 0) ?? bytes.count
                return Array(bytes[0..<end])
            }
            if nameBytes == [46] || nameBytes == [46, 46] { continue }  // "." and ".."
            var kind: FileKind
            switch Int32(record.pointee.d_type) {
            case Int32(DT_DIR): kind = .directory
            case Int32(DT_REG): kind = .regularFile
            case Int32(DT_UNKNOWN):
                // Some file systems (XFS without ftype, some network ones) leave d_type unset.
                let childPath = path + "/" + String(decoding: nameBytes, as: UTF8.self)
                kind = (try? status(childPath).kind) ?? .other  // vanished meanwhile: skip it as .other
            default: kind = .other
            }
            entries.append(Entry(nameBytes: nameBytes, kind: kind))
        }
    }
}

import Glibc
import SystemPackage

/// The inotify event bits the watcher uses, as a typed option set.
struct InotifyMask: OptionSet, Sendable, CustomStringConvertible {
    let rawValue: UInt32

    static let modify = InotifyMask(rawValue: UInt32(IN_MODIFY))
    static let closeWrite = InotifyMask(rawValue: UInt32(IN_CLOSE_WRITE))
    static let movedFrom = InotifyMask(rawValue: UInt32(IN_MOVED_FROM))
    static let movedTo = InotifyMask(rawValue: UInt32(IN_MOVED_TO))
    static let create = InotifyMask(rawValue: UInt32(IN_CREATE))
    static let deleteSelf = InotifyMask(rawValue: UInt32(IN_DELETE_SELF))
    static let moveSelf = InotifyMask(rawValue: UInt32(IN_MOVE_SELF))
    /// The file system holding the watched folder was unmounted (output only).
    static let unmount = InotifyMask(rawValue: UInt32(IN_UNMOUNT))
    /// The event queue overflowed and events were lost (output only; `wd` is -1).
    static let queueOverflow = InotifyMask(rawValue: UInt32(IN_Q_OVERFLOW))
    /// The watch was removed, explicitly or because its folder went away (output only).
    static let ignored = InotifyMask(rawValue: UInt32(IN_IGNORED))
    /// The subject of the event is a directory (output only).
    static let isDirectory = InotifyMask(rawValue: UInt32(IN_ISDIR))
    /// Only watch the path if it is a directory (input only).
    static let onlyDirectory = InotifyMask(rawValue: UInt32(IN_ONLYDIR))
    /// Do not follow a symbolic link at the watched path (input only).
    static let dontFollow = InotifyMask(rawValue: UInt32(IN_DONT_FOLLOW))
    /// Stop reporting events for children once they are unlinked (input only).
    static let excludeUnlinked = InotifyMask(rawValue: UInt32(IN_EXCL_UNLINK))

    var description: String {
        let names: [(InotifyMask, String)] = [
            (.modify, "MODIFY"), (.closeWrite, "CLOSE_WRITE"), (.movedFrom, "MOVED_FROM"),
            (.movedTo, "MOVED_TO"), (.create, "CREATE"), (.deleteSelf, "DELETE_SELF"),
            (.moveSelf, "MOVE_SELF"), (.unmount, "UNMOUNT"), (.queueOverflow, "Q_OVERFLOW"),
            (.ignored, "IGNORED"), (.isDirectory, "ISDIR"),
        ]
        return names.filter { contains($0.0) }.map(\.1).joined(separator: "|")
    }
}

/// One decoded `struct inotify_event`.
struct InotifyEvent: Sendable, Equatable {
    /// The watch descriptor the event belongs to (-1 for `IN_Q_OVERFLOW`).
    var watchDescriptor: Int32
    var mask: InotifyMask
    /// Pairs `IN_MOVED_FROM` with `IN_MOVED_TO` of the same rename (unused by the watcher).
    var cookie: UInt32
    /// The raw name bytes of the child the event concerns (empty for events on the folder itself).
    var nameBytes: [UInt8]

    /// The child's name, or nil when it is not valid UTF-8.
    var name: String? { String(validating: nameBytes, as: UTF8.self) }

    /// Decodes the packed events one `read(2)` returned.
    ///
    /// Layout of each record (inotify(7)): `int wd; uint32 mask; uint32 cookie; uint32 len;
    /// char name[len]` where `name` is NUL-terminated and NUL-padded to an aligned length.
    static func decode(_ bytes: UnsafeRawBufferPointer) -> [InotifyEvent] {
        let headerSize = MemoryLayout<inotify_event>.size  // 16 bytes
        var events: [InotifyEvent] = []
        var offset = 0
        while offset + headerSize <= bytes.count {
            let wd = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
            let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let cookie = bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            let nameStart = offset + headerSize
            // The kernel only hands out whole records; a short one would be a kernel bug.
            guard nameStart + length <= bytes.count else { break }
            var name = Array(bytes[nameStart..<(nameStart + length)])
            if let end = name.firstIndex(of: 0) { name.removeSubrange(end...) }
            events.append(InotifyEvent(watchDescriptor: wd, mask: InotifyMask(rawValue: mask),
                                       cookie: cookie, nameBytes: name))
            offset = nameStart + length
        }
        return events
    }
}

/// An inotify instance: thin typed wrappers over the inotify system calls.
///
/// Not thread-safe; owned by one thread (the watcher's). Close it with `close()`.
struct Inotify {
    /// The inotify file descriptor (non-blocking, close-on-exec).
    let descriptor: FileDescriptor

    /// Creates an instance. The corresponding C function is `inotify_init1`.
    static func open() throws(Errno) -> Inotify {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { throw Errno(rawValue: Glibc.errno) }
        return Inotify(descriptor: FileDescriptor(rawValue: fd))
    }

    /// Adds (or replaces the mask of) the watch for the folder at `path` and returns its watch
    /// descriptor. Watching an already watched inode returns its existing descriptor.
    /// The corresponding C function is `inotify_add_watch`.
    func addWatch(path: String, mask: InotifyMask) throws(Errno) -> Int32 {
        let wd = inotify_add_watch(descriptor.rawValue, path, mask.rawValue)
        guard wd >= 0 else { throw Errno(rawValue: Glibc.errno) }
        return wd
    }

    /// Removes a watch; the kernel then queues `IN_IGNORED` for it.
    /// The corresponding C function is `inotify_rm_watch`.
    func removeWatch(_ watchDescriptor: Int32) throws(Errno) {
        guard inotify_rm_watch(descriptor.rawValue, watchDescriptor) == 0 else {
            throw Errno(rawValue: Glibc.errno)
        }
    }

    /// Reads every queued event without blocking; returns `[]` when none are queued.
    func readAvailable(into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> [InotifyEvent] {
        var events: [InotifyEvent] = []
        while true {
            let count: Int
            do {
                count = try descriptor.read(into: buffer, retryOnInterrupt: true)
            } catch let error as Errno {
                if error == .resourceTemporarilyUnavailable || error == .wouldBlock { return events }
                throw error
            } catch {
                // FileDescriptor.read only throws Errno; keep the type system honest anyway.
                throw Errno.ioError
            }
            if count == 0 { return events }
            events += InotifyEvent.decode(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }

    func close() {
        // Closing can only fail with EBADF (a programming error) or EINTR (fd is closed anyway on
        // Linux); there is nothing to recover, so the error is deliberately dropped.
        try? descriptor.close()
    }
}

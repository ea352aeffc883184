#if canImport(Glibc)
import Glibc
#endif

/// A whole file mapped read-only into memory. The mapping lives as long as this object; every
/// `TensorView` into it holds a reference, so views stay valid after the checkpoint object that
/// created them is gone.
///
/// `@unchecked Sendable`: the mapping is `PROT_READ` and never changes after `init`, so sharing
/// the base pointer across threads is safe.
public final class MappedFile: @unchecked Sendable {
    /// Path the file was opened from (for error messages).
    public let path: String
    /// Start of the mapping (nil for an empty file).
    public let base: UnsafeRawPointer?
    /// File size in bytes.
    public let size: Int

    /// Maps `path` read-only. The corresponding C functions are `open`, `fstat` and `mmap`.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let err = errno
            let code: WeightsError.Code = (err == ENOENT || err == ENOTDIR) ? .missingFile : .io
            throw WeightsError(code, "cannot open: \(String(cString: strerror(err)))", file: path)
        }
        defer { close(fd) }
        var st = stat()
        if fstat(fd, &st) != 0 {
            throw WeightsError(.io, "cannot stat: \(String(cString: strerror(errno)))", file: path)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            throw WeightsError(.io, "is a directory, expected a file", file: path)
        }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        if p == MAP_FAILED || p == nil {
            throw WeightsError(.io, "cannot mmap \(size) bytes: \(String(cString: strerror(errno)))", file: path)
        }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
    }

    /// Asks the kernel to read ahead the byte range (used before streaming through a tensor once).
    public func adviseWillNeed(offset: Int, count: Int) {
        guard let base, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset & ~(page - 1)
        madvise(UnsafeMutableRawPointer(mutating: base + start), count + (offset - start), MADV_WILLNEED)
    }
}

extension MappedFile {
    /// Tells the kernel this process is done with the byte range (after streaming through a
    /// tensor once), so the pages leave this process's resident set; the page cache keeps them.
    public func adviseDontNeed(offset: Int, count: Int) {
        guard let base, count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset & ~(page - 1)
        madvise(UnsafeMutableRawPointer(mutating: base + start), count + (offset - start), MADV_DONTNEED)
    }
}

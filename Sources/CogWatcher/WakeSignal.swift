import SystemPackage

/// A self-pipe that wakes the watcher thread out of `poll(2)`: `stop()` writes a byte to the
/// write end, the thread polls the read end together with the inotify descriptor.
///
/// Both ends are closed when the last owner (the watcher object or its thread) lets go, so the
/// descriptor numbers can never be reused while either side may still touch them.
final class WakeSignal: Sendable {
    let readEnd: FileDescriptor
    let writeEnd: FileDescriptor

    /// The corresponding C function is `pipe2` (`O_CLOEXEC | O_NONBLOCK`).
    init() throws(Errno) {
        (readEnd, writeEnd) = try FileDescriptor.pipe(options: [.closeOnExec, .nonBlocking])
    }

    /// Wakes the thread. Safe from any thread, any number of times.
    func signal() {
        let byte: [UInt8] = [1]
        // EAGAIN means the pipe is full of earlier wake-ups: the thread is woken already.
        // Nothing else can fail on a pipe whose read end we hold open, so the result is not needed.
        _ = try? byte.withUnsafeBytes { try writeEnd.write($0) }
    }

    deinit {
        // close(2) on Linux releases the descriptor even when it reports an error; nothing to do.
        try? readEnd.close()
        try? writeEnd.close()
    }
}

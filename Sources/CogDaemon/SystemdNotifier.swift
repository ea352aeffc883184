import CSystemd
import Foundation
import Glibc

/// Tells systemd how the daemon is doing (`sd_notify(3)`): ready, status line, watchdog pings,
/// reloading, stopping, and start-up timeout extensions while the model loads.
///
/// Two ways to reach the service manager:
/// - `SystemdNotifier()` uses libsystemd (`sd_notify(0, …)`, `sd_watchdog_enabled`) with the
///   process's own `NOTIFY_SOCKET` / `WATCHDOG_USEC` / `WATCHDOG_PID` — what runs under systemd;
/// - `SystemdNotifier(environment:)` / `SystemdNotifier(socketPath:)` take the values explicitly and
///   send the datagrams themselves (the protocol is one `AF_UNIX` `SOCK_DGRAM` message of
///   newline-separated `KEY=VALUE` lines; a leading `@` names an abstract socket). Tests use this
///   to point a notifier at their own socket without touching the process environment.
///
/// Without a socket every call is a no-op. A failed send (the socket is gone, systemd restarted)
/// throws a `SystemdNotifyError` for the caller to log; it never crashes the daemon.
/// `sd_notifyf` is variadic and cannot be called from Swift, so messages are formatted here.
public struct SystemdNotifier: Sendable {
    enum Transport: Sendable, Equatable {
        /// No `NOTIFY_SOCKET`: every call does nothing.
        case disabled
        /// libsystemd, reading the process environment at each call.
        case libsystemd
        /// Our own datagram sender, to this socket address (`/path` or `@abstract`).
        case socket(String)
    }

    /// Where the watchdog interval comes from.
    enum WatchdogSource: Sendable {
        /// libsystemd's `sd_watchdog_enabled`, reading the process environment.
        case process
        /// Given explicitly (or parsed from an explicit environment).
        case explicit(Result<Duration?, SystemdNotifyError>)
    }

    let transport: Transport
    private let watchdogSource: WatchdogSource

    /// A notifier for the process environment, through libsystemd: what runs under systemd.
    /// Disabled when `NOTIFY_SOCKET` is unset (e.g. run from a shell).
    public init() {
        let socket = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] ?? ""
        transport = socket.isEmpty ? .disabled : .libsystemd
        watchdogSource = .process
    }

    /// A notifier for explicitly given service-manager variables (`NOTIFY_SOCKET`, `WATCHDOG_USEC`,
    /// `WATCHDOG_PID`), sending datagrams itself. `pid` is this process (compared to `WATCHDOG_PID`).
    public init(environment: [String: String], pid: Int32 = getpid()) {
        let socket = environment["NOTIFY_SOCKET"] ?? ""
        transport = socket.isEmpty ? .disabled : .socket(socket)
        watchdogSource = .explicit(Self.parseWatchdog(environment: environment, pid: pid))
    }

    /// A notifier that sends to `socketPath` (nil disables it), with an optional watchdog interval.
    public init(socketPath: String?, watchdogInterval: Duration? = nil) {
        if let socketPath, !socketPath.isEmpty {
            transport = .socket(socketPath)
        } else {
            transport = .disabled
        }
        watchdogSource = .explicit(.success(watchdogInterval))
    }

    /// Whether messages go anywhere (false when there is no notification socket).
    public var isEnabled: Bool { transport != .disabled }

    // MARK: - Messages

    /// `READY=1`: start-up finished (migrations done, model loaded). Also ends a reload.
    public func ready() throws(SystemdNotifyError) { try notify(["READY=1"]) }

    /// `STATUS=…`: the one-line status `systemctl status` shows. Newlines become spaces.
    public func status(_ text: String) throws(SystemdNotifyError) {
        try notify(["STATUS=" + Self.singleLine(text)])
    }

    /// `WATCHDOG=1`: the keep-alive ping. Send it from a loop that proves progress, at least every
    /// half `watchdogInterval()`.
    public func watchdog() throws(SystemdNotifyError) { try notify(["WATCHDOG=1"]) }

    /// `STOPPING=1`: shutdown has begun (SIGTERM received).
    public func stopping() throws(SystemdNotifyError) { try notify(["STOPPING=1"]) }

    /// `RELOADING=1` with `MONOTONIC_USEC=` (the `CLOCK_MONOTONIC` time, which systemd ≥ 253 needs
    /// to order the reload); send `ready()` when the reload is done.
    public func reloading() throws(SystemdNotifyError) {
        try notify(["RELOADING=1", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())"])
    }

    /// `EXTEND_TIMEOUT_USEC=…`: asks for `microseconds` more before the start (or stop) timeout
    /// fires — send it periodically while the model loads.
    public func extendTimeout(microseconds: UInt64) throws(SystemdNotifyError) {
        try notify(["EXTEND_TIMEOUT_USEC=\(microseconds)"])
    }

    /// `EXTEND_TIMEOUT_USEC=…` for a `Duration`.
    public func extendTimeout(by duration: Duration) throws(SystemdNotifyError) {
        let (seconds, attoseconds) = duration.components
        let microseconds = UInt64(max(0, seconds)) * 1_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000_000)
        try extendTimeout(microseconds: microseconds)
    }

    /// Sends raw `KEY=VALUE` assignments as one message (joined by newlines). No-op when disabled.
    public func notify(_ assignments: [String]) throws(SystemdNotifyError) {
        let message = assignments.joined(separator: "\n")
        switch transport {
        case .disabled:
            return
        case .libsystemd:
            let result = sd_notify(0, message)
            if result < 0 {
                throw SystemdNotifyError(code: .sendFailed, message: "sd_notify failed: \(Self.describe(-result))",
                                         socket: ProcessInfo.processInfo.environment["NOTIFY_SOCKET"],
                                         errno: -result)
            }
        case .socket(let address):
            try Self.sendDatagram(message, to: address)
        }
    }

    /// The watchdog interval systemd expects pings within (`WatchdogSec=`), or nil when the
    /// watchdog is off or meant for another process. The corresponding C function is
    /// `sd_watchdog_enabled` (for `init()`).
    public func watchdogInterval() throws(SystemdNotifyError) -> Duration? {
        switch watchdogSource {
        case .process:
            var microseconds: UInt64 = 0
            let result = sd_watchdog_enabled(0, &microseconds)
            if result < 0 {
                throw SystemdNotifyError(code: .invalidEnvironment,
                                         message: "WATCHDOG_USEC/WATCHDOG_PID are malformed: \(Self.describe(-result))",
                                         socket: nil, errno: -result)
            }
            return result > 0 ? .microseconds(Int64(clamping: microseconds)) : nil
        case .explicit(let interval):
            return try interval.get()
        }
    }

    // MARK: - Protocol details

    private static func singleLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }

    private static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }

    private static func describe(_ errnoValue: Int32) -> String {
        String(cString: strerror(errnoValue)) + " (errno \(errnoValue))"
    }

    /// Parses `WATCHDOG_USEC` (and `WATCHDOG_PID`, which must name this process) like
    /// `sd_watchdog_enabled` does.
    private static func parseWatchdog(environment: [String: String],
                                      pid: Int32) -> Result<Duration?, SystemdNotifyError> {
        guard let text = environment["WATCHDOG_USEC"], !text.isEmpty else { return .success(nil) }
        guard let microseconds = UInt64(text), microseconds > 0 else {
            return .failure(SystemdNotifyError(code: .invalidEnvironment,
                                               message: "WATCHDOG_USEC=\(text) is not a positive integer",
                                               socket: nil, errno: EINVAL))
        }
        if let pidText = environment["WATCHDOG_PID"], !pidText.isEmpty {
            guard let watchdogPID = Int32(pidText), watchdogPID > 0 else {
                return .failure(SystemdNotifyError(code: .invalidEnvironment,
                                                   message: "WATCHDOG_PID=\(pidText) is not a process id",
                                                   socket: nil, errno: EINVAL))
            }
            if watchdogPID != pid { return .success(nil) }  // the watchdog is another process's
        }
        return .success(.microseconds(Int64(clamping: microseconds)))
    }

    /// Sends one datagram to an `AF_UNIX` socket: `/path`, or `@name` for the abstract namespace.
    /// The corresponding C functions are `socket`, `sendto` and `close`.
    static func sendDatagram(_ message: String, to address: String) throws(SystemdNotifyError) {
        var pathBytes = Array(address.utf8)
        let isAbstract = pathBytes.first == UInt8(ascii: "@")
        guard isAbstract || pathBytes.first == UInt8(ascii: "/") else {
            throw SystemdNotifyError(code: .invalidSocket,
                                     message: "NOTIFY_SOCKET must be an absolute path or start with @",
                                     socket: address, errno: EINVAL)
        }
        var socketAddress = sockaddr_un()
        let capacity = MemoryLayout.size(ofValue: socketAddress.sun_path)  // 108 bytes on Linux
        guard pathBytes.count < capacity else {
            throw SystemdNotifyError(code: .invalidSocket,
                                     message: "NOTIFY_SOCKET is longer than \(capacity - 1) bytes",
                                     socket: address, errno: ENAMETOOLONG)
        }
        if isAbstract { pathBytes[0] = 0 }  // abstract names start with a NUL byte, not '@'
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        // Abstract addresses are exactly as long as the name; path addresses include the NUL.
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
        let length = socklen_t(pathOffset + pathBytes.count + (isAbstract ? 0 : 1))

        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else {
            throw SystemdNotifyError(code: .sendFailed, message: "socket(AF_UNIX) failed: \(describe(errno))",
                                     socket: address, errno: errno)
        }
        defer { close(descriptor) }
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &socketAddress) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketPointer in
                bytes.withUnsafeBytes { buffer in
                    sendto(descriptor, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), socketPointer, length)
                }
            }
        }
        guard sent >= 0 else {
            let failure = errno
            throw SystemdNotifyError(code: .sendFailed,
                                     message: "cannot reach the service manager: \(describe(failure))",
                                     socket: address, errno: failure)
        }
    }
}

/// Why a notification could not be sent (worth a log line; the daemon carries on).
public struct SystemdNotifyError: Error, Sendable, CustomStringConvertible, Equatable {
    /// A stable, machine-readable error code.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The datagram could not be sent (socket gone, refused, …).
        public static let sendFailed = Code(rawValue: "systemd.notify_failed")
        /// `NOTIFY_SOCKET` is not a usable address.
        public static let invalidSocket = Code(rawValue: "systemd.invalid_socket")
        /// `WATCHDOG_USEC` / `WATCHDOG_PID` are malformed.
        public static let invalidEnvironment = Code(rawValue: "systemd.invalid_environment")
    }

    /// The stable error code.
    public var code: Code
    /// What went wrong.
    public var message: String
    /// The notification socket concerned, if any.
    public var socket: String?
    /// The `errno` behind the failure, if any.
    public var errno: Int32?

    /// Creates an error.
    public init(code: Code, message: String, socket: String?, errno: Int32?) {
        self.code = code
        self.message = message
        self.socket = socket
        self.errno = errno
    }

    public var description: String {
        var text = "\(code): \(message)"
        if let socket { text += " [NOTIFY_SOCKET=\(socket)]" }
        return text
    }
}

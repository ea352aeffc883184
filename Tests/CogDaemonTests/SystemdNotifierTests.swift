import Foundation
import Glibc
import Testing

@testable import CogDaemon

/// A real `AF_UNIX` datagram socket standing in for systemd's notification socket.
private final class NotificationSocket {
    /// What to give the notifier: a path, or `@name` for the abstract namespace.
    let address: String
    let folder: URL?
    private var descriptor: Int32

    /// Binds a socket in a fresh temporary folder, or in the abstract namespace.
    init(abstract: Bool = false) throws {
        if abstract {
            address = "@cogjobs-notify-test-\(UUID().uuidString)"
            folder = nil
        } else {
            let folder = FileManager.default.temporaryDirectory
                .appendingPathComponent("cogjobs-notify-\(UUID().uuidString.prefix(8))", isDirectory: true)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            self.folder = folder
            address = folder.appendingPathComponent("notify.sock").path
        }
        var socketAddress = sockaddr_un()
        var pathBytes = Array(address.utf8)
        // A longer path would trap in copyBytes below and take the whole test process down.
        guard pathBytes.count < MemoryLayout.size(ofValue: socketAddress.sun_path) else {
            if let folder { try? FileManager.default.removeItem(at: folder) }  // temporary folder; best effort
            throw POSIXError(.ENAMETOOLONG)
        }
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }

        socketAddress.sun_family = sa_family_t(AF_UNIX)
        if abstract { pathBytes[0] = 0 }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyBytes(from: pathBytes) }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path) ?? 2
        let length = socklen_t(pathOffset + pathBytes.count + (abstract ? 0 : 1))
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    }

    /// The next datagram, or nil if none arrives within `timeoutMilliseconds`.
    func receive(timeoutMilliseconds: Int32 = 2000) -> String? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeoutMilliseconds) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        guard count >= 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    /// Closes the socket (the file stays, so senders get ECONNREFUSED).
    func closeSocket() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
    }

    deinit {
        closeSocket()
        if let folder { try? FileManager.default.removeItem(at: folder) }  // temporary folder; best effort
    }
}

@Suite("SystemdNotifier")
struct SystemdNotifierTests {
    @Test("ready, status, watchdog, stopping and extend-timeout arrive as the exact datagrams")
    func exactDatagrams() throws {
        let socket = try NotificationSocket()
        let notifier = SystemdNotifier(socketPath: socket.address)
        #expect(notifier.isEnabled)

        try notifier.ready()
        #expect(socket.receive() == "READY=1")
        try notifier.status("queued 3, running 1\ndone 17")
        #expect(socket.receive() == "STATUS=queued 3, running 1 done 17")
        try notifier.watchdog()
        #expect(socket.receive() == "WATCHDOG=1")
        try notifier.extendTimeout(by: .seconds(90))
        #expect(socket.receive() == "EXTEND_TIMEOUT_USEC=90000000")
        try notifier.extendTimeout(microseconds: 1_500)
        #expect(socket.receive() == "EXTEND_TIMEOUT_USEC=1500")
        try notifier.stopping()
        #expect(socket.receive() == "STOPPING=1")
        try notifier.notify(["ERRNO=2", "STATUS=failed"])
        #expect(socket.receive() == "ERRNO=2\nSTATUS=failed")
        #expect(socket.receive(timeoutMilliseconds: 50) == nil)  // nothing else was sent
    }

    @Test("reloading carries MONOTONIC_USEC with the current CLOCK_MONOTONIC time")
    func reloading() throws {
        let socket = try NotificationSocket()
        let notifier = SystemdNotifier(socketPath: socket.address)
        var before = timespec()
        clock_gettime(CLOCK_MONOTONIC, &before)
        try notifier.reloading()
        var after = timespec()
        clock_gettime(CLOCK_MONOTONIC, &after)

        let message = try #require(socket.receive())
        let lines = message.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.first == "RELOADING=1")
        let stamp = try #require(lines.last.flatMap { line -> UInt64? in
            guard line.hasPrefix("MONOTONIC_USEC=") else { return nil }
            return UInt64(line.dropFirst("MONOTONIC_USEC=".count))
        })
        let low = UInt64(before.tv_sec) * 1_000_000 + UInt64(before.tv_nsec) / 1000
        let high = UInt64(after.tv_sec) * 1_000_000 + UInt64(after.tv_nsec) / 1000
        #expect((low...high).contains(stamp))
    }

    @Test("NOTIFY_SOCKET from an explicit environment, path or abstract name")
    func explicitEnvironment() throws {
        let pathSocket = try NotificationSocket()
        try SystemdNotifier(environment: ["NOTIFY_SOCKET": pathSocket.address]).ready()
        #expect(pathSocket.receive() == "READY=1")

        let abstractSocket = try NotificationSocket(abstract: true)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": abstractSocket.address])
        try notifier.status("loading model")
        #expect(abstractSocket.receive() == "STATUS=loading model")
    }

    @Test("without NOTIFY_SOCKET every call is a no-op")
    func disabledIsNoOp() throws {
        for notifier in [SystemdNotifier(environment: [:]), SystemdNotifier(socketPath: nil),
                         SystemdNotifier(environment: ["NOTIFY_SOCKET": ""])] {
            #expect(!notifier.isEnabled)
            try notifier.ready()
            try notifier.status("x")
            try notifier.watchdog()
            try notifier.reloading()
            try notifier.stopping()
            #expect(try notifier.watchdogInterval() == nil)
        }
    }

    @Test("the process notifier uses libsystemd and is a no-op when this process has no NOTIFY_SOCKET",
          .enabled(if: ProcessInfo.processInfo.environment["NOTIFY_SOCKET"] == nil
                       && ProcessInfo.processInfo.environment["WATCHDOG_USEC"] == nil))
    func processNotifierWithoutSocket() throws {
        let notifier = SystemdNotifier()
        #expect(!notifier.isEnabled)
        try notifier.ready()
        try notifier.stopping()
        #expect(try notifier.watchdogInterval() == nil)  // sd_watchdog_enabled: WATCHDOG_USEC unset
    }

    @Test("a vanished socket gives an error value, not a crash")
    func vanishedSocket() throws {
        let socket = try NotificationSocket()
        let notifier = SystemdNotifier(socketPath: socket.address)
        socket.closeSocket()  // nobody listens: ECONNREFUSED
        let refused = #expect(throws: SystemdNotifyError.self) { try notifier.ready() }
        #expect(refused?.code == .sendFailed)
        #expect(refused?.errno == ECONNREFUSED)
        #expect(refused?.socket == socket.address)

        try FileManager.default.removeItem(atPath: socket.address)  // the socket file is gone: ENOENT
        let missing = #expect(throws: SystemdNotifyError.self) { try notifier.watchdog() }
        #expect(missing?.errno == ENOENT)
        #expect(missing?.description.contains("cannot reach the service manager") == true)
    }

    @Test("unusable socket addresses are rejected with a clear error")
    func invalidAddresses() {
        let relative = #expect(throws: SystemdNotifyError.self) {
            try SystemdNotifier(socketPath: "relative/notify.sock").ready()
        }
        #expect(relative?.code == .invalidSocket)
        let long = #expect(throws: SystemdNotifyError.self) {
            try SystemdNotifier(socketPath: "/" + String(repeating: "x", count: 200)).ready()
        }
        #expect(long?.code == .invalidSocket)
    }

    @Test("the watchdog interval comes from WATCHDOG_USEC when WATCHDOG_PID is this process")
    func watchdogInterval() throws {
        let pid = getpid()
        #expect(try SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(pid)"])
                    .watchdogInterval() == .seconds(30))
        #expect(try SystemdNotifier(environment: ["WATCHDOG_USEC": "250000"]).watchdogInterval()
                    == .milliseconds(250))
        #expect(try SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(pid + 1)"])
                    .watchdogInterval() == nil)
        #expect(try SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x"]).watchdogInterval() == nil)
        #expect(try SystemdNotifier(socketPath: "/run/x", watchdogInterval: .seconds(5)).watchdogInterval()
                    == .seconds(5))
        let malformed = #expect(throws: SystemdNotifyError.self) {
            try SystemdNotifier(environment: ["WATCHDOG_USEC": "soon"]).watchdogInterval()
        }
        #expect(malformed?.code == .invalidEnvironment)
    }
}

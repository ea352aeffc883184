import Foundation

/// Who holds a job's lease: a process on a host, written into `jobs.lease_owner` as
/// `host:pid:bootid:starttime`.
///
/// `bootid` is `/proc/sys/kernel/random/boot_id` (new on every boot) and `starttime` the process
/// start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`), so a reused pid or a
/// reboot is never mistaken for the original owner.
public struct OwnerIdentity: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var pid: Int32
    public var bootID: String
    public var startTime: UInt64

    public init(host: String, pid: Int32, bootID: String, startTime: UInt64) {
        self.host = host
        self.pid = pid
        self.bootID = bootID
        self.startTime = startTime
    }

    /// Parses `host:pid:bootid:starttime`; `nil` if `text` is not in that form.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 4,
              let startTime = UInt64(parts[parts.count - 1]),
              let pid = Int32(parts[parts.count - 3]) else { return nil }
        self.init(host: parts[..<(parts.count - 3)].joined(separator: ":"), pid: pid,
                  bootID: String(parts[parts.count - 2]), startTime: startTime)
    }

    public var description: String { "\(host):\(pid):\(bootID):\(startTime)" }

    /// This process.
    public static func current() -> OwnerIdentity {
        let pid = getpid()
        return OwnerIdentity(host: hostName(), pid: pid, bootID: currentBootID() ?? "unknown-boot",
                             startTime: processStartTime(pid: pid) ?? 0)
    }

    /// What this machine can tell about `owner` (a `lease_owner` value).
    ///
    /// - `.dead`: same host, and the machine rebooted since, or no process with that pid and start
    ///   time exists any more.
    /// - `.alive`: same host and boot, and that exact process is running.
    /// - `.unknown`: another host, or not in our format; only its lease expiry can tell.
    public static func liveness(of owner: String) -> OwnerLiveness {
        guard let identity = OwnerIdentity(parsing: owner) else { return .unknown }
        guard identity.host == hostName() else { return .unknown }
        guard let boot = currentBootID() else { return .unknown }
        guard identity.bootID == boot else { return .dead }
        guard let started = processStartTime(pid: identity.pid) else { return .dead }
        return started == identity.startTime ? .alive : .dead
    }

    // MARK: /proc readers

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    static func currentBootID() -> String? {
        // A missing file means we are not on Linux /proc; the caller then treats owners as unknown.
        guard let text = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8) else {
            return nil
        }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// Field 22 (`starttime`) of `/proc/<pid>/stat`, or `nil` if there is no such process or it has
    /// exited and only its zombie waits to be reaped (state `Z` or `X`: a daemon killed moments ago,
    /// whose parent has not collected it yet, holds no job any more).
    static func processStartTime(pid: Int32) -> UInt64? {
        // A failed read means the process does not exist (or is not visible to us): reported as nil.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        // The command name (field 2) is in parentheses and may itself contain spaces or ')':
        // fields 3… start after the last ')'.
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state), so field 22 is fields[19].
        guard fields.count > 19, fields[0] != "Z", fields[0] != "X" else { return nil }
        return UInt64(fields[19])
    }
}

/// Whether the process that owns a lease still exists.
public enum OwnerLiveness: Sendable, Equatable {
    case alive
    case dead
    case unknown
}

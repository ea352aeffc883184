import Foundation

/// What the CPU offers, read once from `/proc/cpuinfo` (Linux). Used to pick kernel sets.
public struct CPUFeatures: Sendable {
    public let flags: Set<String>

    public static let current = CPUFeatures(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
    // try?: without /proc/cpuinfo we simply know no flags and keep every default.

    public init(cpuinfo: String) {
        let line = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }
        flags = Set((line?.split(separator: ":").last ?? "").split(separator: " ").map(String.init))
    }

    public var hasAVX2FMA: Bool { flags.isSuperset(of: ["avx2", "fma"]) }
    public var hasAVX512: Bool { flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) }

    /// The OpenBLAS kernel set to force, or nil to let OpenBLAS detect.
    var openBLASCoreType: String? {
        if hasAVX512 { return "SkylakeX" }
        if hasAVX2FMA { return "Haswell" }
        return nil
    }
}

import CogVLM
import Synchronization

/// A bounded, thread-safe cache of `BOS + image` session snapshots, so that several jobs on the
/// same image (a caption plus three questions, say) compute its vision features and prefix KV
/// once. Keyed by the preprocessed pixels' content; least recently used entries are evicted
/// when the total KV bytes would exceed `capacityBytes`.
public final class PrefixCache: Sendable {
    public struct Statistics: Sendable, Equatable {
        public var hits = 0
        public var misses = 0
        public var evictions = 0
        public var entries = 0
        public var bytes = 0
    }

    private struct Entry {
        let snapshot: CogVLMSession.Snapshot
        var lastUse: UInt64
    }

    private struct State {
        var entries: [PixelKey: Entry] = [:]
        var clock: UInt64 = 0
        var statistics = Statistics()
    }

    public let capacityBytes: Int
    private let state = Mutex(State())

    /// A cache holding at most `capacityBytes` of KV (one CogVLM-17B image prefix in f32 is
    /// ≈ 1.3 GB: 1228 tokens × 32 layers × 2 × 4096 × 4 bytes).
    public init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// The snapshot for these pixels, if cached (counts a hit or a miss).
    public func lookup(_ key: PixelKey) -> CogVLMSession.Snapshot? {
        state.withLock { s in
            s.clock += 1
            guard var entry = s.entries[key] else {
                s.statistics.misses += 1
                return nil
            }
            entry.lastUse = s.clock
            s.entries[key] = entry
            s.statistics.hits += 1
            return entry.snapshot
        }
    }

    /// Stores a snapshot, evicting the least recently used entries to stay within capacity.
    /// A snapshot larger than the whole capacity is not stored.
    public func insert(_ key: PixelKey, _ snapshot: CogVLMSession.Snapshot) {
        let size = snapshot.byteCount
        guard size <= capacityBytes else { return }
        state.withLock { s in
            s.clock += 1
            if let old = s.entries.removeValue(forKey: key) { s.statistics.bytes -= old.snapshot.byteCount }
            while s.statistics.bytes + size > capacityBytes,
                  let victim = s.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                s.entries.removeValue(forKey: victim.key)
                s.statistics.bytes -= victim.value.snapshot.byteCount
                s.statistics.evictions += 1
            }
            s.entries[key] = Entry(snapshot: snapshot, lastUse: s.clock)
            s.statistics.bytes += size
            s.statistics.entries = s.entries.count
        }
    }
}

/// Content key of a preprocessed image: two independent 64-bit FNV-1a hashes of the pixel
/// values' bits plus their count (a collision would silently reuse another image's prefix, so
/// 128 bits rather than 64).
public struct PixelKey: Hashable, Sendable {
    let a: UInt64
    let b: UInt64
    let count: Int

    public init(pixelValues: [Float]) {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325, b: UInt64 = 0x8422_2325_cbf2_9ce4
        for v in pixelValues {
            let bits = UInt64(v.bitPattern)
            a = (a ^ bits) &* 0x0000_0100_0000_01b3
            b = (b ^ (bits &* 0x9E37_79B9_7F4A_7C15)) &* 0x0000_0100_0000_01b3
        }
        self.a = a
        self.b = b
        count = pixelValues.count
    }
}

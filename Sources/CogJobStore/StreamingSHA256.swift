/// SHA-256 over data that arrives in pieces (a file read in chunks), fast enough for images.
///
/// It compresses straight from the caller's buffer through unsafe pointers and allocates nothing
/// per block, so hashing costs about as much as reading the file. `SHA256` (one-shot, for short
/// strings such as migration checksums and deduplication keys) is a wrapper over it. Measured throughput is printed by the `StreamingSHA256` test (release
/// builds reach a few hundred MB/s on one core).
// ref: FIPS 180-4 "Secure Hash Standard", §4.1.2 (functions), §4.2.2 (constants), §5.1.1 (padding),
//      §5.3.3 (initial value), §6.2.2 (compression)
public struct StreamingSHA256: Sendable {
    /// H0…H7, the running hash value.
    private var state: [UInt32] = Self.initialHash
    /// Bytes of an incomplete block carried over between `update` calls (`pendingCount` of 64 used).
    private var pending = [UInt8](repeating: 0, count: 64)
    private var pendingCount = 0
    /// Message length so far, in bytes.
    private var byteCount: UInt64 = 0
    /// W[0..63], the message schedule; kept to avoid an allocation per `update`.
    private var schedule = [UInt32](repeating: 0, count: 64)

    public init() {}

    /// Feeds the next bytes of the message.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var input = bytes.baseAddress, !bytes.isEmpty else { return }
        var remaining = bytes.count
        byteCount &+= UInt64(remaining)
        if pendingCount > 0 {
            let take = min(64 - pendingCount, remaining)
            let offset = pendingCount
            pending.withUnsafeMutableBytes { buffer in
                buffer.baseAddress.map { ($0 + offset).copyMemory(from: input, byteCount: take) }
            }
            pendingCount += take
            input += take
            remaining -= take
            guard pendingCount == 64 else { return }
            let block = pending
            block.withUnsafeBytes { bytes in bytes.baseAddress.map { compressBlocks($0, count: 1) } }
            pendingCount = 0
        }
        let whole = remaining / 64
        if whole > 0 {
            compressBlocks(input, count: whole)
            input += whole * 64
            remaining -= whole * 64
        }
        if remaining > 0 {
            let count = remaining
            pending.withUnsafeMutableBytes { $0.baseAddress.map { $0.copyMemory(from: input, byteCount: count) } }
            pendingCount = remaining
        }
    }

    /// Feeds bytes from an array.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Pads the message (§5.1.1) and returns the 32-byte digest. The hasher is spent afterwards.
    public mutating func finalize() -> [UInt8] {
        let bitLength = byteCount &* 8
        var tail: [UInt8] = [0x80]
        let padded = (pendingCount + 1 + 8 + 63) / 64 * 64  // pending + 0x80 + length, rounded up to blocks
        tail += [UInt8](repeating: 0, count: padded - pendingCount - 1 - 8)
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        let savedCount = byteCount
        tail.withUnsafeBytes { update($0) }
        byteCount = savedCount
        precondition(pendingCount == 0, "padding must end on a block boundary")  // programmer error if not
        return state.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> UInt32(24 - 8 * $0)) } }
    }

    /// Lower-case hex of `finalize()`.
    public mutating func finalizeHex() -> String {
        Self.hex(finalize())
    }

    /// Lower-case hex of a digest.
    public static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(digest.count * 2)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The digest of a whole buffer, in hex.
    public static func hexDigest(_ bytes: UnsafeRawBufferPointer) -> String {
        var hasher = StreamingSHA256()
        hasher.update(bytes)
        return hasher.finalizeHex()
    }

    // MARK: Compression (§6.2.2)

    /// Compresses `count` consecutive 64-byte blocks starting at `input` into `state`.
    private mutating func compressBlocks(_ input: UnsafeRawPointer, count: Int) {
        state.withUnsafeMutableBufferPointer { hash in
            schedule.withUnsafeMutableBufferPointer { wBuffer in
                Self.roundConstants.withUnsafeBufferPointer { kBuffer in
                    // The three arrays have fixed, non-zero sizes (8, 64, 64), so the addresses exist.
                    guard let h = hash.baseAddress, let w = wBuffer.baseAddress, let k = kBuffer.baseAddress else {
                        return
                    }
                    for blockIndex in 0..<count {
                        let block = input + blockIndex * 64
                        for t in 0..<16 {  // big-endian words of the block
                            w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self))
                        }
                        for t in 16..<64 {
                            let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                            let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                            w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                        }
                        var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
                        for t in 0..<64 {
                            let sigma1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                            let choose = (e & f) ^ (~e & g)
                            let t1 = hh &+ sigma1 &+ choose &+ k[t] &+ w[t]
                            let sigma0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                            let majority = (a & b) ^ (a & c) ^ (b & c)
                            let t2 = sigma0 &+ majority
                            hh = g; g = f; f = e; e = d &+ t1
                            d = c; c = b; b = a; a = t1 &+ t2
                        }
                        h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d
                        h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
                    }
                }
            }
        }
    }

    // §5.3.3: first 32 bits of the fractional parts of the square roots of the first 8 primes.
    private static let initialHash: [UInt32] = [
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
    ]

    // §4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes.
    private static let roundConstants: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]
}

/// Rotate right (ROTR^n, FIPS 180-4 §3.2).
@inline(__always)
private func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }

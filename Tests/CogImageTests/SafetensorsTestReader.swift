import Foundation

/// A minimal safetensors reader for these tests only (the real loader lives in CogWeights).
///
/// Format: 8-byte little-endian header length N, N bytes of JSON
/// `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the raw data;
/// offsets are relative to the first byte after the header. Only U8 and F32 are needed here.
struct SafetensorsTestReader {
    struct Tensor {
        let dtype: String
        let shape: [Int]
        let bytes: [UInt8]

        /// The data as u8 values (dtype must be U8).
        var u8: [UInt8] { bytes }

        /// The data as little-endian f32 values (dtype must be F32).
        var f32: [Float] {
            stride(from: 0, to: bytes.count, by: 4).map { offset in
                let bits = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
                    | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
                return Float(bitPattern: bits)
            }
        }
    }

    struct FormatError: Error, CustomStringConvertible {
        let description: String
    }

    let url: URL
    let tensors: [String: Tensor]

    init(contentsOf url: URL) throws {
        self.url = url
        let data = [UInt8](try Data(contentsOf: url))
        guard data.count >= 8 else { throw FormatError(description: "\(url.path): shorter than 8 bytes") }
        let headerLength = (0..<8).reduce(0) { $0 | Int(data[$1]) << (8 * $1) }
        guard headerLength > 0, 8 + headerLength <= data.count else {
            throw FormatError(description: "\(url.path): bad header length \(headerLength)")
        }
        let json = try JSONSerialization.jsonObject(with: Data(data[8..<(8 + headerLength)]))
        guard let header = json as? [String: Any] else {
            throw FormatError(description: "\(url.path): header is not a JSON object")
        }
        let base = 8 + headerLength
        var tensors: [String: Tensor] = [:]
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int],
                offsets.count == 2, offsets[0] <= offsets[1], base + offsets[1] <= data.count
            else {
                throw FormatError(description: "\(url.path): bad entry for \(name)")
            }
            let elementSize = ["U8": 1, "F32": 4][dtype]
            guard let elementSize, shape.reduce(1, *) * elementSize == offsets[1] - offsets[0] else {
                throw FormatError(description: "\(url.path): \(name) has dtype \(dtype) or a size that does not fit")
            }
            tensors[name] = Tensor(
                dtype: dtype, shape: shape, bytes: Array(data[(base + offsets[0])..<(base + offsets[1])]))
        }
        self.tensors = tensors
    }

    func tensor(_ name: String) throws -> Tensor {
        guard let tensor = tensors[name] else {
            throw FormatError(description: "\(url.path): no tensor named \(name)")
        }
        return tensor
    }
}

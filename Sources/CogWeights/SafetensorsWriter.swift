import Foundation

/// Writes a `.safetensors` file from in-memory tensors (used by `cogjobs dev forward`, the test
/// fixtures' builders, and later by model conversion). Tensors are laid out in the order given,
/// each aligned to 8 bytes; the header is padded with spaces to a multiple of 8 as the reference
/// writer does.
public struct SafetensorsWriter {
    private var entries: [(name: String, dtype: DType, shape: [Int], data: Data)] = []
    public var metadata: [String: String] = [:]

    public init() {}

    /// Adds raw little-endian bytes for a tensor.
    public mutating func add(_ name: String, dtype: DType, shape: [Int], bytes: Data) {
        entries.append((name, dtype, shape, bytes))
    }

    /// Adds an f32 tensor.
    public mutating func add(_ name: String, shape: [Int], floats: [Float]) {
        add(name, dtype: .f32, shape: shape, bytes: floats.withUnsafeBufferPointer { Data(buffer: $0) })
    }

    /// Adds an i64 tensor.
    public mutating func add(_ name: String, shape: [Int], int64s: [Int]) {
        let values = int64s.map { Int64($0).littleEndian }
        add(name, dtype: .i64, shape: shape, bytes: values.withUnsafeBufferPointer { Data(buffer: $0) })
    }

    /// The complete file contents.
    public func serialized() throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        var body = Data()
        for e in entries {
            let count = e.shape.reduce(1, *)
            guard count * e.dtype.size == e.data.count else {
                throw WeightsError(.badOffsets, "writer got \(e.data.count) bytes for shape \(e.shape) × \(e.dtype.rawValue)", key: e.name)
            }
            header[e.name] = ["dtype": e.dtype.rawValue, "shape": e.shape, "data_offsets": [offset, offset + e.data.count]]
            body.append(e.data)
            offset += e.data.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (json.count + 8) % 8 != 0 { json.append(0x20) }
        var out = Data()
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(body)
        return out
    }

    /// Writes the file atomically (temporary file + rename).
    public func write(to url: URL) throws {
        try serialized().write(to: url, options: .atomic)
    }
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes a large `.safetensors` file tensor by tensor without holding it in memory: the header
/// is computed up front from the planned tensors (name, dtype, shape), then each tensor's bytes
/// are streamed in order. Used by model conversion and synthetic-model generation, where the
/// output is tens of gigabytes. Writes to `<path>.partial` and renames on `finish()`, so an
/// interrupted run never leaves a file that looks complete.
public final class SafetensorsStreamWriter {
    public struct Planned: Sendable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        public var byteCount: Int { shape.reduce(1, *) * dtype.size }
        public init(name: String, dtype: DType, shape: [Int]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
        }
    }

    public let url: URL
    private let plan: [Planned]
    private var next = 0
    private var writtenInCurrent = 0
    private let handle: FileHandle
    private let partialURL: URL

    /// Creates the file and writes its header.
    public init(url: URL, plan: [Planned], metadata: [String: String] = [:]) throws {
        self.url = url
        self.plan = plan
        partialURL = url.appendingPathExtension("partial")
        var header: [String: Any] = [:]
        var offset = 0
        for p in plan {
            header[p.name] = ["dtype": p.dtype.rawValue, "shape": p.shape, "data_offsets": [offset, offset + p.byteCount]]
            offset += p.byteCount
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while (json.count + 8) % 8 != 0 { json.append(0x20) }
        guard FileManager.default.createFile(atPath: partialURL.path, contents: nil) else {
            throw WeightsError(.io, "cannot create file", file: partialURL.path)
        }
        do { handle = try FileHandle(forWritingTo: partialURL) } catch {
            throw WeightsError(.io, "cannot open for writing: \(SystemErrorText.reason(error))", file: partialURL.path)
        }
        var length = UInt64(json.count).littleEndian
        var head = Data()
        withUnsafeBytes(of: &length) { head.append(contentsOf: $0) }
        head.append(json)
        try write(head)
    }

    /// Name of the tensor whose bytes are expected next (nil when all are written).
    public var currentTensor: Planned? { next < plan.count ? plan[next] : nil }

    /// Appends bytes of the current tensor; moves to the next tensor when this one is complete.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard let current = currentTensor else {
            throw WeightsError(.io, "more data than the planned tensors hold", file: url.path)
        }
        guard writtenInCurrent + bytes.count <= current.byteCount else {
            throw WeightsError(.io, "too many bytes for tensor (planned \(current.byteCount))", file: url.path, key: current.name)
        }
        try write(Data(bytes))
        writtenInCurrent += bytes.count
        if writtenInCurrent == current.byteCount {
            next += 1
            writtenInCurrent = 0
        }
    }

    /// Checks every planned byte was written, flushes to disk and renames into place.
    public func finish() throws {
        if let current = currentTensor {
            throw WeightsError(.io, "finished before all tensors were written (at \(current.name))", file: url.path, key: current.name)
        }
        do {
            try handle.synchronize()
            try handle.close()
            if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
            try FileManager.default.moveItem(at: partialURL, to: url)
        } catch {
            throw WeightsError(.io, "cannot finish writing: \(SystemErrorText.reason(error))", file: url.path)
        }
    }

    private func write(_ data: Data) throws {
        do { try handle.write(contentsOf: data) } catch {
            throw WeightsError(.io, "write failed: \(SystemErrorText.reason(error))", file: partialURL.path)
        }
    }
}

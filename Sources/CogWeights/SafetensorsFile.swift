import Foundation

/// One memory-mapped `.safetensors` file: the parsed header and a zero-copy view per tensor.
///
/// File layout (ref: huggingface/safetensors README "Format"): 8-byte little-endian header length
/// `n`, then `n` bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__":
/// {str: str}}`, then the data buffer. Offsets are relative to the start of the data buffer.
/// Every check the format allows is made here, so a bad file is an error, never a crash:
/// header length within the file, JSON of the right shape, known dtypes, offsets inside the data
/// buffer, `end − begin == count × size`, and no two tensors overlapping.
public struct SafetensorsFile: Sendable {
    /// Upper bound for the JSON header (the format's own limit is 100 MB).
    public static let maxHeaderBytes = 100 * 1024 * 1024

    public let file: MappedFile
    /// Tensors by name.
    public let tensors: [String: TensorView]
    /// The `__metadata__` string map (empty when absent).
    public let metadata: [String: String]

    public var path: String { file.path }

    /// Opens and validates `path`.
    public init(path: String) throws {
        try self.init(mapped: MappedFile(path: path))
    }

    public init(mapped file: MappedFile) throws {
        self.file = file
        let path = file.path
        guard file.size >= 8, let base = file.base else {
            throw WeightsError(.truncated, "file has \(file.size) bytes; a safetensors file starts with an 8-byte header length", file: path)
        }
        let headerLength = base.loadUnaligned(as: UInt64.self).littleEndian
        guard headerLength <= UInt64(Self.maxHeaderBytes), Int(headerLength) <= file.size - 8 else {
            throw WeightsError(.badHeaderLength,
                "header length \(headerLength) runs past the end of the \(file.size)-byte file (truncated download or not a safetensors file)",
                file: path)
        }
        let headerData = Data(bytes: base + 8, count: Int(headerLength))
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: headerData, options: [])
        } catch {
            throw WeightsError(.malformedHeader, "header is not valid JSON (\(SystemErrorText.reason(error)))", file: path)
        }
        guard let object = json as? [String: Any] else {
            throw WeightsError(.malformedHeader, "header JSON is not an object", file: path)
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = file.size - dataStart
        var tensors: [String: TensorView] = [:]
        var metadata: [String: String] = [:]
        var spans: [(begin: Int, end: Int, name: String)] = []
        // In file order (then by name), so that the same damaged file always names the same tensor:
        // for a truncated file, the first one that reaches past its end.
        func start(_ value: Any) -> Int { Self.intArray((value as? [String: Any])?["data_offsets"])?.first ?? Int.max }
        let entries = object.map { (name: $0.key, value: $0.value, start: start($0.value)) }
            .sorted { ($0.start, $0.name) < ($1.start, $1.name) }
        for (name, value, _) in entries {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else {
                    throw WeightsError(.malformedHeader, "__metadata__ is not an object", file: path, key: name)
                }
                for (k, v) in map {
                    guard let s = v as? String else {
                        throw WeightsError(.malformedHeader, "__metadata__ values must be strings", file: path, key: k)
                    }
                    metadata[k] = s
                }
                continue
            }
            guard let entry = value as? [String: Any] else {
                throw WeightsError(.malformedHeader, "tensor entry is not an object", file: path, key: name)
            }
            guard let dtypeName = entry["dtype"] as? String else {
                throw WeightsError(.malformedHeader, "missing or non-string \"dtype\"", file: path, key: name)
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                throw WeightsError(.unknownDType, "unknown dtype \"\(dtypeName)\" (known: \(DType.allCases.map(\.rawValue).joined(separator: ", ")))",
                                   file: path, key: name)
            }
            guard let shape = Self.intArray(entry["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
                throw WeightsError(.malformedHeader, "\"shape\" must be an array of non-negative integers", file: path, key: name)
            }
            guard let offsets = Self.intArray(entry["data_offsets"]), offsets.count == 2 else {
                throw WeightsError(.malformedHeader, "\"data_offsets\" must be [begin, end]", file: path, key: name)
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end <= dataSize else {
                throw WeightsError(begin >= 0 && end >= begin ? .truncated : .badOffsets,
                    "data_offsets [\(begin), \(end)] fall outside the \(dataSize)-byte data section" +
                    (end > dataSize ? " (the file is truncated)" : ""), file: path, key: name)
            }
            // The element count, and its byte size, must fit in an Int. The product of the
            // non-zero dimensions is checked too: a zero-sized tensor such as [0, 2^62, 2^62]
            // would otherwise pass, and any product of some of its dimensions (a matrix view's
            // columns, say) would overflow later.
            var count = 1
            var nonZeroProduct = 1
            for d in shape {
                let (m, overflow) = count.multipliedReportingOverflow(by: d)
                let (p, pOverflow) = nonZeroProduct.multipliedReportingOverflow(by: max(d, 1))
                guard !overflow, !pOverflow else {
                    throw WeightsError(.badOffsets, "shape \(shape) overflows", file: path, key: name)
                }
                count = m
                nonZeroProduct = p
            }
            let (bytes, bytesOverflow) = count.multipliedReportingOverflow(by: dtype.size)
            guard !bytesOverflow else {
                throw WeightsError(.badOffsets, "shape \(shape) × \(dtype.rawValue) overflows", file: path, key: name)
            }
            guard end - begin == bytes else {
                throw WeightsError(.badOffsets,
                    "data_offsets span \(end - begin) bytes but shape \(shape) × \(dtype.rawValue) needs \(bytes)",
                    file: path, key: name)
            }
            spans.append((begin, end, name))
            tensors[name] = TensorView(name: name, dtype: dtype, shape: shape, file: file,
                                       offset: dataStart + begin, byteCount: end - begin)
        }
        // Sorted by start, two non-empty spans overlap only if some neighbours do; an empty span
        // (a zero-sized tensor) overlaps nothing and must not sit between two that overlap.
        spans.removeAll { $0.end == $0.begin }
        spans.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        for i in spans.indices.dropFirst() where spans[i].begin < spans[i - 1].end {
            throw WeightsError(.badOffsets,
                "data of '\(spans[i].name)' [\(spans[i].begin), \(spans[i].end)) overlaps '\(spans[i - 1].name)' [\(spans[i - 1].begin), \(spans[i - 1].end))",
                file: path, key: spans[i].name)
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Decodes a JSON array of non-fractional numbers (JSONSerialization gives NSNumber).
    private static func intArray(_ value: Any?) -> [Int]? {
        guard let array = value as? [Any] else { return nil }
        var out: [Int] = []
        out.reserveCapacity(array.count)
        for element in array {
            guard let number = element as? NSNumber else { return nil }
            let d = number.doubleValue
            guard d == d.rounded(), abs(d) < 9.0e15 else { return nil }
            out.append(number.intValue)
        }
        return out
    }
}

/// Block-quantized weight formats as stored by `cogjobs convert`: plain safetensors integer
/// tensors next to an fp16 scale tensor, so a converted checkpoint maps and verifies like the
/// original. The layouts are CKernels' (see `ckernels.h`): blocks of 32 along K.
///
/// | format | tensor `NAME.q8` / `NAME.q4`             | tensor `NAME.q8_scales` / `NAME.q4_scales` |
/// |--------|------------------------------------------|--------------------------------------------|
/// | q8     | I8 `[M, K]`, w = q · d                   | F16 `[M, K/32]`                             |
/// | q4     | U8 `[M, K/2]`, w = (q − 8) · d, 2 per byte | F16 `[M, K/32]`                           |
///
/// `NAME` is the original tensor name (e.g. `model.layers.0.mlp.language_mlp.gate_proj.weight`),
/// and the file's `__metadata__` carries `cogjobs.format` and `cogjobs.source`.
public enum QuantizedFormat: String, Sendable, CaseIterable {
    case q8
    case q4

    /// Elements per scale.
    public static let blockSize = 32

    /// The `__metadata__` key naming a converted checkpoint's language format (`q8` / `q4`);
    /// absent from a checkpoint as released.
    public static let metadataKey = "cogjobs.format"

    /// The language format a checkpoint's metadata names, or nil for a checkpoint as released.
    public static func of(checkpoint: Checkpoint) -> String? { checkpoint.metadata[metadataKey] }

    /// Name of the quantized values tensor for `name`.
    public func quantsName(_ name: String) -> String { "\(name).\(rawValue)" }
    /// Name of the scales tensor for `name`.
    public func scalesName(_ name: String) -> String { "\(name).\(rawValue)_scales" }
    /// The format whose quants or scales tensor `storedName` is (see `quantsName`, `scalesName`), or
    /// nil for a tensor stored as is.
    public static func of(storedName: String) -> QuantizedFormat? {
        allCases.first { storedName.hasSuffix($0.quantsName("")) || storedName.hasSuffix($0.scalesName("")) }
    }

    /// Stored dtype and shape of the quantized values of an `[rows, cols]` matrix.
    public func quantsLayout(rows: Int, cols: Int) -> (DType, [Int]) {
        switch self {
        case .q8: return (.i8, [rows, cols])
        case .q4: return (.u8, [rows, cols / 2])
        }
    }

    /// Shape of the fp16 scales of an `[rows, cols]` matrix.
    public func scalesShape(rows: Int, cols: Int) -> [Int] { [rows, cols / QuantizedFormat.blockSize] }
}

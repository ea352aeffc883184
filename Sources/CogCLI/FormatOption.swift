import ArgumentParser
import CogWeights

/// The value of a per-part format option (`--vision-format`, `--lm-head-format`): q8 | q4, or
/// bf16 to keep the part's tensors as stored (nil).
func keptOrQuantized(_ value: String, option: String) throws -> QuantizedFormat? {
    if value == "bf16" { return nil }
    guard let format = QuantizedFormat(rawValue: value) else {
        throw ValidationError("--\(option) must be q8, q4 or bf16")
    }
    return format
}

/// The per-channel normalization constants of OpenAI CLIP, used by the CogVLM image transform.
public enum CLIPNormalization {
    /// Channel means (R, G, B). Written as Double literals and rounded to Float once, which is
    /// what `torch.as_tensor(mean, dtype=torch.float32)` does with the Python floats.
    public static let mean: [Float] = [0.48145466, 0.4578275, 0.40821073].map { (value: Double) in Float(value) }
    /// Channel standard deviations (R, G, B), rounded the same way.
    public static let std: [Float] = [0.26862954, 0.26130258, 0.27577711].map { (value: Double) in Float(value) }
}

extension RGBImage {
    /// The model input for this image: resize to `size` x `size` with Pillow bicubic, then
    /// torchvision `ToTensor()` and `Normalize(mean, std)`.
    ///
    /// Returns `[3, size, size]` f32, channel-major (CHW). Each value is computed in float32 exactly
    /// as torchvision does: `x = Float(u8) / 255` (ToTensor's `div(255)`), then `(x - mean[c])`
    /// rounded, then `/ std[c]` (Normalize's `sub_` then `div_`).
    /// ref: torchvision transforms/functional.py to_tensor, normalize; CogVLM
    /// build_conversation_input_ids (Resize((S, S), BICUBIC), ToTensor, Normalize)
    /// - Throws: `ImageError.Code.invalidArgument` for a non-positive size, mean/std without 3
    ///   entries, or a zero std.
    public func pixelValues(
        size: Int, mean: [Float] = CLIPNormalization.mean, std: [Float] = CLIPNormalization.std
    ) throws -> [Float] {
        guard mean.count == 3, std.count == 3, !std.contains(0) else {
            throw ImageError(
                .invalidArgument, "mean and std need 3 entries each and std must not be 0, got \(mean) / \(std)")
        }
        let resized = try resizedBicubic(width: size, height: size)
        let planeSize = size * size
        return [Float](unsafeUninitializedCapacity: 3 * planeSize) { output, initialized in
            resized.pixels.withUnsafeBufferPointer { rgb in
                for channel in 0..<3 {
                    let channelMean = mean[channel]
                    let channelStd = std[channel]
                    let plane = channel * planeSize
                    for i in 0..<planeSize {
                        let scaled = Float(rgb[i * 3 + channel]) / 255
                        let centered = scaled - channelMean
                        output[plane + i] = centered / channelStd
                    }
                }
            }
            initialized = 3 * planeSize
        }
    }
}

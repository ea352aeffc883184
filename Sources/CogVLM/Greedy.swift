/// Greedy token choice (the official default, `do_sample=False`).
public enum Greedy {
    /// Index of the largest logit; the first one on ties, as `torch.argmax`.
    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for (i, v) in logits.enumerated() where v > bestValue {
            best = i
            bestValue = v
        }
        return best
    }
}

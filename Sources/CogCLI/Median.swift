/// The median of `values`: the middle one, or the mean of the two middle ones for an even count
/// (so that `--runs 2` reports the mean of the two, not the slower one). 0 for no values.
func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted(), middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

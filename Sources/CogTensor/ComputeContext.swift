/// Per-session compute resources: the thread team for row-split kernels and the f32 weight-tile
/// scratch for the sgemm path. One context per worker; never shared between threads that run
/// at the same time.
public final class ComputeContext {
    public let runner: ParallelRunner
    /// `[tile, cols]` f32 weight tile for `WeightMatrix.apply`'s sgemm path, grown on demand.
    var tile: [Float] = []

    /// How prefill matmuls may trade precision for speed (see `MatmulPrecision`).
    public var precision: MatmulPrecision

    /// A context that uses `threads` threads (this worker's share of the cores).
    public init(threads: Int = 1, precision: MatmulPrecision = .exact) {
        runner = ParallelRunner(threads: threads)
        self.precision = precision
    }

    public var threads: Int { runner.threads }
}

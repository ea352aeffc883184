import CBLAS

/// Thin wrappers over the OpenBLAS calls cogjobs uses. Row-major everywhere.
public enum BLAS {
    /// `C[m, n] = alpha · A[m, k] · op(B) + beta · C`, where `op(B)` is `B[k, n]` or, with
    /// `transposeB`, `B[n, k]ᵀ`. Leading dimensions default to packed rows.
    /// The corresponding C function is `cblas_sgemm`.
    @inline(__always)
    public static func sgemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
        alpha: Float = 1, beta: Float = 0
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha,
                    a, Int32(lda ?? k),
                    b, Int32(ldb ?? (transposeB ? k : n)), beta,
                    c, Int32(ldc ?? n))
    }

    /// Sets how many threads OpenBLAS may use for one call. The daemon keeps
    /// `workers × blasThreads ≤ cores`. The corresponding C function is `openblas_set_num_threads`.
    public static func setThreads(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// Threads OpenBLAS will use. The corresponding C function is `openblas_get_num_threads`.
    public static var threads: Int { Int(openblas_get_num_threads()) }
}

import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS, loaded at run time so that cogjobs can choose its kernel set first.
///
/// Why not link it: OpenBLAS picks its CPU kernels once, when the library is initialised, from
/// `OPENBLAS_CORETYPE` or its own CPU detection. The 0.3.21 build Debian ships does not know
/// recent Intel CPUs (Sapphire and Emerald Rapids under KVM are detected as "Prescott", an SSE3
/// kernel ~5× slower than its AVX-512 one). Loading with `dlopen` lets `load()` set `OPENBLAS_CORETYPE`
/// from the CPU's flags when the user has not set it. The fixture parity tests pass with either
/// kernel set.
public enum BLAS {
    private typealias SgemmFunction = @convention(c) (
        Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32,
        UnsafePointer<Float>?, Int32, Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    private typealias SetThreadsFunction = @convention(c) (Int32) -> Void
    private typealias GetIntFunction = @convention(c) () -> Int32
    private typealias GetNameFunction = @convention(c) () -> UnsafeMutablePointer<CChar>?

    /// Resolved entry points. `@unchecked Sendable`: C function pointers, immutable after load.
    private struct Library: @unchecked Sendable {
        let sgemm: SgemmFunction
        let setThreads: SetThreadsFunction?
        let getThreads: GetIntFunction?
        let coreName: GetNameFunction?
        let chosenCoreType: String?
    }

    // CBLAS enum values (cblas.h).
    private static let rowMajor: Int32 = 101, noTrans: Int32 = 111, trans: Int32 = 112

    private static let library: Result<Library, TensorError> = open()

    private static func open() -> Result<Library, TensorError> {
        var chosen: String? = nil
        if getenv("OPENBLAS_CORETYPE") == nil, let coreType = CPUFeatures.current.openBLASCoreType {
            setenv("OPENBLAS_CORETYPE", coreType, 0)
            chosen = coreType
        }
        var handle: UnsafeMutableRawPointer? = nil
        for name in ["libopenblas.so.0", "libopenblas.so"] {
            handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL)
            if handle != nil { break }
        }
        guard let handle else {
            let why = dlerror().map { String(cString: $0) } ?? "not found"
            return .failure(TensorError(.blasUnavailable,
                "cannot load OpenBLAS (\(why)); install it with: apt-get install libopenblas0-pthread"))
        }
        guard let sgemm = dlsym(handle, "cblas_sgemm") else {
            return .failure(TensorError(.blasUnavailable, "the loaded OpenBLAS has no cblas_sgemm"))
        }
        func symbol<T>(_ name: String, as type: T.Type) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: type) }
        }
        return .success(Library(
            sgemm: unsafeBitCast(sgemm, to: SgemmFunction.self),
            setThreads: symbol("openblas_set_num_threads", as: SetThreadsFunction.self),
            getThreads: symbol("openblas_get_num_threads", as: GetIntFunction.self),
            coreName: symbol("openblas_get_corename", as: GetNameFunction.self),
            chosenCoreType: chosen))
    }

    /// Loads OpenBLAS (once) or throws a `TensorError` saying how to install it. Call before the
    /// first numeric work (model loading does).
    public static func load() throws {
        if case .failure(let error) = library { throw error }
    }

    /// The kernel set OpenBLAS runs ("SkylakeX", "Haswell", …) and whether cogjobs chose it.
    public static var kernelDescription: String {
        guard case .success(let lib) = library else { return "unavailable" }
        let name = lib.coreName?().map { String(cString: $0) } ?? "unknown"
        return lib.chosenCoreType != nil ? "\(name) (set by cogjobs from CPU flags)" : name
    }

    /// `C[m, n] = alpha · A[m, k] · op(B) + beta · C`, where `op(B)` is `B[k, n]` or, with
    /// `transposeB`, `B[n, k]ᵀ`. Row-major; leading dimensions default to packed rows.
    /// The corresponding C function is `cblas_sgemm`. Requires a successful `load()`.
    @inline(__always)
    public static func sgemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil, transposeB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int? = nil,
        alpha: Float = 1, beta: Float = 0
    ) {
        guard m > 0, n > 0 else { return }
        guard case .success(let lib) = library else {
            preconditionFailure("BLAS.sgemm before a successful BLAS.load()")  // programmer error: load() is checked at model load
        }
        lib.sgemm(rowMajor, noTrans, transposeB ? trans : noTrans, Int32(m), Int32(n), Int32(k), alpha,
                  a, Int32(lda ?? k), b, Int32(ldb ?? (transposeB ? k : n)), beta, c, Int32(ldc ?? n))
    }

    /// Sets how many threads OpenBLAS may use for one call (the daemon keeps
    /// `workers × blasThreads ≤ cores`). The corresponding C function is `openblas_set_num_threads`.
    public static func setThreads(_ count: Int) {
        if case .success(let lib) = library { lib.setThreads?(Int32(max(1, count))) }
    }

    /// Threads OpenBLAS will use. The corresponding C function is `openblas_get_num_threads`.
    public static var threads: Int {
        guard case .success(let lib) = library, let get = lib.getThreads else { return 1 }
        return Int(get())
    }
}

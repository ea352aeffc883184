// CKernels — ISA-specific compute kernels for cogjobs, with run-time CPU dispatch.
//
// Every kernel has a portable scalar path and, on x86-64, AVX2 / AVX-512 / AVX-512-BF16+VNNI / AMX
// paths selected at run time (one binary runs on any x86-64; aarch64 builds the scalar path only).
// The active level is min(detected level, process-wide limit, calling thread's limit); see
// ck_set_isa_limit() and ck_set_thread_isa_limit().
//
// Conventions
// - Weights are row-major [M, K] as PyTorch Linear stores them; y = W·x.
// - Matrix kernels work on a row range [m0, m1) of W (= output columns of Y) and are single-threaded:
//   the caller splits M across its own threads. Pointers always point at the FULL arrays (W row 0,
//   y[0], Y[0, 0]); only rows/columns m0..<m1 are read or written.
// - Y outputs are row-major [N, ldy] f32 with ldy >= M (usually ldy == M); X inputs are contiguous
//   row-major [N, K] f32.
// - Functions that return ck_status return CK_OK (0) or a negative CK_ERR_* code; they never abort.
// - All kernels are reentrant and thread-safe; each thread keeps its own scratch buffers (grown on
//   demand, freed at thread exit): up to ~1 MB for decode, up to ~12 MB for ck_gemm_* (AVX-512
//   levels at K = 15360; ~6 MB at the AMX level), up to 32 MB more for ck_gemm_*_queue at AMX. No kernel runs threads of its own.
// - AMX: the first call asks Linux for the AMX tile-data permission (arch_prctl, process-wide). If
//   that fails (old kernel, or a thread's sigaltstack too small for the tile state) the level falls
//   back to CK_ISA_AVX512_BF16. Each AMX kernel configures the tiles on entry and releases them on exit.
//
// Weight formats (all little-endian, block size CK_QBLOCK = 32 along K):
// - BF16: uint16_t raw bfloat16 bits, [M, K], exactly as stored in the checkpoint.
// - Q8:   quants int8 [M, K] plus scales fp16 (uint16_t bits) [M, K/32].
//         w = q * d, symmetric, q in [-127, 127]; d = fp16(max|w| / 127) rounded to nearest even,
//         q = round-half-even(w / d) computed with the fp16-rounded d (so scale rounding adds no error).
// - Q4:   quants uint8 [M, K/2] (two 4-bit values per byte) plus scales fp16 [M, K/32].
//         w = (q - 8) * d with q in [0, 15] (q4_0-style symmetric with offset 8).
//         Nibble order within a 32-block: byte j (0..15) holds element j in its LOW nibble and element
//         j + 16 in its HIGH nibble.
//         The quantizer picks d per block to minimise the squared error: it tries scales around
//         (signed extremum / -8) and refits d by least squares for the chosen codes. On Gaussian data
//         this gives ≈ 8.1 % relative RMS error vs ≈ 8.6 % for plain max/-8 (an asymmetric min/max
//         format gives ≈ 7.8 % but costs 11 % more bytes, which decode pays in bandwidth).
// - fp16 scales: blocks whose max|w| is below ≈ 7.6e-6 lose precision (fp16 subnormals) or get
//   d = 0 (all zeros); their absolute error stays below that bound. Quantizers reject NaN/Inf.
// - Q8/Q4 require K % 32 == 0 (true for every CogVLM Linear). The patch embedding (K = 588) is not:
//   keep it in bf16/f32, or zero-pad K to 608 in both weights and activations before quantizing.
#pragma once

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Elements per quantization block along K.
#define CK_QBLOCK 32
/// Largest activation-row count handled in one weight pass by ck_gemm_small_* (more rows are
/// processed in chunks of this size).
#define CK_SMALL_N_MAX 8

/// Status codes.
typedef int ck_status;
#define CK_OK 0
/// A shape requirement was violated (e.g. K % 32 != 0 for a quantized format, m1 < m0).
#define CK_ERR_SHAPE (-1)
/// Input contained NaN or infinity (quantizers).
#define CK_ERR_NONFINITE (-2)
/// Scratch memory could not be allocated.
#define CK_ERR_NOMEM (-3)

// MARK: - CPU dispatch

#if defined(__has_attribute) && __has_attribute(swift_name)
#define CK_SWIFT_NAME(name) __attribute__((swift_name(#name)))
#else
#define CK_SWIFT_NAME(name)
#endif

/// Instruction-set levels, ordered: each level implies all lower ones. (Swift: ck_isa.scalar, .avx2, ...)
typedef enum __attribute__((enum_extensibility(closed))) ck_isa {
    /// Portable C (any CPU).
    CK_ISA_SCALAR CK_SWIFT_NAME(scalar) = 0,
    /// AVX2 + FMA + F16C (Haswell / Zen 1 and later).
    CK_ISA_AVX2 CK_SWIFT_NAME(avx2) = 1,
    /// AVX-512 F/BW/VL/DQ (Skylake-SP and later, Zen 4).
    CK_ISA_AVX512 CK_SWIFT_NAME(avx512) = 2,
    /// AVX-512 plus AVX512_BF16 (vdpbf16ps) and AVX512_VNNI (vpdpbusd) (Cooper Lake, Sapphire Rapids, Zen 4).
    CK_ISA_AVX512_BF16 CK_SWIFT_NAME(avx512BF16) = 3,
    /// AVX512_BF16 level plus AMX-TILE/BF16/INT8 with the Linux XTILEDATA permission granted
    /// (Sapphire Rapids and later). The permission is requested once, process-wide, at first use;
    /// set the environment variable CK_NO_AMX=1 to never request it.
    CK_ISA_AMX CK_SWIFT_NAME(amx) = 4,
} ck_isa;

/// Highest level this CPU and OS support (cached after the first call).
ck_isa ck_detected_isa(void);
/// Level the kernels use on the calling thread: min(detected, process limit, thread limit).
ck_isa ck_active_isa(void);
/// Short stable name of a level: "scalar", "avx2", "avx512", "avx512-bf16-vnni", "amx".
const char *ck_isa_name(ck_isa isa);
/// Caps the level for the whole process (e.g. for benchmarks of a lower path). CK_ISA_AMX = no cap.
void ck_set_isa_limit(ck_isa isa);
/// Caps the level for the calling thread only (used by tests to check each path); CK_ISA_AMX = no cap.
void ck_set_thread_isa_limit(ck_isa isa);
/// The calling thread's cap (CK_ISA_AMX when none), so that worker threads can take over a caller's.
ck_isa ck_thread_isa_limit(void);
/// Allows (true, the default) or forbids GFNI in the calling thread's kernels (tests check both
/// variants of the q4 decode kernels give the same bits). GFNI is used only where CPUID reports it.
void ck_set_thread_gfni(bool allowed);
/// True when a bf16 prefill product is better widened to f32 for sgemm than run on vdpbf16ps: on
/// an Intel CPU at the AVX512_BF16 level (AMX absent or capped), vdpbf16ps issues at about half the
/// f32 FMA rate (Sapphire Rapids VM without AMX: 172 GFLOPS for vdpbf16ps against 316 for OpenBLAS
/// sgemm on 2 cores), so sgemm is both faster and exact there. AMD Zen 4 runs vdpbf16ps at twice
/// its FMA rate and keeps it. For the calling thread's level.
bool ck_bf16_gemm_prefers_sgemm(void);

// MARK: - Conversions (any n; src and dst must not overlap)

/// bf16 bits -> f32 (exact). src [n] u16, dst [n] f32.
void ck_bf16_to_f32(const uint16_t *src, float *dst, size_t n);
/// f32 -> bf16 bits, round to nearest even; NaN stays NaN (quiet), subnormals kept (not flushed).
void ck_f32_to_bf16_rne(const float *src, uint16_t *dst, size_t n);
/// fp16 bits -> f32 (exact, subnormals included).
void ck_f16_to_f32(const uint16_t *src, float *dst, size_t n);
/// f32 -> fp16 bits, round to nearest even; overflow gives ±inf, NaN stays NaN.
void ck_f32_to_f16(const float *src, uint16_t *dst, size_t n);

// MARK: - Quantizers (n % 32 == 0; a whole [M, K] matrix may be passed as n = M*K)

/// src [n] f32 -> q [n] int8, scales [n/32] fp16. CK_ERR_NONFINITE if src holds NaN/Inf (outputs
/// then unspecified), CK_ERR_SHAPE if n % 32 != 0.
ck_status ck_quantize_q8(const float *src, int8_t *q, uint16_t *scales, size_t n);
/// src [n] f32 -> q [n/2] packed nibbles, scales [n/32] fp16 (see the Q4 format above).
ck_status ck_quantize_q4(const float *src, uint8_t *q, uint16_t *scales, size_t n);
/// q [n] int8, scales [n/32] fp16 -> dst [n] f32. n % 32 == 0 (else CK_ERR_SHAPE).
ck_status ck_dequant_q8_row(const int8_t *q, const uint16_t *scales, float *dst, size_t n);
/// q [n/2] nibbles, scales [n/32] fp16 -> dst [n] f32. n % 32 == 0 (else CK_ERR_SHAPE).
ck_status ck_dequant_q4_row(const uint8_t *q, const uint16_t *scales, float *dst, size_t n);

// MARK: - Decode GEMV: y[m] = sum_k W[m, k] * x[k] for m in [m0, m1)
//
// x [K] f32, y [M] f32 (only y[m0..<m1] written). Activations stay f32 except where noted.
// f32/bf16 accept any K; q8/q4 need K % 32 == 0.
// Measured (W [11008, 4096] streamed from DRAM, 1 or 2 threads): bf16, q8 and q4 all run at
// 95-120 % of a plain read pass over the same bytes (software prefetch of the next row block).

ck_status ck_gemv_f32(const float *W, size_t K, const float *x, float *y, size_t m0, size_t m1);
ck_status ck_gemv_bf16(const uint16_t *W, size_t K, const float *x, float *y, size_t m0, size_t m1);
/// Wq [M, K] int8, Ws [M, K/32] fp16. f32 activations at every level.
ck_status ck_gemv_q8(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *x, float *y,
                     size_t m0, size_t m1);
/// ck_gemv_q8 with the activations quantized to int8 per 32-block (scale max|x|/127, as llama.cpp's
/// Q8_0 × Q8_0 dot) at CK_ISA_AVX512_BF16 and above: the dot runs on vpdpbusd, a third of the
/// vector work of widening the codes, which keeps batches of several rows closer to memory speed.
/// Error ≈ 0.2-0.3 % of |W_m|·|x| (enough to flip near-tied greedy tokens of the tiny random
/// fixture, so only the `fast` precision uses it). Lower levels: exactly ck_gemv_q8.
ck_status ck_gemv_q8q8(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *x, float *y,
                       size_t m0, size_t m1);
/// Wq [M, K/2] nibbles, Ws [M, K/32] fp16. At CK_ISA_AVX512_BF16 and above x is quantized to int8
/// per 32-block (scale max|x|/127) and the dot runs on vpdpbusd (error ≈ 0.3 % of |W_m|·|x|, far
/// below the 4-bit weight error); lower levels compute in f32.
ck_status ck_gemv_q4(const uint8_t *Wq, const uint16_t *Ws, size_t K, const float *x, float *y,
                     size_t m0, size_t m1);

/// Work shared by the threads of one ck_gemm_*_queue or ck_gemm_small_*_queue call: set `next` to 0, then have each of
/// `parts` threads call the same function with the same arguments, its own `part`, and this queue.
typedef struct {
    size_t next;  // next work item; updated atomically by the kernels
} ck_gemm_queue;

// MARK: - Batched decode: Y[n, m] = sum_k W[m, k] * X[n, k], n < N, m in [m0, m1)
//
// One pass over the weight rows serves up to CK_SMALL_N_MAX activation rows (larger N is chunked).
// X [N, K] f32 contiguous; Y [N, ldy] f32. Each activation row gets exactly the bits the matching
// ck_gemv_* gives it alone (tested at every level; `exact` batched decode relies on it), except for
// bf16 weights at CK_ISA_AVX512+ (K chunked by N to keep activations in L1; `exact` batches run bf16
// rows through the GEMV instead), and bf16 weights
// with N >= 2 and K % 32 == 0 at CK_ISA_AMX: AMX tiles with each activation split into two bf16
// parts (x_hi + x_lo), i.e. f32-grade results (activation error <= 2^-17 |x|), which keeps batches of
// up to 8 at memory speed. q8/q4 batches use f32 FMA (q4 and q8q8: int8 VNNI at AVX512_BF16+); the
// VNNI batches are bound by the vector ports, not memory (all their 512-bit ops share two ports).
// Each 32-bit lane sums the products of one block over several vpdpbusd (weight
// loads interleaved by 8-byte halves) and the int → float step is folded into one FMA (magic-biased
// lanes), so a q4 group of 256 weights costs 4 vpdpbusd + 2 FMAs per activation row instead of 4 + 6:
// one image's 4 batched q4 sequences went from 2.08× to 2.62× the tokens per second of one. Batches
// prefetch weights into L2 (4 rows ahead), not L1: their long vector work per row left L1
// prefetches holding the line-fill buffers (q4 N = 4 −3–6 %, q8 −3–14 %). Tried
// before and slower: AMX-BF16 on dequantized tiles, a rows-in-lanes VNNI layout, 16-block q4
// groups (a word transpose per 4 loads: batches faster, one row 3–11 % slower), and AMX-INT8
// (2026-11-29; weights as the A operand, block-diagonal activation tiles whose columns are (block,
// sequence) pairs so one tdpbusd yields exact per-block dots): correct, N-independent, but 44-60 %
// of read speed even for N = 1, because each int8 tile op costs ~35 ns on this VM's shared AMX unit
// (the bf16 probe: ~1.9 TFLOPS for 2 threads) and the block-diagonal layout uses a quarter (q4) or
// half (q8) of each op.

ck_status ck_gemm_small_f32(const float *W, size_t K, const float *X, size_t N, float *Y, size_t ldy,
                            size_t m0, size_t m1);
ck_status ck_gemm_small_bf16(const uint16_t *W, size_t K, const float *X, size_t N, float *Y, size_t ldy,
                             size_t m0, size_t m1);
ck_status ck_gemm_small_q8(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N,
                           float *Y, size_t ldy, size_t m0, size_t m1);
/// ck_gemm_small_q8 with int8 activations (see ck_gemv_q8q8).
ck_status ck_gemm_small_q8q8(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N,
                             float *Y, size_t ldy, size_t m0, size_t m1);
ck_status ck_gemm_small_q4(const uint8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N,
                           float *Y, size_t ldy, size_t m0, size_t m1);

// ck_gemm_small_* (and ck_gemv_* for N = 1) over rows [m0, m1) shared by `parts` threads: each
// thread prepares the activations once, then claims chunks of weight rows from `queue` until none
// are left (each claim 1/(2·parts) of the rows left, at least 32), so a thread on a faster or less
// loaded core takes more of them. On this VM the two vCPUs stream the same q4 rows 10–40 % apart in
// speed from one moment to the next, and a static half split waits for the slower one. Results are
// the same bits as the single call on any split. N > CK_SMALL_N_MAX: the part's static 32-aligned
// share (a claimed row would have to serve every chunk of activation rows). No thread waits for
// another.
ck_status ck_gemm_small_f32_queue(const float *W, size_t K, const float *X, size_t N, float *Y, size_t ldy,
                                  size_t m0, size_t m1, ck_gemm_queue *queue, size_t part, size_t parts);
ck_status ck_gemm_small_bf16_queue(const uint16_t *W, size_t K, const float *X, size_t N, float *Y, size_t ldy,
                                   size_t m0, size_t m1, ck_gemm_queue *queue, size_t part, size_t parts);
ck_status ck_gemm_small_q8_queue(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N,
                                 float *Y, size_t ldy, size_t m0, size_t m1, ck_gemm_queue *queue, size_t part,
                                 size_t parts);
ck_status ck_gemm_small_q8q8_queue(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N,
                                   float *Y, size_t ldy, size_t m0, size_t m1, ck_gemm_queue *queue, size_t part,
                                   size_t parts);
ck_status ck_gemm_small_q4_queue(const uint8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N,
                                 float *Y, size_t ldy, size_t m0, size_t m1, ck_gemm_queue *queue, size_t part,
                                 size_t parts);

// MARK: - Prefill GEMM: Y[N, M] = X[N, K] · W[M, K]^T, columns m in [m0, m1)
//
// X [N, K] f32 contiguous; Y [N, ldy] f32 (overwritten, not accumulated). Cache-blocked, with the
// weight panel converted on the fly, so the same routine serves bf16, q8 and q4 weights. For two
// threads, split [m0, m1) on multiples of 32 columns. Worth it from N ≈ 16 up; below that use
// ck_gemm_small_*.
// Numerics by level:
// - CK_ISA_AMX: AMX-BF16 tiles (tdpbf16ps). Activations AND weights are rounded to bf16 (bf16
//   weights exactly; q8/q4 weights dequantized then rounded, adding ≈ 0.1 % RMS to their own
//   quantization error); products are accumulated in f32. Expect a relative error of a few 1e-3
//   of |X_n|·|W_m|.
//   With AMX, q8 / q4 prefill deliberately does not use VNNI (vpdpbusd): the per-32-block scales
//   force a float rescale every 8 dot instructions and int8 activations are coarser than bf16;
//   AMX-BF16 on the dequantized weights is both faster and more accurate.
// - CK_ISA_AVX512_BF16, bf16 weights: same numerics on vdpbf16ps. (On Sapphire Rapids vdpbf16ps
//   runs at half the f32-FMA rate, so this level is only worth it on CPUs without AMX where it is
//   fast, e.g. Zen 4.)
// - CK_ISA_AVX512_BF16, q8 / q4 weights: vpdpbusd on the weights' own codes with int8 activations
//   quantized per 32-block exactly as the VNNI decode kernels quantize them (scale max|x|/127,
//   round to nearest even); each block's integer dot is scaled once by both scales and summed in
//   f32. Expect a relative error of a few 1e-3 of |X_n|·|W_m| (the kernel tests bound it at 1e-2,
//   as for the VNNI decode kernels). Without AMX this is the fastest path by far: on a Sapphire
//   Rapids VM whose hypervisor hides AMX, one 17B image's vision + prefill took 56 s against 193 s
//   on vdpbf16ps (vpdpbusd does 2.9x the products per second there).
// - CK_ISA_AVX512 / CK_ISA_AVX2 / CK_ISA_SCALAR: weights expanded to f32, exact f32 FMA.
// K: any value for bf16; K % 32 == 0 for q8/q4.
// Returns CK_ERR_NOMEM if the per-thread packing buffers cannot be allocated.
// Measured at the AMX level on the CogVLM prefill shapes (N ≈ 1240, 2 threads on column halves,
// shared 2-core Emerald Rapids VM, best runs): ≈ 1000-1500 GFLOPS on the large projections, i.e.
// 30-70 % of the tdpbf16ps instruction peak (measured 2000-3200 on 2 threads, depending on the
// other load), 1.1-2x the previous blocking;
// vs ≈ 20-30 for the distro OpenBLAS sgemm (which misdetects this CPU as "Prescott"; with
// OPENBLAS_CORETYPE=SkylakeX it reaches ≈ 130 per thread). COGJOBS_KERNEL_BENCH=prefill prints them.

ck_status ck_gemm_bf16(const uint16_t *W, size_t K, const float *X, size_t N, float *Y, size_t ldy,
                       size_t m0, size_t m1);

// ck_gemm_* over columns [m0, m1) split among `parts` threads. At CK_ISA_AMX, when the packed
// activations (all rows and all of K in bf16) take at most 32 MB, column blocks are handed out by
// `queue` to whichever thread is free, so a thread on a faster core takes more of them: on this
// shared VM one vCPU often runs AMX at half the other's speed (two single-thread processes
// measured 73 ms and 160–180 ms for the same GEMM at the same time), and a static half split waits
// for the slow one. Each thread packs all of X once (up to 32 MB of per-thread scratch). Results
// are the same bits as ck_gemm_* on any split. Otherwise (other levels, larger X): the part's
// static 32-aligned share through ck_gemm_*, the queue unused. No thread waits for another, so
// the parts may even run at different ISA levels.
ck_status ck_gemm_bf16_queue(const uint16_t *W, size_t K, const float *X, size_t N, float *Y, size_t ldy,
                             size_t m0, size_t m1, ck_gemm_queue *queue, size_t part, size_t parts);
ck_status ck_gemm_q8_queue(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y,
                           size_t ldy, size_t m0, size_t m1, ck_gemm_queue *queue, size_t part, size_t parts);
ck_status ck_gemm_q4_queue(const uint8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y,
                           size_t ldy, size_t m0, size_t m1, ck_gemm_queue *queue, size_t part, size_t parts);
ck_status ck_gemm_q8(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y,
                     size_t ldy, size_t m0, size_t m1);
ck_status ck_gemm_q4(const uint8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y,
                     size_t ldy, size_t m0, size_t m1);

// MARK: - Elementwise and row kernels (single-threaded; split rows or elements across threads)
//
// Each has a scalar path with the reference semantics (libm erff/expf/sinf/cosf and the operation
// order of CogTensor's former Swift `Ops`) and AVX2 / AVX-512 paths built on the vector exp, erf
// and sin/cos below. Any n / dim (tails use masked loads). Row kernels may run in place (out == x).
// Measured accuracy of the vector paths (AVX2 and AVX-512 give bit-identical results), against
// double-precision references, exhaustively over every float in the range unless noted:
//   exp  ≤ 1.01 ulp on [−104, 89] (normal results);   erf ≤ 0.95 ulp on |y| ≤ 5 (glibc erff: 0.97);
//   sin/cos ≤ 7.1e-8 absolute for |a| ≤ 2^17 (every 5th float; vs sinf/cosf ≤ 6.0e-8);
//   GELU vs the glibc-erff formula (every float with |x| ≤ 10): |Δ| ≤ 2^-23·|x|, i.e. ≤ 2 ulp for
//   x ≥ 0 and, for x < 0, at most one rounding step of that formula's 1 + erf (its own error size:
//   1.7e-7 absolute at x = −5.5, where the exact GELU is −4e-8).
// CogTensorTests (ElementwiseKernelTests) re-measures these on dense sweeps and prints them.

/// x[i] = (½·x)·(1 + erf(x·(1/√2))) in place (exact-erf GELU, torch approximate='none'), each step
/// rounded to f32 as in the reference formula (PyTorch's CPU kernel and the former Swift `Ops`), so
/// results stay within ~1 ulp of it; like it, negative tails carry the absolute rounding of 1 + erf
/// (≈ |x|·3e-8) rather than a relative accuracy. GELU(−inf) = NaN as in the reference formula.
void ck_gelu_erf_f32(float *x, size_t n);
/// out[i] = erf(x[i]). Vector paths: y·(2/√π + y²·Q(y²)) for |y| < 0.5, 1 − erfc-polynomial on six
/// intervals up to 4, ±1 beyond.
void ck_erf_f32(const float *x, float *out, size_t n);
/// out[i] = gate[i] / (1 + e^(−gate[i])) · up[i] (SiLU(gate) ⊙ up). out may alias gate or up.
void ck_silu_mul_f32(const float *gate, const float *up, float *out, size_t n);
/// Softmax of one row in place: subtract the max (in f32, as torch), e^x in f32, sum the
/// exponentials in double, multiply by (float)(1/sum). Relative error per probability ≤ ~2.5e-7 for
/// any n (an f32 running sum, as in the former Swift code, reaches ~3e-6 at n = 4099).
void ck_softmax_f32(float *row, size_t n);
/// ck_softmax_f32, except that probabilities whose exponent x − max is below −70 become exactly 0
/// (< e^−70 ≈ 4e-31 of the row's largest: invisible in any f32 sum or weighted sum they enter).
/// No exponential or probability is then subnormal, which matters for speed: CPUs take a slow
/// microcode path for subnormal results (measured here: 0.9 → 8 ns per element on a 9217-key row
/// whose scores spread widely, the vision tower of CogVLM2 at 1344 px). Used by the `fast`
/// precision's matrix-product attention, whose probabilities are rounded to bf16 anyway.
void ck_softmax_f32_flush(float *row, size_t n);
/// RMSNorm: out = w · (x · 1/sqrtf(mean(x²) + eps)) per row; x, out [rows, dim], w [dim].
/// Σx² accumulates in double (exact products), so results match a double-accumulation reference to
/// the last f32 bit except where the f32 rounding of mean(x²) ties differently.
void ck_rmsnorm_f32(const float *x, const float *w, float eps, size_t rows, size_t dim, float *out);
/// LayerNorm with biased variance: out = ((x − mean)·inv)·w + bias, inv = 1/sqrt(var + eps); mean
/// and Σ(x − mean)² (two passes) in double. x, out [rows, dim]; w, bias [dim].
void ck_layernorm_f32(const float *x, const float *w, const float *bias, float eps, size_t rows, size_t dim,
                      float *out);
/// GPT-NeoX ("half-split") rotary in place on `heads` heads of each row: head h of row r starts at
/// x[r·stride + offset + h·head_dim]; with half = head_dim/2 and θ = (float)positions[r]·inv_freq[j]
/// (one f32 multiply): x'[j] = x[j]·cosθ − x[j+half]·sinθ, x'[j+half] = x[j+half]·cosθ + x[j]·sinθ.
/// cos/sin are computed once per row for all heads (vector paths: ck_sincos_f32's method; scalar:
/// cosf/sinf). For a row range, offset x and positions by the first row. inv_freq [head_dim/2].
/// CK_ERR_SHAPE if head_dim is odd; CK_ERR_NOMEM if the per-thread table cannot be allocated.
ck_status ck_rope_f32(float *x, size_t rows, size_t stride, size_t offset, size_t heads, size_t head_dim,
                      const int *positions, const float *inv_freq);
/// sin and cos of n angles. Vector paths: Cody-Waite reduction by π/2 (three-part constant, FMA)
/// and minimax polynomials on [−π/4, π/4]; accurate for |angle| ≤ 2^20.
void ck_sincos_f32(const float *angles, float *sin_out, float *cos_out, size_t n);
/// out[i] = e^x[i]. Vector paths: Cody-Waite reduction by ln 2, degree-6 minimax polynomial; +inf
/// above 88.72, 0 below −103.97, NaN stays NaN.
void ck_exp_f32(const float *x, float *out, size_t n);

// MARK: - Attention over an fp16 KV cache (or f32 keys and values)

/// out[i, h·hd ..< (h+1)·hd] = softmax(scale · q_i,h · K_kvhᵀ) · V_kvh for query heads h in [h0, h1),
/// kvh = h / (q_heads / kv_heads) (grouped-query heads, repeat-interleave order).
/// - q [queries, ≥ q_heads·hd] f32, row stride q_stride; out [queries, ≥ q_heads·hd] f32, row stride
///   out_stride (only heads h0..<h1 written); k, v [keys, ≥ kv_heads·hd] fp16 bits, row stride
///   kv_stride (elements).
/// - causal_offset −1: every query sees all keys. Otherwise query i sits at absolute position
///   causal_offset + i and sees keys 0 ... causal_offset + i (clamped to keys).
/// Numerics: K and V are widened exactly to f32; scores, softmax (f32 exp, sum in double) and the
/// weighted sum of V are f32 (FMA). The SIMD paths process blocks of up to 64 query rows
/// (query × head pairs of one kv head) against 16-key tiles, so scratch stays ≈ 64·keys floats plus
/// small tiles per thread (per-thread buffer, grown on demand); with at most 4 rows per kv head
/// (decode) K and V are read in place rather than widened into a tile, with the same arithmetic
/// and hence the same bits. Split [h0, h1) across threads;
/// prefer boundaries on multiples of q_heads / kv_heads so a kv head is widened by one thread only.
/// CK_ERR_SHAPE: q_heads % kv_heads != 0, h1 > q_heads, h0 > h1, head_dim == 0, keys == 0 (with work
/// to do) or causal_offset < −1. CK_ERR_NOMEM: scratch allocation failed.
ck_status ck_attention_f16kv(const float *q, size_t q_stride, const uint16_t *k, const uint16_t *v, size_t kv_stride,
                             float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                             size_t kv_heads, size_t head_dim, float scale, long causal_offset, size_t h0,
                             size_t h1);
/// ck_attention_f16kv with k, v [keys, ≥ kv_heads·hd] f32 (row stride kv_stride): same algorithm and
/// numerics (the tiles are copied instead of widened). For the vision tower's bidirectional attention
/// over f32 q/k/v and any f32 cache.
ck_status ck_attention_f32kv(const float *q, size_t q_stride, const float *k, const float *v, size_t kv_stride,
                             float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                             size_t kv_heads, size_t head_dim, float scale, long causal_offset, size_t h0,
                             size_t h1);

/// ck_attention_f16kv with the keys and values in two segments — rows [0, first_keys) at k_first /
/// v_first, rows [first_keys, keys) at k_rest / v_rest (rest's row 0 is key first_keys), one row
/// stride for both — e.g. a prefix shared by several sequences and each sequence's own tail.
/// Results are bit-identical to one contiguous array holding the same rows. When row_max and
/// row_sum are not NULL ([queries, q_heads] f32, only heads h0..<h1 written) they receive each
/// (query, head) row's softmax statistics: max of the scaled scores and Σ e^(score − max), so that
/// softmaxes over disjoint key sets can be merged: with weights w = sum·e^(max − M), M the larger
/// max, out = (w_a·out_a + w_b·out_b) / (w_a + w_b).
/// CK_ERR_SHAPE also when a segment that has rows is NULL or only one of row_max/row_sum is given.
ck_status ck_attention_f16kv_split(const float *q, size_t q_stride, const uint16_t *k_first, const uint16_t *v_first,
                                   size_t first_keys, const uint16_t *k_rest, const uint16_t *v_rest, size_t kv_stride,
                                   float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                                   size_t kv_heads, size_t head_dim, float scale, long causal_offset, size_t h0,
                                   size_t h1, float *row_max, float *row_sum);
/// ck_attention_f16kv_split on f32 keys and values.
ck_status ck_attention_f32kv_split(const float *q, size_t q_stride, const float *k_first, const float *v_first,
                                   size_t first_keys, const float *k_rest, const float *v_rest, size_t kv_stride,
                                   float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                                   size_t kv_heads, size_t head_dim, float scale, long causal_offset, size_t h0,
                                   size_t h1, float *row_max, float *row_sum);

// MARK: - Probes for `cogjobs bench`

/// Reads `bytes` bytes of `buffer` (f32 sums, as a GEMV would) and returns the sum so the work
/// cannot be optimised away. Time it to get read bandwidth. bytes is rounded down to 64.
double ck_read_bandwidth(const void *buffer, size_t bytes);
/// Runs `iterations` rounds of independent bf16 dot-product instructions at the active level
/// (vdpbf16ps at AVX512_BF16 and above, f32 FMA otherwise) and returns the number of floating-point
/// operations performed (multiply and add counted separately). Divide by elapsed time for FLOP/s.
double ck_bf16_dot_peak(uint64_t iterations);
/// Like ck_bf16_dot_peak but on AMX tdpbf16ps tiles; returns 0 when AMX is not active.
double ck_amx_bf16_peak(uint64_t iterations);
/// Like ck_bf16_dot_peak but on AVX512-VNNI vpdpbusd (int8 products, multiply and add counted
/// separately); returns 0 below CK_ISA_AVX512_BF16.
double ck_int8_dot_peak(uint64_t iterations);

// MARK: - Threads

/// A spin-wait hint (x86 `pause`; nothing elsewhere) for threads polling a shared flag.
static inline void ck_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

#ifdef __cplusplus
}
#endif

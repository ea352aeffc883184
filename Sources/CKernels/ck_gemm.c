// Prefill GEMM: Y[N, M] = X[N, K] · W[M, K]^T on a column range [m0, m1).
//
// Blocked in the GotoBLAS manner: for each block of NC activation rows and KC reduction steps the
// activations are packed once (L2-resident); for each MR-row weight panel the weights are expanded
// from their storage format (bf16 / q8 / q4) into the engine's layout (L1-resident) and a register-
// (or tile-) blocked micro-kernel sweeps all activation sub-blocks, accumulating into Y.
//
// Engines by ISA level (see ckernels.h for numerics):
//   avx2     f32 FMA, 16 m x 6 n register block, weight panel [KC][16] f32
//   avx512   f32 FMA, 32 m x 12 n register block, weight panels [KC][16] f32
//   bf16     vdpbf16ps, 32 m x 12 n, weight panels [KC/2][16][2] bf16, activations [KC/2][12][2] bf16
//   amx      tdpbf16ps, 32 n x 32 m (2x2 tiles) over K blocks of up to 1024, own driver run_amx
//            with L2-resident packed operands (see "MARK: AMX engine")
// ref: K. Goto, R. van de Geijn, "Anatomy of high-performance matrix multiplication", ACM TOMS 2008;
//      Intel SDM vol. 1 ch. 20 / Intel Intrinsics Guide (AMX tile configuration, tdpbf16ps).
#include "ck_internal.h"

#include <stdlib.h>

/// One GEMM engine: block sizes, packers and micro-kernel.
typedef struct {
    size_t MR;      // weight rows (output columns) per panel pair handled by the micro-kernel
    size_t NR;      // activation rows per micro-kernel call
    size_t KC;      // reduction block (multiple of kalign)
    size_t NC;      // activation rows per packed block (multiple of NR)
    size_t MC;      // output columns per L2 block of Y (multiple of MR)
    size_t kalign;  // the packed reduction length kcp is kc rounded up to this
    size_t elem;    // bytes per packed element (4 f32, 2 bf16)
    /// Packs X[rows, k0 ..< k0+kc] into NR-row sub-blocks of kcp steps (zero padded).
    void (*pack_x)(const float *X, size_t K, size_t rows, size_t k0, size_t kc, size_t kcp, void *dst);
    /// Packs W rows m ..< m+MR (rows >= m1 zero) over k0 ..< k0+kc into MR/16 panels of 16 rows.
    void (*pack_w)(const weights *w, size_t m, size_t m1, size_t k0, size_t kc, size_t kcp, void *dst, void *tmp);
    /// Y[0 ..< nv, 0 ..< mv] (+)= xp · wp over kcp steps; Y points at the block's top-left element.
    void (*kernel)(const void *xp, const void *wp, size_t kcp, float *Y, size_t ldy, size_t nv, size_t mv,
                   bool accumulate);
} engine;


#if CK_X86
static size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
#endif


#if CK_X86
// MARK: shared packers

/// Expands 16 weight rows (m ..< m+16, rows >= m1 zero) over k0 ..< k0+kc to f32 rows of kcp
/// (zero padded). tmp [16][kcp] f32.
static void rows16_f32(const weights *w, size_t m, size_t m1, size_t k0, size_t kc, size_t kcp, float *tmp,
                       ck_isa isa) {
    for (size_t r = 0; r < 16; r++) {
        float *row = tmp + r * kcp;
        if (m + r < m1) {
            ck_weights_row_f32(w, m + r, k0, kc, row, isa);
            memset(row + kc, 0, (kcp - kc) * sizeof(float));
        } else {
            memset(row, 0, kcp * sizeof(float));
        }
    }
}

/// X rows packed as [kcp][nr] f32 per NR-row sub-block.
static void pack_x_f32(const float *X, size_t K, size_t rows, size_t k0, size_t kc, size_t kcp, void *dst,
                       size_t nr) {
    float *out = dst;
    const size_t blocks = (rows + nr - 1) / nr;
    for (size_t b = 0; b < blocks; b++) {
        float *o = out + b * nr * kcp;
        for (size_t i = 0; i < nr; i++) {
            const size_t n = b * nr + i;
            for (size_t k = 0; k < kcp; k++) o[k * nr + i] = (n < rows && k < kc) ? X[n * K + k0 + k] : 0.0f;
        }
    }
}

// MARK: AVX2 engine (16 m x 6 n)

static void pack_x_avx2(const float *X, size_t K, size_t rows, size_t k0, size_t kc, size_t kcp, void *dst) {
    pack_x_f32(X, K, rows, k0, kc, kcp, dst, 6);
}

static void pack_w_avx2(const weights *w, size_t m, size_t m1, size_t k0, size_t kc, size_t kcp, void *dst,
                        void *tmp) {
    float *t = tmp, *panel = dst;  // t [16][kcp], panel [kcp][16]
    rows16_f32(w, m, m1, k0, kc, kcp, t, CK_ISA_AVX2);
    for (size_t k = 0; k < kcp; k++)
        for (size_t r = 0; r < 16; r++) panel[k * 16 + r] = t[r * kcp + k];
}

CK_TARGET_AVX2 static void kernel_avx2(const void *xpv, const void *wpv, size_t kcp, float *Y, size_t ldy, size_t nv,
                                       size_t mv, bool accumulate) {
    const float *xp = xpv, *wp = wpv;
    __m256 c[6][2];
    for (int i = 0; i < 6; i++) c[i][0] = c[i][1] = _mm256_setzero_ps();
    for (size_t k = 0; k < kcp; k++) {
        __m256 a0 = _mm256_loadu_ps(wp + k * 16), a1 = _mm256_loadu_ps(wp + k * 16 + 8);
        for (int i = 0; i < 6; i++) {
            __m256 b = _mm256_broadcast_ss(xp + k * 6 + i);
            c[i][0] = _mm256_fmadd_ps(a0, b, c[i][0]);
            c[i][1] = _mm256_fmadd_ps(a1, b, c[i][1]);
        }
    }
    for (size_t i = 0; i < nv; i++) {
        float out[16];
        _mm256_storeu_ps(out, c[i][0]);
        _mm256_storeu_ps(out + 8, c[i][1]);
        float *y = Y + i * ldy;
        for (size_t j = 0; j < mv; j++) y[j] = accumulate ? y[j] + out[j] : out[j];
    }
}

static const engine engine_avx2 = {16, 6, 256, 192, 512, 1, 4, pack_x_avx2, pack_w_avx2, kernel_avx2};

// MARK: AVX-512 f32 engine (32 m x 12 n)

static void pack_x_avx512(const float *X, size_t K, size_t rows, size_t k0, size_t kc, size_t kcp, void *dst) {
    pack_x_f32(X, K, rows, k0, kc, kcp, dst, 12);
}

CK_TARGET_AVX512 static void pack_w_avx512(const weights *w, size_t m, size_t m1, size_t k0, size_t kc, size_t kcp,
                                           void *dst, void *tmp) {
    float *t = tmp;
    for (size_t p = 0; p < 2; p++) {
        uint32_t *panel = (uint32_t *)dst + p * 16 * kcp;  // [kcp][16]
        rows16_f32(w, m + 16 * p, m1, k0, kc, kcp, t, CK_ISA_AVX512);
        for (size_t k = 0; k < kcp; k += 16) transpose16x16((const uint32_t *)t + k, kcp, panel + k * 16);
    }
}

/// Writes (or adds) a 16-wide row segment with mv valid columns.
CK_INLINE CK_TARGET_AVX512 void store_row16(float *y, __m512 v, size_t valid, bool accumulate) {
    const __mmask16 mask = valid >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << valid) - 1);
    if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(mask, y));
    _mm512_mask_storeu_ps(y, mask, v);
}

CK_TARGET_AVX512 static void kernel_avx512(const void *xpv, const void *wpv, size_t kcp, float *Y, size_t ldy,
                                           size_t nv, size_t mv, bool accumulate) {
    const float *xp = xpv, *w0 = wpv, *w1 = (const float *)wpv + 16 * kcp;
    __m512 c[12][2];
    for (int i = 0; i < 12; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (size_t k = 0; k < kcp; k++) {
        __m512 a0 = _mm512_loadu_ps(w0 + k * 16), a1 = _mm512_loadu_ps(w1 + k * 16);
        for (int i = 0; i < 12; i++) {
            __m512 b = _mm512_set1_ps(xp[k * 12 + i]);
            c[i][0] = _mm512_fmadd_ps(a0, b, c[i][0]);
            c[i][1] = _mm512_fmadd_ps(a1, b, c[i][1]);
        }
    }
    for (size_t i = 0; i < nv; i++) {
        store_row16(Y + i * ldy, c[i][0], mv, accumulate);
        if (mv > 16) store_row16(Y + i * ldy + 16, c[i][1], mv - 16, accumulate);
    }
}

static const engine engine_avx512 = {32, 12, 256, 192, 512, 16, 4, pack_x_avx512, pack_w_avx512,
                                      kernel_avx512};

// MARK: bf16 packers shared by the vdpbf16ps and AMX engines

/// Dequantizes W[m, k0 ..< k0+kc] (q8 or q4, kc % 32 == 0) straight to bf16. dst [kc] bf16.
CK_TARGET_AVX512BF16 static void row_quant_to_bf16(const weights *w, size_t m, size_t k0, size_t kc, uint16_t *dst) {
    const size_t nb = w->K / CK_QB;
    const uint16_t *scales = w->scales + m * nb + k0 / CK_QB;
    for (size_t b = 0; b < kc / CK_QB; b++) {
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(scales[b]));
        __m512 lo, hi;
        if (w->fmt == FMT_Q8) {
            const int8_t *q = (const int8_t *)w->data + m * w->K + k0 + b * CK_QB;
            lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q)));
            hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + 16))));
        } else {
            const uint8_t *q = (const uint8_t *)w->data + m * (w->K / 2) + k0 / 2 + b * (CK_QB / 2);
            __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)q));
            const __m512i eight = _mm512_set1_epi32(8);
            lo = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0x0f)), eight));
            hi = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_srli_epi32(v, 4), eight));
        }
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_mul_ps(hi, d), _mm512_mul_ps(lo, d));
        _mm512_storeu_si512(dst + b * CK_QB, (__m512i)v);
    }
}

/// Expands 16 weight rows to bf16 [16][kcp] (zero padded), then transposes k-pairs into the panel
/// layout [kcp/2][16][2] bf16.
CK_TARGET_AVX512BF16 static void pack_w_bf16pairs(const weights *w, size_t m, size_t m1, size_t k0, size_t kc,
                                                  size_t kcp, void *dst, void *tmp) {
    uint16_t *t = tmp;                             // [16][kcp] bf16
    float *row = (float *)(t + 16 * kcp);          // [kcp] f32
    for (size_t p = 0; p < 2; p++) {
        uint32_t *panel = (uint32_t *)((uint16_t *)dst + p * 16 * kcp);  // [kcp/2][16] pairs
        if (w->fmt == FMT_BF16 && kc == kcp && m + 16 * p + 16 <= m1 && k0 % 2 == 0 && w->K % 2 == 0) {
            // Whole panel inside W: transpose straight from the weight rows.
            const uint32_t *src = (const uint32_t *)((const uint16_t *)w->data + (m + 16 * p) * w->K + k0);
            for (size_t k = 0; k < kcp; k += 32) transpose16x16(src + k / 2, w->K / 2, panel + (k / 2) * 16);
            continue;
        }
        for (size_t r = 0; r < 16; r++) {
            uint16_t *tr = t + r * kcp;
            const size_t mr = m + 16 * p + r;
            if (mr >= m1) {
                memset(tr, 0, kcp * sizeof(uint16_t));
                continue;
            }
            if (w->fmt == FMT_BF16) {
                memcpy(tr, (const uint16_t *)w->data + mr * w->K + k0, kc * sizeof(uint16_t));
            } else if (w->fmt == FMT_Q8 || w->fmt == FMT_Q4) {
                row_quant_to_bf16(w, mr, k0, kc, tr);
            } else {
                ck_weights_row_f32(w, mr, k0, kc, row, CK_ISA_AVX512);
                for (size_t k = 0; k < kc; k++) tr[k] = ck_f32_to_bf16_bits(row[k]);
            }
            memset(tr + kc, 0, (kcp - kc) * sizeof(uint16_t));
        }
        for (size_t k = 0; k < kcp; k += 32) transpose16x16((const uint32_t *)(t + k), kcp / 2, panel + (k / 2) * 16);
    }
}

// MARK: AVX-512 BF16 engine (vdpbf16ps, 32 m x 12 n)

/// X rows as bf16 pairs [kcp/2][12][2] per 12-row sub-block.
static void pack_x_dpbf16(const float *X, size_t K, size_t rows, size_t k0, size_t kc, size_t kcp, void *dst) {
    uint16_t *out = dst;
    const size_t blocks = (rows + 11) / 12;
    for (size_t b = 0; b < blocks; b++) {
        uint16_t *o = out + b * 12 * kcp;
        for (size_t i = 0; i < 12; i++) {
            const size_t n = b * 12 + i;
            for (size_t k = 0; k < kcp; k++)
                o[(k / 2) * 24 + i * 2 + (k & 1)] = (n < rows && k < kc) ? ck_f32_to_bf16_bits(X[n * K + k0 + k]) : 0;
        }
    }
}

CK_TARGET_AVX512BF16 static void kernel_dpbf16(const void *xpv, const void *wpv, size_t kcp, float *Y, size_t ldy,
                                               size_t nv, size_t mv, bool accumulate) {
    const uint16_t *xp = xpv, *w0 = wpv, *w1 = (const uint16_t *)wpv + 16 * kcp;
    __m512 c[12][2];
    for (int i = 0; i < 12; i++) c[i][0] = c[i][1] = _mm512_setzero_ps();
    for (size_t kk = 0; kk < kcp / 2; kk++) {
        __m512bh a0 = (__m512bh)_mm512_loadu_si512(w0 + kk * 32), a1 = (__m512bh)_mm512_loadu_si512(w1 + kk * 32);
        for (int i = 0; i < 12; i++) {
            uint32_t pair;
            memcpy(&pair, xp + kk * 24 + 2 * i, 4);
            __m512bh b = (__m512bh)_mm512_set1_epi32((int)pair);
            c[i][0] = _mm512_dpbf16_ps(c[i][0], a0, b);
            c[i][1] = _mm512_dpbf16_ps(c[i][1], a1, b);
        }
    }
    for (size_t i = 0; i < nv; i++) {
        store_row16(Y + i * ldy, c[i][0], mv, accumulate);
        if (mv > 16) store_row16(Y + i * ldy + 16, c[i][1], mv - 16, accumulate);
    }
}

static const engine engine_dpbf16 = {32, 12, 512, 384, 256, 32, 2, pack_x_dpbf16, pack_w_bf16pairs,
                                      kernel_dpbf16};

// MARK: AMX engine (tdpbf16ps)
//
// Micro-kernel: one 32-row x 32-column block of C lives in the four C tiles (2 x 2 tiles of
// 16 x 16 f32) for a whole reduction block of up to AMX_KC_MAX: per step of 32 k it loads two A
// tiles (X rows, 16 x 32 bf16) and two B tiles (weight columns, 16 k-pairs x 16 x 2 bf16) and
// issues four tdpbf16ps. A tdpbf16ps takes 16 cycles on Sapphire Rapids, so a step needs 4 KB of
// tile data per 64 cycles. Measured on this class of machine, that rate holds with both operands
// streaming from L2 when they are packed contiguously (64-byte tile rows), but not from L3, and not
// when a tile's 16 rows are 4 KB apart (they then share one L1/L2 set). Keeping C in tiles for
// ~1000 k also amortizes the C load/store and the pipeline drain at the end of every call.
//
// Blocking per thread (sizes for K = 4096, N ≈ 1244):
//   K block    kc ≤ AMX_KC_MAX = 1024 (K split into equal blocks of a multiple of 32).
//   X slice    [N rows, kc] bf16 packed in A-tile order once per K block (2.5 MB, L2/L3; beyond
//              AMX_XSLICE_BYTES the rows are split into equal N blocks, each a full pass). Each
//              32-row sub-slice (64 KB) is read from L3 for the first panel of a column block and
//              then from L2/L1 by the other MC/32 - 1 panels.
//   W block    [MC columns, kc] bf16 packed into B-tile order once per (column block, K block,
//              N block), i.e. usually each weight is dequantized and transposed once per call
//              (1 MB, L2-resident while all N rows sweep it). MC = min(512, AMX_WBLOCK_BYTES / 2kc).
//   C          in tiles for the whole K block; read from / written to Y once per K block.
// Loop order: N block -> K block -> column block (MC) -> 32-row sub-slice -> 32-column panel
// -> k steps. The sizes were picked by measuring K block 512..4096 x weight block 0.5..2 MB on the
// model shapes: long K blocks with narrow column blocks read too much X from L3, short ones pay the
// C round trip through Y too often.
// ref: Intel 64 and IA-32 Architectures Optimization Reference Manual, ch. "Intel AMX" (tile
//      blocking, packed operands, 4K-aliasing of strided tile rows); the oneDNN "brgemm" design
//      (micro-kernel reducing over a long K with C kept in tiles, A/B blocks pre-packed and
//      cache-resident) — ideas only, no code.

#ifndef AMX_KC_MAX
#define AMX_KC_MAX 1024                // longest reduction block (multiple of 32)
#endif
#ifndef AMX_WBLOCK_BYTES
#define AMX_WBLOCK_BYTES (1u << 20)    // packed weight block (L2 share)
#endif
#ifndef AMX_MC_MAX
#define AMX_MC_MAX 512                 // widest column block (multiple of 32)
#endif
#ifndef AMX_XSLICE_BYTES
#define AMX_XSLICE_BYTES (4u << 20)    // packed X slice; more rows are split into N blocks
#endif

/// Packs X[0 ..< rows, k0 ..< k0+kc] as bf16 A tiles: dst [ncp/32 sub][kcp/32 step][32 rows][32 k]
/// bf16 (ncp = round_up(rows, 32)), rows >= rows and k >= kc zero. One 16 x 32 A tile is 1 KB
/// contiguous (row stride 64 B) and a sub-slice is one contiguous run of kcp·64 bytes.
CK_TARGET_AVX512BF16 static void pack_x_amx(const float *X, size_t K, size_t rows, size_t k0, size_t kc, size_t kcp,
                                            uint16_t *dst) {
    const size_t ncp = round_up(rows, 32), steps = kcp / 32;
    for (size_t n = 0; n < ncp; n++) {
        const float *x = X + n * K + k0;
        uint16_t *o = dst + (n / 32) * steps * 1024 + (n % 32) * 32;  // step s at o + s * 1024, [32] bf16
        for (size_t s = 0; s < steps; s++, o += 1024) {
            const size_t left = n < rows && s * 32 < kc ? kc - s * 32 : 0;  // valid k in this step
            if (left >= 32) {
                const __m512 lo = _mm512_loadu_ps(x + s * 32), hi = _mm512_loadu_ps(x + s * 32 + 16);
                _mm512_storeu_si512(o, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
            } else {
                const __mmask16 mlo = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
                const __mmask16 mhi = left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1);
                const __m512 lo = _mm512_maskz_loadu_ps(mlo, x + s * 32);
                const __m512 hi = _mm512_maskz_loadu_ps(mhi, x + s * 32 + 16);
                _mm512_storeu_si512(o, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
            }
        }
    }
}

/// Tile configuration: tiles 0-3 = C (16 x 16 f32), 4-5 = A (16 x 32 bf16), 6-7 = B (16 pairs x 16).
typedef struct __attribute__((aligned(64))) {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_tilecfg;

CK_TARGET_AMX static void amx_configure(void) {
    amx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);
}

CK_TARGET_AMX static void amx_release(void) { _tile_release(); }

/// Y[0 ..< nv, 0 ..< mv] (+)= A · B over `steps` k-steps of 32 (Y points at the block's top-left
/// element, rows ldy apart).
/// a [steps][32 rows][32 k] bf16 (two A tiles per step); b0, b1 [steps][16 pairs][16 cols][2] bf16
/// (columns 0-15 and 16-31). Partial blocks go through a [32][32] f32 stage.
CK_TARGET_AMX static void kernel_amx(const uint16_t *a, const uint16_t *b0, const uint16_t *b1, size_t steps, float *Y,
                                     size_t ldy, size_t nv, size_t mv, bool accumulate) {
    const bool full = nv == 32 && mv == 32;
    float stage[32 * 32] __attribute__((aligned(64)));  // [32 n][32 m] f32 for partial blocks
    float *c = full ? Y : stage;
    const size_t stride = (full ? ldy : 32) * sizeof(float), ldc = full ? ldy : 32;
    if (!accumulate) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
    } else {
        if (!full) {
            memset(stage, 0, sizeof stage);
            for (size_t i = 0; i < nv; i++) memcpy(stage + i * 32, Y + i * ldy, mv * sizeof(float));
        }
        _tile_loadd(0, c, stride);
        _tile_loadd(1, c + 16, stride);
        _tile_loadd(2, c + 16 * ldc, stride);
        _tile_loadd(3, c + 16 * ldc + 16, stride);
    }
    for (size_t s = 0; s < steps; s++) {
        _tile_loadd(4, a + s * 1024, 64);
        _tile_loadd(5, a + s * 1024 + 512, 64);
        _tile_loadd(6, b0 + s * 512, 64);
        _tile_loadd(7, b1 + s * 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, stride);
    _tile_stored(1, c + 16, stride);
    _tile_stored(2, c + 16 * ldc, stride);
    _tile_stored(3, c + 16 * ldc + 16, stride);
    if (!full)
        for (size_t i = 0; i < nv; i++) memcpy(Y + i * ldy, stage + i * 32, mv * sizeof(float));
}

#endif

#if CK_X86
// MARK: driver

/// Bytes of one weight row segment [k0, k0+kc) and its address; scales handled separately.
static const uint8_t *row_segment(const weights *w, size_t m, size_t k0, size_t kc, size_t *bytes) {
    const size_t K = w->K;
    switch (w->fmt) {
    case FMT_F32: *bytes = kc * 4; return (const uint8_t *)w->data + (m * K + k0) * 4;
    case FMT_BF16: *bytes = kc * 2; return (const uint8_t *)w->data + (m * K + k0) * 2;
    case FMT_Q8: *bytes = kc; return (const uint8_t *)w->data + m * K + k0;
    case FMT_Q4: *bytes = kc / 2; return (const uint8_t *)w->data + m * (K / 2) + k0 / 2;
    }
    *bytes = 0;
    return NULL;
}

/// Prefetches (into L2) part `part` of `parts` of the weight panel rows m ..< min(m+MR, m1) over
/// k0 ..< k0+kc, so the next panel's DRAM traffic overlaps the current panel's arithmetic.
/// The parts split the rows, so each call issues a few contiguous row segments.
static void prefetch_panel(const weights *w, size_t m, size_t m1, size_t MR, size_t k0, size_t kc, size_t part,
                           size_t parts) {
    const size_t rows = m1 - m < MR ? m1 - m : MR;
    const size_t r0 = rows * part / parts, r1 = rows * (part + 1) / parts;
    size_t bytes = 0;
    const uint8_t *base = row_segment(w, m + r0, k0, kc, &bytes);
    const size_t stride = row_segment(w, m + r0 + 1, k0, kc, &bytes) - base;  // bytes between rows
    const bool quantized = w->fmt == FMT_Q8 || w->fmt == FMT_Q4;
    for (size_t r = r0; r < r1; r++, base += stride) {
        for (size_t off = 0; off < bytes; off += 64) __builtin_prefetch(base + off, 0, 2);
        __builtin_prefetch(base + bytes - 1, 0, 2);
        if (quantized) __builtin_prefetch(w->scales + (m + r) * (w->K / CK_QB) + k0 / CK_QB, 0, 2);
    }
}

static ck_status run_engine(const engine *e, const weights *w, const float *X, size_t N, float *Y, size_t ldy,
                            size_t m0, size_t m1) {
    const size_t K = w->K;
    const size_t kp = round_up(K, e->kalign);  // packed reduction length of X (whole K)
    const size_t kc_max = K < e->KC ? kp : e->KC;
    const size_t nc_max = N < e->NC ? round_up(N, e->NR) : e->NC;
    void *xpack = ck_scratch(1, nc_max * kp * e->elem);  // activations of one N block, all of K
    void *wpack = ck_scratch(2, e->MR * kc_max * e->elem);
    void *tmp = ck_scratch(3, 16 * kc_max * sizeof(float) + kc_max * sizeof(float));
    if (xpack == NULL || wpack == NULL || tmp == NULL) return CK_ERR_NOMEM;
    // Loop order: N block (packed X in L2/L3) -> MC columns (their Y block stays in L2 across the
    // K loop) -> K block -> MR-row weight panel (L1) -> NR activation rows.
    for (size_t n0 = 0; n0 < N; n0 += e->NC) {
        const size_t nc = N - n0 < e->NC ? N - n0 : e->NC;
        e->pack_x(X + n0 * K, K, nc, 0, K, kp, xpack);
        for (size_t mc0 = m0; mc0 < m1; mc0 += e->MC) {
            const size_t mc1 = m1 - mc0 < e->MC ? m1 : mc0 + e->MC;
            for (size_t k0 = 0; k0 < K; k0 += e->KC) {
                const size_t kc = K - k0 < e->KC ? K - k0 : e->KC;
                const size_t kcp = round_up(kc, e->kalign);
                for (size_t m = mc0; m < mc1; m += e->MR) {
                    const size_t mv = mc1 - m < e->MR ? mc1 - m : e->MR;
                    e->pack_w(w, m, mc1, k0, kc, kcp, wpack, tmp);
                    // Prefetch the panel after this one: next rows, else the next K block's first rows.
                    const bool more_rows = m + e->MR < mc1, more_k = k0 + e->KC < K;
                    const size_t kc_next = more_k ? (K - (k0 + e->KC) < e->KC ? K - (k0 + e->KC) : e->KC) : 0;
                    const size_t parts = (nc + e->NR - 1) / e->NR;
                    for (size_t nb = 0; nb < nc; nb += e->NR) {
                        const size_t nv = nc - nb < e->NR ? nc - nb : e->NR;
                        if (more_rows) prefetch_panel(w, m + e->MR, mc1, e->MR, k0, kc, nb / e->NR, parts);
                        else if (more_k) prefetch_panel(w, mc0, mc1, e->MR, k0 + e->KC, kc_next, nb / e->NR, parts);
                        const uint8_t *xp = (const uint8_t *)xpack + (nb * kp + k0 * e->NR) * e->elem;
                        e->kernel(xp, wpack, kcp, Y + (n0 + nb) * ldy + m, ldy, nv, mv, k0 > 0);
                    }
                }
            }
        }
    }
    return CK_OK;
}

// MARK: VNNI engine (vpdpbusd on q8 / q4 weight codes, int8 activations; CPUs without AMX)
//
// On CPUs without AMX the integer dot is the fastest multiply-add there is: measured on a Sapphire
// Rapids VM whose hypervisor hides AMX, one core issues a 512-bit vpdpbusd (64 byte products) every
// 0.51 ns but a vdpbf16ps (32 bf16 products) only every 0.74 ns — 2.9x the products per second —
// and OpenBLAS sgemm reached 307 GFLOPS on two cores against 168 for vdpbf16ps. q8 / q4 weights
// already are int8 / 4-bit codes with a scale per block of 32, so this engine feeds the codes to
// vpdpbusd unchanged and quantizes the activations as the VNNI decode kernels do.
//
// Numerics (the decode kernels' own, see "AVX512-VNNI paths" in ck_gemv.c): each activation row is
// quantized per 32-block to int8 (vnni_block_codes); a lane holds one weight row's 32-block dot with
// one activation row, exact in int32, started at CK_VNNI_MAGIC_BITS − offset·Σcodes (offset 128 for
// q8, whose codes are flipped to unsigned, 8 for q4's unsigned nibbles), so that
// fmsub(lane, d, magic·d) = dot·d rounded once; then y += that · the weight block's scale, in f32,
// blocks in order. The only approximation beyond the weights' own is the activations' int8
// rounding (≤ 1/254 of each block's largest magnitude), as in decode; bf16 rounding is not involved.
//
// Micro-kernel: 32 weight rows (two 16-lane vectors) x 6 activation rows; per 4-k step two weight
// loads, six broadcasts and twelve vpdpbusd; per 32-block and pair of vectors one fmsub and one FMA
// (10 vector ops per 8 vpdpbusd). Float sums stay in registers across a K block.
// Layouts (per thread, ck_scratch):
//   X codes  [N sub-blocks of 6][K/4 steps][6] int32 (4 codes each); side data [sub][K/32][6]
//            {start, d, magic·d}. Packed once per NC rows for all of K.
//   W panel  [2][kcp/4 steps][16 rows][4 codes] u8 + [2][kcp/32][16] f32 scales, per (32 rows,
//            K block), reused by all NC activation rows.
// ref: Intel Intrinsics Guide (vpdpbusd); llama.cpp's Q8_0 activations for Q4_0/Q8_0 dot products
//      (per-32-block int8 activation quantization) — idea only, no code.

#define VNNI_NR 6      // activation rows per micro-kernel call
#define VNNI_MR 32     // weight rows per panel pair
#define VNNI_KC 1024   // reduction block (multiple of 64)
#define VNNI_NC 384    // activation rows packed at once (multiple of VNNI_NR)
#define VNNI_MC 256    // output columns whose Y block stays in L2 over the K loop

typedef struct {
    int32_t start;  // CK_VNNI_MAGIC_BITS − offset · Σ codes of the block
    float d;        // the block's activation scale
    float md;       // CK_VNNI_MAGIC · d
} vnni_side;

/// Quantizes X[0 ..< rows, 0 ..< K] (K % 32 == 0) into 6-row sub-blocks; rows >= rows of the last
/// sub-block are zero codes that add exactly 0. offset: 128 (q8) or 8 (q4).
/// codes [ceil(rows/6)][K/4][6] int32, side [ceil(rows/6)][K/32][6].
CK_TARGET_AVX512BF16 static void pack_x_vnni(const float *X, size_t K, size_t rows, int32_t offset, int32_t *codes,
                                             vnni_side *side) {
    const size_t subs = (rows + VNNI_NR - 1) / VNNI_NR, nb = K / CK_QB;
    for (size_t sb = 0; sb < subs; sb++) {
        int32_t *xc = codes + sb * (K / 4) * VNNI_NR;
        vnni_side *xs = side + sb * nb * VNNI_NR;
        for (size_t i = 0; i < VNNI_NR; i++) {
            const size_t n = sb * VNNI_NR + i;
            for (size_t b = 0; b < nb; b++) {
                int32_t c[CK_QB / 4];  // [8] four codes each
                float d = 0.0f;
                int32_t sum = 0;
                if (n < rows) {
                    d = vnni_block_codes(X + n * K + b * CK_QB, (int8_t *)c);
                    // Σ codes = Σ (code + 128) − 32·128, the former by vpsadbw on the flipped bytes.
                    const __m256i flipped = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)c), _mm256_set1_epi8((char)0x80));
                    const __m256i sad = _mm256_sad_epu8(flipped, _mm256_setzero_si256());  // [4] u64 partial sums
                    const __m128i half = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
                    sum = (int32_t)(_mm_cvtsi128_si64(half) + _mm_extract_epi64(half, 1)) - CK_QB * 128;
                } else {
                    memset(c, 0, sizeof c);
                }
                xs[b * VNNI_NR + i] = (vnni_side){CK_VNNI_MAGIC_BITS - offset * sum, d, CK_VNNI_MAGIC * d};
                int32_t *dst = xc + b * 8 * VNNI_NR + i;
                for (int t = 0; t < CK_QB / 4; t++) dst[t * VNNI_NR] = c[t];
            }
        }
    }
}

/// Weight rows m ..< m+32 (rows >= m1: code 0, scale 0) over k0 ..< k0+kc as unsigned codes in the
/// micro-kernel's layout. kcp = kc rounded up to 64 (the transpose's unit; the extra steps are
/// zero). tmp [16][kcp] u8. codes [2][kcp/4][16] int32, scales [2][kc/32][16] f32.
CK_TARGET_AVX512BF16 static void pack_w_vnni(const weights *w, size_t m, size_t m1, size_t k0, size_t kc,
                                             size_t kcp, int32_t *codes, float *scales, uint8_t *tmp) {
    const size_t nb = w->K / CK_QB, kb = kc / CK_QB;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m128i low = _mm_set1_epi8(0x0f);
    for (size_t p = 0; p < 2; p++) {
        for (size_t r = 0; r < 16; r++) {
            const size_t mr = m + 16 * p + r;
            uint8_t *t = tmp + r * kcp;
            float *s = scales + p * kb * 16 + r;
            if (mr >= m1) {
                memset(t, 0, kcp);
                for (size_t b = 0; b < kb; b++) s[b * 16] = 0.0f;
                continue;
            }
            const uint16_t *ws = w->scales + mr * nb + k0 / CK_QB;
            for (size_t b = 0; b < kb; b++) s[b * 16] = _cvtsh_ss(ws[b]);
            if (w->fmt == FMT_Q8) {
                const uint8_t *q = (const uint8_t *)w->data + mr * w->K + k0;
                for (size_t k = 0; k < kc; k += 64) {
                    const __mmask64 mask = kc - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (kc - k)) - 1);
                    _mm512_mask_storeu_epi8(t + k, mask, _mm512_xor_si512(_mm512_maskz_loadu_epi8(mask, q + k), flip));
                }
            } else {
                const uint8_t *q = (const uint8_t *)w->data + mr * (w->K / 2) + k0 / 2;
                for (size_t b = 0; b < kb; b++) {  // 16 bytes: elements j (low nibble) and j + 16 (high)
                    const __m128i v = _mm_loadu_si128((const __m128i *)(q + b * 16));
                    _mm_storeu_si128((__m128i *)(t + b * 32), _mm_and_si128(v, low));
                    _mm_storeu_si128((__m128i *)(t + b * 32 + 16), _mm_and_si128(_mm_srli_epi16(v, 4), low));
                }
            }
            memset(t + kc, 0, kcp - kc);
        }
        int32_t *panel = codes + p * (kcp / 4) * 16;
        for (size_t k = 0; k < kcp; k += 64)
            transpose16x16((const uint32_t *)(tmp + k), kcp / 4, (uint32_t *)(panel + (k / 4) * 16));
    }
}

/// Y[0 ..< nv, 0 ..< mv] (+)= X sub-block · W panel pair over kc (multiple of 32) reduction steps.
/// xc [kc/4][6] int32, xs [kc/32][6]; wc [2][kcp/4][16] int32 (panel 1 at wc + (kcp/4)·16), ws [2][kc/32][16].
CK_TARGET_AVX512BF16 static void kernel_vnni(const int32_t *xc, const vnni_side *xs, const int32_t *wc,
                                             const float *ws, size_t kc, size_t kcp, float *Y, size_t ldy, size_t nv,
                                             size_t mv, bool accumulate) {
    const int32_t *w0 = wc, *w1 = wc + (kcp / 4) * 16;
    const float *s0 = ws, *s1 = ws + (kc / CK_QB) * 16;
    __m512 out[VNNI_NR][2];
    for (int i = 0; i < VNNI_NR; i++) out[i][0] = out[i][1] = _mm512_setzero_ps();
    for (size_t b = 0; b < kc / CK_QB; b++) {
        __m512i acc[VNNI_NR][2];
        for (int i = 0; i < VNNI_NR; i++) acc[i][0] = acc[i][1] = _mm512_set1_epi32(xs[b * VNNI_NR + i].start);
        for (size_t step = b * 8; step < b * 8 + 8; step++) {
            const __m512i a0 = _mm512_loadu_si512(w0 + step * 16), a1 = _mm512_loadu_si512(w1 + step * 16);
            for (int i = 0; i < VNNI_NR; i++) {
                const __m512i x = _mm512_set1_epi32(xc[step * VNNI_NR + i]);
                acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], a0, x);
                acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], a1, x);
            }
        }
        const __m512 sw0 = _mm512_loadu_ps(s0 + b * 16), sw1 = _mm512_loadu_ps(s1 + b * 16);
        for (int i = 0; i < VNNI_NR; i++) {
            const __m512 d = _mm512_set1_ps(xs[b * VNNI_NR + i].d), md = _mm512_set1_ps(xs[b * VNNI_NR + i].md);
            out[i][0] = _mm512_fmadd_ps(_mm512_fmsub_ps(_mm512_castsi512_ps(acc[i][0]), d, md), sw0, out[i][0]);
            out[i][1] = _mm512_fmadd_ps(_mm512_fmsub_ps(_mm512_castsi512_ps(acc[i][1]), d, md), sw1, out[i][1]);
        }
    }
    for (size_t i = 0; i < nv; i++) {
        store_row16(Y + i * ldy, out[i][0], mv, accumulate);
        if (mv > 16) store_row16(Y + i * ldy + 16, out[i][1], mv - 16, accumulate);
    }
}

/// The VNNI engine's driver (q8 / q4 weights, K % 32 == 0), blocked as run_engine: NC activation
/// rows packed once for all of K -> MC columns -> K block -> 32-row weight panel -> 6-row sub-blocks.
static ck_status run_vnni(const weights *w, const float *X, size_t N, float *Y, size_t ldy, size_t m0, size_t m1) {
    const size_t K = w->K, nb = K / CK_QB;
    const size_t nc_max = N < VNNI_NC ? round_up(N, VNNI_NR) : VNNI_NC;
    const size_t kc_max = K < VNNI_KC ? K : VNNI_KC, kcp_max = round_up(kc_max, 64);
    uint8_t *xpack = ck_scratch(1, nc_max * K + nc_max * nb * sizeof(vnni_side));
    uint8_t *wpack = ck_scratch(2, VNNI_MR * kcp_max + VNNI_MR * (kc_max / CK_QB) * sizeof(float));
    uint8_t *tmp = ck_scratch(3, 16 * kcp_max);
    if (xpack == NULL || wpack == NULL || tmp == NULL) return CK_ERR_NOMEM;
    int32_t *xcodes = (int32_t *)xpack;                  // [nc/6][K/4][6] int32
    vnni_side *xside = (vnni_side *)(xpack + nc_max * K);  // [nc/6][K/32][6]
    int32_t *wcodes = (int32_t *)wpack;                  // [2][kcp/4][16] int32
    float *wscales = (float *)(wpack + VNNI_MR * kcp_max);  // [2][kc/32][16] f32
    const int32_t offset = w->fmt == FMT_Q8 ? 128 : 8;
    for (size_t n0 = 0; n0 < N; n0 += VNNI_NC) {
        const size_t nc = N - n0 < VNNI_NC ? N - n0 : VNNI_NC;
        pack_x_vnni(X + n0 * K, K, nc, offset, xcodes, xside);
        for (size_t mc0 = m0; mc0 < m1; mc0 += VNNI_MC) {
            const size_t mc1 = m1 - mc0 < VNNI_MC ? m1 : mc0 + VNNI_MC;
            for (size_t k0 = 0; k0 < K; k0 += VNNI_KC) {
                const size_t kc = K - k0 < VNNI_KC ? K - k0 : VNNI_KC, kcp = round_up(kc, 64);
                for (size_t m = mc0; m < mc1; m += VNNI_MR) {
                    const size_t mv = mc1 - m < VNNI_MR ? mc1 - m : VNNI_MR;
                    pack_w_vnni(w, m, mc1, k0, kc, kcp, wcodes, wscales, tmp);
                    const bool more_rows = m + VNNI_MR < mc1, more_k = k0 + VNNI_KC < K;
                    const size_t kc_next = more_k ? (K - (k0 + VNNI_KC) < VNNI_KC ? K - (k0 + VNNI_KC) : VNNI_KC) : 0;
                    const size_t parts = (nc + VNNI_NR - 1) / VNNI_NR;
                    for (size_t nbk = 0; nbk < nc; nbk += VNNI_NR) {
                        const size_t nv = nc - nbk < VNNI_NR ? nc - nbk : VNNI_NR, sb = nbk / VNNI_NR;
                        if (more_rows) prefetch_panel(w, m + VNNI_MR, mc1, VNNI_MR, k0, kc, sb, parts);
                        else if (more_k) prefetch_panel(w, mc0, mc1, VNNI_MR, k0 + VNNI_KC, kc_next, sb, parts);
                        kernel_vnni(xcodes + (sb * (K / 4) + k0 / 4) * VNNI_NR, xside + (sb * nb + k0 / CK_QB) * VNNI_NR,
                                    wcodes, wscales, kc, kcp, Y + (n0 + nbk) * ldy + m, ldy, nv, mv, k0 > 0);
                    }
                }
            }
        }
    }
    return CK_OK;
}

/// run_amx's blocking: equal K blocks of at most AMX_KC_MAX (kc_max each, the last shorter) and
/// equal column blocks of [m0, m1) whose packed weights fit AMX_WBLOCK_BYTES (32 ..< mc_limit
/// columns: mblocks of mc_max, the last shorter).
static void amx_blocking(size_t K, size_t m0, size_t m1, size_t mc_limit, size_t *kc_max, size_t *mblocks,
                         size_t *mc_max) {
    const size_t kp = round_up(K, 32), kblocks = (kp + AMX_KC_MAX - 1) / AMX_KC_MAX;
    *kc_max = round_up((kp + kblocks - 1) / kblocks, 32);
    size_t mc_cap = AMX_WBLOCK_BYTES / (*kc_max * sizeof(uint16_t)) / 32 * 32;
    mc_cap = mc_cap < 32 ? 32 : mc_cap > mc_limit ? mc_limit : mc_cap;
    *mblocks = (m1 - m0 + mc_cap - 1) / mc_cap;
    *mc_max = round_up((m1 - m0 + *mblocks - 1) / *mblocks, 32);
}

/// One K block of one column block: packs the weight panels of columns [mc0, mc1) over
/// k0 ..< k0 + kc (kcp padded) into wpack, then Y[0 ..< rows, mc0 ..< mc1] (+)= the packed
/// activations xblock ([rows/32][kcp/32][32][32] bf16) times them, 32 × 32 at a time.
static void amx_column_block(const weights *w, const uint16_t *xblock, size_t rows, size_t k0, size_t kc, size_t kcp,
                             size_t mc0, size_t mc1, uint16_t *wpack, void *tmp, float *Y, size_t ldy) {
    for (size_t m = mc0; m < mc1; m += 32) pack_w_bf16pairs(w, m, mc1, k0, kc, kcp, wpack + (m - mc0) * kcp, tmp);
    for (size_t n = 0; n < rows; n += 32) {
        const size_t nv = rows - n < 32 ? rows - n : 32;
        const uint16_t *a = xblock + n * kcp;  // this 32-row sub-slice, [kcp/32][32][32] bf16
        for (size_t m = mc0; m < mc1; m += 32) {
            const size_t mv = mc1 - m < 32 ? mc1 - m : 32;
            const uint16_t *b = wpack + (m - mc0) * kcp;  // this panel, 2 x [kcp/2][16][2] bf16
            kernel_amx(a, b, b + 16 * kcp, kcp / 32, Y + n * ldy + m, ldy, nv, mv, k0 > 0);
        }
    }
}

/// The AMX driver (blocking scheme in "MARK: AMX engine").
static ck_status run_amx(const weights *w, const float *X, size_t N, float *Y, size_t ldy, size_t m0, size_t m1) {
    const size_t K = w->K, kp = round_up(K, 32);
    size_t kc_max, mblocks, mc_max;
    amx_blocking(K, m0, m1, AMX_MC_MAX, &kc_max, &mblocks, &mc_max);
    // N blocks only when the packed X slice would pass its budget.
    size_t nc_cap = AMX_XSLICE_BYTES / (kc_max * sizeof(uint16_t)) / 32 * 32;
    nc_cap = nc_cap < 32 ? 32 : nc_cap;
    const size_t nblocks = (N + nc_cap - 1) / nc_cap;
    const size_t nc_max = round_up((N + nblocks - 1) / nblocks, 32);
    uint16_t *xpack = ck_scratch(1, nc_max * kc_max * sizeof(uint16_t));  // [nc/32][kc/32][32][32] bf16
    uint16_t *wpack = ck_scratch(2, mc_max * kc_max * sizeof(uint16_t));  // [mc/32] x 2 x [kc/2][16][2] bf16
    void *tmp = ck_scratch(3, 16 * kc_max * sizeof(float) + kc_max * sizeof(float));  // pack_w scratch
    if (xpack == NULL || wpack == NULL || tmp == NULL) return CK_ERR_NOMEM;
    amx_configure();
    for (size_t n0 = 0; n0 < N; n0 += nc_max) {
        const size_t nc = N - n0 < nc_max ? N - n0 : nc_max;
        for (size_t k0 = 0; k0 < kp; k0 += kc_max) {
            const size_t kcp = kp - k0 < kc_max ? kp - k0 : kc_max;  // padded block length
            const size_t kc = K - k0 < kcp ? K - k0 : kcp;           // real length
            pack_x_amx(X + n0 * K, K, nc, k0, kc, kcp, xpack);
            for (size_t mc0 = m0; mc0 < m1; mc0 += mc_max) {
                const size_t mc1 = m1 - mc0 < mc_max ? m1 : mc0 + mc_max;
                amx_column_block(w, xpack, nc, k0, kc, kcp, mc0, mc1, wpack, tmp, Y + n0 * ldy, ldy);
            }
        }
    }
    amx_release();
    return CK_OK;
}

/// Packed activations of the queue driver, all K blocks of one N block (bytes per thread).
/// Widest column block of a queue item (multiple of 32).
#ifndef AMX_QUEUE_MC_MAX
#define AMX_QUEUE_MC_MAX 512
#endif
/// Largest packed X (all rows, all of K, bf16) the queue driver takes; larger calls split statically.
/// Each queue item streams the whole packed X, which from L3 is free next to the item's arithmetic
/// up to ≈ 30 MB here (language down projection, K = 11008: 27 MB) but not at 38 MB (vision fc2,
/// K = 15360: 3–19 % slower than the static split in the kernel harness).
#ifndef AMX_QUEUE_X_BYTES
#define AMX_QUEUE_X_BYTES (32u << 20)
#endif

/// Whether run_amx_queue takes this shape (see AMX_QUEUE_X_BYTES).
static bool amx_queue_fits(size_t N, size_t K) {
    return round_up(N, 32) * round_up(K, 32) * sizeof(uint16_t) <= AMX_QUEUE_X_BYTES;
}

/// run_amx with the column blocks handed out by `queue` to whichever calling thread is free. An
/// item is one column block over all rows and all of K, so each output element is computed by one
/// thread with run_amx's K blocks, tiles and order: the same bits. Each thread packs all of X once
/// (amx_queue_fits), then takes items until none are left.
static ck_status run_amx_queue(const weights *w, const float *X, size_t N, float *Y, size_t ldy, size_t m0,
                               size_t m1, ck_gemm_queue *queue) {
    const size_t K = w->K, kp = round_up(K, 32), np = round_up(N, 32);
    size_t kc_max, items, mc_max;
    amx_blocking(K, m0, m1, AMX_QUEUE_MC_MAX, &kc_max, &items, &mc_max);
    const size_t kblocks = (kp + kc_max - 1) / kc_max;
    // [kblocks][np/32 sub][kc/32 step][32][32] bf16: K block b starts at xfull + b · np · kc_max
    uint16_t *xfull = ck_scratch(1, np * kblocks * kc_max * sizeof(uint16_t));
    uint16_t *wpack = ck_scratch(2, mc_max * kc_max * sizeof(uint16_t));  // [mc/32] x 2 x [kc/2][16][2] bf16
    void *tmp = ck_scratch(3, 16 * kc_max * sizeof(float) + kc_max * sizeof(float));  // pack_w scratch
    if (xfull == NULL || wpack == NULL || tmp == NULL) return CK_ERR_NOMEM;
    amx_configure();
    bool packed = false;
    for (;;) {
        const size_t item = __atomic_fetch_add(&queue->next, 1, __ATOMIC_RELAXED);
        if (item >= items) break;
        const size_t mc0 = m0 + item * mc_max;
        if (mc0 >= m1) break;
        const size_t mc1 = m1 - mc0 < mc_max ? m1 : mc0 + mc_max;
        if (!packed) {  // only a thread that gets an item packs X
            for (size_t b = 0, k0 = 0; k0 < kp; b++, k0 += kc_max) {
                const size_t kcp = kp - k0 < kc_max ? kp - k0 : kc_max;
                pack_x_amx(X, K, N, k0, K - k0 < kcp ? K - k0 : kcp, kcp, xfull + b * np * kc_max);
            }
            packed = true;
        }
        for (size_t b = 0, k0 = 0; k0 < kp; b++, k0 += kc_max) {
            const size_t kcp = kp - k0 < kc_max ? kp - k0 : kc_max;  // padded block length
            const size_t kc = K - k0 < kcp ? K - k0 : kcp;           // real length
            amx_column_block(w, xfull + b * np * kc_max, N, k0, kc, kcp, mc0, mc1, wpack, tmp, Y, ldy);
        }
    }
    amx_release();
    return CK_OK;
}

#endif

static ck_status gemm_scalar(const weights *w, const float *X, size_t N, float *Y, size_t ldy, size_t m0, size_t m1) {
    float *row = ck_scratch(0, w->K * sizeof(float));  // [K] f32
    if (row == NULL) return CK_ERR_NOMEM;
    for (size_t m = m0; m < m1; m++) {
        ck_weights_row_f32(w, m, 0, w->K, row, CK_ISA_SCALAR);
        for (size_t n = 0; n < N; n++) Y[n * ldy + m] = ck_dot_scalar(row, X + n * w->K, w->K);
    }
    return CK_OK;
}

static ck_status run_gemm(const weights *w, const float *X, size_t N, float *Y, size_t ldy, size_t m0, size_t m1) {
    if (m1 < m0) return CK_ERR_SHAPE;
    if ((w->fmt == FMT_Q8 || w->fmt == FMT_Q4) && w->K % CK_QB != 0) return CK_ERR_SHAPE;
    if (m0 == m1 || N == 0) return CK_OK;
    if (w->K == 0) {
        for (size_t n = 0; n < N; n++) memset(Y + n * ldy + m0, 0, (m1 - m0) * sizeof(float));
        return CK_OK;
    }
    const ck_isa isa = ck_isa_now();
#if CK_X86
    if (isa >= CK_ISA_AMX) return run_amx(w, X, N, Y, ldy, m0, m1);
    if (isa >= CK_ISA_AVX512_BF16 && (w->fmt == FMT_Q8 || w->fmt == FMT_Q4)) return run_vnni(w, X, N, Y, ldy, m0, m1);
    if (isa >= CK_ISA_AVX512_BF16) return run_engine(&engine_dpbf16, w, X, N, Y, ldy, m0, m1);
    if (isa >= CK_ISA_AVX512) return run_engine(&engine_avx512, w, X, N, Y, ldy, m0, m1);
    if (isa >= CK_ISA_AVX2) return run_engine(&engine_avx2, w, X, N, Y, ldy, m0, m1);
#else
    (void)isa;
#endif
    return gemm_scalar(w, X, N, Y, ldy, m0, m1);
}

/// The shared-queue entry: at the AMX level (and amx_queue_fits) columns are handed out by
/// `queue`; otherwise the part's static share of [m0, m1) (32-column aligned) goes through run_gemm.
static ck_status run_gemm_queue(const weights *w, const float *X, size_t N, float *Y, size_t ldy, size_t m0,
                                size_t m1, ck_gemm_queue *queue, size_t part, size_t parts) {
    if (m1 < m0 || parts == 0 || part >= parts || queue == NULL) return CK_ERR_SHAPE;
    if ((w->fmt == FMT_Q8 || w->fmt == FMT_Q4) && w->K % CK_QB != 0) return CK_ERR_SHAPE;
#if CK_X86
    if (ck_isa_now() >= CK_ISA_AMX && m1 > m0 && N > 0 && w->K > 0 && amx_queue_fits(N, w->K))
        return run_amx_queue(w, X, N, Y, ldy, m0, m1, queue);
#endif
    const size_t blocks = (m1 - m0 + 31) / 32;
    size_t lo = m0 + blocks * part / parts * 32, hi = m0 + blocks * (part + 1) / parts * 32;
    lo = lo < m1 ? lo : m1;
    hi = hi < m1 ? hi : m1;
    return run_gemm(w, X, N, Y, ldy, lo, hi);
}

ck_status ck_gemm_bf16_queue(const uint16_t *W, size_t K, const float *X, size_t N, float *Y, size_t ldy, size_t m0,
                             size_t m1, ck_gemm_queue *queue, size_t part, size_t parts) {
    weights w = {FMT_BF16, W, NULL, K};
    return run_gemm_queue(&w, X, N, Y, ldy, m0, m1, queue, part, parts);
}

ck_status ck_gemm_q8_queue(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y,
                           size_t ldy, size_t m0, size_t m1, ck_gemm_queue *queue, size_t part, size_t parts) {
    weights w = {FMT_Q8, Wq, Ws, K};
    return run_gemm_queue(&w, X, N, Y, ldy, m0, m1, queue, part, parts);
}

ck_status ck_gemm_q4_queue(const uint8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y,
                           size_t ldy, size_t m0, size_t m1, ck_gemm_queue *queue, size_t part, size_t parts) {
    weights w = {FMT_Q4, Wq, Ws, K};
    return run_gemm_queue(&w, X, N, Y, ldy, m0, m1, queue, part, parts);
}

ck_status ck_gemm_bf16(const uint16_t *W, size_t K, const float *X, size_t N, float *Y, size_t ldy, size_t m0,
                       size_t m1) {
    weights w = {FMT_BF16, W, NULL, K};
    return run_gemm(&w, X, N, Y, ldy, m0, m1);
}

ck_status ck_gemm_q8(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y, size_t ldy,
                     size_t m0, size_t m1) {
    weights w = {FMT_Q8, Wq, Ws, K};
    return run_gemm(&w, X, N, Y, ldy, m0, m1);
}

ck_status ck_gemm_q4(const uint8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y, size_t ldy,
                     size_t m0, size_t m1) {
    weights w = {FMT_Q4, Wq, Ws, K};
    return run_gemm(&w, X, N, Y, ldy, m0, m1);
}

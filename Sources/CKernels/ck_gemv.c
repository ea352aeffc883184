// Decode kernels: GEMV and small-batch GEMM (N <= 8 activation rows per pass over the weights).
// Y[n, m] = sum_k W[m, k] * X[n, k] for m in [m0, m1), n < N. Memory-bandwidth bound: each weight
// byte is read once per call and expanded in registers.
// ref: the even/odd bf16 split and the VNNI 4-bit dot follow the usual llama.cpp-style tricks
//      (ggml-org/llama.cpp ggml/src/ggml-cpu/arch/x86/quants.c), written anew for our layouts.
#include "ck_internal.h"

// MARK: scalar reference path (also used for tails)

float ck_dot_scalar(const float *a, const float *b, size_t K) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t k = 0;
    for (; k + 4 <= K; k += 4) {
        s0 += a[k] * b[k];
        s1 += a[k + 1] * b[k + 1];
        s2 += a[k + 2] * b[k + 2];
        s3 += a[k + 3] * b[k + 3];
    }
    for (; k < K; k++) s0 += a[k] * b[k];
    return (s0 + s1) + (s2 + s3);
}

static ck_status small_scalar(const weights *w, const float *X, size_t N, float *Y, size_t ldy, size_t m0, size_t m1) {
    float *row = ck_scratch(0, w->K * sizeof(float));  // [K] f32
    if (row == NULL) return CK_ERR_NOMEM;
    for (size_t m = m0; m < m1; m++) {
        ck_weights_row_f32(w, m, 0, w->K, row, CK_ISA_SCALAR);
        for (size_t n = 0; n < N; n++) Y[n * ldy + m] = ck_dot_scalar(row, X + n * w->K, w->K);
    }
    return CK_OK;
}

#if CK_X86
// MARK: AVX2 path (8 lanes, weights expanded to f32 per 32-element step)

CK_INLINE CK_TARGET_AVX2 float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// Expands weights k..k+31 of row m into four f32 vectors.
CK_INLINE CK_TARGET_AVX2 void load32_avx2(const weights *w, size_t m, size_t k, __m256 out[4],
                                          const weight_format fmt) {
    const size_t K = w->K;
    switch (fmt) {
    case FMT_F32: {
        const float *p = (const float *)w->data + m * K + k;
        for (int i = 0; i < 4; i++) out[i] = _mm256_loadu_ps(p + 8 * i);
        break;
    }
    case FMT_BF16: {
        const uint16_t *p = (const uint16_t *)w->data + m * K + k;
        for (int i = 0; i < 4; i++)
            out[i] = _mm256_castsi256_ps(
                _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + 8 * i))), 16));
        break;
    }
    case FMT_Q8: {
        const int8_t *p = (const int8_t *)w->data + m * K + k;
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(w->scales[m * (K / CK_QB) + k / CK_QB]));
        for (int i = 0; i < 4; i++)
            out[i] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * i)))), d);
        break;
    }
    case FMT_Q4: {
        const uint8_t *p = (const uint8_t *)w->data + m * (K / 2) + k / 2;
        const float df = _cvtsh_ss(w->scales[m * (K / CK_QB) + k / CK_QB]);
        const __m256 d = _mm256_set1_ps(df), off = _mm256_set1_ps(-8.0f * df);
        const __m256i low = _mm256_set1_epi32(0x0f);
        for (int h = 0; h < 2; h++) {
            __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8 * h)));
            out[h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, low)), d, off);
            out[h + 2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4)), d, off);
        }
        break;
    }
    }
}

/// R weight rows x N activation rows, full 32-element steps only; returns partial sums.
CK_INLINE CK_TARGET_AVX2 void rows_avx2(const weights *w, const float *X, size_t m, size_t K32, float *sums,
                                        const weight_format fmt, const int R, const int N) {
    __m256 acc[4][CK_SMALL_N_MAX];
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) acc[r][n] = _mm256_setzero_ps();
    for (size_t k = 0; k < K32; k += 32) {
        for (int r = 0; r < R; r++) {
            __m256 wv[4];
            load32_avx2(w, m + r, k, wv, fmt);
            for (int n = 0; n < N; n++) {
                const float *x = X + n * w->K + k;
                for (int i = 0; i < 4; i++) acc[r][n] = _mm256_fmadd_ps(wv[i], _mm256_loadu_ps(x + 8 * i), acc[r][n]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) sums[r * CK_SMALL_N_MAX + n] = hsum256(acc[r][n]);
}

CK_TARGET_AVX2 static void small_avx2(const weights *w, const float *X, size_t N, float *Y, size_t ldy, size_t m0,
                                      size_t m1) {
    const size_t K = w->K, K32 = K / 32 * 32;
    const int R = N == 1 ? 4 : (N == 2 ? 2 : 1);
    float sums[4 * CK_SMALL_N_MAX];
    for (size_t m = m0; m < m1;) {
        const int rows = (m + (size_t)R <= m1) ? R : 1;
#define CK_CASE(F, RR, NN) \
    case (F) * 256 + (RR) * 16 + (NN): rows_avx2(w, X, m, K32, sums, F, RR, NN); break;
#define CK_CASES(F)                                                                                      \
    CK_CASE(F, 4, 1) CK_CASE(F, 2, 2) CK_CASE(F, 1, 1) CK_CASE(F, 1, 2) CK_CASE(F, 1, 3) CK_CASE(F, 1, 4) \
    CK_CASE(F, 1, 5) CK_CASE(F, 1, 6) CK_CASE(F, 1, 7) CK_CASE(F, 1, 8)
        switch ((int)w->fmt * 256 + rows * 16 + (int)N) {
            CK_CASES(FMT_F32) CK_CASES(FMT_BF16) CK_CASES(FMT_Q8) CK_CASES(FMT_Q4)
        }
#undef CK_CASES
#undef CK_CASE
        for (int r = 0; r < rows; r++)
            for (size_t n = 0; n < N; n++) {
                float s = sums[r * CK_SMALL_N_MAX + n];
                // Tail (f32/bf16 only: quantized formats have K % 32 == 0).
                for (size_t k = K32; k < K; k++) {
                    float wk = w->fmt == FMT_F32 ? ((const float *)w->data)[(m + r) * K + k]
                                                 : ck_bf16_bits_to_f32(((const uint16_t *)w->data)[(m + r) * K + k]);
                    s += wk * X[n * K + k];
                }
                Y[n * ldy + m + r] = s;
            }
        m += (size_t)rows;
    }
}

// MARK: AVX-512 path (16 lanes; bf16 rows split into even/odd halves against a de-interleaved x)
//
// K is processed in chunks whose activation slice ([N, kc] f32) stays in L1; partial sums go to Y.

/// Expands weights k..k+31 of row m into two f32 vectors. For bf16 the result is
/// (even elements, odd elements), to be paired with the de-interleaved activations. `d` is the
/// block's scale (q8/q4 only).
CK_INLINE CK_TARGET_AVX512 void load32_avx512(const weights *w, size_t m, size_t k, const float *d, __m512 out[2],
                                              const weight_format fmt) {
    const size_t K = w->K;
    switch (fmt) {
    case FMT_F32: {
        const float *p = (const float *)w->data + m * K + k;
        out[0] = _mm512_loadu_ps(p);
        out[1] = _mm512_loadu_ps(p + 16);
        break;
    }
    case FMT_BF16: {
        __m512i v = _mm512_loadu_si512((const uint16_t *)w->data + m * K + k);
        out[0] = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
        out[1] = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u)));
        break;
    }
    case FMT_Q8: {
        const int8_t *p = (const int8_t *)w->data + m * K + k;
        const __m512 dv = _mm512_set1_ps(*d);
        out[0] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p))), dv);
        out[1] = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 16)))), dv);
        break;
    }
    case FMT_Q4: {
        const uint8_t *p = (const uint8_t *)w->data + m * (K / 2) + k / 2;
        const __m512 dv = _mm512_set1_ps(*d), off = _mm512_set1_ps(-8.0f * *d);
        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
        out[0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(0x0f))), dv, off);
        out[1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4)), dv, off);
        break;
    }
    }
}

/// Max blocks per chunk (chunks are at most CHUNK_MAX elements).
#define CHUNK_MAX 8192

/// Converts the fp16 scales of blocks [b0, b0+nb) of row m to f32. out [nb] f32.
CK_INLINE CK_TARGET_AVX512 void row_scales_avx512(const weights *w, size_t m, size_t b0, size_t nb, float *out) {
    const uint16_t *s = w->scales + m * (w->K / CK_QB) + b0;
    size_t i = 0;
    for (; i + 16 <= nb; i += 16) _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(s + i))));
    if (i < nb) {
        __mmask16 mk = (__mmask16)((1u << (nb - i)) - 1);
        _mm512_mask_storeu_ps(out + i, mk, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mk, s + i)));
    }
}

/// R weight rows x N activation rows over k in [k0, k1) (full 32-steps); adds into sums.
/// Prefetches the cache lines that start inside weights k..k+31 of row m (a later row block).
CK_INLINE void prefetch_step(const weights *w, size_t m, size_t k, const weight_format fmt) {
    const size_t K = w->K;
    switch (fmt) {
    case FMT_F32:
        __builtin_prefetch((const float *)w->data + m * K + k, 0, 3);
        __builtin_prefetch((const float *)w->data + m * K + k + 16, 0, 3);
        break;
    case FMT_BF16: __builtin_prefetch((const uint16_t *)w->data + m * K + k, 0, 3); break;
    case FMT_Q8:
        if (k % 64 == 0) __builtin_prefetch((const int8_t *)w->data + m * K + k, 0, 3);
        if (k % 1024 == 0) __builtin_prefetch(w->scales + m * (K / CK_QB) + k / CK_QB, 0, 3);
        break;
    case FMT_Q4:
        if (k % 128 == 0) __builtin_prefetch((const uint8_t *)w->data + m * (K / 2) + k / 2, 0, 3);
        if (k % 1024 == 0) __builtin_prefetch(w->scales + m * (K / CK_QB) + k / CK_QB, 0, 3);
        break;
    }
}

CK_INLINE CK_TARGET_AVX512 void rows_avx512(const weights *w, const float *Xk /* [N, ldx] */, size_t ldx, size_t m,
                                            size_t m_end, size_t k0, size_t k1, float *sums,
                                            const weight_format fmt, const int R, const int N) {
    float ds[4][CHUNK_MAX / CK_QB];  // [R, blocks] f32 scales (q8/q4)
    if (fmt == FMT_Q8 || fmt == FMT_Q4)
        for (int r = 0; r < R; r++) row_scales_avx512(w, m + r, k0 / CK_QB, (k1 - k0) / CK_QB, ds[r]);
    __m512 acc[4][CK_SMALL_N_MAX];
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) acc[r][n] = _mm512_setzero_ps();
    if (fmt == FMT_Q8 && N == 1) {
        // GEMV on q8: dot the raw codes with x per block, then scale the block sum once
        // (7 instead of 9 vector ops per 32 weights).
        for (size_t k = k0; k < k1; k += 32) {
            const __m512 x0 = _mm512_loadu_ps(Xk + k), x1 = _mm512_loadu_ps(Xk + k + 16);
            for (int r = 0; r < R; r++) {
                if (m + R + r < m_end) prefetch_step(w, m + R + r, k, fmt);
                const int8_t *p = (const int8_t *)w->data + (m + r) * w->K + k;
                __m512 t = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p))), x0);
                t = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 16)))),
                                    x1, t);
                acc[r][0] = _mm512_fmadd_ps(t, _mm512_set1_ps(ds[r][(k - k0) / CK_QB]), acc[r][0]);
            }
        }
        for (int r = 0; r < R; r++) sums[r * CK_SMALL_N_MAX] = _mm512_reduce_add_ps(acc[r][0]);
        return;
    }
    for (size_t k = k0; k < k1; k += 32) {
        __m512 wv[4][2];
        for (int r = 0; r < R; r++) {
            if (m + R + r < m_end) prefetch_step(w, m + R + r, k, fmt);
            load32_avx512(w, m + r, k, &ds[r][(k - k0) / CK_QB], wv[r], fmt);
        }
        for (int n = 0; n < N; n++) {
            const __m512 x0 = _mm512_loadu_ps(Xk + n * ldx + k), x1 = _mm512_loadu_ps(Xk + n * ldx + k + 16);
            for (int r = 0; r < R; r++) {
                acc[r][n] = _mm512_fmadd_ps(wv[r][0], x0, acc[r][n]);
                acc[r][n] = _mm512_fmadd_ps(wv[r][1], x1, acc[r][n]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) sums[r * CK_SMALL_N_MAX + n] = _mm512_reduce_add_ps(acc[r][n]);
}

/// Chunk length for N activation rows: keeps N * kc * bytes_per_element within ~24 KB.
static size_t chunk_for(size_t N, size_t bytes_per_element, size_t K) {
    size_t kc = (24 * 1024) / (N * bytes_per_element);
    kc = kc / 128 * 128;
    if (kc < 256) kc = 256;
    if (kc > CHUNK_MAX) kc = CHUNK_MAX;
    return kc >= K ? K : kc;
}

CK_TARGET_AVX512 static ck_status small_avx512(const weights *w, const float *X, size_t N, float *Y, size_t ldy,
                                               size_t m0, size_t m1) {
    const size_t K = w->K, K32 = K / 32 * 32;
    const float *Xk = X;  // activations as the kernel reads them, [N, ldx]
    size_t ldx = K;
    if (w->fmt == FMT_BF16 && K32 > 0) {
        // De-interleave each 32-chunk of x into (even, odd) to match load32_avx512's bf16 split.
        float *xp = ck_scratch(0, N * K32 * sizeof(float));  // [N, K32] f32
        if (xp == NULL) return CK_ERR_NOMEM;
        const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
        for (size_t n = 0; n < N; n++)
            for (size_t k = 0; k < K32; k += 32) {
                __m512 a = _mm512_loadu_ps(X + n * K + k), b = _mm512_loadu_ps(X + n * K + k + 16);
                _mm512_storeu_ps(xp + n * K32 + k, _mm512_permutex2var_ps(a, even, b));
                _mm512_storeu_ps(xp + n * K32 + k + 16, _mm512_permutex2var_ps(a, odd, b));
            }
        Xk = xp;
        ldx = K32;
    }
    const int R = N == 1 ? 4 : 2;
    const size_t kc = K32 == 0 ? 0 : chunk_for(N, sizeof(float), K32);
    float sums[4 * CK_SMALL_N_MAX];
    for (size_t k0 = 0; k0 < K32 || k0 == 0; k0 += kc) {
        const size_t k1 = K32 - k0 < kc ? K32 : k0 + kc;
        const bool first = k0 == 0, last = k1 == K32;
        for (size_t m = m0; m < m1;) {
            const int rows = (m + (size_t)R <= m1) ? R : 1;
            if (k1 > k0) {
#define CK_CASE(F, RR, NN) \
    case (F) * 256 + (RR) * 16 + (NN): rows_avx512(w, Xk, ldx, m, m1, k0, k1, sums, F, RR, NN); break;
#define CK_CASES(F)                                                                                      \
    CK_CASE(F, 4, 1) CK_CASE(F, 1, 1) CK_CASE(F, 2, 2) CK_CASE(F, 1, 2) CK_CASE(F, 2, 3) CK_CASE(F, 1, 3) \
    CK_CASE(F, 2, 4) CK_CASE(F, 1, 4) CK_CASE(F, 2, 5) CK_CASE(F, 1, 5) CK_CASE(F, 2, 6) CK_CASE(F, 1, 6) \
    CK_CASE(F, 2, 7) CK_CASE(F, 1, 7) CK_CASE(F, 2, 8) CK_CASE(F, 1, 8)
                switch ((int)w->fmt * 256 + rows * 16 + (int)N) {
                    CK_CASES(FMT_F32) CK_CASES(FMT_BF16) CK_CASES(FMT_Q8) CK_CASES(FMT_Q4)
                }
#undef CK_CASES
#undef CK_CASE
            } else {
                memset(sums, 0, sizeof sums);
            }
            for (int r = 0; r < rows; r++)
                for (size_t n = 0; n < N; n++) {
                    float s = sums[r * CK_SMALL_N_MAX + n];
                    if (last)  // tail (f32/bf16 only: quantized formats have K % 32 == 0)
                        for (size_t k = K32; k < K; k++) {
                            float wk = w->fmt == FMT_F32 ? ((const float *)w->data)[(m + r) * K + k]
                                                         : ck_bf16_bits_to_f32(((const uint16_t *)w->data)[(m + r) * K + k]);
                            s += wk * X[n * K + k];
                        }
                    float *y = &Y[n * ldy + m + r];
                    *y = first ? s : *y + s;
                }
            m += (size_t)rows;
        }
        if (last) break;
    }
    return CK_OK;
}

// MARK: row loop shared by the VNNI drivers
//
// R weight rows at a time (4 for one activation row, 2 for batches), each (R, N) pair its own
// instantiation of ROWS_FN(w, acts, m, m_end, sums, R, N) so that its loops unroll; expects w, N,
// Y, ldy, m0, m1 in scope. Two weight rows per pass share every activation load and give the two
// 512-bit ports independent chains: on the 17B q4 model, 4 batched sequences went from 6.9 to
// 9.3 tok/s in all and 8 from 6.5 to 7.3 against one row per pass (4 rows per pass: 8.1 at N = 4).
#define CK_VNNI_CASE(ROWS_FN, ACTS, RR, NN) \
    case (RR) * 16 + (NN): ROWS_FN(w, ACTS, m, m1, sums, RR, NN); break;
#define CK_VNNI_ROW_LOOP(ROWS_FN, ACTS)                                                                  \
    do {                                                                                                  \
        const int R = N == 1 ? 4 : 2;                                                                     \
        float sums[4 * CK_SMALL_N_MAX];                                                                   \
        for (size_t m = m0; m < m1;) {                                                                    \
            const int rows = (m + (size_t)R <= m1) ? R : 1;                                               \
            switch (rows * 16 + (int)N) {                                                                 \
                CK_VNNI_CASE(ROWS_FN, ACTS, 4, 1) CK_VNNI_CASE(ROWS_FN, ACTS, 2, 2)                       \
                CK_VNNI_CASE(ROWS_FN, ACTS, 2, 3) CK_VNNI_CASE(ROWS_FN, ACTS, 2, 4)                       \
                CK_VNNI_CASE(ROWS_FN, ACTS, 2, 5) CK_VNNI_CASE(ROWS_FN, ACTS, 2, 6)                       \
                CK_VNNI_CASE(ROWS_FN, ACTS, 2, 7) CK_VNNI_CASE(ROWS_FN, ACTS, 2, 8)                       \
                CK_VNNI_CASE(ROWS_FN, ACTS, 1, 1) CK_VNNI_CASE(ROWS_FN, ACTS, 1, 2)                       \
                CK_VNNI_CASE(ROWS_FN, ACTS, 1, 3) CK_VNNI_CASE(ROWS_FN, ACTS, 1, 4)                       \
                CK_VNNI_CASE(ROWS_FN, ACTS, 1, 5) CK_VNNI_CASE(ROWS_FN, ACTS, 1, 6)                       \
                CK_VNNI_CASE(ROWS_FN, ACTS, 1, 7) CK_VNNI_CASE(ROWS_FN, ACTS, 1, 8)                       \
            }                                                                                             \
            for (int r = 0; r < rows; r++)                                                                \
                for (size_t n = 0; n < N; n++) Y[n * ldy + m + r] = sums[r * CK_SMALL_N_MAX + n];         \
            m += (size_t)rows;                                                                            \
        }                                                                                                 \
    } while (0)

// MARK: AVX512-VNNI path for Q4: activations quantized to int8 per 32-block, vpdpbusd dot.
//
// Weights are read 64 bytes (= 4 blocks, 128 values) at a time. (v & 15) gives the low nibbles =
// elements 0..15 of each block, (v >> 4) & 15 the high nibbles = elements 16..31. The activations
// are laid out to match: per group of 4 blocks, `lo` = elements 0..15 of blocks 0..3 and `hi` =
// elements 16..31, 64 bytes each. vpdpbusd lane L then sums 8 products of block L/4; the offset 8 is
// removed by starting each lane at corr[L] = -8 * (sum of its 8 activations).

/// Quantized activations of one row, [groups] of 4 blocks.
typedef struct {
    int8_t *lo, *hi;  // [groups * 64] int8 each
    int32_t *corr;    // [groups * 16] int32
    float *scale;     // [groups * 16] f32: activation scale of block L/4, per lane L
} q4_acts;

CK_TARGET_AVX512BF16 static void quantize_acts_q4(const float *x, size_t K, q4_acts *a) {
    const size_t nb = K / CK_QB, groups = (nb + 3) / 4;
    memset(a->lo, 0, groups * 64);
    memset(a->hi, 0, groups * 64);
    memset(a->corr, 0, groups * 16 * sizeof(int32_t));
    memset(a->scale, 0, groups * 16 * sizeof(float));
    for (size_t b = 0; b < nb; b++) {
        const float *xb = x + b * CK_QB;
        __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(id)));  // RNE
        __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(id)));
        const size_t g = b / 4, slot = b % 4;
        _mm_storeu_si128((__m128i *)(a->lo + g * 64 + slot * 16), _mm512_cvtsepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(a->hi + g * 64 + slot * 16), _mm512_cvtsepi32_epi8(q1));
        // Per-lane sums of 4 consecutive activations (lo and hi halves share a lane).
        __m512i s = _mm512_add_epi32(q0, q1);  // element i: x[i] + x[i+16]
        int32_t lanes[16];
        _mm512_storeu_si512(lanes, s);
        for (int l = 0; l < 4; l++) {
            a->corr[g * 16 + slot * 4 + l] =
                -8 * (lanes[4 * l] + lanes[4 * l + 1] + lanes[4 * l + 2] + lanes[4 * l + 3]);
            a->scale[g * 16 + slot * 4 + l] = d;
        }
    }
}

CK_INLINE CK_TARGET_AVX512BF16 void rows_q4_vnni(const weights *w, const q4_acts *acts, size_t m, size_t m_end,
                                                 float *sums, const int R, const int N) {
    const size_t K = w->K, nb = K / CK_QB, groups = (nb + 3) / 4, row_bytes = K / 2;
    const uint8_t *q = (const uint8_t *)w->data;
    const __m512i low = _mm512_set1_epi8(0x0f);
    const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512 acc[4][CK_SMALL_N_MAX];
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) acc[r][n] = _mm512_setzero_ps();
    for (size_t g = 0; g < groups; g++) {
        const size_t blocks = nb - 4 * g < 4 ? nb - 4 * g : 4;
        const __mmask64 bytes = blocks == 4 ? ~(__mmask64)0 : (((__mmask64)1 << (16 * blocks)) - 1);
        const __mmask8 halfs = (__mmask8)((1u << blocks) - 1);
        for (int r = 0; r < R; r++) {
            // Prefetch the same line of the next row block (R rows further on), which keeps ~R rows of
            // weights in flight; the hardware streamer alone leaves this kernel well short of the plain
            // read bandwidth.
            if (m + R + r < m_end) _mm_prefetch((const char *)(q + (m + R + r) * row_bytes + g * 64), _MM_HINT_T0);
            __m512i v = _mm512_maskz_loadu_epi8(bytes, q + (m + r) * row_bytes + g * 64);
            __m512i lo = _mm512_and_si512(v, low);
            __m512i hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low);
            if (g % 8 == 0 && m + R + r < m_end)
                _mm_prefetch((const char *)(w->scales + (m + R + r) * nb + 4 * g), _MM_HINT_T0);
            __m128i s16 = _mm_maskz_loadu_epi16(halfs, w->scales + (m + r) * nb + 4 * g);
            __m512 dw = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_cvtph_ps(s16)));
            for (int n = 0; n < N; n++) {
                const q4_acts *an = &acts[n];
                __m512i dot = _mm512_loadu_si512(an->corr + g * 16);
                dot = _mm512_dpbusd_epi32(dot, lo, _mm512_loadu_si512(an->lo + g * 64));
                dot = _mm512_dpbusd_epi32(dot, hi, _mm512_loadu_si512(an->hi + g * 64));
                __m512 scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(dot), _mm512_loadu_ps(an->scale + g * 16));
                acc[r][n] = _mm512_fmadd_ps(scaled, dw, acc[r][n]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) sums[r * CK_SMALL_N_MAX + n] = _mm512_reduce_add_ps(acc[r][n]);
}

CK_TARGET_AVX512BF16 static ck_status small_q4_vnni(const weights *w, const float *X, size_t N, float *Y, size_t ldy,
                                                    size_t m0, size_t m1) {
    const size_t K = w->K, groups = (K / CK_QB + 3) / 4;
    const size_t per_row = groups * (64 + 64 + 16 * sizeof(int32_t) + 16 * sizeof(float));
    uint8_t *buf = ck_scratch(0, N * per_row);
    if (buf == NULL) return CK_ERR_NOMEM;
    q4_acts acts[CK_SMALL_N_MAX];
    for (size_t n = 0; n < N; n++) {
        uint8_t *p = buf + n * per_row;
        acts[n].corr = (int32_t *)p;
        acts[n].scale = (float *)(p + groups * 64);
        acts[n].lo = (int8_t *)(p + groups * 128);
        acts[n].hi = (int8_t *)(p + groups * 192);
        quantize_acts_q4(X + n * K, K, &acts[n]);
    }
    CK_VNNI_ROW_LOOP(rows_q4_vnni, acts);
    return CK_OK;
}

// MARK: AVX512-VNNI path for Q8: activations quantized to int8 per 32-block, vpdpbusd dot.
//
// vpdpbusd multiplies unsigned bytes by signed bytes. The weight codes w (signed) are flipped to
// w ^ 0x80 = w + 128 (unsigned), so each 32-bit lane sums (w + 128)·x over 4 consecutive elements;
// starting the lane at corr = -128 · (sum of its 4 activation codes) leaves Σ w·x exactly. A 64-byte
// weight load covers two blocks: lanes 0..7 belong to the first, 8..15 to the second. Per 64
// weights and activation row: one xor (shared by all rows n), one vpdpbusd, one convert, one
// multiply by the activation scales and one FMA with the weight scales — about a third of the
// vector work of widening the codes to f32, so the kernel stays bandwidth-bound up to N = 8.
// The activations' int8 rounding (relative error ≤ 1/254 of each block's largest value) is the
// same as llama.cpp's Q8_0 × Q8_0 dot; the `q8` conversion's fixture parity is tested with it.

/// Quantized activations of one row.
typedef struct {
    int8_t *q;      // [K] int8 codes
    int32_t *corr;  // [K/4] int32: -128 · (sum of the lane's 4 codes)
    float *scale;   // [K/4] f32: the scale of the lane's block
} q8_acts;

CK_TARGET_AVX512BF16 static void quantize_acts_q8(const float *x, size_t K, q8_acts *a) {
    const size_t nb = K / CK_QB;
    const __m256i ones = _mm256_set1_epi8(1);
    for (size_t b = 0; b < nb; b++) {
        const float *xb = x + b * CK_QB;
        const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m128i q0 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(id))));  // RNE
        const __m128i q1 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(id))));
        const __m256i q = _mm256_set_m128i(q1, q0);
        _mm256_storeu_si256((__m256i *)(a->q + b * CK_QB), q);
        const __m256i lane_sums = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, q);  // [8] sum of 4 codes
        _mm256_storeu_si256((__m256i *)(a->corr + b * 8), _mm256_mullo_epi32(lane_sums, _mm256_set1_epi32(-128)));
        _mm256_storeu_ps(a->scale + b * 8, _mm256_set1_ps(d));
    }
}

/// One 64-weight step (blocks 2p and 2p+1, or only 2p when `single`) of R rows x N activations.
CK_INLINE CK_TARGET_AVX512BF16 void q8_vnni_step(const weights *w, const q8_acts *acts, size_t m, size_t m_end,
                                                 size_t p, __m512 acc[4][CK_SMALL_N_MAX], const int R, const int N,
                                                 const bool single) {
    const size_t K = w->K, nb = K / CK_QB;
    const int8_t *q = (const int8_t *)w->data;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i spread = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __mmask64 bytes = single ? (__mmask64)0xffffffffu : ~(__mmask64)0;
    const __mmask16 lanes = single ? (__mmask16)0x00ff : (__mmask16)0xffff;
    for (int r = 0; r < R; r++) {
        // Keep ~R more rows in flight: the same line of the next row block.
        if (m + R + r < m_end) _mm_prefetch((const char *)(q + (m + R + r) * K + p * 64), _MM_HINT_T0);
        if (p % 16 == 0 && m + R + r < m_end)
            _mm_prefetch((const char *)(w->scales + (m + R + r) * nb + 2 * p), _MM_HINT_T0);
        const int8_t *row = q + (m + r) * K + p * 64;
        const __m512i v = _mm512_xor_si512(single ? _mm512_maskz_loadu_epi8(bytes, row) : _mm512_loadu_si512(row), flip);
        const __m128i s16 = _mm_maskz_loadu_epi16(single ? 1 : 3, w->scales + (m + r) * nb + 2 * p);
        const __m512 dw = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(_mm_cvtph_ps(s16)));  // [16] f32
        for (int n = 0; n < N; n++) {
            const q8_acts *an = &acts[n];
            __m512i dot, x;
            __m512 sx;
            if (single) {
                dot = _mm512_maskz_loadu_epi32(lanes, an->corr + p * 16);
                x = _mm512_maskz_loadu_epi8(bytes, an->q + p * 64);
                sx = _mm512_maskz_loadu_ps(lanes, an->scale + p * 16);
            } else {
                dot = _mm512_loadu_si512(an->corr + p * 16);
                x = _mm512_loadu_si512(an->q + p * 64);
                sx = _mm512_loadu_ps(an->scale + p * 16);
            }
            dot = _mm512_dpbusd_epi32(dot, v, x);
            acc[r][n] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(dot), sx), dw, acc[r][n]);
        }
    }
}

CK_INLINE CK_TARGET_AVX512BF16 void rows_q8_vnni(const weights *w, const q8_acts *acts, size_t m, size_t m_end,
                                                 float *sums, const int R, const int N) {
    const size_t nb = w->K / CK_QB, full = nb / 2;
    __m512 acc[4][CK_SMALL_N_MAX];
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) acc[r][n] = _mm512_setzero_ps();
    for (size_t p = 0; p < full; p++) q8_vnni_step(w, acts, m, m_end, p, acc, R, N, false);
    if (nb % 2) q8_vnni_step(w, acts, m, m_end, full, acc, R, N, true);
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) sums[r * CK_SMALL_N_MAX + n] = _mm512_reduce_add_ps(acc[r][n]);
}

CK_TARGET_AVX512BF16 static ck_status small_q8_vnni(const weights *w, const float *X, size_t N, float *Y, size_t ldy,
                                                    size_t m0, size_t m1) {
    const size_t K = w->K;
    const size_t per_row = K + (K / 4) * (sizeof(int32_t) + sizeof(float));  // codes, corr, scale
    uint8_t *buf = ck_scratch(0, N * per_row);
    if (buf == NULL) return CK_ERR_NOMEM;
    q8_acts acts[CK_SMALL_N_MAX];
    for (size_t n = 0; n < N; n++) {
        uint8_t *p = buf + n * per_row;
        acts[n].corr = (int32_t *)p;
        acts[n].scale = (float *)(p + (K / 4) * sizeof(int32_t));
        acts[n].q = (int8_t *)(p + (K / 4) * (sizeof(int32_t) + sizeof(float)));
        quantize_acts_q8(X + n * K, K, &acts[n]);
    }
    CK_VNNI_ROW_LOOP(rows_q8_vnni, acts);
    return CK_OK;
}

// MARK: AMX path for batched decode on bf16 weights (2 <= N <= 8)
//
// Weights are the A operand, loaded straight from W (16 rows x 32 k per tile), activations the B
// operand (32 k x 16 n, n >= N zero). Each activation is split into x_hi = bf16(x) and
// x_lo = bf16(x - x_hi), so two tdpbf16ps give products with ~16 significant bits of x
// (error <= 2^-17 |x|): f32-grade results while the weights stream at memory speed up to N = 8
// (the f32-FMA path is compute-bound there). Not used for q8/q4: converting their codes into
// tiles and applying per-block scales made AMX slower than the f32 path (measured).

#define AMX_ROW_BLOCKS 4  // 64 weight rows per pass (C tiles 0-3)
#define AMX_PREFETCH_STEPS 8

typedef struct __attribute__((aligned(64))) {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} small_tilecfg;

/// Copies bf16 rows m ..< m+16 (rows >= m_end zero), k-step s, into an A tile [16][32].
CK_INLINE CK_TARGET_AMX void bf16_tile(const weights *w, size_t m, size_t m_end, size_t s, uint16_t *tile) {
    for (size_t r = 0; r < 16; r++) {
        __m512i v = m + r < m_end ? _mm512_loadu_si512((const uint16_t *)w->data + (m + r) * w->K + s * 32)
                                  : _mm512_setzero_si512();
        _mm512_store_si512(tile + r * 32, v);
    }
}

#define CK_TDP_PAIR(C, A)         \
    do {                          \
        _tile_dpbf16ps(C, A, 4);  \
        _tile_dpbf16ps(C, A, 5);  \
    } while (0)

/// C tile `c` (= 0..3) += A tile `a` (6 or 7) x (x_hi + x_lo).
CK_INLINE CK_TARGET_AMX void tdp_block(int c, int a) {
    switch (c * 2 + (a == 7)) {
    case 0: CK_TDP_PAIR(0, 6); break;
    case 1: CK_TDP_PAIR(0, 7); break;
    case 2: CK_TDP_PAIR(1, 6); break;
    case 3: CK_TDP_PAIR(1, 7); break;
    case 4: CK_TDP_PAIR(2, 6); break;
    case 5: CK_TDP_PAIR(2, 7); break;
    case 6: CK_TDP_PAIR(3, 6); break;
    default: CK_TDP_PAIR(3, 7); break;
    }
}

CK_INLINE CK_TARGET_AMX void load_a(int a, const void *p, size_t stride) {
    if (a == 6) _tile_loadd(6, p, stride);
    else _tile_loadd(7, p, stride);
}

CK_INLINE CK_TARGET_AMX void store_c(int c, float *p) {
    switch (c) {
    case 0: _tile_stored(0, p, 64); break;
    case 1: _tile_stored(1, p, 64); break;
    case 2: _tile_stored(2, p, 64); break;
    default: _tile_stored(3, p, 64); break;
    }
}

CK_TARGET_AMX static ck_status small_amx_bf16(const weights *w, const float *X, size_t N, float *Y, size_t ldy,
                                              size_t m0, size_t m1) {
    const size_t K = w->K, steps = K / 32;
    // B tiles: [steps][hi, lo][16 pairs][16 n][2] bf16
    uint16_t *xb = ck_scratch(0, steps * 2 * 512 * sizeof(uint16_t));
    if (xb == NULL) return CK_ERR_NOMEM;
    for (size_t st = 0; st < steps; st++) {
        // Rows n of 32 bf16 (= 16 k-pairs) for hi and lo, then transpose pairs into [pair][n].
        uint32_t hi_rows[16][16] __attribute__((aligned(64))), lo_rows[16][16] __attribute__((aligned(64)));
        for (size_t n = 0; n < 16; n++) {
            __m512 x0 = _mm512_setzero_ps(), x1 = _mm512_setzero_ps();
            if (n < N) {
                x0 = _mm512_loadu_ps(X + n * K + st * 32);
                x1 = _mm512_loadu_ps(X + n * K + st * 32 + 16);
            }
            __m512i hi = (__m512i)_mm512_cvtne2ps_pbh(x1, x0);
            __m512 h0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(hi)), 16));
            __m512 h1 = _mm512_castsi512_ps(
                _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(hi, 1)), 16));
            __m512i lo = (__m512i)_mm512_cvtne2ps_pbh(_mm512_sub_ps(x1, h1), _mm512_sub_ps(x0, h0));
            _mm512_store_si512(hi_rows[n], hi);
            _mm512_store_si512(lo_rows[n], lo);
        }
        transpose16x16(&hi_rows[0][0], 16, (uint32_t *)(xb + st * 1024));
        transpose16x16(&lo_rows[0][0], 16, (uint32_t *)(xb + st * 1024 + 512));
    }
    small_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);
    uint16_t a_stage[16 * 32] __attribute__((aligned(64)));  // [16 rows][32 k] bf16, last partial block
    float c_stage[16 * 16] __attribute__((aligned(64)));     // [16 m][16 n] f32
    for (size_t m = m0; m < m1; m += AMX_ROW_BLOCKS * 16) {
        const size_t rows = m1 - m < AMX_ROW_BLOCKS * 16 ? m1 - m : AMX_ROW_BLOCKS * 16;
        const int blocks = (int)((rows + 15) / 16);
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (size_t st = 0; st < steps; st++) {
            _tile_loadd(4, xb + st * 1024, 64);
            _tile_loadd(5, xb + st * 1024 + 512, 64);
            for (int rb = 0; rb < blocks; rb++) {
                const size_t mr = m + 16 * (size_t)rb;
                const int a = 6 + (rb & 1);
                // 64 rows stream at once, more than the hardware prefetcher tracks: fetch each row
                // AMX_PREFETCH_STEPS steps ahead.
                if (st + AMX_PREFETCH_STEPS < steps)
                    for (size_t r = 0; r < 16 && mr + r < m1; r++)
                        __builtin_prefetch((const uint16_t *)w->data + (mr + r) * K + (st + AMX_PREFETCH_STEPS) * 32, 0, 3);
                if (mr + 16 <= m1) {
                    load_a(a, (const uint16_t *)w->data + mr * K + st * 32, K * 2);
                } else {
                    bf16_tile(w, mr, m1, st, a_stage);  // rows past m1 may not exist: copy with zeros
                    load_a(a, a_stage, 64);
                }
                tdp_block(rb, a);
            }
        }
        for (int rb = 0; rb < blocks; rb++) {
            const size_t mr = m + 16 * (size_t)rb;
            store_c(rb, c_stage);
            for (size_t r = 0; r < 16 && mr + r < m1; r++)
                for (size_t n = 0; n < N; n++) Y[n * ldy + mr + r] = c_stage[r * 16 + n];
        }
    }
    _tile_release();
    return CK_OK;
}
#endif

// MARK: dispatch

/// int8_acts: q8 weights may use int8-quantized activations (the *_q8q8 entry points).
static ck_status run_small(const weights *w, const float *X, size_t N, float *Y, size_t ldy, size_t m0, size_t m1,
                           bool int8_acts) {
    if (m1 < m0) return CK_ERR_SHAPE;
    if ((w->fmt == FMT_Q8 || w->fmt == FMT_Q4) && w->K % CK_QB != 0) return CK_ERR_SHAPE;
    if (m0 == m1 || N == 0) return CK_OK;
    const ck_isa isa = ck_isa_now();
    for (size_t n0 = 0; n0 < N; n0 += CK_SMALL_N_MAX) {
        const size_t nc = N - n0 < CK_SMALL_N_MAX ? N - n0 : CK_SMALL_N_MAX;
        const float *Xc = X + n0 * w->K;
        float *Yc = Y + n0 * ldy;
        ck_status st = CK_OK;
#if CK_X86
        if (isa >= CK_ISA_AMX && nc >= 2 && w->fmt == FMT_BF16 && w->K % 32 == 0)
            st = small_amx_bf16(w, Xc, nc, Yc, ldy, m0, m1);
        else if (isa >= CK_ISA_AVX512_BF16 && w->fmt == FMT_Q4) st = small_q4_vnni(w, Xc, nc, Yc, ldy, m0, m1);
        else if (isa >= CK_ISA_AVX512_BF16 && w->fmt == FMT_Q8 && int8_acts)
            st = small_q8_vnni(w, Xc, nc, Yc, ldy, m0, m1);
        else if (isa >= CK_ISA_AVX512) st = small_avx512(w, Xc, nc, Yc, ldy, m0, m1);
        else if (isa >= CK_ISA_AVX2) small_avx2(w, Xc, nc, Yc, ldy, m0, m1);
        else st = small_scalar(w, Xc, nc, Yc, ldy, m0, m1);
#else
        (void)isa;
        (void)int8_acts;
        st = small_scalar(w, Xc, nc, Yc, ldy, m0, m1);
#endif
        if (st != CK_OK) return st;
    }
    return CK_OK;
}

ck_status ck_gemm_small_f32(const float *W, size_t K, const float *X, size_t N, float *Y, size_t ldy, size_t m0,
                            size_t m1) {
    weights w = {FMT_F32, W, NULL, K};
    return run_small(&w, X, N, Y, ldy, m0, m1, false);
}
ck_status ck_gemm_small_bf16(const uint16_t *W, size_t K, const float *X, size_t N, float *Y, size_t ldy, size_t m0,
                             size_t m1) {
    weights w = {FMT_BF16, W, NULL, K};
    return run_small(&w, X, N, Y, ldy, m0, m1, false);
}
ck_status ck_gemm_small_q8(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y,
                           size_t ldy, size_t m0, size_t m1) {
    weights w = {FMT_Q8, Wq, Ws, K};
    return run_small(&w, X, N, Y, ldy, m0, m1, false);
}
ck_status ck_gemm_small_q8q8(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y,
                             size_t ldy, size_t m0, size_t m1) {
    weights w = {FMT_Q8, Wq, Ws, K};
    return run_small(&w, X, N, Y, ldy, m0, m1, true);
}
ck_status ck_gemm_small_q4(const uint8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y,
                           size_t ldy, size_t m0, size_t m1) {
    weights w = {FMT_Q4, Wq, Ws, K};
    return run_small(&w, X, N, Y, ldy, m0, m1, false);
}

ck_status ck_gemv_f32(const float *W, size_t K, const float *x, float *y, size_t m0, size_t m1) {
    return ck_gemm_small_f32(W, K, x, 1, y, 0, m0, m1);
}
ck_status ck_gemv_bf16(const uint16_t *W, size_t K, const float *x, float *y, size_t m0, size_t m1) {
    return ck_gemm_small_bf16(W, K, x, 1, y, 0, m0, m1);
}
ck_status ck_gemv_q8(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *x, float *y, size_t m0,
                     size_t m1) {
    return ck_gemm_small_q8(Wq, Ws, K, x, 1, y, 0, m0, m1);
}
ck_status ck_gemv_q8q8(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *x, float *y, size_t m0,
                       size_t m1) {
    return ck_gemm_small_q8q8(Wq, Ws, K, x, 1, y, 0, m0, m1);
}
ck_status ck_gemv_q4(const uint8_t *Wq, const uint16_t *Ws, size_t K, const float *x, float *y, size_t m0,
                     size_t m1) {
    return ck_gemm_small_q4(Wq, Ws, K, x, 1, y, 0, m0, m1);
}

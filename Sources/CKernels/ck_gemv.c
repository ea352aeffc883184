// Decode kernels: GEMV and small-batch GEMM (N <= 8 activation rows per pass over the weights).
// Y[n, m] = sum_k W[m, k] * X[n, k] for m in [m0, m1), n < N. Memory-bandwidth bound: each weight
// byte is read once per call and expanded in registers.
// ref: the even/odd bf16 split and the VNNI 4-bit dot follow the usual llama.cpp-style tricks
//      (ggml-org/llama.cpp ggml/src/ggml-cpu/arch/x86/quants.c), written anew for our layouts.
#include "ck_internal.h"

// MARK: rows of one call
//
// A call's weight rows come either as one static range [m0, m1) or, with a shared queue, in chunks
// that the calling threads claim as they finish the previous one (guided self-scheduling: each claim
// takes 1/(2·parts) of what is left, a multiple of ROW_CLAIM_MIN rows, so the chunks shrink towards
// the end and no thread is left with a long tail). A row's result never depends on which thread or
// chunk computed it, so every split gives the same bits.

#define ROW_CLAIM_MIN 32  // rows per claim at least (and its alignment from m0)

typedef struct {
    size_t m0, m1;          // the call's rows
    ck_gemm_queue *queue;   // NULL: [m0, m1) in one piece; else next = rows claimed so far
    size_t parts;           // threads sharing the queue
    bool given;             // static range already handed out
} row_share;

static row_share rows_static(size_t m0, size_t m1) { return (row_share){m0, m1, NULL, 1, false}; }

/// The next rows [*a, *b) this thread computes; false when none are left.
static bool next_rows(row_share *s, size_t *a, size_t *b) {
    if (s->queue == NULL) {
        if (s->given || s->m0 >= s->m1) return false;
        s->given = true;
        *a = s->m0;
        *b = s->m1;
        return true;
    }
    size_t done = __atomic_load_n(&s->queue->next, __ATOMIC_RELAXED);
    for (;;) {
        if (done >= s->m1 - s->m0) return false;
        const size_t left = s->m1 - s->m0 - done;
        size_t take = (left / (2 * s->parts) + ROW_CLAIM_MIN - 1) / ROW_CLAIM_MIN * ROW_CLAIM_MIN;
        if (take < ROW_CLAIM_MIN) take = ROW_CLAIM_MIN;
        if (take > left) take = left;
        if (__atomic_compare_exchange_n(&s->queue->next, &done, done + take, true, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
            *a = s->m0 + done;
            *b = s->m0 + done + take;
            return true;
        }
    }
}

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

static ck_status small_scalar(const weights *w, const float *X, size_t N, float *Y, size_t ldy, row_share *share) {
    float *row = ck_scratch(0, w->K * sizeof(float));  // [K] f32
    if (row == NULL) return CK_ERR_NOMEM;
    size_t m0, m1;
    while (next_rows(share, &m0, &m1))
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

CK_TARGET_AVX2 static void small_avx2(const weights *w, const float *X, size_t N, float *Y, size_t ldy,
                                      row_share *share) {
    const size_t K = w->K, K32 = K / 32 * 32;
    const int R = N == 1 ? 4 : (N == 2 ? 2 : 1);
    float sums[4 * CK_SMALL_N_MAX];
    size_t m0, m1;
    while (next_rows(share, &m0, &m1))
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
// K is processed in chunks (see small_avx512); partial sums go to Y.

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
    if (fmt == FMT_Q8) {
        // q8: dot the raw codes with x per block, then scale the block sum once (7 instead of 9
        // vector ops per 32 weights at N = 1). The codes are widened once per row and shared by
        // all activation rows, and every N runs the same operations per (row, activation row), so
        // a batch row gets exactly the bits of its GEMV (`exact` batched decode = decoding alone).
        for (size_t k = k0; k < k1; k += 32) {
            for (int r = 0; r < R; r++) {
                if (m + R + r < m_end) prefetch_step(w, m + R + r, k, fmt);
                const int8_t *p = (const int8_t *)w->data + (m + r) * w->K + k;
                const __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
                const __m512 c1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + 16))));
                const __m512 d = _mm512_set1_ps(ds[r][(k - k0) / CK_QB]);
                for (int n = 0; n < N; n++) {
                    const __m512 x0 = _mm512_loadu_ps(Xk + n * ldx + k), x1 = _mm512_loadu_ps(Xk + n * ldx + k + 16);
                    const __m512 t = _mm512_fmadd_ps(c1, x1, _mm512_mul_ps(c0, x0));
                    acc[r][n] = _mm512_fmadd_ps(t, d, acc[r][n]);
                }
            }
        }
        for (int r = 0; r < R; r++)
            for (int n = 0; n < N; n++) sums[r * CK_SMALL_N_MAX + n] = _mm512_reduce_add_ps(acc[r][n]);
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

/// Chunk length for N activation rows: keeps N * kc * bytes_per_element within ~24 KB of L1.
static size_t chunk_for(size_t N, size_t bytes_per_element, size_t K) {
    size_t kc = (24 * 1024) / (N * bytes_per_element);
    kc = kc / 128 * 128;
    if (kc < 256) kc = 256;
    if (kc > CHUNK_MAX) kc = CHUNK_MAX;
    return kc >= K ? K : kc;
}

CK_TARGET_AVX512 static ck_status small_avx512(const weights *w, const float *X, size_t N, float *Y, size_t ldy,
                                               row_share *share) {
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
    // K chunks. f32 / q8 / q4: CHUNK_MAX (the scale buffer's size) for every N, so a row's partial
    // sums split the same way whatever the batch and a batch row gets exactly the bits of its GEMV
    // (these batches are `exact` ones; shorter chunks would cost the GEMV 15-30 % in per-chunk
    // reductions). bf16: chunks that keep the batch's activations in L1 (bf16 batches reach this
    // kernel only under `fast` on CPUs without AMX; `exact` runs bf16 rows through the GEMV).
    const size_t kc = K32 == 0 ? 0
                      : w->fmt == FMT_BF16 ? chunk_for(N, sizeof(float), K32)
                                           : (K32 < CHUNK_MAX ? K32 : CHUNK_MAX);
    float sums[4 * CK_SMALL_N_MAX];
    size_t m0, m1;
    while (next_rows(share, &m0, &m1)) {
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
                                const size_t at = (m + r) * K + k;
                                float wk = w->fmt == FMT_F32 ? ((const float *)w->data)[at]
                                                             : ck_bf16_bits_to_f32(((const uint16_t *)w->data)[at]);
                                s += wk * X[n * K + k];
                            }
                        float *y = &Y[n * ldy + m + r];
                        *y = first ? s : *y + s;
                    }
                m += (size_t)rows;
            }
            if (last) break;
        }
    }
    return CK_OK;
}

// MARK: row loop shared by the VNNI drivers
//
// R weight rows at a time (4 for one activation row, 2 for batches), each (R, N) pair its own
// instantiation of RANGE_FN so that its loops unroll. Two weight rows per pass share every
// activation load and give the two 512-bit ports independent chains: on the 17B q4 model, 4
// batched sequences went from 6.9 to 9.3 tok/s in all and 8 from 6.5 to 7.3 against one row per
// pass (4 rows per pass: 8.1 at N = 4).
//
// A batch's quantized activations are read again for every pair of weight rows. Past L1 each
// reread goes to L2 and holds line-fill buffers the weight stream needs: the 17B's down projection
// (K = 11008) at N = 4 carries 77 KB of them in q4 (110 KB in q8) and streamed at 19–21 GB/s
// (q4) against 23–24 for the K = 4096 matrices, and 14–22 (q8) against 24–28 for one row. Above
// VNNI_ACTS_L1_BYTES, CK_VNNI_ROW_LOOP runs each claimed range VNNI_SUB_ROWS rows at a time
// through the groups in chunks that fit, the accumulators kept between chunks (same bits). Kernel
// harness, 2 threads, alternating builds (2026-11-30): q4 down 22 GB/s, q8 down 21–25; one pass
// over the 17B's q4 language matrices at N = 4 156 ms against 159 (medians of nine runs). A 24 KB
// budget, which also cuts the K = 4096 matrices at N = 4 (29 KB in q4), made those 15 % slower.
#define VNNI_ACTS_L1_BYTES (40 * 1024)
#define VNNI_SUB_ROWS 32

// One (rows, N) case of CK_VNNI_ROW_LOOP: RANGE_FN over the chunk [g0, g1) of row m's groups.
#define CK_VNNI_CASE(RANGE_FN, ACTS, RR, NN)                                                              \
    case (RR) * 16 + (NN):                                                                                \
        if (g0 == 0)                                                                                      \
            RANGE_FN(w, ACTS, m, m1, g0, g1, true, g1 == groups_, st, sums, RR, NN);                      \
        else if (g1 == groups_)                                                                           \
            RANGE_FN(w, ACTS, m, m1, g0, g1, false, true, st, sums, RR, NN);                              \
        else                                                                                              \
            RANGE_FN(w, ACTS, m, m1, g0, g1, false, false, st, sums, RR, NN);                             \
        break;

// The rows this thread claims from `share`, through RANGE_FN(w, acts, m, m_end, g0, g1, first, last,
// state, sums, R, N): R rows from m over groups [g0, g1), starting from zero (first) or state,
// ending in sums (last) or state. Activations of NG groups of GROUP_BYTES per row; past
// VNNI_ACTS_L1_BYTES (batches only) the groups go in chunks, VNNI_SUB_ROWS rows at a time.
// Expects w, N, Y, ldy and share (row_share *) in scope.
#define CK_VNNI_ROW_LOOP(RANGE_FN, ACTS, GROUP_BYTES, NG)                                                 \
    do {                                                                                                  \
        const size_t groups_ = (NG);                                                                      \
        const size_t act_bytes = N * groups_ * (GROUP_BYTES);                                             \
        const size_t chunks = N > 1 && act_bytes > VNNI_ACTS_L1_BYTES                                     \
                                  ? (act_bytes + VNNI_ACTS_L1_BYTES - 1) / VNNI_ACTS_L1_BYTES : 1;        \
        const size_t gc = (groups_ + chunks - 1) / chunks; /* groups per chunk */                         \
        const int R = N == 1 ? 4 : 2;                                                                     \
        __m512 state[VNNI_SUB_ROWS * CK_SMALL_N_MAX]; /* [rows, CK_SMALL_N_MAX] between chunks */         \
        float sums[4 * CK_SMALL_N_MAX];                                                                   \
        size_t m0, m1;                                                                                    \
        while (next_rows(share, &m0, &m1))                                                                \
            for (size_t s0 = m0; s0 < m1;) {                                                              \
                /* one chunk: the whole claim at once; else VNNI_SUB_ROWS rows through every chunk */      \
                const size_t s1 = chunks == 1 || m1 - s0 <= VNNI_SUB_ROWS ? m1 : s0 + VNNI_SUB_ROWS;      \
                for (size_t g0 = 0; g0 < groups_; g0 += gc) {                                             \
                    const size_t g1 = g0 + gc < groups_ ? g0 + gc : groups_;                              \
                    for (size_t m = s0; m < s1;) {                                                        \
                        const int rows = m + (size_t)R <= s1 ? R : 1;                                     \
                        __m512 *st = chunks == 1 ? NULL : state + (m - s0) * CK_SMALL_N_MAX;              \
                        switch (rows * 16 + (int)N) {                                                     \
                            CK_VNNI_CASE(RANGE_FN, ACTS, 4, 1) CK_VNNI_CASE(RANGE_FN, ACTS, 2, 2)         \
                            CK_VNNI_CASE(RANGE_FN, ACTS, 2, 3) CK_VNNI_CASE(RANGE_FN, ACTS, 2, 4)         \
                            CK_VNNI_CASE(RANGE_FN, ACTS, 2, 5) CK_VNNI_CASE(RANGE_FN, ACTS, 2, 6)         \
                            CK_VNNI_CASE(RANGE_FN, ACTS, 2, 7) CK_VNNI_CASE(RANGE_FN, ACTS, 2, 8)         \
                            CK_VNNI_CASE(RANGE_FN, ACTS, 1, 1) CK_VNNI_CASE(RANGE_FN, ACTS, 1, 2)         \
                            CK_VNNI_CASE(RANGE_FN, ACTS, 1, 3) CK_VNNI_CASE(RANGE_FN, ACTS, 1, 4)         \
                            CK_VNNI_CASE(RANGE_FN, ACTS, 1, 5) CK_VNNI_CASE(RANGE_FN, ACTS, 1, 6)         \
                            CK_VNNI_CASE(RANGE_FN, ACTS, 1, 7) CK_VNNI_CASE(RANGE_FN, ACTS, 1, 8)         \
                        }                                                                                 \
                        if (g1 == groups_)                                                                \
                            for (int r = 0; r < rows; r++)                                                \
                                for (size_t n = 0; n < N; n++)                                            \
                                    Y[n * ldy + m + (size_t)r] = sums[r * CK_SMALL_N_MAX + n];            \
                        m += (size_t)rows;                                                                \
                    }                                                                                     \
                }                                                                                         \
                s0 = s1;                                                                                  \
            }                                                                                             \
    } while (0)

// The body of a small_*_vnni driver: each of the N activation rows quantized into per-thread
// scratch (GROUP_T groups of BLOCKS 32-blocks, QUANTIZE(x, K, groups)), then this thread's weight
// rows through CK_VNNI_ROW_LOOP(RANGE_FN). Expects w, X, N, Y, ldy and share in scope.
#define CK_VNNI_SMALL_BODY(GROUP_T, BLOCKS, QUANTIZE, RANGE_FN)                                           \
    do {                                                                                                  \
        const size_t K = w->K, ng = (K / CK_QB + (BLOCKS) - 1) / (BLOCKS);                                \
        GROUP_T *buf = ck_scratch(0, N * ng * sizeof(GROUP_T));                                           \
        if (buf == NULL) return CK_ERR_NOMEM;                                                             \
        const GROUP_T *acts[CK_SMALL_N_MAX];                                                              \
        for (size_t n = 0; n < N; n++) {                                                                  \
            QUANTIZE(X + n * K, K, buf + n * ng);                                                         \
            acts[n] = buf + n * ng;                                                                       \
        }                                                                                                 \
        CK_VNNI_ROW_LOOP(RANGE_FN, acts, sizeof(GROUP_T), ng);                                            \
        return CK_OK;                                                                                     \
    } while (0)

// MARK: AVX512-VNNI paths (q4 and q8 weights × int8 activations)
//
// Activations are quantized to int8 per 32-block (scale d = max|x|/127, as llama.cpp's Q8_0) and
// the dot runs on vpdpbusd (unsigned weight bytes × signed activation codes, 4 products summed per
// 32-bit lane). Three choices keep the vector work per weight byte and activation row small, which
// is what bounds a batch (every 512-bit op of this loop issues on the same two ports):
//
// - Lanes of one block across loads. Two 64-byte weight loads r0, r1 are interleaved by 8-byte
//   halves (vpunpcklqdq / vpunpckhqdq, one shuffle per load, shared by all activation rows), so every
//   32-bit lane of the results holds bytes of ONE block, and the lanes add up the products of several
//   vpdpbusd before any float work: per 256 weights of q4 four vpdpbusd and two float ops (was four
//   and six), per 128 of q8 two and two (was two and six).
// - No int → float convert. Each lane starts at its correction term plus the bits of
//   1.5·2^23 (CK_VNNI_MAGIC_BITS), so after the vpdpbusd chain the lane's bits read as the float
//   1.5·2^23 + dot (|dot| < 2^22). fmsub(lane, d, 1.5·2^23·d) = dot·d rounded once, exactly what
//   convert-then-multiply gives, because d keeps at most 22 significant bits (vnni_act_scale) and
//   1.5·2^23·d is therefore exact. One FMA with the weight scales accumulates.
// - The activation row's codes, starts and scales are laid out per group in the lanes' order once
//   per call (quantize_acts_*), so the inner loop only loads them.
// Accuracy: the activations' int8 rounding (≤ 1/254 of each block's largest value) is the only
// approximation besides f32 accumulation; the kernel tests bound it per format.

// CK_VNNI_MAGIC_BITS, vnni_act_scale and vnni_block_codes: ck_internal.h (shared with the prefill GEMM).

/// Per-lane start, scale and magic·scale of a group; lanes of missing blocks (K tail) stay at
/// start = magic, scale 0, so they add exactly 0.
typedef struct {
    int32_t start[16];       // [16] int32: correction + CK_VNNI_MAGIC_BITS
    float scale[16];         // [16] f32: d of the lane's block
    float magic_scale[16];   // [16] f32: CK_VNNI_MAGIC · d
} vnni_lanes;

CK_INLINE void vnni_lanes_clear(vnni_lanes *l) {
    for (int L = 0; L < 16; L++) {
        l->start[L] = CK_VNNI_MAGIC_BITS;
        l->scale[L] = 0.0f;
        l->magic_scale[L] = 0.0f;
    }
}

CK_INLINE void vnni_lane_set(vnni_lanes *l, int L, int32_t correction, float d) {
    l->start[L] = CK_VNNI_MAGIC_BITS + correction;
    l->scale[L] = d;
    l->magic_scale[L] = CK_VNNI_MAGIC * d;
}

/// Rows ahead whose weights a batch (N > 1) prefetches, into L2 only. Against prefetching into L1
/// R = 2 rows ahead, as one activation row still does (R = 4): kernel time q4 N = 2 −4–9 %, N = 4
/// −3–6 % ([11008, 4096] and [4096, 11008]), N = 8 −1–6 %; q8×q8 N = 4 −3–14 %, N = 2 ±2 % (17B
/// shapes, 2 threads, 5 harness runs alternating with the old kernel, 2026-11-30). A batch spends
/// long enough on each row's vector work that its L1 prefetches held the core's few line-fill
/// buffers while waiting for memory; L2 prefetches leave those to the loads.
#define VNNI_BATCH_AHEAD_ROWS 4

/// The 128 weight bytes of one group of a row as two 64-byte halves r0, r1 (`bytes` < 128 for the
/// row's last, partial group: the rest reads as 0), and a prefetch of the same bytes `ahead` bytes
/// further on (a later row; 0: none), into L1 or, `l2` true, into L2 only.
CK_INLINE CK_TARGET_AVX512BF16 void vnni_load_group(const uint8_t *row, size_t bytes, size_t ahead, bool l2,
                                                    __m512i *r0, __m512i *r1) {
    if (ahead && !l2) {
        _mm_prefetch((const char *)(row + ahead), _MM_HINT_T0);
        _mm_prefetch((const char *)(row + ahead + 64), _MM_HINT_T0);
    }
    if (bytes >= 128) {
        *r0 = _mm512_loadu_si512(row);
        *r1 = _mm512_loadu_si512(row + 64);
    } else {
        const __mmask64 k0 = bytes >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << bytes) - 1);
        const __mmask64 k1 = bytes <= 64 ? 0 : (((__mmask64)1 << (bytes - 64)) - 1);
        *r0 = _mm512_maskz_loadu_epi8(k0, row);
        *r1 = _mm512_maskz_loadu_epi8(k1, row + 64);
    }
    if (ahead && l2) {  // after the loads: no worse, in some runs ≈ 3 % better, than before them
        _mm_prefetch((const char *)(row + ahead), _MM_HINT_T2);
        _mm_prefetch((const char *)(row + ahead + 64), _MM_HINT_T2);
    }
}

/// Adds a finished lane chain to acc: (dot · d) · dw, where v's bits read as 1.5·2^23 + dot.
CK_INLINE CK_TARGET_AVX512BF16 __m512 vnni_accumulate(__m512i v, __m512 d, __m512 md, __m512 dw, __m512 acc) {
    const __m512 dot = _mm512_fmsub_ps(_mm512_castsi512_ps(v), d, md);  // dot · d, rounded once
    return _mm512_fmadd_ps(dot, dw, acc);
}

/// The R × N lane accumulators of a row range (rows_*_vnni_range): zero (`first`) or carried in
/// from `state` [R, CK_SMALL_N_MAX] of the previous chunk.
CK_INLINE CK_TARGET_AVX512BF16 void vnni_acc_start(__m512 acc[4][CK_SMALL_N_MAX], const int R, const int N,
                                                   const bool first, const __m512 *state) {
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) acc[r][n] = first ? _mm512_setzero_ps() : state[r * CK_SMALL_N_MAX + n];
}

/// Ends a row range: each accumulator summed into sums [R, CK_SMALL_N_MAX] (`last`) or kept in
/// `state` for the next chunk.
CK_INLINE CK_TARGET_AVX512BF16 void vnni_acc_finish(__m512 acc[4][CK_SMALL_N_MAX], const int R, const int N,
                                                    const bool last, __m512 *state, float *sums) {
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) {
            if (last)
                sums[r * CK_SMALL_N_MAX + n] = _mm512_reduce_add_ps(acc[r][n]);
            else
                state[r * CK_SMALL_N_MAX + n] = acc[r][n];
        }
}

// MARK: q4 × int8
//
// Weight row layout: block b at bytes 16b..16b+15; byte j holds element j (low nibble) and j + 16
// (high nibble), codes offset by 8. A group is 8 blocks (256 elements, 128 bytes): r0 = blocks 0..3
// (one per 128-bit lane), r1 = blocks 4..7. P0 = unpacklo64(r0, r1), P1 = unpackhi64(r0, r1); lane
// L = 4i + k of P0 holds bytes 4(k%2)..+3 of block (k < 2 ? i : 4 + i), P1 the same bytes + 8. Each
// lane so sums 16 products of one block over 4 vpdpbusd (low and high nibbles of P0 and P1); the
// offset 8 is removed by starting the lane at -8 · (sum of its 16 activation codes).

/// One group of 8 blocks of a quantized activation row, in the lanes' order. 448 bytes.
typedef struct {
    int8_t codes[4][64];  // [2 · half + nibble][4 · lane + t] int8
    vnni_lanes lanes;
} q4_group;

CK_TARGET_AVX512BF16 static void quantize_acts_q4(const float *x, size_t K, q4_group *groups) {
    const size_t nb = K / CK_QB, ng = (nb + 7) / 8;
    memset(groups, 0, ng * sizeof *groups);
    for (size_t G = 0; G < ng; G++) vnni_lanes_clear(&groups[G].lanes);
    for (size_t b = 0; b < nb; b++) {
        int8_t c[CK_QB];
        const float d = vnni_block_codes(x + b * CK_QB, c);
        q4_group *g = &groups[b / 8];
        const int bb = (int)(b % 8), first = bb < 4 ? 4 * bb : 4 * (bb - 4) + 2;  // its lanes: first, first + 1
        for (int h = 0; h < 2; h++) {
            const int L = first + h;
            int32_t sum = 0;
            for (int half = 0; half < 2; half++)
                for (int nibble = 0; nibble < 2; nibble++) {
                    const int8_t *src = c + 8 * half + 4 * h + 16 * nibble;
                    memcpy(&g->codes[2 * half + nibble][4 * L], src, 4);
                    sum += src[0] + src[1] + src[2] + src[3];
                }
            vnni_lane_set(&g->lanes, L, -8 * sum, d);
        }
    }
}

// Two instances of ck_q4_vnni_body.h (rows_q4_vnni_range, small_q4_vnni): the high nibble as
// (p >> 4) & 0x0f, two 512-bit ops, or as one vgf2p8affineqb whose matrix moves bits 4..7 of
// every byte to bits 0..3. A batch of 4 q4 rows issues 34 vector ops per weight row and 256
// weights on two ports, so the one op saved per 128 weights is ≈ 3 % of a batched step (bench,
// 17B q4, 4 jobs on different images, alternating builds: 2.45× and 2.39× against 2.35× and 2.40×: small, inside the rounds' 2.26–2.52× spread).
#define Q4V_TARGET CK_TARGET_AVX512BF16
#define Q4V_NAME(name) name
#define Q4V_HIGH(p, low) _mm512_and_si512(_mm512_srli_epi16(p, 4), low)
#include "ck_q4_vnni_body.h"
#undef Q4V_TARGET
#undef Q4V_NAME
#undef Q4V_HIGH

#define Q4V_TARGET CK_TARGET_AVX512BF16_GFNI
#define Q4V_NAME(name) name##_gfni
#define Q4V_HIGH(p, low) _mm512_gf2p8affine_epi64_epi8(p, _mm512_set1_epi64(0x1020408000000000LL), 0)
#include "ck_q4_vnni_body.h"
#undef Q4V_TARGET
#undef Q4V_NAME
#undef Q4V_HIGH

// MARK: q8 × int8
//
// vpdpbusd multiplies unsigned bytes by signed bytes: the weight codes w (signed) are flipped to
// w ^ 0x80 = w + 128, and starting each lane at -128 · (sum of its activation codes) leaves Σ w·x
// exactly. A group is 4 blocks (128 elements, 128 bytes): r0 = blocks 0, 1 (two 128-bit lanes each),
// r1 = blocks 2, 3. Lane L = 4i + k of P0 = unpacklo64(r0, r1) holds elements 16(i%2) + 4(k%2) + t of
// block (k < 2 ? 0 : 2) + i/2, P1 the same elements + 8; each lane sums 8 products of one block.

/// One group of 4 blocks of a quantized activation row, in the lanes' order. 320 bytes.
typedef struct {
    int8_t codes[2][64];  // [half][4 · lane + t] int8
    vnni_lanes lanes;
} q8_group;

CK_TARGET_AVX512BF16 static void quantize_acts_q8(const float *x, size_t K, q8_group *groups) {
    const size_t nb = K / CK_QB, ng = (nb + 3) / 4;
    memset(groups, 0, ng * sizeof *groups);
    for (size_t G = 0; G < ng; G++) vnni_lanes_clear(&groups[G].lanes);
    for (size_t b = 0; b < nb; b++) {
        int8_t c[CK_QB];
        const float d = vnni_block_codes(x + b * CK_QB, c);
        q8_group *g = &groups[b / 4];
        const int bb = (int)(b % 4);
        for (int i = 2 * (bb % 2); i < 2 * (bb % 2) + 2; i++)      // 128-bit lanes holding block bb
            for (int k = bb < 2 ? 0 : 2; k < (bb < 2 ? 2 : 4); k++) {  // its lanes 4i + k
                const int L = 4 * i + k;
                int32_t sum = 0;
                for (int half = 0; half < 2; half++) {
                    const int8_t *src = c + 16 * (i % 2) + 4 * (k % 2) + 8 * half;
                    memcpy(&g->codes[half][4 * L], src, 4);
                    sum += src[0] + src[1] + src[2] + src[3];
                }
                vnni_lane_set(&g->lanes, L, -128 * sum, d);
            }
    }
}

/// R weight rows from m against N activation rows over groups [g0, g1) (rows_q4_vnni_range's
/// contract: first / last / state).
CK_INLINE CK_TARGET_AVX512BF16 void rows_q8_vnni_range(const weights *w, const q8_group *const *acts, size_t m,
                                                       size_t m_end, size_t g0, size_t g1, const bool first,
                                                       const bool last, __m512 *state, float *sums, const int R,
                                                       const int N) {
    const size_t K = w->K, nb = K / CK_QB;
    const uint8_t *q = (const uint8_t *)w->data;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    // Block of lane L = 4i + k: (k < 2 ? 0 : 2) + i / 2 (listed from lane 15 down).
    const __m512i lane_block = _mm512_set_epi32(3, 3, 1, 1, 3, 3, 1, 1, 2, 2, 0, 0, 2, 2, 0, 0);
    __m512 acc[4][CK_SMALL_N_MAX];
    vnni_acc_start(acc, R, N, first, state);
    for (size_t G = g0; G < g1; G++) {
        const size_t blocks = 4 * G + 4 <= nb ? 4 : nb - 4 * G;
        __m512i codes[4][2];  // [row][half] u8 weight codes + 128
        __m512 dw[4];         // [row] f32 weight scale per lane
        for (int r = 0; r < R; r++) {
            const bool next = m + R + r < m_end;
            if (next && G % 8 == 0) _mm_prefetch((const char *)(w->scales + (m + R + r) * nb + 4 * G), _MM_HINT_T0);
            const size_t ahead = N == 1 ? (size_t)R : VNNI_BATCH_AHEAD_ROWS;  // rows
            __m512i r0, r1;
            vnni_load_group(q + (m + r) * K + G * 128, blocks * 32, m + ahead + r < m_end ? ahead * K : 0, N > 1, &r0, &r1);
            // Masked-off bytes become 0x80 after the flip; their activation codes are 0.
            codes[r][0] = _mm512_xor_si512(_mm512_unpacklo_epi64(r0, r1), flip);
            codes[r][1] = _mm512_xor_si512(_mm512_unpackhi_epi64(r0, r1), flip);
            const uint16_t *s = w->scales + (m + r) * nb + 4 * G;
            const __m128i s16 = _mm_maskz_loadu_epi16((__mmask8)((1u << blocks) - 1), s);
            dw[r] = _mm512_permutexvar_ps(lane_block, _mm512_castps128_ps512(_mm_cvtph_ps(s16)));
        }
        for (int n = 0; n < N; n++) {
            const q8_group *a = &acts[n][G];
            const __m512i start = _mm512_loadu_si512(a->lanes.start);
            const __m512i x0 = _mm512_loadu_si512(a->codes[0]), x1 = _mm512_loadu_si512(a->codes[1]);
            const __m512 d = _mm512_loadu_ps(a->lanes.scale), md = _mm512_loadu_ps(a->lanes.magic_scale);
            for (int r = 0; r < R; r++) {
                __m512i v = _mm512_dpbusd_epi32(start, codes[r][0], x0);
                v = _mm512_dpbusd_epi32(v, codes[r][1], x1);
                acc[r][n] = vnni_accumulate(v, d, md, dw[r], acc[r][n]);
            }
        }
    }
    vnni_acc_finish(acc, R, N, last, state, sums);
}

CK_TARGET_AVX512BF16 static ck_status small_q8_vnni(const weights *w, const float *X, size_t N, float *Y, size_t ldy,
                                                    row_share *share) {
    CK_VNNI_SMALL_BODY(q8_group, 4, quantize_acts_q8, rows_q8_vnni_range);
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
                                              row_share *share) {
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
    size_t m0, m1;
    while (next_rows(share, &m0, &m1)) {
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
                            __builtin_prefetch((const uint16_t *)w->data + (mr + r) * K + (st + AMX_PREFETCH_STEPS) * 32,
                                               0, 3);
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
    }
    _tile_release();
    return CK_OK;
}
#endif

// MARK: dispatch

/// int8_acts: q8 weights may use int8-quantized activations (the *_q8q8 entry points). One chunk of
/// at most CK_SMALL_N_MAX activation rows per kernel call; `share` gives the weight rows.
static ck_status run_small_share(const weights *w, const float *X, size_t N, float *Y, size_t ldy, row_share share,
                                 bool int8_acts) {
    if (share.m1 < share.m0) return CK_ERR_SHAPE;
    if ((w->fmt == FMT_Q8 || w->fmt == FMT_Q4) && w->K % CK_QB != 0) return CK_ERR_SHAPE;
    if (share.m0 == share.m1 || N == 0) return CK_OK;
    const ck_isa isa = ck_isa_now();
    for (size_t n0 = 0; n0 < N; n0 += CK_SMALL_N_MAX) {
        const size_t nc = N - n0 < CK_SMALL_N_MAX ? N - n0 : CK_SMALL_N_MAX;
        const float *Xc = X + n0 * w->K;
        float *Yc = Y + n0 * ldy;
        row_share rows = share;  // a static range restarts for every chunk (a queue is one chunk)
        ck_status st = CK_OK;
#if CK_X86
        if (isa >= CK_ISA_AMX && nc >= 2 && w->fmt == FMT_BF16 && w->K % 32 == 0)
            st = small_amx_bf16(w, Xc, nc, Yc, ldy, &rows);
        else if (isa >= CK_ISA_AVX512_BF16 && w->fmt == FMT_Q4)
            st = ck_gfni_now() ? small_q4_vnni_gfni(w, Xc, nc, Yc, ldy, &rows) : small_q4_vnni(w, Xc, nc, Yc, ldy, &rows);
        else if (isa >= CK_ISA_AVX512_BF16 && w->fmt == FMT_Q8 && int8_acts)
            st = small_q8_vnni(w, Xc, nc, Yc, ldy, &rows);
        else if (isa >= CK_ISA_AVX512) st = small_avx512(w, Xc, nc, Yc, ldy, &rows);
        else if (isa >= CK_ISA_AVX2) small_avx2(w, Xc, nc, Yc, ldy, &rows);
        else st = small_scalar(w, Xc, nc, Yc, ldy, &rows);
#else
        (void)isa;
        (void)int8_acts;
        st = small_scalar(w, Xc, nc, Yc, ldy, &rows);
#endif
        if (st != CK_OK) return st;
    }
    return CK_OK;
}

static ck_status run_small(const weights *w, const float *X, size_t N, float *Y, size_t ldy, size_t m0, size_t m1,
                           bool int8_acts) {
    return run_small_share(w, X, N, Y, ldy, rows_static(m0, m1), int8_acts);
}

/// The shared-queue entry: up to CK_SMALL_N_MAX activation rows take their weight rows from `queue`;
/// larger batches take the part's static 32-aligned share (a claimed row would have to serve every
/// chunk of activation rows).
static ck_status run_small_queue(const weights *w, const float *X, size_t N, float *Y, size_t ldy, size_t m0,
                                 size_t m1, ck_gemm_queue *queue, size_t part, size_t parts, bool int8_acts) {
    if (m1 < m0 || parts == 0 || part >= parts || queue == NULL) return CK_ERR_SHAPE;
    if (N <= CK_SMALL_N_MAX) return run_small_share(w, X, N, Y, ldy, (row_share){m0, m1, queue, parts, false}, int8_acts);
    const size_t blocks = (m1 - m0 + ROW_CLAIM_MIN - 1) / ROW_CLAIM_MIN;
    size_t a = m0 + blocks * part / parts * ROW_CLAIM_MIN, b = m0 + blocks * (part + 1) / parts * ROW_CLAIM_MIN;
    if (a > m1) a = m1;
    if (b > m1) b = m1;
    return run_small(w, X, N, Y, ldy, a, b, int8_acts);
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

ck_status ck_gemm_small_f32_queue(const float *W, size_t K, const float *X, size_t N, float *Y, size_t ldy, size_t m0,
                                  size_t m1, ck_gemm_queue *queue, size_t part, size_t parts) {
    weights w = {FMT_F32, W, NULL, K};
    return run_small_queue(&w, X, N, Y, ldy, m0, m1, queue, part, parts, false);
}
ck_status ck_gemm_small_bf16_queue(const uint16_t *W, size_t K, const float *X, size_t N, float *Y, size_t ldy,
                                   size_t m0, size_t m1, ck_gemm_queue *queue, size_t part, size_t parts) {
    weights w = {FMT_BF16, W, NULL, K};
    return run_small_queue(&w, X, N, Y, ldy, m0, m1, queue, part, parts, false);
}
ck_status ck_gemm_small_q8_queue(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y,
                                 size_t ldy, size_t m0, size_t m1, ck_gemm_queue *queue, size_t part, size_t parts) {
    weights w = {FMT_Q8, Wq, Ws, K};
    return run_small_queue(&w, X, N, Y, ldy, m0, m1, queue, part, parts, false);
}
ck_status ck_gemm_small_q8q8_queue(const int8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N,
                                   float *Y, size_t ldy, size_t m0, size_t m1, ck_gemm_queue *queue, size_t part,
                                   size_t parts) {
    weights w = {FMT_Q8, Wq, Ws, K};
    return run_small_queue(&w, X, N, Y, ldy, m0, m1, queue, part, parts, true);
}
ck_status ck_gemm_small_q4_queue(const uint8_t *Wq, const uint16_t *Ws, size_t K, const float *X, size_t N, float *Y,
                                 size_t ldy, size_t m0, size_t m1, ck_gemm_queue *queue, size_t part, size_t parts) {
    weights w = {FMT_Q4, Wq, Ws, K};
    return run_small_queue(&w, X, N, Y, ldy, m0, m1, queue, part, parts, false);
}

// Block quantizers (Q8, Q4) and their row dequantizers.
// The quantizers are plain scalar C on purpose: conversion is offline, and the same float
// operations on every machine give bit-identical files (FP contraction is off in this file).
// ref: block formats in the spirit of ggml's q8_0 / q4_0 (ggml-org/ggml src/ggml-common.h); the
//      Q4 scale search with a least-squares refit is our own (see ckernels.h for measured errors).
#include "ck_internal.h"

#include <float.h>

#pragma STDC FP_CONTRACT OFF

/// fp16-rounded scale as f32; clamps to the largest finite fp16 so a huge block cannot give inf.
static float f16_round(float d, uint16_t *bits) {
    if (d > 65504.0f) d = 65504.0f;
    if (d < -65504.0f) d = -65504.0f;
    *bits = ck_f32_to_f16_bits_scalar(d);
    return ck_f16_bits_to_f32_scalar(*bits);
}

ck_status ck_quantize_q8(const float *src, int8_t *q, uint16_t *scales, size_t n) {
    if (n % CK_QB != 0) return CK_ERR_SHAPE;
    for (size_t b = 0; b < n / CK_QB; b++) {
        const float *w = src + b * CK_QB;
        float amax = 0.0f;
        for (int i = 0; i < CK_QB; i++) {
            float a = fabsf(w[i]);
            if (!(a <= FLT_MAX)) return CK_ERR_NONFINITE;  // NaN or inf
            if (a > amax) amax = a;
        }
        const float d = f16_round(amax / 127.0f, &scales[b]);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int i = 0; i < CK_QB; i++) {
            float v = ck_round_even(w[i] * id);
            v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
            q[b * CK_QB + i] = (int8_t)v;
        }
    }
    return CK_OK;
}

/// Candidate divisors of the signed extremum tried by the Q4 scale search (-8 maps it exactly to
/// code 0 = -8; smaller magnitudes clip it a little but tighten the grid for the rest).
#define Q4_SEARCH_STEPS 9
static const float q4_divisors[Q4_SEARCH_STEPS] = {-8.5f, -8.25f, -8.0f, -7.75f, -7.5f, -7.25f, -7.0f,
                                                   -6.75f, -6.5f};

/// Codes for divisor d: q = clamp(round(w/d), -8, 7). Returns the least-squares scale for those
/// codes and the squared error it leaves.
/// Sums 32 values as 8 interleaved partial sums added in a fixed order (fast, still deterministic).
static float sum32(const float v[CK_QB]) {
    float part[8];
    for (int j = 0; j < 8; j++) part[j] = v[j];
    for (int i = 8; i < CK_QB; i += 8)
        for (int j = 0; j < 8; j++) part[j] += v[i + j];
    return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
}

static float q4_fit(const float *w, float d, int8_t codes[CK_QB], float *err) {
    const float id = 1.0f / d;
    float c[CK_QB], wq[CK_QB], qq[CK_QB];
    for (int i = 0; i < CK_QB; i++) {
        float v = ck_round_even(w[i] * id);
        v = v > 7.0f ? 7.0f : (v < -8.0f ? -8.0f : v);
        c[i] = v;
        wq[i] = w[i] * v;
        qq[i] = v * v;
    }
    const float swq = sum32(wq), sqq = sum32(qq);
    const float fit = sqq > 0.0f ? swq / sqq : 0.0f;
    float r2[CK_QB];
    for (int i = 0; i < CK_QB; i++) {
        codes[i] = (int8_t)c[i];
        const float r = w[i] - fit * c[i];
        r2[i] = r * r;
    }
    *err = sum32(r2);
    return fit;
}

ck_status ck_quantize_q4(const float *src, uint8_t *q, uint16_t *scales, size_t n) {
    if (n % CK_QB != 0) return CK_ERR_SHAPE;
    for (size_t b = 0; b < n / CK_QB; b++) {
        const float *w = src + b * CK_QB;
        float amax = 0.0f, extremum = 0.0f;
        for (int i = 0; i < CK_QB; i++) {
            float a = fabsf(w[i]);
            if (!(a <= FLT_MAX)) return CK_ERR_NONFINITE;
            if (a > amax) {
                amax = a;
                extremum = w[i];
            }
        }
        int8_t best_codes[CK_QB] = {0};
        float best_scale = 0.0f;
        if (amax > 0.0f) {
            float best_err = INFINITY;
            for (int s = 0; s < Q4_SEARCH_STEPS; s++) {
                int8_t codes[CK_QB];
                float err;
                float fit = q4_fit(w, extremum / q4_divisors[s], codes, &err);
                if (err < best_err) {
                    best_err = err;
                    best_scale = fit;
                    memcpy(best_codes, codes, sizeof codes);
                }
            }
        }
        uint16_t bits;
        float d = f16_round(best_scale, &bits);
        if (d == 0.0f) memset(best_codes, 0, sizeof best_codes);  // scale underflowed: all zero
        scales[b] = bits;
        uint8_t *out = q + b * (CK_QB / 2);
        for (int j = 0; j < CK_QB / 2; j++)
            out[j] = (uint8_t)((best_codes[j] + 8) | ((best_codes[j + 16] + 8) << 4));
    }
    return CK_OK;
}

// MARK: row dequantizers

static void q8_to_f32_scalar(const int8_t *q, const uint16_t *s, float *dst, size_t n) {
    for (size_t b = 0; b < n / CK_QB; b++) {
        const float d = ck_f16_bits_to_f32_scalar(s[b]);
        for (int i = 0; i < CK_QB; i++) dst[b * CK_QB + i] = (float)q[b * CK_QB + i] * d;
    }
}

static void q4_to_f32_scalar(const uint8_t *q, const uint16_t *s, float *dst, size_t n) {
    for (size_t b = 0; b < n / CK_QB; b++) {
        const float d = ck_f16_bits_to_f32_scalar(s[b]);
        const uint8_t *in = q + b * (CK_QB / 2);
        float *out = dst + b * CK_QB;
        for (int j = 0; j < CK_QB / 2; j++) {
            out[j] = (float)((int)(in[j] & 0x0f) - 8) * d;
            out[j + 16] = (float)((int)(in[j] >> 4) - 8) * d;
        }
    }
}

#if CK_X86
CK_TARGET_AVX2 static void q8_to_f32_avx2(const int8_t *q, const uint16_t *s, float *dst, size_t n) {
    for (size_t b = 0; b < n / CK_QB; b++) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(s[b]));
        for (int i = 0; i < CK_QB; i += 8) {
            __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + b * CK_QB + i)));
            _mm256_storeu_ps(dst + b * CK_QB + i, _mm256_mul_ps(_mm256_cvtepi32_ps(v), d));
        }
    }
}

CK_TARGET_AVX2 static void q4_to_f32_avx2(const uint8_t *q, const uint16_t *s, float *dst, size_t n) {
    const __m256i low = _mm256_set1_epi32(0x0f);
    const __m256 eight = _mm256_set1_ps(8.0f);
    for (size_t b = 0; b < n / CK_QB; b++) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(s[b]));
        for (int j = 0; j < 16; j += 8) {
            __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(q + b * 16 + j)));
            __m256 lo = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_and_si256(v, low)), eight);
            __m256 hi = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4)), eight);
            _mm256_storeu_ps(dst + b * CK_QB + j, _mm256_mul_ps(lo, d));
            _mm256_storeu_ps(dst + b * CK_QB + 16 + j, _mm256_mul_ps(hi, d));
        }
    }
}

CK_TARGET_AVX512 static void q8_to_f32_avx512(const int8_t *q, const uint16_t *s, float *dst, size_t n) {
    for (size_t b = 0; b < n / CK_QB; b++) {
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(s[b]));
        for (int i = 0; i < CK_QB; i += 16) {
            __m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + b * CK_QB + i)));
            _mm512_storeu_ps(dst + b * CK_QB + i, _mm512_mul_ps(_mm512_cvtepi32_ps(v), d));
        }
    }
}

CK_TARGET_AVX512 static void q4_to_f32_avx512(const uint8_t *q, const uint16_t *s, float *dst, size_t n) {
    const __m512i low = _mm512_set1_epi32(0x0f);
    const __m512 eight = _mm512_set1_ps(8.0f);
    for (size_t b = 0; b < n / CK_QB; b++) {
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(s[b]));
        __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(q + b * 16)));
        __m512 lo = _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v, low)), eight);
        __m512 hi = _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4)), eight);
        _mm512_storeu_ps(dst + b * CK_QB, _mm512_mul_ps(lo, d));
        _mm512_storeu_ps(dst + b * CK_QB + 16, _mm512_mul_ps(hi, d));
    }
}
#endif

void ck_row_q8_to_f32(const int8_t *q, const uint16_t *s, float *dst, size_t n, ck_isa isa) {
#if CK_X86
    if (isa >= CK_ISA_AVX512) return q8_to_f32_avx512(q, s, dst, n);
    if (isa >= CK_ISA_AVX2) return q8_to_f32_avx2(q, s, dst, n);
#else
    (void)isa;
#endif
    q8_to_f32_scalar(q, s, dst, n);
}

void ck_row_q4_to_f32(const uint8_t *q, const uint16_t *s, float *dst, size_t n, ck_isa isa) {
#if CK_X86
    if (isa >= CK_ISA_AVX512) return q4_to_f32_avx512(q, s, dst, n);
    if (isa >= CK_ISA_AVX2) return q4_to_f32_avx2(q, s, dst, n);
#else
    (void)isa;
#endif
    q4_to_f32_scalar(q, s, dst, n);
}

ck_status ck_dequant_q8_row(const int8_t *q, const uint16_t *scales, float *dst, size_t n) {
    if (n % CK_QB != 0) return CK_ERR_SHAPE;
    ck_row_q8_to_f32(q, scales, dst, n, ck_isa_now());
    return CK_OK;
}

ck_status ck_dequant_q4_row(const uint8_t *q, const uint16_t *scales, float *dst, size_t n) {
    if (n % CK_QB != 0) return CK_ERR_SHAPE;
    ck_row_q4_to_f32(q, scales, dst, n, ck_isa_now());
    return CK_OK;
}

void ck_weights_row_f32(const weights *w, size_t m, size_t k0, size_t n, float *dst, ck_isa isa) {
    const size_t K = w->K;
    switch (w->fmt) {
    case FMT_F32: memcpy(dst, (const float *)w->data + m * K + k0, n * sizeof(float)); break;
    case FMT_BF16: ck_row_bf16_to_f32((const uint16_t *)w->data + m * K + k0, dst, n, isa); break;
    case FMT_Q8:
        ck_row_q8_to_f32((const int8_t *)w->data + m * K + k0, w->scales + m * (K / CK_QB) + k0 / CK_QB, dst, n, isa);
        break;
    case FMT_Q4:
        ck_row_q4_to_f32((const uint8_t *)w->data + m * (K / 2) + k0 / 2, w->scales + m * (K / CK_QB) + k0 / CK_QB,
                         dst, n, isa);
        break;
    }
}

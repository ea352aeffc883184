// bf16 / fp16 <-> f32 conversions.
// ref: IEEE 754-2008 binary16 layout; bfloat16 = upper 16 bits of binary32. RNE by the
//      "add 0x7fff + lsb" rule; F16C vcvtps2ph/vcvtph2ps (Intel SDM vol. 2) for the SIMD fp16 path.
#include "ck_internal.h"

float ck_f16_bits_to_f32_scalar(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        float v = (float)mant * 0x1p-24f;  // zero or subnormal, exact
        memcpy(&u, &v, 4);
        u |= sign;
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (mant << 13);
    } else {
        u = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ck_f32_to_f16_bits_scalar(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    const uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    u &= 0x7fffffffu;
    if (u > 0x7f800000u) return sign | 0x7e00u | (uint16_t)((u >> 13) & 0x3ffu);  // quiet NaN
    if (u >= 0x477ff000u) return sign | 0x7c00u;  // >= 65520 rounds to infinity
    if (u >= 0x38800000u) {                       // normal fp16 range
        u -= 0x38000000u;                          // rebias exponent 127 -> 15
        u += 0xfffu + ((u >> 13) & 1u);
        return sign | (uint16_t)(u >> 13);
    }
    float a;
    memcpy(&a, &u, 4);
    return sign | (uint16_t)nearbyintf(a * 0x1p24f);  // subnormal (or rounds up to the min normal)
}

// MARK: scalar

static void bf16_to_f32_scalar(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = ck_bf16_bits_to_f32(src[i]);
}
static void f32_to_bf16_scalar(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = ck_f32_to_bf16_bits(src[i]);
}
static void f16_to_f32_scalar(const uint16_t *src, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = ck_f16_bits_to_f32_scalar(src[i]);
}
static void f32_to_f16_scalar(const float *src, uint16_t *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = ck_f32_to_f16_bits_scalar(src[i]);
}

#if CK_X86
// MARK: AVX2

CK_TARGET_AVX2 static void bf16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    bf16_to_f32_scalar(src + i, dst + i, n - i);
}

CK_TARGET_AVX2 static void f32_to_bf16_avx2(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    const __m256i quiet = _mm256_set1_epi32(0x40);
    for (; i + 16 <= n; i += 16) {
        __m256i r[2];
        for (int h = 0; h < 2; h++) {
            __m256i u = _mm256_loadu_si256((const __m256i *)(src + i + 8 * h));
            __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
            __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(bias, lsb)), 16);
            __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absmask), inf);
            __m256i nanv = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);
            r[h] = _mm256_blendv_epi8(rounded, nanv, nan);
        }
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r[0], r[1]), 0xd8);
        _mm256_storeu_si256((__m256i *)(dst + i), packed);
    }
    f32_to_bf16_scalar(src + i, dst + i, n - i);
}

CK_TARGET_AVX2 static void f16_to_f32_avx2(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    f16_to_f32_scalar(src + i, dst + i, n - i);
}

CK_TARGET_AVX2 static void f32_to_f16_avx2(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    f32_to_f16_scalar(src + i, dst + i, n - i);
}

// MARK: AVX-512

CK_TARGET_AVX512 static void bf16_to_f32_avx512(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(src + i)));
        _mm512_storeu_ps(dst + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, src + i));
        _mm512_mask_storeu_ps(dst + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
    }
}

/// RNE f32 -> bf16 on 16 lanes with integer arithmetic (keeps subnormals, unlike vcvtneps2bf16).
CK_INLINE CK_TARGET_AVX512 __m256i f32x16_to_bf16_rne(__m512i u) {
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), lsb)), 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    rounded = _mm512_mask_or_epi32(rounded, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(rounded);
}

CK_TARGET_AVX512 static void f32_to_bf16_avx512(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), f32x16_to_bf16_rne(_mm512_loadu_si512(src + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(dst + i, m, f32x16_to_bf16_rne(_mm512_maskz_loadu_epi32(m, src + i)));
    }
}

CK_TARGET_AVX512 static void f16_to_f32_avx512(const uint16_t *src, float *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + i))));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(dst + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src + i)));
    }
}

CK_TARGET_AVX512 static void f32_to_f16_avx512(const float *src, uint16_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtps_ph(_mm512_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(dst + i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, src + i), _MM_FROUND_TO_NEAREST_INT));
    }
}
#endif

// MARK: public

void ck_bf16_to_f32(const uint16_t *src, float *dst, size_t n) { ck_row_bf16_to_f32(src, dst, n, ck_isa_now()); }

void ck_row_bf16_to_f32(const uint16_t *src, float *dst, size_t n, ck_isa isa) {
#if CK_X86
    if (isa >= CK_ISA_AVX512) return bf16_to_f32_avx512(src, dst, n);
    if (isa >= CK_ISA_AVX2) return bf16_to_f32_avx2(src, dst, n);
#else
    (void)isa;
#endif
    bf16_to_f32_scalar(src, dst, n);
}

void ck_f32_to_bf16_rne(const float *src, uint16_t *dst, size_t n) {
#if CK_X86
    ck_isa isa = ck_isa_now();
    if (isa >= CK_ISA_AVX512) return f32_to_bf16_avx512(src, dst, n);
    if (isa >= CK_ISA_AVX2) return f32_to_bf16_avx2(src, dst, n);
#endif
    f32_to_bf16_scalar(src, dst, n);
}

void ck_f16_to_f32(const uint16_t *src, float *dst, size_t n) {
#if CK_X86
    ck_isa isa = ck_isa_now();
    if (isa >= CK_ISA_AVX512) return f16_to_f32_avx512(src, dst, n);
    if (isa >= CK_ISA_AVX2) return f16_to_f32_avx2(src, dst, n);
#endif
    f16_to_f32_scalar(src, dst, n);
}

void ck_f32_to_f16(const float *src, uint16_t *dst, size_t n) {
#if CK_X86
    ck_isa isa = ck_isa_now();
    if (isa >= CK_ISA_AVX512) return f32_to_f16_avx512(src, dst, n);
    if (isa >= CK_ISA_AVX2) return f32_to_f16_avx2(src, dst, n);
#endif
    f32_to_f16_scalar(src, dst, n);
}

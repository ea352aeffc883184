// Internal helpers shared by the CKernels translation units (not part of the public API).
#pragma once

#include "ckernels.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define CK_X86 1
#include <immintrin.h>
#else
#define CK_X86 0
#endif

// Per-function ISA targets. Each implies the lower ones so helpers can be shared upward.
#define CK_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define CK_TARGET_AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))
#define CK_TARGET_AVX512BF16 \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx512vnni")))
#define CK_TARGET_AVX512BF16_GFNI \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx512vnni,gfni")))
#define CK_TARGET_AMX                                                                              \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx512vnni," \
                          "amx-tile,amx-bf16,amx-int8")))
#define CK_INLINE static inline __attribute__((always_inline))

/// ck_softmax_f32_flush: exponentials of (x − max) below −CK_SOFTMAX_FLUSH become 0.
#define CK_SOFTMAX_FLUSH 70.0f

/// Elements per quantization block (alias).
#define CK_QB CK_QBLOCK

// MARK: scalar number helpers (portable; also the reference semantics for the SIMD paths)

CK_INLINE float ck_bf16_bits_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

CK_INLINE uint16_t ck_f32_to_bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x0040u);  // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float ck_f16_bits_to_f32_scalar(uint16_t h);
uint16_t ck_f32_to_f16_bits_scalar(float f);

/// Round half to even for |v| < 2^22 (quantizer codes are far smaller): adding and subtracting
/// 1.5 * 2^23 leaves the value rounded to an integer by the FPU's default round-to-nearest-even.
/// Plain IEEE adds, so it is deterministic everywhere and vectorizes without SSE4.1 (nearbyintf is
/// a libm call on baseline x86-64). Callers must not let the compiler reassociate (no fast-math).
CK_INLINE float ck_round_even(float v) {
    const float magic = 12582912.0f;  // IEEE semantics forbid folding (v + magic) - magic to v
    return (v + magic) - magic;
}

#if CK_X86
// MARK: 16x16 32-bit transpose (AVX-512)

/// dst[j][i] = src[i][j] for a 16x16 block of 32-bit values; src rows lds elements apart,
/// dst rows 16 elements apart (contiguous).
CK_INLINE CK_TARGET_AVX512 void transpose16x16(const uint32_t *src, size_t lds, uint32_t *dst) {
    __m512i r[16], t[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512(src + (size_t)i * lds);
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) {  // rows 4g..4g+3: r[4g + c] lane l = column 4l + c
        r[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        r[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        r[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        r[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int c = 0; c < 4; c++) {  // 4x4 transpose of 128-bit lanes across the row groups
        __m512i v0 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x44), v1 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xee);
        __m512i v2 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x44);
        __m512i v3 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xee);
        _mm512_storeu_si512(dst + (0 + c) * 16, _mm512_shuffle_i32x4(v0, v2, 0x88));
        _mm512_storeu_si512(dst + (4 + c) * 16, _mm512_shuffle_i32x4(v0, v2, 0xdd));
        _mm512_storeu_si512(dst + (8 + c) * 16, _mm512_shuffle_i32x4(v1, v3, 0x88));
        _mm512_storeu_si512(dst + (12 + c) * 16, _mm512_shuffle_i32x4(v1, v3, 0xdd));
    }
}
#endif

#if CK_X86
// MARK: int8 activations for the VNNI kernels (decode ck_gemv.c, prefill ck_gemm.c)
//
// An activation block of 32 is quantized to int8 codes with scale d (vnni_block_codes); a 32-bit
// lane that starts at CK_VNNI_MAGIC_BITS plus an integer correction and then adds vpdpbusd
// products reads, as a float, 1.5·2^23 + dot while |dot| < 2^22, so fmsub(lane, d, CK_VNNI_MAGIC·d)
// is dot·d rounded once (d keeps ≤ 22 significant bits, so CK_VNNI_MAGIC·d is exact).

#define CK_VNNI_MAGIC_BITS 0x4B400000  // bits of 1.5 · 2^23 = 12582912.0f
#define CK_VNNI_MAGIC 12582912.0f

/// The int8 scale of an activation block with largest magnitude amax: amax / 127 with its two lowest
/// mantissa bits cleared (≤ 22 significant bits, so CK_VNNI_MAGIC · d is exact; codes stay ≤ 127 since
/// |x| / d ≤ 127 · (1 + 2^-21) rounds to 127).
CK_INLINE float vnni_act_scale(float amax) {
    float d = amax / 127.0f;
    uint32_t u;
    memcpy(&u, &d, 4);
    u &= ~(uint32_t)3;
    memcpy(&d, &u, 4);
    return d;
}

/// int8 codes of one 32-element block (round to nearest even, saturating) and its scale.
CK_INLINE CK_TARGET_AVX512BF16 float vnni_block_codes(const float *xb, int8_t codes[CK_QB]) {
    const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
    const float d = vnni_act_scale(_mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1))));
    const __m512 id = _mm512_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    _mm_storeu_si128((__m128i *)codes, _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, id))));
    _mm_storeu_si128((__m128i *)(codes + 16), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, id))));
    return d;
}
#endif

// MARK: dispatch

/// Active level for the calling thread (hot path: one TLS read and one relaxed atomic load).
ck_isa ck_isa_now(void);
/// Whether the calling thread may use GFNI (the CPU has it and ck_set_thread_gfni is not off).
bool ck_gfni_now(void);

// MARK: scratch memory

/// Returns a 64-byte aligned per-thread buffer of at least `bytes` bytes (contents unspecified,
/// valid until the next call on this thread with slot `slot`), or NULL if allocation fails.
/// Slots 0..3 are independent buffers so one kernel can hold several at once.
void *ck_scratch(int slot, size_t bytes);

// MARK: cross-file kernels

/// Dequantize helpers used by the GEMM packers: expand `n` (multiple of 32) weights of one row
/// starting at element k0 (multiple of 32) into f32.
void ck_row_q8_to_f32(const int8_t *q, const uint16_t *s, float *dst, size_t n, ck_isa isa);
void ck_row_q4_to_f32(const uint8_t *q, const uint16_t *s, float *dst, size_t n, ck_isa isa);
void ck_row_bf16_to_f32(const uint16_t *src, float *dst, size_t n, ck_isa isa);

// MARK: weight matrices

typedef enum { FMT_F32, FMT_BF16, FMT_Q8, FMT_Q4 } weight_format;

/// A weight matrix in any supported format (only the fields `fmt` needs are used).
typedef struct {
    weight_format fmt;
    const void *data;        // [M, K] f32 / bf16 / int8, or [M, K/2] nibbles
    const uint16_t *scales;  // [M, K/32] fp16 (q8, q4)
    size_t K;
} weights;

/// Expands W[m, k0 ..< k0+n] to f32. dst [n] f32. For q8/q4, k0 and n are multiples of 32.
void ck_weights_row_f32(const weights *w, size_t m, size_t k0, size_t n, float *dst, ck_isa isa);
/// Plain dot product of two f32 vectors (4 partial sums).
float ck_dot_scalar(const float *a, const float *b, size_t K);

// Scaled dot-product attention with keys and values in fp16 (the KV cache) or f32: decode (one
// query row) and prefill (many rows, causal or not), grouped-query heads, a head range per call
// for threading.
// ref: modeling_cogvlm.py attention (softmax(q·kᵀ·scale)·v, causal mask, GQA repeat-interleave);
//      ck_attention_body.h for the SIMD algorithm.
#include "ck_internal.h"

#include <stdlib.h>

/// Keys per widened K/V tile (a multiple of every vector width). 16 measured best for decode (the
/// tile loop then walks few cache rows at a time) and no worse than 64 for prefill.
#define CK_ATT_KT 16
/// Query rows (query × head pairs) per block: bounds the score scratch to CK_ATT_ROWS × keys floats.
#define CK_ATT_ROWS 64

// MARK: scalar (portable: sequential f32 dot products, libm expf, softmax sum in double)

/// Element `i` of a K or V array holding fp16 bits (f16) or f32.
static inline float kv_at(const void *p, bool f16, size_t i) {
    return f16 ? ck_f16_bits_to_f32_scalar(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static void attention_scalar(const float *q, size_t q_stride, const void *k, const void *v, bool f16,
                             size_t kv_stride, float *out, size_t out_stride, size_t queries, size_t keys,
                             size_t q_heads, size_t kv_heads, size_t hd, float scale, long causal_offset, size_t h0,
                             size_t h1, float *scores) {
    const size_t group = q_heads / kv_heads;
    for (size_t h = h0; h < h1; h++) {
        const size_t kvh = h / group;
        for (size_t i = 0; i < queries; i++) {
            size_t limit = keys;
            if (causal_offset >= 0 && (size_t)causal_offset + i + 1 < limit) limit = (size_t)causal_offset + i + 1;
            const float *qi = q + i * q_stride + h * hd;
            for (size_t j = 0; j < limit; j++) {
                const size_t kj = j * kv_stride + kvh * hd;
                float dot = 0;
                for (size_t d = 0; d < hd; d++) dot += qi[d] * kv_at(k, f16, kj + d);
                scores[j] = dot * scale;
            }
            float mx = -INFINITY;
            for (size_t j = 0; j < limit; j++)
                if (scores[j] > mx) mx = scores[j];
            double sum = 0;
            for (size_t j = 0; j < limit; j++) {
                scores[j] = expf(scores[j] - mx);
                sum += scores[j];
            }
            const float inv = (float)(1.0 / sum);
            float *oi = out + i * out_stride + h * hd;
            for (size_t d = 0; d < hd; d++) oi[d] = 0;
            for (size_t j = 0; j < limit; j++) {
                const float p = scores[j] * inv;
                const size_t vj = j * kv_stride + kvh * hd;
                for (size_t d = 0; d < hd; d++) oi[d] += p * kv_at(v, f16, vj + d);
            }
        }
    }
}

// MARK: SIMD instantiations

#if CK_X86
#define CK_SIMD_AVX2
#include "ck_simd_begin.h"
#include "ck_vmath.h"
#include "ck_attention_body.h"
#include "ck_simd_end.h"
#undef CK_SIMD_AVX2

#define CK_SIMD_AVX512
#include "ck_simd_begin.h"
#include "ck_vmath.h"
#include "ck_attention_body.h"
#include "ck_simd_end.h"
#undef CK_SIMD_AVX512
#endif

// MARK: public entry points

static ck_status attention(const float *q, size_t q_stride, const void *k, const void *v, bool f16, size_t kv_stride,
                           float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads, size_t kv_heads,
                           size_t head_dim, float scale, long causal_offset, size_t h0, size_t h1) {
    if (q_heads == 0 || kv_heads == 0 || q_heads % kv_heads != 0 || head_dim == 0) return CK_ERR_SHAPE;
    if (h0 > h1 || h1 > q_heads || causal_offset < -1) return CK_ERR_SHAPE;
    if (queries == 0 || h0 == h1) return CK_OK;
    if (keys == 0) return CK_ERR_SHAPE;
    const ck_isa isa = ck_isa_now();
#if CK_X86
    if (isa >= CK_ISA_AVX2) {
        // The layout of ck_attention_body.h, sized for the widest vector (16 lanes).
        const size_t group = q_heads / kv_heads;
        const size_t hdp = (head_dim + 15) / 16 * 16;
        const size_t rows_cap = group > CK_ATT_ROWS ? group : CK_ATT_ROWS;
        const size_t sld = (keys + CK_ATT_KT - 1) / CK_ATT_KT * CK_ATT_KT;
        const size_t floats = 2 * rows_cap * hdp + CK_ATT_KT * hdp + rows_cap * sld;
        float *scratch = ck_scratch(1, floats * sizeof(float));
        if (scratch == NULL) return CK_ERR_NOMEM;
        if (isa >= CK_ISA_AVX512)
            attention_avx512(q, q_stride, k, v, f16, kv_stride, out, out_stride, queries, keys, q_heads, kv_heads,
                             head_dim, scale, causal_offset, h0, h1, scratch);
        else
            attention_avx2(q, q_stride, k, v, f16, kv_stride, out, out_stride, queries, keys, q_heads, kv_heads,
                           head_dim, scale, causal_offset, h0, h1, scratch);
        return CK_OK;
    }
#endif
    (void)isa;
    float *scores = ck_scratch(1, keys * sizeof(float));  // [keys] f32
    if (scores == NULL) return CK_ERR_NOMEM;
    attention_scalar(q, q_stride, k, v, f16, kv_stride, out, out_stride, queries, keys, q_heads, kv_heads, head_dim,
                     scale, causal_offset, h0, h1, scores);
    return CK_OK;
}

ck_status ck_attention_f16kv(const float *q, size_t q_stride, const uint16_t *k, const uint16_t *v, size_t kv_stride,
                             float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                             size_t kv_heads, size_t head_dim, float scale, long causal_offset, size_t h0,
                             size_t h1) {
    return attention(q, q_stride, k, v, true, kv_stride, out, out_stride, queries, keys, q_heads, kv_heads, head_dim,
                     scale, causal_offset, h0, h1);
}

ck_status ck_attention_f32kv(const float *q, size_t q_stride, const float *k, const float *v, size_t kv_stride,
                             float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                             size_t kv_heads, size_t head_dim, float scale, long causal_offset, size_t h0,
                             size_t h1) {
    return attention(q, q_stride, k, v, false, kv_stride, out, out_stride, queries, keys, q_heads, kv_heads, head_dim,
                     scale, causal_offset, h0, h1);
}

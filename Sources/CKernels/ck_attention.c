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

/// Keys or values in two segments: rows [0, first_rows) at `first`, rows [first_rows, ...) at
/// `rest` (row first_rows is rest's row 0). One segment: first_rows = 0 and rest = the array.
typedef struct {
    const void *first, *rest;
    size_t first_rows;
} ck_att_src;

/// Start of row j; row_bytes = row stride in bytes.
static inline const char *ck_att_row(const ck_att_src *src, size_t j, size_t row_bytes) {
    return j < src->first_rows ? (const char *)src->first + j * row_bytes
                               : (const char *)src->rest + (j - src->first_rows) * row_bytes;
}

// MARK: scalar (portable: sequential f32 dot products, libm expf, softmax sum in double)

/// Element `e` of row j of a K or V array holding fp16 bits (f16) or f32.
static inline float kv_at(const ck_att_src *src, bool f16, size_t j, size_t stride, size_t e) {
    const char *row = ck_att_row(src, j, stride * (f16 ? sizeof(uint16_t) : sizeof(float)));
    return f16 ? ck_f16_bits_to_f32_scalar(((const uint16_t *)(const void *)row)[e]) : ((const float *)(const void *)row)[e];
}

static void attention_scalar(const float *q, size_t q_stride, const ck_att_src *k, const ck_att_src *v, bool f16,
                             size_t kv_stride, float *out, size_t out_stride, size_t queries, size_t keys,
                             size_t q_heads, size_t kv_heads, size_t hd, float scale, long causal_offset, size_t h0,
                             size_t h1, float *row_max, float *row_sum, float *scores) {
    const size_t group = q_heads / kv_heads;
    for (size_t h = h0; h < h1; h++) {
        const size_t kvh = h / group;
        for (size_t i = 0; i < queries; i++) {
            size_t limit = keys;
            if (causal_offset >= 0 && (size_t)causal_offset + i + 1 < limit) limit = (size_t)causal_offset + i + 1;
            const float *qi = q + i * q_stride + h * hd;
            for (size_t j = 0; j < limit; j++) {
                float dot = 0;
                for (size_t d = 0; d < hd; d++) dot += qi[d] * kv_at(k, f16, j, kv_stride, kvh * hd + d);
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
            if (row_max != NULL) {
                row_max[i * q_heads + h] = mx;
                row_sum[i * q_heads + h] = (float)sum;
            }
            const float inv = (float)(1.0 / sum);
            float *oi = out + i * out_stride + h * hd;
            for (size_t d = 0; d < hd; d++) oi[d] = 0;
            for (size_t j = 0; j < limit; j++) {
                const float p = scores[j] * inv;
                for (size_t d = 0; d < hd; d++) oi[d] += p * kv_at(v, f16, j, kv_stride, kvh * hd + d);
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

static ck_status attention(const float *q, size_t q_stride, const ck_att_src *k, const ck_att_src *v, bool f16,
                           size_t kv_stride, float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                           size_t kv_heads, size_t head_dim, float scale, long causal_offset, size_t h0, size_t h1,
                           float *row_max, float *row_sum) {
    if (q_heads == 0 || kv_heads == 0 || q_heads % kv_heads != 0 || head_dim == 0) return CK_ERR_SHAPE;
    if (h0 > h1 || h1 > q_heads || causal_offset < -1) return CK_ERR_SHAPE;
    if ((row_max == NULL) != (row_sum == NULL)) return CK_ERR_SHAPE;
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
                             head_dim, scale, causal_offset, h0, h1, row_max, row_sum, scratch);
        else
            attention_avx2(q, q_stride, k, v, f16, kv_stride, out, out_stride, queries, keys, q_heads, kv_heads,
                           head_dim, scale, causal_offset, h0, h1, row_max, row_sum, scratch);
        return CK_OK;
    }
#endif
    (void)isa;
    float *scores = ck_scratch(1, keys * sizeof(float));  // [keys] f32
    if (scores == NULL) return CK_ERR_NOMEM;
    attention_scalar(q, q_stride, k, v, f16, kv_stride, out, out_stride, queries, keys, q_heads, kv_heads, head_dim,
                     scale, causal_offset, h0, h1, row_max, row_sum, scores);
    return CK_OK;
}

ck_status ck_attention_f16kv(const float *q, size_t q_stride, const uint16_t *k, const uint16_t *v, size_t kv_stride,
                             float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                             size_t kv_heads, size_t head_dim, float scale, long causal_offset, size_t h0,
                             size_t h1) {
    const ck_att_src ks = {NULL, k, 0}, vs = {NULL, v, 0};
    return attention(q, q_stride, &ks, &vs, true, kv_stride, out, out_stride, queries, keys, q_heads, kv_heads,
                     head_dim, scale, causal_offset, h0, h1, NULL, NULL);
}

ck_status ck_attention_f32kv(const float *q, size_t q_stride, const float *k, const float *v, size_t kv_stride,
                             float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                             size_t kv_heads, size_t head_dim, float scale, long causal_offset, size_t h0,
                             size_t h1) {
    const ck_att_src ks = {NULL, k, 0}, vs = {NULL, v, 0};
    return attention(q, q_stride, &ks, &vs, false, kv_stride, out, out_stride, queries, keys, q_heads, kv_heads,
                     head_dim, scale, causal_offset, h0, h1, NULL, NULL);
}

/// The two-segment entry points: a segment that has rows must have both pointers.
static ck_status attention_split(const float *q, size_t q_stride, const void *k_first, const void *v_first,
                                 size_t first_keys, const void *k_rest, const void *v_rest, bool f16, size_t kv_stride,
                                 float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                                 size_t kv_heads, size_t head_dim, float scale, long causal_offset, size_t h0, size_t h1,
                                 float *row_max, float *row_sum) {
    if ((first_keys > 0 && (k_first == NULL || v_first == NULL)) ||
        (keys > first_keys && (k_rest == NULL || v_rest == NULL)))
        return CK_ERR_SHAPE;
    const ck_att_src ks = {k_first, k_rest, first_keys}, vs = {v_first, v_rest, first_keys};
    return attention(q, q_stride, &ks, &vs, f16, kv_stride, out, out_stride, queries, keys, q_heads, kv_heads,
                     head_dim, scale, causal_offset, h0, h1, row_max, row_sum);
}

ck_status ck_attention_f16kv_split(const float *q, size_t q_stride, const uint16_t *k_first, const uint16_t *v_first,
                                   size_t first_keys, const uint16_t *k_rest, const uint16_t *v_rest, size_t kv_stride,
                                   float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                                   size_t kv_heads, size_t head_dim, float scale, long causal_offset, size_t h0,
                                   size_t h1, float *row_max, float *row_sum) {
    return attention_split(q, q_stride, k_first, v_first, first_keys, k_rest, v_rest, true, kv_stride, out, out_stride,
                           queries, keys, q_heads, kv_heads, head_dim, scale, causal_offset, h0, h1, row_max, row_sum);
}

ck_status ck_attention_f32kv_split(const float *q, size_t q_stride, const float *k_first, const float *v_first,
                                   size_t first_keys, const float *k_rest, const float *v_rest, size_t kv_stride,
                                   float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                                   size_t kv_heads, size_t head_dim, float scale, long causal_offset, size_t h0,
                                   size_t h1, float *row_max, float *row_sum) {
    return attention_split(q, q_stride, k_first, v_first, first_keys, k_rest, v_rest, false, kv_stride, out, out_stride,
                           queries, keys, q_heads, kv_heads, head_dim, scale, causal_offset, h0, h1, row_max, row_sum);
}

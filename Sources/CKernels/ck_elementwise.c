// Elementwise and row kernels: exact GELU, SiLU·up, softmax, RMSNorm, LayerNorm, NeoX rotary, plus
// the vector exp and sin/cos they use. The scalar versions are the reference semantics (the
// formulas and operation order of CogTensor's former Swift `Ops`, with libm's erff/expf/sinf/cosf);
// the AVX2 / AVX-512 versions are generated from ck_elementwise_body.h.
// ref: torch.nn.functional.gelu (approximate='none'), torch.nn.functional.silu, torch.softmax,
//      modeling_cogvlm.py RMSNorm / RotaryEmbedding / rotate_half, torch.nn.LayerNorm.
#include "ck_internal.h"

// MARK: scalar (reference semantics)

static void gelu_scalar(float *x, size_t n) {
    const float inv_sqrt2 = 0.70710678118654752440f;
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.0f + erff(v * inv_sqrt2));
    }
}

static void silu_mul_scalar(const float *gate, const float *up, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/// Reference softmax; flush: exponentials of x − max below −CK_SOFTMAX_FLUSH become 0.
static void softmax_rows_scalar(float *x, size_t n, bool flush) {
    if (n == 0) return;
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        const float d = x[i] - mx;
        const float e = flush && d < -CK_SOFTMAX_FLUSH ? 0.0f : expf(d);
        x[i] = e;
        sum += e;
    }
    const float inv = (float)(1.0 / sum);
    for (size_t i = 0; i < n; i++) x[i] *= inv;
}

static void softmax_scalar(float *x, size_t n) { softmax_rows_scalar(x, n, false); }
static void softmax_flush_scalar(float *x, size_t n) { softmax_rows_scalar(x, n, true); }

static void rmsnorm_scalar(const float *x, const float *w, float eps, size_t rows, size_t dim, float *out) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * dim;
        float *yr = out + r * dim;
        double ss = 0;
        for (size_t i = 0; i < dim; i++) ss += (double)xr[i] * (double)xr[i];
        const float variance = (float)(ss / (double)dim);
        const float inv = 1.0f / sqrtf(variance + eps);
        for (size_t i = 0; i < dim; i++) yr[i] = w[i] * (xr[i] * inv);
    }
}

static void layernorm_scalar(const float *x, const float *w, const float *b, float eps, size_t rows, size_t dim,
                             float *out) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * dim;
        float *yr = out + r * dim;
        double sum = 0;
        for (size_t i = 0; i < dim; i++) sum += (double)xr[i];
        const double mean = sum / (double)dim;
        double sq = 0;
        for (size_t i = 0; i < dim; i++) {
            const double d = (double)xr[i] - mean;
            sq += d * d;
        }
        const float inv = (float)(1.0 / sqrt(sq / (double)dim + (double)eps));
        const float mean_f = (float)mean;
        for (size_t i = 0; i < dim; i++) {
            const float y = (xr[i] - mean_f) * inv * w[i];
            yr[i] = y + b[i];
        }
    }
}

static void rope_scalar(float *x, size_t rows, size_t stride, size_t offset, size_t heads, size_t head_dim,
                        const int *positions, const float *inv_freq, float *table) {
    const size_t half = head_dim / 2;
    float *cos_t = table, *sin_t = table + half;  // [half] f32 each
    for (size_t r = 0; r < rows; r++) {
        const float pos = (float)positions[r];
        for (size_t j = 0; j < half; j++) {
            const float angle = pos * inv_freq[j];
            cos_t[j] = cosf(angle);
            sin_t[j] = sinf(angle);
        }
        for (size_t h = 0; h < heads; h++) {
            float *base = x + r * stride + offset + h * head_dim;
            for (size_t j = 0; j < half; j++) {
                const float a = base[j], b = base[j + half];
                const float ac = a * cos_t[j], bs = b * sin_t[j];
                const float bc = b * cos_t[j], as = a * sin_t[j];
                base[j] = ac - bs;
                base[j + half] = bc + as;
            }
        }
    }
}

static void sincos_scalar(const float *angles, float *sin_out, float *cos_out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        sin_out[i] = sinf(angles[i]);
        cos_out[i] = cosf(angles[i]);
    }
}

static void exp_scalar(const float *x, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = expf(x[i]);
}

static void erf_scalar(const float *x, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = erff(x[i]);
}

// MARK: SIMD instantiations

#if CK_X86
#define CK_SIMD_AVX2
#include "ck_simd_begin.h"
#include "ck_vmath.h"
#include "ck_elementwise_body.h"
#include "ck_simd_end.h"
#undef CK_SIMD_AVX2

#define CK_SIMD_AVX512
#include "ck_simd_begin.h"
#include "ck_vmath.h"
#include "ck_elementwise_body.h"
#include "ck_simd_end.h"
#undef CK_SIMD_AVX512
#endif

// MARK: public entry points

#if CK_X86
#define CK_DISPATCH(name, ...)                                            \
    do {                                                                  \
        const ck_isa isa_ = ck_isa_now();                                 \
        if (isa_ >= CK_ISA_AVX512) return name##_avx512(__VA_ARGS__);     \
        if (isa_ >= CK_ISA_AVX2) return name##_avx2(__VA_ARGS__);         \
        return name##_scalar(__VA_ARGS__);                                \
    } while (0)
#else
#define CK_DISPATCH(name, ...) return name##_scalar(__VA_ARGS__)
#endif

void ck_gelu_erf_f32(float *x, size_t n) { CK_DISPATCH(gelu, x, n); }

void ck_silu_mul_f32(const float *gate, const float *up, float *out, size_t n) {
    CK_DISPATCH(silu_mul, gate, up, out, n);
}

void ck_softmax_f32(float *row, size_t n) { CK_DISPATCH(softmax, row, n); }

void ck_softmax_f32_flush(float *row, size_t n) { CK_DISPATCH(softmax_flush, row, n); }

void ck_rmsnorm_f32(const float *x, const float *w, float eps, size_t rows, size_t dim, float *out) {
    CK_DISPATCH(rmsnorm, x, w, eps, rows, dim, out);
}

void ck_layernorm_f32(const float *x, const float *w, const float *bias, float eps, size_t rows, size_t dim,
                      float *out) {
    CK_DISPATCH(layernorm, x, w, bias, eps, rows, dim, out);
}

ck_status ck_rope_f32(float *x, size_t rows, size_t stride, size_t offset, size_t heads, size_t head_dim,
                      const int *positions, const float *inv_freq) {
    if (head_dim % 2 != 0) return CK_ERR_SHAPE;
    if (rows == 0 || heads == 0 || head_dim == 0) return CK_OK;
    const size_t half_pad = (head_dim / 2 + 15) / 16 * 16;
    float *table = ck_scratch(0, 2 * half_pad * sizeof(float));  // cos | sin, [2, half_pad] f32
    if (table == NULL) return CK_ERR_NOMEM;
#if CK_X86
    const ck_isa isa = ck_isa_now();
    if (isa >= CK_ISA_AVX512)
        rope_avx512(x, rows, stride, offset, heads, head_dim, positions, inv_freq, table);
    else if (isa >= CK_ISA_AVX2)
        rope_avx2(x, rows, stride, offset, heads, head_dim, positions, inv_freq, table);
    else
#endif
        rope_scalar(x, rows, stride, offset, heads, head_dim, positions, inv_freq, table);
    return CK_OK;
}

void ck_sincos_f32(const float *angles, float *sin_out, float *cos_out, size_t n) {
    CK_DISPATCH(sincos, angles, sin_out, cos_out, n);
}

void ck_exp_f32(const float *x, float *out, size_t n) { CK_DISPATCH(exp, x, out, n); }

void ck_erf_f32(const float *x, float *out, size_t n) { CK_DISPATCH(erf, x, out, n); }

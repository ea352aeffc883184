// Machine probes for `cogjobs bench`: read bandwidth and bf16 dot-product peak.
#include "ck_internal.h"

static double read_scalar(const float *p, size_t n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= n; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    return (s0 + s1) + (s2 + s3);
}

#if CK_X86
CK_TARGET_AVX2 static double read_avx2(const float *p, size_t n) {
    __m256 s[8];
    for (int j = 0; j < 8; j++) s[j] = _mm256_setzero_ps();
    for (size_t i = 0; i + 64 <= n; i += 64)
        for (int j = 0; j < 8; j++) s[j] = _mm256_add_ps(s[j], _mm256_loadu_ps(p + i + 8 * j));
    for (int j = 1; j < 8; j++) s[0] = _mm256_add_ps(s[0], s[j]);
    float out[8];
    _mm256_storeu_ps(out, s[0]);
    double t = 0;
    for (int j = 0; j < 8; j++) t += out[j];
    return t;
}

/// Streams the buffer as READ_STREAMS interleaved sequential streams (one per quarter/eighth of
/// the range) with software prefetch READ_AHEAD bytes ahead — the access pattern of the decode
/// kernels (several weight rows in flight, prefetched ahead). A single stream with hardware
/// prefetch alone measured ≈ 25 % below what the GEMV kernels reach, which made "fraction of
/// read bandwidth" read above 100 %.
#define READ_STREAMS 8
#define READ_AHEAD 1024
CK_TARGET_AVX512 static double read_avx512(const float *p, size_t n) {
    __m512 s[READ_STREAMS];
    for (int j = 0; j < READ_STREAMS; j++) s[j] = _mm512_setzero_ps();
    const size_t per = n / READ_STREAMS / 16 * 16;  // floats per stream, whole cache lines
    const size_t ahead = READ_AHEAD / sizeof(float);
    for (size_t i = 0; i < per; i += 16)
        for (int j = 0; j < READ_STREAMS; j++) {
            const float *q = p + (size_t)j * per + i;
            if (i + ahead < per) _mm_prefetch((const char *)(q + ahead), _MM_HINT_T0);
            s[j] = _mm512_add_ps(s[j], _mm512_loadu_ps(q));
        }
    for (size_t i = per * READ_STREAMS; i + 16 <= n; i += 16) s[0] = _mm512_add_ps(s[0], _mm512_loadu_ps(p + i));
    for (int j = 1; j < READ_STREAMS; j++) s[0] = _mm512_add_ps(s[0], s[j]);
    return _mm512_reduce_add_ps(s[0]);
}

/// 12 independent accumulators hide the instruction latency; the asm barrier keeps each
/// instruction from being folded or hoisted.
CK_TARGET_AVX512BF16 static double dot_peak_bf16(uint64_t iterations) {
    __m512 acc[12];
    for (int j = 0; j < 12; j++) acc[j] = _mm512_setzero_ps();
    const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3f80), b = (__m512bh)_mm512_set1_epi16(0x3c00);
    for (uint64_t i = 0; i < iterations; i++)
        for (int j = 0; j < 12; j++) {
            acc[j] = _mm512_dpbf16_ps(acc[j], a, b);
            __asm__ volatile("" : "+v"(acc[j]));
        }
    volatile float sink = _mm512_reduce_add_ps(acc[0]);
    (void)sink;
    return (double)iterations * 12.0 * 64.0;  // 16 lanes x 2 products x (mul + add)
}

CK_TARGET_AVX512BF16 static double dot_peak_int8(uint64_t iterations) {
    __m512i acc[12];
    for (int j = 0; j < 12; j++) acc[j] = _mm512_setzero_si512();
    const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
    for (uint64_t i = 0; i < iterations; i++)
        for (int j = 0; j < 12; j++) {
            acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
            __asm__ volatile("" : "+v"(acc[j]));
        }
    volatile int sink = _mm512_reduce_add_epi32(acc[0]);
    (void)sink;
    return (double)iterations * 12.0 * 128.0;  // 16 lanes x 4 products x (mul + add)
}

CK_TARGET_AVX512 static double dot_peak_fma512(uint64_t iterations) {
    __m512 acc[12];
    for (int j = 0; j < 12; j++) acc[j] = _mm512_setzero_ps();
    const __m512 a = _mm512_set1_ps(1.0f), b = _mm512_set1_ps(0.0078125f);
    for (uint64_t i = 0; i < iterations; i++)
        for (int j = 0; j < 12; j++) {
            acc[j] = _mm512_fmadd_ps(a, b, acc[j]);
            __asm__ volatile("" : "+v"(acc[j]));
        }
    volatile float sink = _mm512_reduce_add_ps(acc[0]);
    (void)sink;
    return (double)iterations * 12.0 * 32.0;
}

CK_TARGET_AVX2 static double dot_peak_fma256(uint64_t iterations) {
    __m256 acc[12];
    for (int j = 0; j < 12; j++) acc[j] = _mm256_setzero_ps();
    const __m256 a = _mm256_set1_ps(1.0f), b = _mm256_set1_ps(0.0078125f);
    for (uint64_t i = 0; i < iterations; i++)
        for (int j = 0; j < 12; j++) {
            acc[j] = _mm256_fmadd_ps(a, b, acc[j]);
            __asm__ volatile("" : "+x"(acc[j]));
        }
    float out[8];
    _mm256_storeu_ps(out, acc[0]);
    volatile float sink = out[0];
    (void)sink;
    return (double)iterations * 12.0 * 16.0;
}

typedef struct __attribute__((aligned(64))) {
    uint8_t palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} probe_tilecfg;

CK_TARGET_AMX static double amx_peak(uint64_t iterations) {
    probe_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);
    uint16_t ones[16 * 32] __attribute__((aligned(64)));
    for (int i = 0; i < 16 * 32; i++) ones[i] = 0x3c00;  // bf16 0.0078125
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, ones, 64);
    _tile_loadd(5, ones, 64);
    _tile_loadd(6, ones, 64);
    _tile_loadd(7, ones, 64);
    for (uint64_t i = 0; i < iterations; i++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    float out[16 * 16] __attribute__((aligned(64)));
    _tile_stored(0, out, 64);
    volatile float sink = out[0];
    (void)sink;
    _tile_release();
    return (double)iterations * 4.0 * 16 * 16 * 32 * 2;
}
#endif

double ck_read_bandwidth(const void *buffer, size_t bytes) {
    const float *p = buffer;
    const size_t n = (bytes / 64) * 16;
#if CK_X86
    ck_isa isa = ck_isa_now();
    if (isa >= CK_ISA_AVX512) return read_avx512(p, n);
    if (isa >= CK_ISA_AVX2) return read_avx2(p, n);
#endif
    return read_scalar(p, n);
}

double ck_bf16_dot_peak(uint64_t iterations) {
#if CK_X86
    ck_isa isa = ck_isa_now();
    if (isa >= CK_ISA_AVX512_BF16) return dot_peak_bf16(iterations);
    if (isa >= CK_ISA_AVX512) return dot_peak_fma512(iterations);
    if (isa >= CK_ISA_AVX2) return dot_peak_fma256(iterations);
#endif
    volatile float acc = 0;
    for (uint64_t i = 0; i < iterations; i++) acc = acc + 1.0f * 0.5f;
    return (double)iterations * 2.0;
}

double ck_int8_dot_peak(uint64_t iterations) {
#if CK_X86
    if (ck_isa_now() >= CK_ISA_AVX512_BF16) return dot_peak_int8(iterations);
#endif
    (void)iterations;
    return 0;
}

double ck_amx_bf16_peak(uint64_t iterations) {
#if CK_X86
    if (ck_isa_now() >= CK_ISA_AMX) return amx_peak(iterations);
#endif
    (void)iterations;
    return 0;
}

// SIMD "template" prologue: defines one ISA's vector vocabulary so that the algorithm headers
// (ck_vmath.h, ck_elementwise_body.h, ck_attention_body.h) can be written once and compiled for
// AVX2 and for AVX-512. Include it with exactly one of CK_SIMD_AVX2 / CK_SIMD_AVX512 defined, then
// the algorithm headers, then ck_simd_end.h (which undefines everything again). No include guard
// on purpose: a translation unit includes it once per ISA.
//
// Vocabulary (VF = float vector of VW lanes, VI = int32 vector, VM = lane mask, VD = double vector
// of VW/2 lanes; every function defined between begin/end must be marked VT and named VN(x)):
//   V_SET1 V_ZERO V_LOAD V_STORE V_LOADN/V_STOREN (first n lanes, others read as 0) V_TAILMASK(n)
//   V_ADD V_SUB V_MUL V_DIV V_FMA(a,b,c)=a*b+c V_FNMA(a,b,c)=c-a*b V_MIN V_MAX V_ABS V_ROUND (RNE)
//   V_LT V_LE V_GT V_GE (-> VM) V_SEL(m,a,b) = m ? a : b, V_MAND(m1,m2)
//   V_ROUND_I (float holding an integer -> VI) V_I_SET1 V_I_ADD V_I_SUB V_I_AND V_I_XOR V_I_SLL V_I_SRL,
//   V_I_ODD(a) (-> VM, lanes where a is odd)
//   V_BITS_F (VI bits -> VF) V_BITS_I (VF bits -> VI)
//   V_TABLE8(idx, table) = table[idx] per lane for an 8-entry float table (idx in 0..7)
//   V_HSUM V_HMAX (horizontal, -> float)
//   V_LOAD_F16(p) (VW fp16 -> VF), V_LOADN_F16(p, n)
//   VD: VD_ZERO VD_FMA VD_ADD VD_SUB VD_MUL VD_LO/VD_HI (VF lanes -> VD) VD_HSUM
//   VN(ck_v_sum_transpose)(VF v[VW]) -> VF whose lane i is the sum of the lanes of v[i].
// ref: Intel Intrinsics Guide (AVX2, F16C, AVX-512 F/BW/DQ/VL).

#if defined(CK_SIMD_AVX512)

#define VW 16
#define VF __m512
#define VI __m512i
#define VM __mmask16
#define VD __m512d
#define VT CK_TARGET_AVX512
#define VN(name) name##_avx512

#define V_SET1(a) _mm512_set1_ps(a)
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_TAILMASK(n) ((__mmask16)((1u << (n)) - 1u))
#define V_LOADN(p, m) _mm512_maskz_loadu_ps((m), (p))
#define V_STOREN(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_DIV _mm512_div_ps
#define V_FMA _mm512_fmadd_ps
#define V_FNMA _mm512_fnmadd_ps
#define V_MIN _mm512_min_ps
#define V_MAX _mm512_max_ps
#define V_ABS(a) _mm512_abs_ps(a)
#define V_ROUND(a) _mm512_roundscale_ps((a), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_LT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ)
#define V_LE(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_LE_OQ)
#define V_GT(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GT_OQ)
#define V_GE(a, b) _mm512_cmp_ps_mask((a), (b), _CMP_GE_OQ)
#define V_SEL(m, a, b) _mm512_mask_blend_ps((m), (b), (a))
#define V_MAND(m1, m2) ((__mmask16)((m1) & (m2)))
#define V_ROUND_I(a) _mm512_cvtps_epi32(a)
#define V_I_SET1(a) _mm512_set1_epi32(a)
#define V_I_ADD _mm512_add_epi32
#define V_I_SUB _mm512_sub_epi32
#define V_I_AND _mm512_and_si512
#define V_I_XOR _mm512_xor_si512
#define V_I_ODD(a) _mm512_test_epi32_mask((a), _mm512_set1_epi32(1))
#define V_I_SLL(a, n) _mm512_slli_epi32((a), (n))
#define V_I_SRL(a, n) _mm512_srli_epi32((a), (n))
#define V_BITS_F(a) _mm512_castsi512_ps(a)
#define V_BITS_I(a) _mm512_castps_si512(a)
#define V_TABLE8(idx, table) _mm512_permutexvar_ps((idx), _mm512_castps256_ps512(_mm256_loadu_ps(table)))
#define V_HSUM(a) _mm512_reduce_add_ps(a)
#define V_HMAX(a) _mm512_reduce_max_ps(a)
#define V_LOAD_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define V_LOADN_F16(p, n) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)((1u << (n)) - 1u), (p)))
#define VD_ZERO() _mm512_setzero_pd()
#define VD_FMA _mm512_fmadd_pd
#define VD_ADD _mm512_add_pd
#define VD_SUB _mm512_sub_pd
#define VD_MUL _mm512_mul_pd
#define VD_SET1(a) _mm512_set1_pd(a)
#define VD_LO(a) _mm512_cvtps_pd(_mm512_castps512_ps256(a))
#define VD_HI(a) _mm512_cvtps_pd(_mm512_extractf32x8_ps((a), 1))
#define VD_HSUM(a) _mm512_reduce_add_pd(a)

/// Lane i of the result = sum of the 16 lanes of v[i] (45 shuffles/adds instead of 16 reductions).
CK_INLINE VT VF VN(ck_v_sum_transpose)(const VF *v) {
    __m512 s1[8], s2[4];
    for (int i = 0; i < 8; i++) {  // per 128-bit lane: [v2i(a), v2i+1(a), v2i(b), v2i+1(b)] partial sums
        s1[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    }
    for (int i = 0; i < 4; i++) {  // per 128-bit lane L: [v4i, v4i+1, v4i+2, v4i+3] summed over lane L
        __m512d a = _mm512_castps_pd(s1[2 * i]), b = _mm512_castps_pd(s1[2 * i + 1]);
        s2[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    // [A0+A1, A2+A3, B0+B1, B2+B3] for (A, B) = (s2[0], s2[1]) and (s2[2], s2[3]), then once more.
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(s2[0], s2[1], 0x88), _mm512_shuffle_f32x4(s2[0], s2[1], 0xdd));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(s2[2], s2[3], 0x88), _mm512_shuffle_f32x4(s2[2], s2[3], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xdd));
}

#elif defined(CK_SIMD_AVX2)

#define VW 8
#define VF __m256
#define VI __m256i
#define VM __m256
#define VD __m256d
#define VT CK_TARGET_AVX2
#define VN(name) name##_avx2

#define V_SET1(a) _mm256_set1_ps(a)
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_TAILMASK(n) \
    _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))
#define V_LOADN(p, m) _mm256_maskload_ps((p), _mm256_castps_si256(m))
#define V_STOREN(p, m, v) _mm256_maskstore_ps((p), _mm256_castps_si256(m), (v))
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_DIV _mm256_div_ps
#define V_FMA _mm256_fmadd_ps
#define V_FNMA _mm256_fnmadd_ps
#define V_MIN _mm256_min_ps
#define V_MAX _mm256_max_ps
#define V_ABS(a) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (a))
#define V_ROUND(a) _mm256_round_ps((a), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_LT(a, b) _mm256_cmp_ps((a), (b), _CMP_LT_OQ)
#define V_LE(a, b) _mm256_cmp_ps((a), (b), _CMP_LE_OQ)
#define V_GT(a, b) _mm256_cmp_ps((a), (b), _CMP_GT_OQ)
#define V_GE(a, b) _mm256_cmp_ps((a), (b), _CMP_GE_OQ)
#define V_SEL(m, a, b) _mm256_blendv_ps((b), (a), (m))
#define V_MAND(m1, m2) _mm256_and_ps((m1), (m2))
#define V_ROUND_I(a) _mm256_cvtps_epi32(a)
#define V_I_SET1(a) _mm256_set1_epi32(a)
#define V_I_ADD _mm256_add_epi32
#define V_I_SUB _mm256_sub_epi32
#define V_I_AND _mm256_and_si256
#define V_I_XOR _mm256_xor_si256
#define V_I_ODD(a) \
    _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_and_si256((a), _mm256_set1_epi32(1)), _mm256_set1_epi32(1)))
#define V_I_SLL(a, n) _mm256_slli_epi32((a), (n))
#define V_I_SRL(a, n) _mm256_srli_epi32((a), (n))
#define V_BITS_F(a) _mm256_castsi256_ps(a)
#define V_BITS_I(a) _mm256_castps_si256(a)
#define V_TABLE8(idx, table) _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), (idx))
#define VD_ZERO() _mm256_setzero_pd()
#define VD_FMA _mm256_fmadd_pd
#define VD_ADD _mm256_add_pd
#define VD_SUB _mm256_sub_pd
#define VD_MUL _mm256_mul_pd
#define VD_SET1(a) _mm256_set1_pd(a)
#define VD_LO(a) _mm256_cvtps_pd(_mm256_castps256_ps128(a))
#define VD_HI(a) _mm256_cvtps_pd(_mm256_extractf128_ps((a), 1))
#define V_LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define V_HSUM(a) VN(ck_v_hsum)(a)
#define V_HMAX(a) VN(ck_v_hmax)(a)
#define VD_HSUM(a) VN(ck_vd_hsum)(a)
#define V_LOADN_F16(p, n) VN(ck_v_loadn_f16)((p), (n))

CK_INLINE VT float VN(ck_v_hsum)(__m256 a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
CK_INLINE VT float VN(ck_v_hmax)(__m256 a) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
CK_INLINE VT double VN(ck_vd_hsum)(__m256d a) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
/// First n (< 8) fp16 values, the rest 0 (no 16-bit masked load on AVX2: go through a buffer).
CK_INLINE VT __m256 VN(ck_v_loadn_f16)(const uint16_t *p, size_t n) {
    uint16_t tmp[8] = {0};
    memcpy(tmp, p, n * sizeof *p);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)tmp));
}

/// Lane i of the result = sum of the 8 lanes of v[i].
CK_INLINE VT VF VN(ck_v_sum_transpose)(const VF *v) {
    __m256 s1[4], s2[2];
    for (int i = 0; i < 4; i++)
        s1[i] = _mm256_add_ps(_mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 2; i++) {  // per 128-bit lane L: [v4i, v4i+1, v4i+2, v4i+3] summed over lane L
        __m256d a = _mm256_castps_pd(s1[2 * i]), b = _mm256_castps_pd(s1[2 * i + 1]);
        s2[i] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(a, b)), _mm256_castpd_ps(_mm256_unpackhi_pd(a, b)));
    }
    return _mm256_add_ps(_mm256_permute2f128_ps(s2[0], s2[1], 0x20), _mm256_permute2f128_ps(s2[0], s2[1], 0x31));
}

#else
#error "define CK_SIMD_AVX2 or CK_SIMD_AVX512 before including ck_simd_begin.h"
#endif

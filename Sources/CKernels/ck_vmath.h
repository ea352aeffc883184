// Vector math for the elementwise and attention kernels: exp, erf (for the exact GELU), sin/cos and
// a row softmax. A "template": include between ck_simd_begin.h and ck_simd_end.h (see there); the
// coefficient tables below are shared by all instantiations.
//
// All coefficients were fitted for this file (minimax in relative error by Lawson's iteratively
// reweighted least squares in float64 on 4000 Chebyshev points, then rounded to f32); the fit
// errors quoted are before the f32 rounding. Measured errors of the complete functions are in
// ckernels.h (they come from the CogTensorTests sweeps).
// ref: W. J. Cody & W. Waite, "Software Manual for the Elementary Functions" (1980) — additive
//      range reduction with a split constant; C. L. Lawson (1961) for the minimax fits;
//      Abramowitz & Stegun 7.1 (erf, erfc); aten/src/ATen/native/cpu/Activation.cpp (GELU formula).

#ifndef CK_VMATH_TABLES
#define CK_VMATH_TABLES

// exp(r) = 1 + r + r²·P(r) on |r| ≤ ln2/2; fit error 3.1e-9.
static const float ck_exp_p[5] = {4.999999404e-01f, 1.666652113e-01f, 4.166838899e-02f, 8.368710056e-03f,
                                  1.381461276e-03f};
#define CK_LOG2E 1.442695041e+00f
#define CK_LN2_HI 6.93145751953125e-01f  // 12 trailing zero bits: n·CK_LN2_HI is exact for |n| < 2^12
#define CK_LN2_LO 1.428606765330187e-06f

// erf(y), used by GELU exactly as the reference formula ½·x·(1 + erf(x/√2)) (f32 steps, like
// PyTorch's CPU kernel and glibc's erff; keeping its roundings keeps GELU within ~1 ulp of it).
// |y| < 0.5: erf(y) = y·c0 + y·(c0lo + u·Q(u)), u = y², c0 = 2/√π split in two floats, Q of degree 3
//            (fit error 1.5e-9 relative).
static const float ck_erf_c0[2] = {1.128379226e+00f, -5.863538277e-08f};
static const float ck_erf_q[4] = {-3.761261702e-01f, 1.128294989e-01f, -2.676402777e-02f, 4.730234388e-03f};
// 0.5 ≤ |y| < 4: erf(y) = 1 − T(|y|), T ≈ erfc a degree-7 polynomial in (|y| − mid) on 6 intervals
// [0.5,0.75) [0.75,1) [1,1.5) [1.5,2) [2,3) [3,4), picked per lane from the float's exponent and top
// mantissa bit (fit error 9.7e-9 absolute; 1 − T then rounds once). |y| ≥ 4: erf = ±1 (erfc(3.92)
// is already below half an ulp of 1). Tables have 8 entries for the permute; the last 2 are unused.
static const float ck_erf_mid[8] = {0.625f, 0.875f, 1.25f, 1.75f, 2.5f, 3.5f, 0, 0};
static const float ck_erfc_t[8][8] = {
    {3.767591119e-01f, 2.159249336e-01f, 7.709987462e-02f, 1.332832873e-02f, 4.069609859e-04f, 7.419806138e-07f, 0, 0},
    {-7.634995580e-01f, -5.247450471e-01f, -2.365211248e-01f, -5.277499557e-02f, -2.178343711e-03f,
     -5.395625521e-06f, 0, 0},
    {4.771872163e-01f, 4.591519237e-01f, 2.956517339e-01f, 9.235620499e-02f, 5.444557872e-03f, 1.904071178e-05f, 0, 0},
    {5.567185208e-02f, -9.292359650e-02f, -1.675359309e-01f, -9.015743434e-02f, -8.347459137e-03f,
     -4.246252502e-05f, 0, 0},
    {-1.764578223e-01f, -1.123971120e-01f, 6.132055540e-03f, 4.810548946e-02f, 8.645267226e-03f, 6.488060171e-05f,
     0, 0},
    {2.741153911e-02f, 6.721419841e-02f, 4.718795419e-02f, -6.617027335e-03f, -6.150005851e-03f, -8.005480049e-05f,
     0, 0},
    {4.113643616e-02f, 1.042476483e-02f, -2.059795521e-02f, -9.049122222e-03f, 2.655542223e-03f, 9.565559594e-05f,
     0, 0},
    {-1.376879495e-02f, -1.846909896e-02f, -3.757909639e-03f, 5.919791292e-03f, -3.878809803e-04f,
     -6.786548329e-05f, 0, 0},
};
#define CK_INV_SQRT2 0.70710678118654752440f

// sin(r) = r + r³·Ps(r²), cos(r) = 1 − r²/2 + r⁴·Pc(r²) on |r| ≤ π/4; fit errors 3.8e-9 and 1.2e-10.
static const float ck_sin_p[3] = {-1.666665524e-01f, 8.332160302e-03f, -1.951528247e-04f};
static const float ck_cos_p[3] = {4.166664556e-02f, -1.388731645e-03f, 2.443315680e-05f};
#define CK_2_OVER_PI 6.366197467e-01f
// π/2 = P1 + P2 + P3 (+ 1e-23). With FMA, a − n·P1 is exact for |a| < 2^22 (n·P1 and a are both
// multiples of 2^-23 and the difference is below 1), so the reduced argument is within ~1 ulp.
#define CK_PIO2_1 1.570796371e+00f
#define CK_PIO2_2 -4.371138829e-08f
#define CK_PIO2_3 -1.715124510e-15f

#endif  // CK_VMATH_TABLES

/// e^x for every lane, ≤ 1 ulp in the normal range (measured: see ckernels.h). x > 88.72 gives
/// +inf, x < −103.97 gives 0, results in the subnormal range are rounded twice; NaN stays NaN.
CK_INLINE VT VF VN(ck_v_exp)(VF x) {
    // min/max return their second operand when either is NaN: keep x second so NaN survives.
    x = V_MAX(V_SET1(-104.0f), V_MIN(V_SET1(88.8f), x));
    const VF n = V_ROUND(V_MUL(x, V_SET1(CK_LOG2E)));
    VF r = V_FNMA(n, V_SET1(CK_LN2_HI), x);
    r = V_FNMA(n, V_SET1(CK_LN2_LO), r);
    VF p = V_SET1(ck_exp_p[4]);
    p = V_FMA(p, r, V_SET1(ck_exp_p[3]));
    p = V_FMA(p, r, V_SET1(ck_exp_p[2]));
    p = V_FMA(p, r, V_SET1(ck_exp_p[1]));
    p = V_FMA(p, r, V_SET1(ck_exp_p[0]));
    const VF e = V_ADD(V_FMA(p, V_MUL(r, r), r), V_SET1(1.0f));
    // 2^n as 2^n1 · 2^n2 so that n in [-150, 128] never leaves the normal exponent range.
    const VF n1 = V_ROUND(V_MUL(n, V_SET1(0.5f)));
    const VF n2 = V_SUB(n, n1);
    const VF s1 = V_BITS_F(V_I_SLL(V_I_ADD(V_ROUND_I(n1), V_I_SET1(127)), 23));
    const VF s2 = V_BITS_F(V_I_SLL(V_I_ADD(V_ROUND_I(n2), V_I_SET1(127)), 23));
    return V_MUL(V_MUL(e, s1), s2);
}

/// erf for every lane, < 1 ulp (measured: see ckernels.h). erf(±inf) = ±1; NaN stays NaN.
CK_INLINE VT VF VN(ck_v_erf)(VF y) {
    const VF ay = V_ABS(y);
    // |y| < 0.5
    const VF u = V_MUL(y, y);
    VF q = V_SET1(ck_erf_q[3]);
    for (int j = 2; j >= 0; j--) q = V_FMA(q, u, V_SET1(ck_erf_q[j]));
    const VF t = V_FMA(u, q, V_SET1(ck_erf_c0[1]));
    const VF small = V_FMA(y, V_SET1(ck_erf_c0[0]), V_MUL(y, t));
    // 0.5 ≤ |y| < 4 (the min/max order lets NaN through to the result)
    const VF z = V_MAX(V_SET1(0.5f), V_MIN(V_SET1(3.9999998f), ay));
    const VI idx = V_I_SUB(V_I_SRL(V_BITS_I(z), 22), V_I_SET1(252));
    const VF d = V_SUB(z, V_TABLE8(idx, ck_erf_mid));  // exact (Sterbenz)
    VF c = V_TABLE8(idx, ck_erfc_t[7]);
    for (int j = 6; j >= 0; j--) c = V_FMA(c, d, V_TABLE8(idx, ck_erfc_t[j]));
    VF large = V_SEL(V_GE(ay, V_SET1(4.0f)), V_SET1(1.0f), V_SUB(V_SET1(1.0f), c));
    large = V_BITS_F(V_I_XOR(V_BITS_I(large), V_I_AND(V_BITS_I(y), V_I_SET1((int)0x80000000u))));  // sign of y
    return V_SEL(V_LT(ay, V_SET1(0.5f)), small, large);
}

/// Exact-erf GELU, (½·x)·(1 + erf(x·(1/√2))), every step rounded to f32 as in the reference
/// formula. GELU(+inf) = +inf, GELU(−inf) = NaN (−inf·0), like the reference.
CK_INLINE VT VF VN(ck_v_gelu)(VF x) {
    const VF e = VN(ck_v_erf)(V_MUL(x, V_SET1(CK_INV_SQRT2)));
    return V_MUL(V_MUL(V_SET1(0.5f), x), V_ADD(V_SET1(1.0f), e));
}

/// sin and cos of every lane; absolute error ≈ 1e-7 for |a| ≤ 2^20 (Cody-Waite reduction by π/2
/// with a three-part constant, then minimax polynomials on [−π/4, π/4]).
CK_INLINE VT void VN(ck_v_sincos)(VF a, VF *sin_out, VF *cos_out) {
    const VF n = V_ROUND(V_MUL(a, V_SET1(CK_2_OVER_PI)));
    VF r = V_FNMA(n, V_SET1(CK_PIO2_1), a);
    r = V_FNMA(n, V_SET1(CK_PIO2_2), r);
    r = V_FNMA(n, V_SET1(CK_PIO2_3), r);
    const VF r2 = V_MUL(r, r);
    VF ps = V_FMA(V_FMA(V_SET1(ck_sin_p[2]), r2, V_SET1(ck_sin_p[1])), r2, V_SET1(ck_sin_p[0]));
    VF pc = V_FMA(V_FMA(V_SET1(ck_cos_p[2]), r2, V_SET1(ck_cos_p[1])), r2, V_SET1(ck_cos_p[0]));
    const VF sr = V_FMA(ps, V_MUL(r, r2), r);
    const VF cr = V_FMA(r2, V_FMA(r2, pc, V_SET1(-0.5f)), V_SET1(1.0f));
    // Quadrant q = n mod 4: sin(a) = (s, c, −s, −c)[q], cos(a) = (c, −s, −c, s)[q].
    const VI q = V_ROUND_I(n);
    const VM swap = V_I_ODD(q);
    const VI sin_sign = V_I_SLL(V_I_AND(q, V_I_SET1(2)), 30);
    const VI cos_sign = V_I_SLL(V_I_AND(V_I_ADD(q, V_I_SET1(1)), V_I_SET1(2)), 30);
    *sin_out = V_BITS_F(V_I_XOR(V_BITS_I(V_SEL(swap, cr, sr)), sin_sign));
    *cos_out = V_BITS_F(V_I_XOR(V_BITS_I(V_SEL(swap, sr, cr)), cos_sign));
}

/// Softmax of one row in place: max, e^(x − max) (f32, vector exp), the sum accumulated in double
/// lanes (exact enough that the result error is the exp's plus two roundings), times 1/sum.
/// max_out / sum_out (may be NULL) receive the row's max and Σ e^(x − max) (for merging partial
/// softmaxes over key segments).
/// flush: exponentials of x − max below −CK_SOFTMAX_FLUSH are set to 0 instead of being computed
/// (their probabilities, < e^−70 of the largest, are far below f32 resolution of any sum or weighted
/// sum they enter): with it no exponential or probability is subnormal, which keeps wide score
/// ranges off the CPU's slow microcode path for subnormal results (measured: 0.9 → 8 ns per
/// element when a sixth of a 9217-key row underflowed).
CK_INLINE VT void VN(ck_v_softmax_row_flush)(float *x, size_t n, float *max_out, double *sum_out, const bool flush) {
    if (n == 0) return;
    VF mx = V_SET1(-INFINITY);
    size_t i = 0;
    for (; i + VW <= n; i += VW) mx = V_MAX(mx, V_LOAD(x + i));
    if (i < n) {
        const VM m = V_TAILMASK(n - i);
        mx = V_MAX(mx, V_SEL(m, V_LOADN(x + i, m), V_SET1(-INFINITY)));
    }
    const VF vmax = V_SET1(V_HMAX(mx));
    VD s0 = VD_ZERO(), s1 = VD_ZERO(), s2 = VD_ZERO(), s3 = VD_ZERO();
    i = 0;
    const VF floor_ = V_SET1(-CK_SOFTMAX_FLUSH);
    for (; i + 2 * VW <= n; i += 2 * VW) {
        const VF d0 = V_SUB(V_LOAD(x + i), vmax), d1 = V_SUB(V_LOAD(x + i + VW), vmax);
        VF e0 = VN(ck_v_exp)(d0), e1 = VN(ck_v_exp)(d1);
        if (flush) {
            e0 = V_SEL(V_LT(d0, floor_), V_ZERO(), e0);
            e1 = V_SEL(V_LT(d1, floor_), V_ZERO(), e1);
        }
        V_STORE(x + i, e0);
        V_STORE(x + i + VW, e1);
        s0 = VD_ADD(s0, VD_LO(e0));
        s1 = VD_ADD(s1, VD_HI(e0));
        s2 = VD_ADD(s2, VD_LO(e1));
        s3 = VD_ADD(s3, VD_HI(e1));
    }
    for (; i < n; i += VW) {
        const VM m = V_TAILMASK(n - i < VW ? n - i : VW);
        const VF d = V_SUB(V_LOADN(x + i, m), vmax);
        VF e = V_SEL(m, VN(ck_v_exp)(d), V_ZERO());
        if (flush) e = V_SEL(V_LT(d, floor_), V_ZERO(), e);
        V_STOREN(x + i, m, e);
        s0 = VD_ADD(s0, VD_LO(e));
        s1 = VD_ADD(s1, VD_HI(e));
    }
    const double total = VD_HSUM(VD_ADD(VD_ADD(s0, s1), VD_ADD(s2, s3)));
    if (max_out != NULL) *max_out = V_HMAX(mx);
    if (sum_out != NULL) *sum_out = total;
    const VF inv = V_SET1((float)(1.0 / total));
    i = 0;
    for (; i + VW <= n; i += VW) V_STORE(x + i, V_MUL(V_LOAD(x + i), inv));
    if (i < n) {
        const VM m = V_TAILMASK(n - i);
        V_STOREN(x + i, m, V_MUL(V_LOADN(x + i, m), inv));
    }
}

/// Softmax with statistics, exact (no flush).
CK_INLINE VT void VN(ck_v_softmax_row_stats)(float *x, size_t n, float *max_out, double *sum_out) {
    VN(ck_v_softmax_row_flush)(x, n, max_out, sum_out, false);
}

/// ck_v_softmax_row_stats without the statistics.
CK_INLINE VT void VN(ck_v_softmax_row)(float *x, size_t n) { VN(ck_v_softmax_row_stats)(x, n, NULL, NULL); }

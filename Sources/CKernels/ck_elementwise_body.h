// Elementwise and row kernels for one ISA. A "template": included by ck_elementwise.c between
// ck_simd_begin.h and ck_simd_end.h, after ck_vmath.h. The scalar versions in ck_elementwise.c
// are the reference semantics; these keep the same operation order wherever the result is a
// plain product or sum (norm outputs, rotary), so they differ from it only through the vector
// exp / erf / sin / cos and the summation order.

/// x[i] = GELU(x[i]), i < n.
static VT void VN(gelu)(float *x, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) V_STORE(x + i, VN(ck_v_gelu)(V_LOAD(x + i)));
    if (i < n) {
        const VM m = V_TAILMASK(n - i);
        V_STOREN(x + i, m, VN(ck_v_gelu)(V_LOADN(x + i, m)));
    }
}

/// out = g / (1 + e^(−g)) · u, the reference's operation order.
CK_INLINE VT VF VN(silu_mul_v)(VF g, VF u) {
    const VF e = VN(ck_v_exp)(V_SUB(V_ZERO(), g));
    return V_MUL(V_DIV(g, V_ADD(V_SET1(1.0f), e)), u);
}

static VT void VN(silu_mul)(const float *gate, const float *up, float *out, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) V_STORE(out + i, VN(silu_mul_v)(V_LOAD(gate + i), V_LOAD(up + i)));
    if (i < n) {
        const VM m = V_TAILMASK(n - i);
        V_STOREN(out + i, m, VN(silu_mul_v)(V_LOADN(gate + i, m), V_LOADN(up + i, m)));
    }
}

static VT void VN(softmax)(float *x, size_t n) { VN(ck_v_softmax_row)(x, n); }
static VT void VN(softmax_flush)(float *x, size_t n) { VN(ck_v_softmax_row_flush)(x, n, NULL, NULL, true); }

/// Σ x[i]² of one row in double lanes (each product exact, sums rounded in double).
CK_INLINE VT double VN(sum_squares_f64)(const float *x, size_t n) {
    VD a0 = VD_ZERO(), a1 = VD_ZERO();
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        const VF v = V_LOAD(x + i);
        const VD lo = VD_LO(v), hi = VD_HI(v);
        a0 = VD_FMA(lo, lo, a0);
        a1 = VD_FMA(hi, hi, a1);
    }
    if (i < n) {
        const VF v = V_LOADN(x + i, V_TAILMASK(n - i));  // missing lanes read as 0
        const VD lo = VD_LO(v), hi = VD_HI(v);
        a0 = VD_FMA(lo, lo, a0);
        a1 = VD_FMA(hi, hi, a1);
    }
    return VD_HSUM(VD_ADD(a0, a1));
}

static VT void VN(rmsnorm)(const float *x, const float *w, float eps, size_t rows, size_t dim, float *out) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * dim;
        float *yr = out + r * dim;
        const float variance = (float)(VN(sum_squares_f64)(xr, dim) / (double)dim);
        const VF inv = V_SET1(1.0f / sqrtf(variance + eps));
        size_t i = 0;
        for (; i + VW <= dim; i += VW) V_STORE(yr + i, V_MUL(V_LOAD(w + i), V_MUL(V_LOAD(xr + i), inv)));
        if (i < dim) {
            const VM m = V_TAILMASK(dim - i);
            V_STOREN(yr + i, m, V_MUL(V_LOADN(w + i, m), V_MUL(V_LOADN(xr + i, m), inv)));
        }
    }
}

static VT void VN(layernorm)(const float *x, const float *w, const float *b, float eps, size_t rows, size_t dim,
                             float *out) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * dim;
        float *yr = out + r * dim;
        // Pass 1: mean in double.
        VD a0 = VD_ZERO(), a1 = VD_ZERO();
        size_t i = 0;
        for (; i + VW <= dim; i += VW) {
            const VF v = V_LOAD(xr + i);
            a0 = VD_ADD(a0, VD_LO(v));
            a1 = VD_ADD(a1, VD_HI(v));
        }
        if (i < dim) {
            const VF v = V_LOADN(xr + i, V_TAILMASK(dim - i));
            a0 = VD_ADD(a0, VD_LO(v));
            a1 = VD_ADD(a1, VD_HI(v));
        }
        const double mean = VD_HSUM(VD_ADD(a0, a1)) / (double)dim;
        // Pass 2: biased variance Σ(x − mean)² / dim in double (two-pass, like the reference).
        const VD vmean = VD_SET1(mean);
        a0 = VD_ZERO();
        a1 = VD_ZERO();
        for (i = 0; i + VW <= dim; i += VW) {
            const VF v = V_LOAD(xr + i);
            const VD d0 = VD_SUB(VD_LO(v), vmean), d1 = VD_SUB(VD_HI(v), vmean);
            a0 = VD_FMA(d0, d0, a0);
            a1 = VD_FMA(d1, d1, a1);
        }
        double sq = VD_HSUM(VD_ADD(a0, a1));
        for (; i < dim; i++) {
            const double d = (double)xr[i] - mean;
            sq += d * d;
        }
        const VF inv = V_SET1((float)(1.0 / sqrt(sq / (double)dim + (double)eps)));
        const VF vm = V_SET1((float)mean);
        for (i = 0; i + VW <= dim; i += VW) {
            const VF y = V_MUL(V_MUL(V_SUB(V_LOAD(xr + i), vm), inv), V_LOAD(w + i));
            V_STORE(yr + i, V_ADD(y, V_LOAD(b + i)));
        }
        if (i < dim) {
            const VM m = V_TAILMASK(dim - i);
            const VF y = V_MUL(V_MUL(V_SUB(V_LOADN(xr + i, m), vm), inv), V_LOADN(w + i, m));
            V_STOREN(yr + i, m, V_ADD(y, V_LOADN(b + i, m)));
        }
    }
}

/// NeoX rotary over `heads` heads of each row. `table` is scratch for 2·half_pad floats.
static VT void VN(rope)(float *x, size_t rows, size_t stride, size_t offset, size_t heads, size_t head_dim,
                        const int *positions, const float *inv_freq, float *table) {
    const size_t half = head_dim / 2;
    const size_t half_pad = (half + VW - 1) / VW * VW;
    float *cos_t = table, *sin_t = table + half_pad;  // [half_pad] f32 each
    for (size_t r = 0; r < rows; r++) {
        const VF pos = V_SET1((float)positions[r]);
        for (size_t j = 0; j < half; j += VW) {
            const VF f = j + VW <= half ? V_LOAD(inv_freq + j) : V_LOADN(inv_freq + j, V_TAILMASK(half - j));
            VF s, c;
            VN(ck_v_sincos)(V_MUL(pos, f), &s, &c);  // angle rounded to f32 like the reference
            V_STORE(cos_t + j, c);
            V_STORE(sin_t + j, s);
        }
        for (size_t h = 0; h < heads; h++) {
            float *base = x + r * stride + offset + h * head_dim;
            size_t j = 0;
            for (; j + VW <= half; j += VW) {
                const VF a = V_LOAD(base + j), b = V_LOAD(base + j + half);
                const VF c = V_LOAD(cos_t + j), s = V_LOAD(sin_t + j);
                V_STORE(base + j, V_SUB(V_MUL(a, c), V_MUL(b, s)));
                V_STORE(base + j + half, V_ADD(V_MUL(b, c), V_MUL(a, s)));
            }
            if (j < half) {
                const VM m = V_TAILMASK(half - j);
                const VF a = V_LOADN(base + j, m), b = V_LOADN(base + j + half, m);
                const VF c = V_LOAD(cos_t + j), s = V_LOAD(sin_t + j);
                V_STOREN(base + j, m, V_SUB(V_MUL(a, c), V_MUL(b, s)));
                V_STOREN(base + j + half, m, V_ADD(V_MUL(b, c), V_MUL(a, s)));
            }
        }
    }
}

/// sin/cos of `n` angles (used by the tests to measure the vector sin/cos directly).
static VT void VN(sincos)(const float *angles, float *sin_out, float *cos_out, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        VF s, c;
        VN(ck_v_sincos)(V_LOAD(angles + i), &s, &c);
        V_STORE(sin_out + i, s);
        V_STORE(cos_out + i, c);
    }
    if (i < n) {
        const VM m = V_TAILMASK(n - i);
        VF s, c;
        VN(ck_v_sincos)(V_LOADN(angles + i, m), &s, &c);
        V_STOREN(sin_out + i, m, s);
        V_STOREN(cos_out + i, m, c);
    }
}

/// e^x of `n` values (used by the tests to measure the vector exp directly).
static VT void VN(exp)(const float *x, float *out, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) V_STORE(out + i, VN(ck_v_exp)(V_LOAD(x + i)));
    if (i < n) {
        const VM m = V_TAILMASK(n - i);
        V_STOREN(out + i, m, VN(ck_v_exp)(V_LOADN(x + i, m)));
    }
}

/// erf of `n` values (used by the tests to measure the vector erf directly).
static VT void VN(erf)(const float *x, float *out, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW) V_STORE(out + i, VN(ck_v_erf)(V_LOAD(x + i)));
    if (i < n) {
        const VM m = V_TAILMASK(n - i);
        V_STOREN(out + i, m, VN(ck_v_erf)(V_LOADN(x + i, m)));
    }
}

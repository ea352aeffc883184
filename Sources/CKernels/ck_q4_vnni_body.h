// q4 × int8 row kernels, written once and compiled twice by ck_gemv.c: with Q4V_HIGH as a shift
// and mask (any AVX512-VNNI CPU) and as one GFNI affine byte transform (CPUs with GFNI: Ice Lake
// and later, Zen 4). The high nibbles are the only difference; the codes, and so the results, are
// the same bits. Define Q4V_TARGET, Q4V_NAME(name) and Q4V_HIGH(p, low) before including; no include
// guard on purpose.

/// One group G (8 blocks, 256 weights) of R weight rows against N activation rows, into acc.
/// `full` (a constant at both call sites): all 8 blocks exist, so the loads need no masks. Per row:
/// its codes and scales, how far ahead its prefetch reaches (0: none) and whether the row R
/// further on exists (scale prefetch) — fixed for a whole row, so computed once by the caller.
/// (Computed per group before, with the tail masks: the scalar work shares the two vector ports;
/// hoisting it gave +11 % with the weights in L2 — 15.0 → 16.7 GB/s-equivalent per core at N = 4,
/// 37.5 → 41.5 at N = 1 — and 4 jobs on one image 3.30–3.34× against 3.21–3.24×, different
/// images 2.48–2.50× against 2.44–2.47×: bench, 17B q4, alternating builds, 2026-11-30.)
CK_INLINE Q4V_TARGET void Q4V_NAME(group_q4_vnni)(const bool full, size_t G, size_t nb, const uint8_t *const *rows,
                                                  const uint16_t *const *scales, const size_t *ahead_bytes,
                                                  const bool *next, const q4_group *const *acts, const int R,
                                                  const int N, __m512 acc[4][CK_SMALL_N_MAX]) {
    const __m512i low = _mm512_set1_epi8(0x0f);
    // Block of lane L = 4i + k: k < 2 ? i : 4 + i (listed from lane 15 down).
    const __m512i lane_block = _mm512_set_epi32(7, 7, 3, 3, 6, 6, 2, 2, 5, 5, 1, 1, 4, 4, 0, 0);
    const size_t blocks = full ? 8 : nb - 8 * G;
    __m512i codes[4][4];  // [row][part] u8 weight codes 0..15
    __m512 dw[4];         // [row] f32 weight scale per lane
    for (int r = 0; r < R; r++) {
        if (next[r] && G % 4 == 0) _mm_prefetch((const char *)(scales[r] + (size_t)R * nb + 8 * G), _MM_HINT_T0);
        __m512i r0, r1;
        vnni_load_group(rows[r] + G * 128, blocks * 16, ahead_bytes[r], N > 1, &r0, &r1);
        const __m512i p0 = _mm512_unpacklo_epi64(r0, r1), p1 = _mm512_unpackhi_epi64(r0, r1);
        codes[r][0] = _mm512_and_si512(p0, low);
        codes[r][1] = Q4V_HIGH(p0, low);
        codes[r][2] = _mm512_and_si512(p1, low);
        codes[r][3] = Q4V_HIGH(p1, low);
        const uint16_t *s = scales[r] + 8 * G;
        const __m128i s16 = full ? _mm_loadu_si128((const __m128i *)s) : _mm_maskz_loadu_epi16((__mmask8)((1u << blocks) - 1), s);
        dw[r] = _mm512_permutexvar_ps(lane_block, _mm512_castps256_ps512(_mm256_cvtph_ps(s16)));
    }
    for (int n = 0; n < N; n++) {
        const q4_group *a = &acts[n][G];
        const __m512i start = _mm512_loadu_si512(a->lanes.start);
        const __m512i x0 = _mm512_loadu_si512(a->codes[0]), x1 = _mm512_loadu_si512(a->codes[1]);
        const __m512i x2 = _mm512_loadu_si512(a->codes[2]), x3 = _mm512_loadu_si512(a->codes[3]);
        const __m512 d = _mm512_loadu_ps(a->lanes.scale), md = _mm512_loadu_ps(a->lanes.magic_scale);
        for (int r = 0; r < R; r++) {
            __m512i v = _mm512_dpbusd_epi32(start, codes[r][0], x0);
            v = _mm512_dpbusd_epi32(v, codes[r][1], x1);
            v = _mm512_dpbusd_epi32(v, codes[r][2], x2);
            v = _mm512_dpbusd_epi32(v, codes[r][3], x3);
            acc[r][n] = vnni_accumulate(v, d, md, dw[r], acc[r][n]);
        }
    }
}

/// R weight rows from m against N activation rows over groups [g0, g1) only: the accumulators
/// start at zero (`first`) or from state[r · CK_SMALL_N_MAX + n], and end in state (not `last`)
/// or reduced into sums (`last`). Saving and reloading a vector accumulator keeps its bits, so any
/// cut of [0, ng) into ranges gives the same sums as one pass. R and N are constants at every call
/// site (CK_VNNI_ROW_LOOP), so the loops unroll; first and last are tested once per call.
CK_INLINE Q4V_TARGET void Q4V_NAME(rows_q4_vnni_range)(const weights *w, const q4_group *const *acts, size_t m,
                                                       size_t m_end, size_t g0, size_t g1, const bool first,
                                                       const bool last, __m512 *state, float *sums, const int R,
                                                       const int N) {
    const size_t K = w->K, nb = K / CK_QB, row_bytes = K / 2;
    const uint8_t *rows[4];
    const uint16_t *scales[4];
    size_t ahead_bytes[4];
    bool next[4];
    const size_t ahead = N == 1 ? (size_t)R : VNNI_BATCH_AHEAD_ROWS;  // rows
    for (int r = 0; r < R; r++) {
        rows[r] = (const uint8_t *)w->data + (m + (size_t)r) * row_bytes;
        scales[r] = w->scales + (m + (size_t)r) * nb;
        ahead_bytes[r] = m + ahead + (size_t)r < m_end ? ahead * row_bytes : 0;
        next[r] = m + (size_t)R + (size_t)r < m_end;
    }
    __m512 acc[4][CK_SMALL_N_MAX];
    vnni_acc_start(acc, R, N, first, state);
    const size_t full_end = g1 < nb / 8 ? g1 : nb / 8;  // groups with all 8 blocks
    size_t G = g0;
    for (; G < full_end; G++) Q4V_NAME(group_q4_vnni)(true, G, nb, rows, scales, ahead_bytes, next, acts, R, N, acc);
    for (; G < g1; G++) Q4V_NAME(group_q4_vnni)(false, G, nb, rows, scales, ahead_bytes, next, acts, R, N, acc);
    vnni_acc_finish(acc, R, N, last, state, sums);
}

Q4V_TARGET static ck_status Q4V_NAME(small_q4_vnni)(const weights *w, const float *X, size_t N, float *Y, size_t ldy,
                                                    row_share *share) {
    CK_VNNI_SMALL_BODY(q4_group, 8, quantize_acts_q4, Q4V_NAME(rows_q4_vnni_range));
}

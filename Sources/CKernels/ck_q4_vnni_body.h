// q4 × int8 row kernels, written once and compiled twice by ck_gemv.c: with Q4V_HIGH as a shift
// and mask (any AVX512-VNNI CPU) and as one GFNI affine byte transform (CPUs with GFNI: Ice Lake
// and later, Zen 4). The high nibbles are the only difference; the codes, and so the results, are
// the same bits. Define Q4V_TARGET, Q4V_NAME(name) and Q4V_HIGH(p, low) before including; no include
// guard on purpose.

/// rows_q4_vnni over groups [g0, g1) only: the accumulators start at zero (`first`) or from
/// state[r · CK_SMALL_N_MAX + n], and end in state (not `last`) or reduced into sums (`last`).
/// Saving and reloading a vector accumulator keeps its bits, so any cut of [0, ng) into ranges
/// gives the same sums as one pass. first, last, R and N are constants at every call site.
CK_INLINE Q4V_TARGET void Q4V_NAME(rows_q4_vnni_range)(const weights *w, const q4_group *const *acts, size_t m,
                                                       size_t m_end, size_t g0, size_t g1, const bool first,
                                                       const bool last, __m512 *state, float *sums, const int R,
                                                       const int N) {
    const size_t K = w->K, nb = K / CK_QB, row_bytes = K / 2;
    const uint8_t *q = (const uint8_t *)w->data;
    const __m512i low = _mm512_set1_epi8(0x0f);
    // Block of lane L = 4i + k: k < 2 ? i : 4 + i (listed from lane 15 down).
    const __m512i lane_block = _mm512_set_epi32(7, 7, 3, 3, 6, 6, 2, 2, 5, 5, 1, 1, 4, 4, 0, 0);
    __m512 acc[4][CK_SMALL_N_MAX];
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) acc[r][n] = first ? _mm512_setzero_ps() : state[r * CK_SMALL_N_MAX + n];
    for (size_t G = g0; G < g1; G++) {
        const bool full = 8 * G + 8 <= nb;
        const size_t blocks = full ? 8 : nb - 8 * G;
        __m512i codes[4][4];  // [row][part] u8 weight codes 0..15
        __m512 dw[4];         // [row] f32 weight scale per lane
        for (int r = 0; r < R; r++) {
            const bool next = m + R + r < m_end;
            if (next && G % 4 == 0) _mm_prefetch((const char *)(w->scales + (m + R + r) * nb + 8 * G), _MM_HINT_T0);
            const size_t ahead = N == 1 ? (size_t)R : VNNI_BATCH_AHEAD_ROWS;  // rows
            __m512i r0, r1;
            vnni_load_group(q + (m + r) * row_bytes + G * 128, blocks * 16, m + ahead + r < m_end ? ahead * row_bytes : 0,
                            N > 1, &r0, &r1);
            const __m512i p0 = _mm512_unpacklo_epi64(r0, r1), p1 = _mm512_unpackhi_epi64(r0, r1);
            codes[r][0] = _mm512_and_si512(p0, low);
            codes[r][1] = Q4V_HIGH(p0, low);
            codes[r][2] = _mm512_and_si512(p1, low);
            codes[r][3] = Q4V_HIGH(p1, low);
            const uint16_t *s = w->scales + (m + r) * nb + 8 * G;
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
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) {
            if (last)
                sums[r * CK_SMALL_N_MAX + n] = _mm512_reduce_add_ps(acc[r][n]);
            else
                state[r * CK_SMALL_N_MAX + n] = acc[r][n];
        }
}

CK_INLINE Q4V_TARGET void Q4V_NAME(rows_q4_vnni)(const weights *w, const q4_group *const *acts, size_t m,
                                                 size_t m_end, float *sums, const int R, const int N) {
    Q4V_NAME(rows_q4_vnni_range)(w, acts, m, m_end, 0, (w->K / CK_QB + 7) / 8, true, true, NULL, sums, R, N);
}


Q4V_TARGET static ck_status Q4V_NAME(small_q4_vnni)(const weights *w, const float *X, size_t N, float *Y, size_t ldy,
                                                    row_share *share) {
    const size_t K = w->K, ng = (K / CK_QB + 7) / 8;
    q4_group *buf = ck_scratch(0, N * ng * sizeof(q4_group));
    if (buf == NULL) return CK_ERR_NOMEM;
    const q4_group *acts[CK_SMALL_N_MAX];
    for (size_t n = 0; n < N; n++) {
        quantize_acts_q4(X + n * K, K, buf + n * ng);
        acts[n] = buf + n * ng;
    }
    if (N > 1 && N * ng * sizeof(q4_group) > VNNI_ACTS_L1_BYTES)
        CK_VNNI_CHUNKED_LOOP(Q4V_NAME(rows_q4_vnni_range), acts, sizeof(q4_group), ng);
    else
        CK_VNNI_ROW_LOOP(Q4V_NAME(rows_q4_vnni), acts);
    return CK_OK;
}

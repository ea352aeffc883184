// Scaled dot-product attention over fp16 (KV cache) or f32 keys and values for one ISA. A "template": included by
// ck_attention.c between ck_simd_begin.h and ck_simd_end.h, after ck_vmath.h.
//
// Per key/value head and block of query rows (every query head of the group that falls in the
// head range, for up to ATT_ROWS query rows):
//   1. Q rows are copied to an f32 scratch [rows, hdp] (hdp = head_dim rounded up to VW, zero pad);
//   2. K is widened tile by tile (ATT_KT keys, fp16 or f32 -> f32 [ATT_KT, hdp]) and the scores
//      S[rows, visible] = scale · Q·Kᵀ come from register blocks of RB rows × 4 keys (or 1 row × VW
//      keys) whose VW lane-partial dot products are reduced together (ck_v_sum_transpose);
//   3. each row's softmax over its visible keys (causal limit), f32, the rest of the row zeroed;
//   4. O[rows, hdp] += P·V tile by tile (V widened the same way), then O is written out.
// Everything is f32 after the exact fp16 widening; only scores for one query block exist at once.
// With at most ATT_DIRECT_ROWS rows per kv head (decode) steps 2 and 4 read K and V in place
// instead of through widened tiles (att_direct_*), with the same arithmetic.

#define ATT_KT CK_ATT_KT      // keys per widened K/V tile (ck_attention.c)
#define ATT_ROWS CK_ATT_ROWS  // query rows (query × head pairs) per block (ck_attention.c)
#define ATT_RB (VW / 4)  // rows per score block: RB rows × 4 keys = VW accumulators

/// Widens keys/values [j0, j0 + count) of kv head `kvh` to f32 rows of hdp floats (zero pad past
/// hd); rows [count, pad_to) are zero-filled. `src` holds fp16 bits (f16 true) or f32 in two
/// segments (ck_att_src), row stride `stride` elements. `total`: rows that exist (prefetch bound).
CK_INLINE VT void VN(att_widen)(const ck_att_src *src, bool f16, size_t stride, size_t kvh, size_t hd, size_t hdp,
                                size_t j0, size_t count, size_t pad_to, size_t total, float *dst) {
    const size_t esize = f16 ? sizeof(uint16_t) : sizeof(float);
    for (size_t kk = 0; kk < count; kk++) {
        const char *row = ck_att_row(src, j0 + kk, stride * esize) + kvh * hd * esize;
        // Rows are kv_stride apart (a page or more for real models), which the hardware prefetcher
        // does not follow: fetch the same head's row one tile ahead (measured: decode 10.6 -> 14.6
        // GB/s on one thread, the machine's single-thread read rate).
        if (j0 + kk + ATT_KT < total) {
            const char *ahead = ck_att_row(src, j0 + kk + ATT_KT, stride * esize) + kvh * hd * esize;
            for (size_t b = 0; b < hd * esize; b += 64) _mm_prefetch(ahead + b, _MM_HINT_T0);
        }
        float *out = dst + kk * hdp;
        size_t d = 0;
        if (f16) {
            const uint16_t *h = (const uint16_t *)(const void *)row;
            for (; d + VW <= hd; d += VW) V_STORE(out + d, V_LOAD_F16(h + d));
            if (d < hd) V_STORE(out + d, V_LOADN_F16(h + d, hd - d));
        } else {
            const float *f = (const float *)(const void *)row;
            for (; d + VW <= hd; d += VW) V_STORE(out + d, V_LOAD(f + d));
            if (d < hd) V_STORE(out + d, V_LOADN(f + d, V_TAILMASK(hd - d)));
        }
    }
    for (size_t kk = count; kk < pad_to; kk++) memset(dst + kk * hdp, 0, hdp * sizeof(float));
}

/// S[r0 + r, col + c] = scale · Q[r0 + r] · K[kk + c] for r < RB, c < 4.
CK_INLINE VT void VN(att_scores_block)(const float *qs, const float *kt, size_t hdp, size_t r0, size_t kk,
                                       float scale, float *s, size_t sld, size_t col) {
    VF acc[VW];
    for (int i = 0; i < VW; i++) acc[i] = V_ZERO();
    for (size_t d = 0; d < hdp; d += VW) {
        VF kv[4];
        for (int c = 0; c < 4; c++) kv[c] = V_LOAD(kt + (kk + (size_t)c) * hdp + d);
        for (int r = 0; r < ATT_RB; r++) {
            const VF qv = V_LOAD(qs + (r0 + (size_t)r) * hdp + d);
            for (int c = 0; c < 4; c++) acc[r * 4 + c] = V_FMA(qv, kv[c], acc[r * 4 + c]);
        }
    }
    float lanes[VW];
    V_STORE(lanes, V_MUL(VN(ck_v_sum_transpose)(acc), V_SET1(scale)));
    for (int r = 0; r < ATT_RB; r++) memcpy(s + (r0 + (size_t)r) * sld + col, lanes + r * 4, 4 * sizeof(float));
}

/// S[r, col + c] = scale · Q[r] · K[kk + c] for c < VW.
CK_INLINE VT void VN(att_scores_row)(const float *qs, const float *kt, size_t hdp, size_t r, size_t kk, float scale,
                                     float *s, size_t sld, size_t col) {
    VF acc[VW];
    for (int i = 0; i < VW; i++) acc[i] = V_ZERO();
    for (size_t d = 0; d < hdp; d += VW) {
        const VF qv = V_LOAD(qs + r * hdp + d);
        for (int c = 0; c < VW; c++) acc[c] = V_FMA(qv, V_LOAD(kt + (kk + (size_t)c) * hdp + d), acc[c]);
    }
    V_STORE(s + r * sld + col, V_MUL(VN(ck_v_sum_transpose)(acc), V_SET1(scale)));
}

/// O[r0 + r, d0 + c·VW ..] += Σ_kk P[r0 + r, col + kk] · V[kk, d0 + c·VW ..] for r < R, c < C.
CK_INLINE VT void VN(att_pv_block)(const int R, const int C, const float *s, size_t sld, size_t col,
                                   const float *vt, size_t hdp, size_t keys, size_t r0, size_t d0, float *o) {
    VF acc[4][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = V_LOAD(o + (r0 + (size_t)r) * hdp + d0 + (size_t)c * VW);
    for (size_t kk = 0; kk < keys; kk++) {
        VF vv[4];
        for (int c = 0; c < C; c++) vv[c] = V_LOAD(vt + kk * hdp + d0 + (size_t)c * VW);
        for (int r = 0; r < R; r++) {
            const VF p = V_SET1(s[(r0 + (size_t)r) * sld + col + kk]);
            for (int c = 0; c < C; c++) acc[r][c] = V_FMA(p, vv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) V_STORE(o + (r0 + (size_t)r) * hdp + d0 + (size_t)c * VW, acc[r][c]);
}

/// P·V for rows [0, rows) over `keys` keys of one tile (column `col` of S).
CK_INLINE VT void VN(att_pv_tile)(const float *s, size_t sld, size_t col, const float *vt, size_t hdp, size_t keys,
                                  size_t rows, float *o) {
    size_t r0 = 0;
    for (; r0 + 4 <= rows; r0 += 4) {
        size_t d0 = 0;
        for (; d0 + 4 * VW <= hdp; d0 += 4 * VW) VN(att_pv_block)(4, 4, s, sld, col, vt, hdp, keys, r0, d0, o);
        for (; d0 < hdp; d0 += VW) VN(att_pv_block)(4, 1, s, sld, col, vt, hdp, keys, r0, d0, o);
    }
    for (; r0 < rows; r0++) {
        size_t d0 = 0;
        for (; d0 + 4 * VW <= hdp; d0 += 4 * VW) VN(att_pv_block)(1, 4, s, sld, col, vt, hdp, keys, r0, d0, o);
        for (; d0 < hdp; d0 += VW) VN(att_pv_block)(1, 1, s, sld, col, vt, hdp, keys, r0, d0, o);
    }
}

/// Scores of `rows` rows (Q rows qs[0..rows), S rows s[0..rows)) against one widened K tile.
CK_INLINE VT void VN(att_scores_tile)(const float *qs, const float *tile, size_t hdp, size_t rows, size_t padded,
                                      float scale, float *s, size_t sld, size_t j0) {
    size_t r0 = 0;
    for (; r0 + ATT_RB <= rows; r0 += ATT_RB)
        for (size_t kk = 0; kk < padded; kk += 4) VN(att_scores_block)(qs, tile, hdp, r0, kk, scale, s, sld, j0 + kk);
    for (; r0 < rows; r0++)
        for (size_t kk = 0; kk < padded; kk += VW) VN(att_scores_row)(qs, tile, hdp, r0, kk, scale, s, sld, j0 + kk);
}

/// Query heads of kv head `kvh` that fall in [h0, h1).
CK_INLINE VT size_t VN(att_heads_of)(size_t kvh, size_t group, size_t h0, size_t h1) {
    const size_t hs = kvh * group > h0 ? kvh * group : h0;
    const size_t he = (kvh + 1) * group < h1 ? (kvh + 1) * group : h1;
    return he - hs;
}

// MARK: decode: few rows per kv head, keys and values read in place
//
// With 1–4 query rows per kv head (decode; a shared-prefix batch of up to 4 sequences; GQA decode
// with 4 heads per group) a widened tile is written and read back for too few rows to pay: the
// widening alone costs as much vector work as the dot products. Here every fp16 K/V vector is
// widened in registers and used for all rows at once. The arithmetic is the tile path's, in the
// same order (per-lane FMA over d in order, the same transposed sums, P·V accumulated key by key),
// so the results are the same bits; only the memory traffic and the instruction count change.

/// Rows per kv head the in-place path serves (one accumulator block: rows × keys ≤ VW).
#define ATT_DIRECT_ROWS 4

/// Scores of R query rows (qs rows r0 ..< r0 + R) against nk ≤ VW / R keys `rows` (KB = VW / R
/// accumulator slots per row): S[r0 + r, col + c] = scale · Q · K[c]. R and KB are constants at
/// every call site, so the accumulators stay in registers.
CK_INLINE VT void VN(att_direct_scores_block)(const int R, const int KB, const float *qs, const char *const *rows,
                                              size_t nk, bool f16, size_t hd, size_t r0, float scale, float *s,
                                              size_t sld, size_t col) {
    VF acc[VW];  // acc[r · KB + c]: lane partials of Q row r0 + r · K row c
    for (int i = 0; i < VW; i++) acc[i] = V_ZERO();
    for (size_t d = 0; d < hd; d += VW) {
        VF qv[ATT_DIRECT_ROWS];
        for (int r = 0; r < R; r++) qv[r] = V_LOAD(qs + (r0 + (size_t)r) * hd + d);
        for (int c = 0; c < KB; c++) {
            if ((size_t)c >= nk) break;
            const VF kv = f16 ? V_LOAD_F16((const uint16_t *)(const void *)rows[c] + d)
                              : V_LOAD((const float *)(const void *)rows[c] + d);
            for (int r = 0; r < R; r++) acc[r * KB + c] = V_FMA(qv[r], kv, acc[r * KB + c]);
        }
    }
    float lanes[VW];
    V_STORE(lanes, V_MUL(VN(ck_v_sum_transpose)(acc), V_SET1(scale)));
    for (int r = 0; r < R; r++) memcpy(s + (r0 + (size_t)r) * sld + col, lanes + r * KB, nk * sizeof(float));
}

/// Prefetches rows [j, j + n) of one kv head (byte offset `off` in each row) into L1, or (`l2`)
/// into L2 only.
CK_INLINE VT void VN(att_prefetch_rows)(const ck_att_src *src, size_t row_bytes, size_t off, size_t bytes, size_t j,
                                        size_t n, bool l2) {
    for (size_t kk = 0; kk < n; kk++) {
        const char *row = ck_att_row(src, j + kk, row_bytes) + off;
        if (l2)
            for (size_t b = 0; b < bytes; b += 64) _mm_prefetch(row + b, _MM_HINT_T2);
        else
            for (size_t b = 0; b < bytes; b += 64) _mm_prefetch(row + b, _MM_HINT_T0);
    }
}

/// O[r0 + r, d0 + c·VW ..] += Σ_kk P[r0 + r, col + kk] · V[kk, d0 + c·VW ..] for r < R, c < C over
/// `count` value rows read in place (att_pv_block's arithmetic).
CK_INLINE VT void VN(att_direct_pv_block)(const int R, const int C, const float *s, size_t sld, size_t col,
                                          const ck_att_src *v, bool f16, size_t row_bytes, size_t off, size_t j0,
                                          size_t count, size_t hd, size_t r0, size_t d0, float *o) {
    VF acc[ATT_DIRECT_ROWS][4];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) acc[r][c] = V_LOAD(o + (r0 + (size_t)r) * hd + d0 + (size_t)c * VW);
    for (size_t kk = 0; kk < count; kk++) {
        const char *row = ck_att_row(v, j0 + kk, row_bytes) + off;
        VF vv[4];
        for (int c = 0; c < C; c++) {
            const size_t e = d0 + (size_t)c * VW;
            vv[c] = f16 ? V_LOAD_F16((const uint16_t *)(const void *)row + e) : V_LOAD((const float *)(const void *)row + e);
        }
        for (int r = 0; r < R; r++) {
            const VF p = V_SET1(s[(r0 + (size_t)r) * sld + col + kk]);
            for (int c = 0; c < C; c++) acc[r][c] = V_FMA(p, vv[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) V_STORE(o + (r0 + (size_t)r) * hd + d0 + (size_t)c * VW, acc[r][c]);
}

/// One pass over the visible keys of the kv heads in [kb0, kb1), tile by tile and head by head,
/// reading `src` in place (the next step's rows prefetched). Each kv head has R = nq · (its
/// heads in [h0, h1)) rows, and the rows of successive heads follow each other in qs, s and o.
/// values false (src = K): S[base + r, j] = scale · Q[base + r] · K[j];
/// values true (src = V): O[base + r] += Σ_j P[base + r, j] · V[j] (o starts zeroed). hd % VW == 0.
static VT void VN(att_direct_pass)(bool values, const ck_att_src *src, bool f16, size_t kv_stride, size_t kb0,
                                   size_t kb1, size_t nq, size_t group, size_t h0, size_t h1, size_t hd,
                                   size_t visible, const float *qs, float scale, float *s, size_t sld, float *o) {
    const size_t esize = f16 ? sizeof(uint16_t) : sizeof(float);
    const size_t row_bytes = kv_stride * esize;
    for (size_t j0 = 0; j0 < visible; j0 += ATT_KT) {
        const size_t count = visible - j0 < ATT_KT ? visible - j0 : ATT_KT;
        size_t base = 0;
        for (size_t kvh = kb0; kvh < kb1; kvh++) {
            const size_t R = nq * VN(att_heads_of)(kvh, group, h0, h1);
            const size_t off = kvh * hd * esize;
            // The rows of the next (tile, head) step: the next head of this tile, or the first head of
            // the next tile (rows are a page or more apart; see att_widen). One step ahead is a few
            // KB in flight; a whole tile ahead (the same head's next tile, as before) is 64 KB or
            // more, past L1, and left 1-row decode at 19 GB/s in the kernel harness where one step
            // ahead gives 23–26 GB/s (17B shape, 1244 keys, 2 threads).
            {
                const size_t next_head = kvh + 1 < kb1 ? kvh + 1 : kb0;
                const size_t next_j = kvh + 1 < kb1 ? j0 : j0 + ATT_KT;
                if (next_j < visible) {
                    const size_t left = visible - next_j;
                    // Several rows per kv head spend long enough on each key that L1 prefetches
                    // would hold the line-fill buffers the loads need: those go to L2 (harness, 4
                    // rows: −2–7 %, 2 rows −2–3 %; one row: no difference, kept in L1).
                    VN(att_prefetch_rows)(src, row_bytes, next_head * hd * esize, hd * esize, next_j,
                                          left < ATT_KT ? left : ATT_KT, R >= 2);
                }
            }
            if (!values) {
                const size_t kb = VW / R;  // keys per accumulator block
                for (size_t kk0 = 0; kk0 < count; kk0 += kb) {
                    const size_t nk = count - kk0 < kb ? count - kk0 : kb;
                    const char *rows[VW];
                    for (size_t c = 0; c < nk; c++) rows[c] = ck_att_row(src, j0 + kk0 + c, row_bytes) + off;
                    switch (R) {
                        case 1: VN(att_direct_scores_block)(1, VW, qs, rows, nk, f16, hd, base, scale, s, sld, j0 + kk0); break;
                        case 2: VN(att_direct_scores_block)(2, VW / 2, qs, rows, nk, f16, hd, base, scale, s, sld, j0 + kk0); break;
                        case 3: VN(att_direct_scores_block)(3, VW / 3, qs, rows, nk, f16, hd, base, scale, s, sld, j0 + kk0); break;
                        default: VN(att_direct_scores_block)(4, VW / 4, qs, rows, nk, f16, hd, base, scale, s, sld, j0 + kk0); break;
                    }
                }
            } else {
                size_t d0 = 0;
#define ATT_DIRECT_PV(RR)                                                                                              \
    for (; d0 + 4 * VW <= hd; d0 += 4 * VW)                                                                            \
        VN(att_direct_pv_block)(RR, 4, s, sld, j0, src, f16, row_bytes, off, j0, count, hd, base, d0, o);              \
    for (; d0 < hd; d0 += VW) VN(att_direct_pv_block)(RR, 1, s, sld, j0, src, f16, row_bytes, off, j0, count, hd, base, d0, o);
                switch (R) {
                    case 1: ATT_DIRECT_PV(1) break;
                    case 2: ATT_DIRECT_PV(2) break;
                    case 3: ATT_DIRECT_PV(3) break;
                    default: ATT_DIRECT_PV(4) break;
                }
#undef ATT_DIRECT_PV
            }
            base += R;
        }
    }
}

static VT void VN(attention)(const float *q, size_t q_stride, const ck_att_src *k, const ck_att_src *v, bool f16,
                             size_t kv_stride, float *out, size_t out_stride, size_t queries, size_t keys, size_t q_heads,
                             size_t kv_heads, size_t hd, float scale, long causal_offset, size_t h0, size_t h1,
                             float *row_max, float *row_sum, float *scratch) {
    const size_t group = q_heads / kv_heads;
    const size_t hdp = (hd + VW - 1) / VW * VW;
    const size_t rows_cap = group > ATT_ROWS ? group : ATT_ROWS;
    const size_t sld = (keys + ATT_KT - 1) / ATT_KT * ATT_KT;
    float *qs = scratch;                  // [rows_cap, hdp] f32 query rows
    float *o = qs + rows_cap * hdp;       // [rows_cap, hdp] f32 output accumulators
    float *tile = o + rows_cap * hdp;     // [ATT_KT, hdp] f32 widened K or V tile
    float *s = tile + ATT_KT * hdp;       // [rows_cap, sld] f32 scores / probabilities
    const bool causal = causal_offset >= 0;
    const size_t kv_first = h0 / group, kv_end = (h1 - 1) / group + 1;  // kv heads touched by [h0, h1)
    // A block is (query rows [i0, i1)) × (kv heads [kb0, kb1)): many query rows per kv head for
    // prefill (each widened tile serves them all), many kv heads per query for decode (the tile
    // loop then walks the cache row by row instead of one head's column at a time).
    const size_t rows_per_query = ATT_ROWS / group > 0 ? ATT_ROWS / group : 1;
    const size_t qb = queries < rows_per_query ? queries : rows_per_query;
    const size_t kvb = qb * group >= ATT_ROWS ? 1 : ATT_ROWS / (qb * group);

    for (size_t i0 = 0; i0 < queries; i0 += qb) {
        const size_t i1 = i0 + qb < queries ? i0 + qb : queries;
        const size_t nq = i1 - i0;
        size_t visible = keys;
        if (causal && (size_t)causal_offset + i1 < keys) visible = (size_t)causal_offset + i1;
        for (size_t kb0 = kv_first; kb0 < kv_end; kb0 += kvb) {
            const size_t kb1 = kb0 + kvb < kv_end ? kb0 + kvb : kv_end;
            // Rows of kv head kvh: [base, base + nq·ng), row base + (i − i0)·ng + (h − hs).
            size_t rows = 0;
            for (size_t kvh = kb0; kvh < kb1; kvh++) {
                const size_t hs = kvh * group > h0 ? kvh * group : h0;
                const size_t he = (kvh + 1) * group < h1 ? (kvh + 1) * group : h1;
                for (size_t i = i0; i < i1; i++)
                    for (size_t h = hs; h < he; h++, rows++) {
                        float *dst = qs + rows * hdp;
                        memcpy(dst, q + i * q_stride + h * hd, hd * sizeof(float));
                        memset(dst + hd, 0, (hdp - hd) * sizeof(float));
                    }
            }
            // Few rows per kv head (decode): K and V read in place, no widened tiles.
            const bool direct = hd == hdp && nq * (group < h1 - h0 ? group : h1 - h0) <= ATT_DIRECT_ROWS;
            // 2. Scores, one widened K tile per kv head at a time.
            if (direct)
                VN(att_direct_pass)(false, k, f16, kv_stride, kb0, kb1, nq, group, h0, h1, hd, visible, qs, scale, s, sld, o);
            else for (size_t j0 = 0; j0 < visible; j0 += ATT_KT) {
                const size_t count = visible - j0 < ATT_KT ? visible - j0 : ATT_KT;
                const size_t padded = (count + VW - 1) / VW * VW;
                size_t base = 0;
                for (size_t kvh = kb0; kvh < kb1; kvh++) {
                    const size_t ng = VN(att_heads_of)(kvh, group, h0, h1);
                    VN(att_widen)(k, f16, kv_stride, kvh, hd, hdp, j0, count, padded, visible, tile);
                    VN(att_scores_tile)(qs + base * hdp, tile, hdp, nq * ng, padded, scale, s + base * sld, sld, j0);
                    base += nq * ng;
                }
            }
            // 3. Softmax over each row's visible keys; probabilities beyond are 0.
            size_t base = 0;
            for (size_t kvh = kb0; kvh < kb1; kvh++) {
                const size_t ng = VN(att_heads_of)(kvh, group, h0, h1);
                const size_t hs = kvh * group > h0 ? kvh * group : h0;
                for (size_t r = 0; r < nq * ng; r++) {
                    const size_t i = i0 + r / ng;
                    size_t limit = visible;
                    if (causal && (size_t)causal_offset + i + 1 < limit) limit = (size_t)causal_offset + i + 1;
                    float *row = s + (base + r) * sld;
                    float mx = 0;
                    double sum = 0;
                    VN(ck_v_softmax_row_stats)(row, limit, &mx, &sum);
                    if (row_max != NULL) {
                        row_max[i * q_heads + hs + r % ng] = mx;
                        row_sum[i * q_heads + hs + r % ng] = (float)sum;
                    }
                    memset(row + limit, 0, (sld - limit) * sizeof(float));
                }
                base += nq * ng;
            }
            // 4. O = P·V.
            memset(o, 0, rows * hdp * sizeof(float));
            if (direct)
                VN(att_direct_pass)(true, v, f16, kv_stride, kb0, kb1, nq, group, h0, h1, hd, visible, qs, scale, s, sld, o);
            else for (size_t j0 = 0; j0 < visible; j0 += ATT_KT) {
                const size_t count = visible - j0 < ATT_KT ? visible - j0 : ATT_KT;
                base = 0;
                for (size_t kvh = kb0; kvh < kb1; kvh++) {
                    const size_t ng = VN(att_heads_of)(kvh, group, h0, h1);
                    VN(att_widen)(v, f16, kv_stride, kvh, hd, hdp, j0, count, count, visible, tile);
                    VN(att_pv_tile)(s + base * sld, sld, j0, tile, hdp, count, nq * ng, o + base * hdp);
                    base += nq * ng;
                }
            }
            // 5. Write out.
            size_t r = 0;
            for (size_t kvh = kb0; kvh < kb1; kvh++) {
                const size_t hs = kvh * group > h0 ? kvh * group : h0;
                const size_t he = (kvh + 1) * group < h1 ? (kvh + 1) * group : h1;
                for (size_t i = i0; i < i1; i++)
                    for (size_t h = hs; h < he; h++, r++)
                        memcpy(out + i * out_stride + h * hd, o + r * hdp, hd * sizeof(float));
            }
        }
    }
}

#undef ATT_KT
#undef ATT_ROWS
#undef ATT_RB
#undef ATT_DIRECT_ROWS

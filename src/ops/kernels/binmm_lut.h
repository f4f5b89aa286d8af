/* binmm_lut.h: the sign-select product for a batch, by table lookup: a template included per
 * instruction set and group width (binmm.c, binmm_avx2.c, binmm_avx512.c), with V a vector of VL
 * floats that holds one input column for VL rows of the batch (lanes are batch rows), and NB
 * such vectors side by side: a group of G = NB VL batch rows.
 *
 * For each 4 inputs (a nibble of a weight word) the 16 sums of every subset of their x values
 * are tabulated once per chunk of inputs and shared by all outputs; an output then adds one table
 * entry per nibble instead of up to 4 values: 8 vector adds per 32 weights and VL batch rows,
 * where a dense product does 32 multiply-adds.
 *
 * Each add needs its table index, computed from the weight word in a general register (mask,
 * shift, address): with one vector per entry that scalar work, not the adds, bounds the loop.
 * NB > 1 makes an entry NB vectors (the same subset for NB blocks of the batch), so one index
 * feeds NB adds. The table holds CN nibbles of 16 entries of G floats: two words of inputs when
 * G <= 16 (16 KiB), one otherwise (16 KiB at G = 32), so it stays in the L1 cache.
 *
 * The driver prepares: xt, the batch transposed in groups of G rows (group g's column j at
 * xt + (g * cols_pad + j) * G, zero past cols and past the batch), sx[b] = sum_j x[b, j], and a
 * scratch acc of (o1 - o0) * G floats for the outputs in progress. The caller brings the vector
 * vocabulary (V, VL, VZERO(), VLOAD(p), VSTORE(p, v), VADD(a, b): simd_avx512.h, simd_avx2.h,
 * simd_neon.h, or simd_scalar.h for binmm.c's portable instance) and defines TARGET, NB, FN(name)
 * and STORE_GROUP(w, o0, o1, G, live, acc, sx, y, ldy), which writes y[l, o] = scale[o] (2 acc[(o -
 * o0) G + l] - sx[l]) for the group's live rows l and o in [o0, o1); this file #undefs NB and
 * FN. */

static TARGET void FN(binmm_lut)(const kern_bits *w, int64_t o0, int64_t o1, int64_t g0, int64_t g1,
                                 int64_t n, const float *xt, const float *sx, float *acc, float *y,
                                 int64_t ldy) {
    enum { G = NB * VL, CW = G <= 16 ? 2 : 1, CN = 8 * CW };
    int64_t words = w->words, cols_pad = 32 * words;
    /* table[q][p][v]: the sum of x over the inputs 4 q + i of the chunk, i in p, for block v */
    V table[CN][16][NB];
    for (int64_t g = g0; g < g1; g++) {
        const float *xg = xt + g * cols_pad * G;
        for (int64_t c = 0; c < words; c += CW) {
            int n_words = c + CW <= words ? CW : (int)(words - c), n_nib = 8 * n_words;
            for (int q = 0; q < n_nib; q++) {
                const float *col = xg + (32 * c + 4 * q) * G;
#pragma GCC unroll 4
                for (int v = 0; v < NB; v++) table[q][0][v] = VZERO();
                for (int p = 1; p < 16; p++) {
                    int low = __builtin_ctz((unsigned)p);
#pragma GCC unroll 4
                    for (int v = 0; v < NB; v++)
                        table[q][p][v] =
                            VADD(table[q][p & (p - 1)][v], VLOAD(col + low * G + v * VL));
                }
            }
            int64_t o = o0;
            /* four outputs at a time: 4 NB independent chains of adds hide the add latency */
            for (; o + 4 <= o1; o += 4) {
                const uint32_t *wo = w->bits + o * words + c;
                float *ao = acc + (o - o0) * G;
                V s[4][NB];
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
                    for (int v = 0; v < NB; v++)
                        s[i][v] = c == 0 ? VZERO() : VLOAD(ao + i * G + v * VL);
                for (int h = 0; h < n_words; h++) {
                    uint32_t a[4] = {wo[h], wo[words + h], wo[2 * words + h], wo[3 * words + h]};
                    V(*tq)[16][NB] = table + 8 * h;
#pragma GCC unroll 8
                    for (int q = 0; q < 8; q++) {
#pragma GCC unroll 4
                        for (int i = 0; i < 4; i++) {
                            const V *e = tq[q][(a[i] >> (4 * q)) & 15];
#pragma GCC unroll 4
                            for (int v = 0; v < NB; v++) s[i][v] = VADD(s[i][v], e[v]);
                        }
                    }
                }
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
                    for (int v = 0; v < NB; v++) VSTORE(ao + i * G + v * VL, s[i][v]);
            }
            for (; o < o1; o++) {
                const uint32_t *wo = w->bits + o * words + c;
                float *ao = acc + (o - o0) * G;
                V s[NB];
#pragma GCC unroll 4
                for (int v = 0; v < NB; v++) s[v] = c == 0 ? VZERO() : VLOAD(ao + v * VL);
                for (int h = 0; h < n_words; h++) {
                    uint32_t a = wo[h];
                    for (int q = 8 * h; q < 8 * h + 8; q++, a >>= 4) {
                        const V *e = table[q][a & 15];
#pragma GCC unroll 4
                        for (int v = 0; v < NB; v++) s[v] = VADD(s[v], e[v]);
                    }
                }
#pragma GCC unroll 4
                for (int v = 0; v < NB; v++) VSTORE(ao + v * VL, s[v]);
            }
        }
        int64_t live = n - g * G < G ? n - g * G : G;
        STORE_GROUP(w, o0, o1, G, live, acc, sx + g * G, y + g * G * ldy, ldy);
    }
}

#undef NB
#undef FN

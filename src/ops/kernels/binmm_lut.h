/* binmm_lut.h: the sign-select product for a batch, by table lookup: a template included once
 * per instruction set (binmm.c, binmm_avx2.c, binmm_avx512.c), with V a vector of VL floats that
 * holds one input column for VL rows of the batch (lanes are batch rows).
 *
 * For each 4 inputs (a nibble of a weight word) the 16 sums of every subset of their x values
 * are tabulated once per 64 inputs and shared by all outputs; an output then adds one table
 * entry per nibble instead of up to 4 values: 16 vector adds per 64 weights for VL rows of the
 * batch, where a dense product does 64 multiply-adds.
 *
 * The driver prepares: xt, the batch transposed in blocks of VL rows (block k's column j at
 * xt + (k * cols_pad + j) * VL, zero past cols and past the batch), sx[b] = sum_j x[b, j], and a
 * scratch acc of (o1 - o0) * VL floats for the outputs in progress. The caller defines TARGET,
 * V, VL, VZERO(), VLOAD(p), VSTORE(p, v), VADD(a, b) and FN(name); this file #undefs FN. */

static TARGET void FN(binmm_lut)(const kern_bits *w, int64_t o0, int64_t o1, int64_t n,
                                 const float *xt, const float *sx, float *acc, float *y,
                                 int64_t ldy) {
    int64_t words = w->words, cols_pad = 32 * words, n_blocks = (n + VL - 1) / VL;
    V table[16][16]; /* table[q][p]: the sum of x over the inputs 4 q + i of the chunk, i in p */
    for (int64_t k = 0; k < n_blocks; k++) {
        const float *xk = xt + k * cols_pad * VL;
        for (int64_t c = 0; c < words; c += 2) { /* a chunk of 64 inputs: two words */
            int n_nib = c + 1 < words ? 16 : 8;
            for (int q = 0; q < n_nib; q++) {
                const float *col = xk + (64 * c / 2 + 4 * q) * VL;
                table[q][0] = VZERO();
                for (int p = 1; p < 16; p++) {
                    int low = __builtin_ctz((unsigned)p);
                    table[q][p] = VADD(table[q][p & (p - 1)], VLOAD(col + low * VL));
                }
            }
            int64_t o = o0;
            /* four outputs at a time: four independent chains of adds hide the add latency */
            for (; o + 4 <= o1; o += 4) {
                const uint32_t *wo = w->bits + o * words + c;
                float *ao = acc + (o - o0) * VL;
                V s0 = c == 0 ? VZERO() : VLOAD(ao), s1 = c == 0 ? VZERO() : VLOAD(ao + VL),
                  s2 = c == 0 ? VZERO() : VLOAD(ao + 2 * VL),
                  s3 = c == 0 ? VZERO() : VLOAD(ao + 3 * VL);
                for (int h = 0; h < n_nib / 8; h++) {
                    uint32_t a0 = wo[h], a1 = wo[words + h], a2 = wo[2 * words + h],
                             a3 = wo[3 * words + h];
                    for (int q = 8 * h; q < 8 * h + 8; q++) {
                        s0 = VADD(s0, table[q][a0 & 15]);
                        s1 = VADD(s1, table[q][a1 & 15]);
                        s2 = VADD(s2, table[q][a2 & 15]);
                        s3 = VADD(s3, table[q][a3 & 15]);
                        a0 >>= 4, a1 >>= 4, a2 >>= 4, a3 >>= 4;
                    }
                }
                VSTORE(ao, s0);
                VSTORE(ao + VL, s1);
                VSTORE(ao + 2 * VL, s2);
                VSTORE(ao + 3 * VL, s3);
            }
            for (; o < o1; o++) {
                const uint32_t *wo = w->bits + o * words + c;
                V s = c == 0 ? VZERO() : VLOAD(acc + (o - o0) * VL);
                for (int h = 0; h < n_nib / 8; h++) {
                    uint32_t a = wo[h];
                    for (int q = 8 * h; q < 8 * h + 8; q++, a >>= 4) s = VADD(s, table[q][a & 15]);
                }
                VSTORE(acc + (o - o0) * VL, s);
            }
        }
        int64_t lanes = n - k * VL < VL ? n - k * VL : VL;
        for (int64_t o = o0; o < o1; o++)
            for (int64_t l = 0; l < lanes; l++)
                y[(k * VL + l) * ldy + o] =
                    w->scale[o] * (2 * acc[(o - o0) * VL + l] - sx[k * VL + l]);
    }
}

#undef FN

/* gemm_simd.h: the SIMD GEMM kernels written once for any vector width and element type; a
 * template included by gemm_avx2.c, gemm_avx512.c and gemm_neon.c once per dtype (no include
 * guard).
 *
 * The includer includes its level's vector vocabulary (simd_avx512.h, simd_avx2.h or
 * simd_neon.h, with SIMD_F64 for f64) and defines TARGET (the target attribute), FN(name) (the
 * name with the level and dtype appended) and the tile shapes: MAIN_MR x MAIN_NV vectors
 * (packed), DIRECT_ROWS x DIRECT_VECS and DIRECT_ROWS_1 x 1 (direct), DOT_ROWS x DOT_COLS (dot
 * form). Tile sizes reach the bodies as constants and every loop over them is unrolled, so the
 * accumulators stay in registers. */

#define GEMM_SIMD_MAX_ROWS 32
#if DIRECT_ROWS > 24 || DIRECT_ROWS_1 > 24
#error "direct_tile_h dispatches tile heights up to 24"
#endif
#define GEMM_SIMD_MAX_VECS 4

/* C (MR x NV*VL) = (or +=) the packed panels' product over kc steps. */
static inline __attribute__((always_inline)) TARGET void
FN(ukr_body)(const int MR, const int NV, int64_t kc, const T *restrict a, const T *restrict b,
             T *restrict c, int64_t ldc, bool accumulate) {
    V acc[GEMM_SIMD_MAX_ROWS][GEMM_SIMD_MAX_VECS];
    /* The tile of C is read or written only after the kc steps; asking for its lines now
     * overlaps their misses (C is far larger than L2 in the products that take this path)
     * with the multiply-adds instead of stalling on them at the end. */
#pragma GCC unroll 32
    for (int r = 0; r < MR; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) __builtin_prefetch(c + r * ldc + v * VL, 1);
        __builtin_prefetch(c + r * ldc + NV * VL - 1, 1);
    }
#pragma GCC unroll 32
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[r][v] = VZERO();
    for (int64_t k = 0; k < kc; k++) {
        V bv[GEMM_SIMD_MAX_VECS];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) bv[v] = VLOAD(b + v * VL);
#pragma GCC unroll 32
        for (int r = 0; r < MR; r++) {
            V av = VSET1(a[r]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[r][v] = VFMA(av, bv[v], acc[r][v]);
        }
        a += MR;
        b += NV * VL;
    }
    if (accumulate) {
#pragma GCC unroll 32
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++)
                VSTORE(c + r * ldc + v * VL, VADD(acc[r][v], VLOAD(c + r * ldc + v * VL)));
    } else {
#pragma GCC unroll 32
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) VSTORE(c + r * ldc + v * VL, acc[r][v]);
    }
}

/* The direct ("unpacked") product of an R x NV*VL block of C over kc steps, reading A through
 * its strides and B's rows in place. MASKED (with NV 1): only the lanes in m exist. With a
 * bias (not accumulating), every row's sums start from it, so a layer's bias costs no pass
 * over C of its own. */
static inline __attribute__((always_inline)) TARGET void
FN(direct_tile)(const int R, const int NV, const bool MASKED, MASK m, int64_t kc, const T *A,
                int64_t a_rs, int64_t a_cs, const T *B, int64_t b_rs, T *C, int64_t ldc,
                bool accumulate, const T *bias) {
    V acc[GEMM_SIMD_MAX_ROWS][GEMM_SIMD_MAX_VECS];
    V start[GEMM_SIMD_MAX_VECS];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
        start[v] = !bias ? VZERO() : MASKED ? VLOADM(bias + v * VL, m) : VLOAD(bias + v * VL);
#pragma GCC unroll 32
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[r][v] = start[v];
    for (int64_t k = 0; k < kc; k++) {
        V bv[GEMM_SIMD_MAX_VECS];
        const T *brow = B + k * b_rs;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            bv[v] = MASKED ? VLOADM(brow + v * VL, m) : VLOAD(brow + v * VL);
#pragma GCC unroll 32
        for (int r = 0; r < R; r++) {
            V av = VSET1(A[r * a_rs + k * a_cs]);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) acc[r][v] = VFMA(av, bv[v], acc[r][v]);
        }
    }
#pragma GCC unroll 32
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            T *c = C + r * ldc + v * VL;
            if (MASKED) {
                V x = accumulate ? VADD(acc[r][v], VLOADM(c, m)) : acc[r][v];
                VSTOREM(c, m, x);
            } else {
                VSTORE(c, accumulate ? VADD(acc[r][v], VLOAD(c)) : acc[r][v]);
            }
        }
}

/* Every tile height (1-24) of each column block kind (DIRECT_VECS vectors; one; one masked)
 * as a function of its own, so that each gets its own register allocation: inlined into one
 * body they measured 10% slower. Heights above the kind's tile rows are never called and
 * compile to nothing. */
typedef void (*FN(tile_fn))(MASK m, int64_t kc, const T *A, int64_t a_rs, int64_t a_cs, const T *B,
                            int64_t b_rs, T *C, int64_t ldc, bool accumulate, const T *bias);

#define GEMM_SIMD_TILE_KIND(kind, h, NV, MASKED, ROWS)                                             \
    static __attribute__((noinline)) TARGET void FN(tile_##kind##_##h)(                            \
        MASK m, int64_t kc, const T *A, int64_t a_rs, int64_t a_cs, const T *B, int64_t b_rs,      \
        T *C, int64_t ldc, bool accumulate, const T *bias) {                                       \
        if (h <= ROWS)                                                                             \
            FN(direct_tile)                                                                        \
            (h, NV, MASKED, m, kc, A, a_rs, a_cs, B, b_rs, C, ldc, accumulate, bias);              \
    }
#define GEMM_SIMD_TILES(h)                                                                         \
    GEMM_SIMD_TILE_KIND(wide, h, DIRECT_VECS, false, DIRECT_ROWS)                                  \
    GEMM_SIMD_TILE_KIND(one, h, 1, false, DIRECT_ROWS_1)                                           \
    GEMM_SIMD_TILE_KIND(masked, h, 1, true, DIRECT_ROWS_1)
GEMM_SIMD_TILES(1)
GEMM_SIMD_TILES(2)
GEMM_SIMD_TILES(3)
GEMM_SIMD_TILES(4)
GEMM_SIMD_TILES(5)
GEMM_SIMD_TILES(6)
GEMM_SIMD_TILES(7)
GEMM_SIMD_TILES(8)
GEMM_SIMD_TILES(9)
GEMM_SIMD_TILES(10)
GEMM_SIMD_TILES(11)
GEMM_SIMD_TILES(12)
GEMM_SIMD_TILES(13)
GEMM_SIMD_TILES(14)
GEMM_SIMD_TILES(15)
GEMM_SIMD_TILES(16)
GEMM_SIMD_TILES(17)
GEMM_SIMD_TILES(18)
GEMM_SIMD_TILES(19)
GEMM_SIMD_TILES(20)
GEMM_SIMD_TILES(21)
GEMM_SIMD_TILES(22)
GEMM_SIMD_TILES(23)
GEMM_SIMD_TILES(24)
#undef GEMM_SIMD_TILES
#undef GEMM_SIMD_TILE_KIND

#define GEMM_SIMD_TILE_TABLE(kind)                                                                 \
    {NULL,                FN(tile_##kind##_1),  FN(tile_##kind##_2),  FN(tile_##kind##_3),         \
     FN(tile_##kind##_4),  FN(tile_##kind##_5),  FN(tile_##kind##_6),  FN(tile_##kind##_7),        \
     FN(tile_##kind##_8),  FN(tile_##kind##_9),  FN(tile_##kind##_10), FN(tile_##kind##_11),       \
     FN(tile_##kind##_12), FN(tile_##kind##_13), FN(tile_##kind##_14), FN(tile_##kind##_15),       \
     FN(tile_##kind##_16), FN(tile_##kind##_17), FN(tile_##kind##_18), FN(tile_##kind##_19),       \
     FN(tile_##kind##_20), FN(tile_##kind##_21), FN(tile_##kind##_22), FN(tile_##kind##_23),       \
     FN(tile_##kind##_24)}
static const FN(tile_fn) FN(tiles_wide)[25] = GEMM_SIMD_TILE_TABLE(wide);
static const FN(tile_fn) FN(tiles_one)[25] = GEMM_SIMD_TILE_TABLE(one);
static const FN(tile_fn) FN(tiles_masked)[25] = GEMM_SIMD_TILE_TABLE(masked);
#undef GEMM_SIMD_TILE_TABLE

/* One column block of the direct product down all M rows. Wide blocks go in the fewest
 * tiles of at most R rows, of heights that differ by at most one: 32 rows as 11 + 11 + 10
 * rather than 12 + 12 + 4 + 4, 6 rows as one tile; every tile streams the block of B once,
 * and a short tile does as many loads of B for fewer multiply-adds. One-vector blocks take
 * full tiles of R rows inlined here (their 24-row instance measured 20% slower as a function
 * of its own, which the wide tiles are not), then the rest as one tile. */
static inline __attribute__((always_inline)) TARGET void
FN(direct_rows)(const int R, const int NV, const bool MASKED, MASK m, int64_t M, int64_t kc,
                const T *A, int64_t a_rs, int64_t a_cs, const T *B, int64_t b_rs, T *C, int64_t ldc,
                bool accumulate, const T *bias) {
    const FN(tile_fn) *tile = NV > 1 ? FN(tiles_wide) : MASKED ? FN(tiles_masked) : FN(tiles_one);
    int64_t i = 0;
    if (NV == 1)
        for (; i + R <= M; i += R)
            FN(direct_tile)
            (R, NV, MASKED, m, kc, A + i * a_rs, a_rs, a_cs, B, b_rs, C + i * ldc, ldc, accumulate,
             bias);
    if (i == M) return;
    int64_t rest = M - i, tiles = (rest + R - 1) / R, base = rest / tiles, extra = rest % tiles;
    for (int64_t t = 0; t < tiles; t++) {
        int h = (int)(base + (t < extra));
        tile[h](m, kc, A + i * a_rs, a_rs, a_cs, B, b_rs, C + i * ldc, ldc, accumulate, bias);
        i += h;
    }
}

/* The direct product (one slice of K from the driver): columns in blocks of DIRECT_VECS
 * vectors with DIRECT_ROWS rows, then of one vector with DIRECT_ROWS_1 rows, the last one
 * masked. Each block of B's slice stays in L1/L2 while every row block passes over it. */
static TARGET void FN(direct)(int64_t M, int64_t N, int64_t K, const void *Ap, int64_t a_rs,
                              int64_t a_cs, const void *Bp, int64_t b_rs, int64_t b_cs, void *Cp,
                              int64_t ldc, bool accumulate, const void *biasp) {
    (void)b_cs; /* 1: the driver's precondition */
    const T *A = Ap, *B = Bp, *bias = accumulate ? NULL : biasp;
    T *C = Cp;
    MASK all = MASK_FIRST(VL);
    int64_t j = 0;
    for (; j + DIRECT_VECS * VL <= N; j += DIRECT_VECS * VL)
        FN(direct_rows)
        (DIRECT_ROWS, DIRECT_VECS, false, all, M, K, A, a_rs, a_cs, B + j, b_rs, C + j, ldc,
         accumulate, bias ? bias + j : NULL);
    for (; j + VL <= N; j += VL)
        FN(direct_rows)
        (DIRECT_ROWS_1, 1, false, all, M, K, A, a_rs, a_cs, B + j, b_rs, C + j, ldc, accumulate,
         bias ? bias + j : NULL);
    if (j < N)
        FN(direct_rows)
        (DIRECT_ROWS_1, 1, true, MASK_FIRST((int)(N - j)), M, K, A, a_rs, a_cs, B + j, b_rs, C + j,
         ldc, accumulate, bias ? bias + j : NULL);
}

/* The dot-product form, for A's rows and B's columns both contiguous in k (a_cs = b_rs = 1,
 * as in a weight gradient G X^T): each entry of C is the dot product of two contiguous runs,
 * so nothing is copied or transposed, and a tiny C with a huge K (6 x 25 over 50,176) keeps
 * DOT_ROWS x DOT_COLS vector accumulators busy along k instead of padding vector tiles. Tiles
 * at the edges repeat the last row or column (reads stay inside the operands; those results
 * are dropped). The k tail is read masked as zeros. Each entry's lanes are summed at the end. */
static TARGET void FN(dot)(int64_t M, int64_t N, int64_t K, const void *Ap, int64_t a_rs,
                           const void *Bp, int64_t b_cs, void *Cp, int64_t ldc, bool accumulate) {
    const T *A = Ap, *B = Bp;
    T *C = Cp;
    MASK tail = MASK_FIRST((int)(K % VL));
    int64_t k_full = K - K % VL;
    for (int64_t i0 = 0; i0 < M; i0 += DOT_ROWS)
        for (int64_t j0 = 0; j0 < N; j0 += DOT_COLS) {
            const T *a[DOT_ROWS], *b[DOT_COLS];
            for (int r = 0; r < DOT_ROWS; r++)
                a[r] = A + (i0 + r < M ? i0 + r : M - 1) * a_rs;
            for (int c = 0; c < DOT_COLS; c++)
                b[c] = B + (j0 + c < N ? j0 + c : N - 1) * b_cs;
            V acc[DOT_ROWS][DOT_COLS];
#pragma GCC unroll 8
            for (int r = 0; r < DOT_ROWS; r++)
#pragma GCC unroll 8
                for (int c = 0; c < DOT_COLS; c++) acc[r][c] = VZERO();
            for (int64_t k = 0; k < k_full; k += VL) {
                V bv[DOT_COLS];
#pragma GCC unroll 8
                for (int c = 0; c < DOT_COLS; c++) bv[c] = VLOAD(b[c] + k);
#pragma GCC unroll 8
                for (int r = 0; r < DOT_ROWS; r++) {
                    V av = VLOAD(a[r] + k);
#pragma GCC unroll 8
                    for (int c = 0; c < DOT_COLS; c++) acc[r][c] = VFMA(av, bv[c], acc[r][c]);
                }
            }
            if (k_full < K) {
                V bv[DOT_COLS];
#pragma GCC unroll 8
                for (int c = 0; c < DOT_COLS; c++) bv[c] = VLOADM(b[c] + k_full, tail);
#pragma GCC unroll 8
                for (int r = 0; r < DOT_ROWS; r++) {
                    V av = VLOADM(a[r] + k_full, tail);
#pragma GCC unroll 8
                    for (int c = 0; c < DOT_COLS; c++) acc[r][c] = VFMA(av, bv[c], acc[r][c]);
                }
            }
            int rows = M - i0 < DOT_ROWS ? (int)(M - i0) : DOT_ROWS;
            int cols = N - j0 < DOT_COLS ? (int)(N - j0) : DOT_COLS;
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) {
                    T *d = C + (i0 + r) * ldc + j0 + c, sum = VHSUM(acc[r][c]);
                    *d = accumulate ? *d + sum : sum;
                }
        }
}

static TARGET void FN(ukr_main)(int64_t kc, const void *a, const void *b, void *c, int64_t ldc,
                                bool accumulate) {
    FN(ukr_body)(MAIN_MR, MAIN_NV, kc, a, b, c, ldc, accumulate);
}

#undef GEMM_SIMD_MAX_ROWS
#undef GEMM_SIMD_MAX_VECS

/* gemm_simd.h: the SIMD GEMM kernels written once for any vector width and element type; a
 * template included by gemm_avx2.c and gemm_avx512.c once per dtype (no include guard).
 *
 * The includer defines: T (element), V (vector), VL (lanes), VLOAD/VSTORE (unaligned),
 * VSET1 (broadcast), VZERO, VFMA(a, b, c) = a*b + c, VADD, TARGET (the target attribute) and
 * FN(name) (the name with the level and dtype appended); MASK, MASK_FIRST(n) (the first n
 * lanes), VLOADM(p, m) and VSTOREM(p, m, v) (lanes outside m neither read nor written); the
 * tile shapes MAIN_MR x MAIN_NV vectors (packed), DIRECT_ROWS x DIRECT_VECS and DIRECT_ROWS_1
 * x 1 (direct). Tile sizes reach the bodies as constants and every loop over them is unrolled,
 * so the accumulators stay in registers. */

#define GEMM_SIMD_MAX_ROWS 32
#define GEMM_SIMD_MAX_VECS 4

/* C (MR x NV*VL) = (or +=) the packed panels' product over kc steps. */
static inline __attribute__((always_inline)) TARGET void
FN(ukr_body)(const int MR, const int NV, int64_t kc, const T *restrict a, const T *restrict b,
             T *restrict c, int64_t ldc, bool accumulate) {
    V acc[GEMM_SIMD_MAX_ROWS][GEMM_SIMD_MAX_VECS];
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
 * its strides and B's rows in place. MASKED (with NV 1): only the lanes in m exist. */
static inline __attribute__((always_inline)) TARGET void
FN(direct_tile)(const int R, const int NV, const bool MASKED, MASK m, int64_t kc, const T *A,
                int64_t a_rs, int64_t a_cs, const T *B, int64_t b_rs, T *C, int64_t ldc,
                bool accumulate) {
    V acc[GEMM_SIMD_MAX_ROWS][GEMM_SIMD_MAX_VECS];
#pragma GCC unroll 32
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[r][v] = VZERO();
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

/* One column block of the direct product down all M rows: R rows at a time, then 4, then 1. */
static inline __attribute__((always_inline)) TARGET void
FN(direct_rows)(const int R, const int NV, const bool MASKED, MASK m, int64_t M, int64_t kc,
                const T *A, int64_t a_rs, int64_t a_cs, const T *B, int64_t b_rs, T *C, int64_t ldc,
                bool accumulate) {
    int64_t i = 0;
    for (; i + R <= M; i += R)
        FN(direct_tile)
        (R, NV, MASKED, m, kc, A + i * a_rs, a_rs, a_cs, B, b_rs, C + i * ldc, ldc, accumulate);
    for (; i + 4 <= M; i += 4)
        FN(direct_tile)
        (4, NV, MASKED, m, kc, A + i * a_rs, a_rs, a_cs, B, b_rs, C + i * ldc, ldc, accumulate);
    for (; i < M; i++)
        FN(direct_tile)
        (1, NV, MASKED, m, kc, A + i * a_rs, a_rs, a_cs, B, b_rs, C + i * ldc, ldc, accumulate);
}

/* The direct product (one slice of K from the driver): columns in blocks of DIRECT_VECS
 * vectors with DIRECT_ROWS rows, then of one vector with DIRECT_ROWS_1 rows, the last one
 * masked. Each block of B's slice stays in L1/L2 while every row block passes over it. */
static TARGET void FN(direct)(int64_t M, int64_t N, int64_t K, const void *Ap, int64_t a_rs,
                              int64_t a_cs, const void *Bp, int64_t b_rs, int64_t b_cs, void *Cp,
                              int64_t ldc, bool accumulate) {
    (void)b_cs; /* 1: the driver's precondition */
    const T *A = Ap, *B = Bp;
    T *C = Cp;
    MASK all = MASK_FIRST(VL);
    int64_t j = 0;
    for (; j + DIRECT_VECS * VL <= N; j += DIRECT_VECS * VL)
        FN(direct_rows)
        (DIRECT_ROWS, DIRECT_VECS, false, all, M, K, A, a_rs, a_cs, B + j, b_rs, C + j, ldc,
         accumulate);
    for (; j + VL <= N; j += VL)
        FN(direct_rows)
        (DIRECT_ROWS_1, 1, false, all, M, K, A, a_rs, a_cs, B + j, b_rs, C + j, ldc, accumulate);
    if (j < N)
        FN(direct_rows)
        (DIRECT_ROWS_1, 1, true, MASK_FIRST((int)(N - j)), M, K, A, a_rs, a_cs, B + j, b_rs, C + j,
         ldc, accumulate);
}

static TARGET void FN(ukr_main)(int64_t kc, const void *a, const void *b, void *c, int64_t ldc,
                                bool accumulate) {
    FN(ukr_body)(MAIN_MR, MAIN_NV, kc, a, b, c, ldc, accumulate);
}

#undef GEMM_SIMD_MAX_ROWS
#undef GEMM_SIMD_MAX_VECS

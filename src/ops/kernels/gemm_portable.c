/* gemm_portable.c: the GEMM kernels in plain C, which every machine can run: a 4 x 8 (f32) or
 * 4 x 4 (f64) micro-kernel on packed panels, and the direct i-k-j product for small or oddly
 * strided operands. The compiler may vectorise them for the baseline instruction set only. */
#include <string.h>

#include "gemm.h"

#define MR_F32 4
#define NR_F32 8
#define MR_F64 4
#define NR_F64 4

/* The micro-kernel: a small accumulator tile the compiler can keep in registers, since every
 * loop bound is a constant. */
#define PORTABLE_UKR(T, MR, NR)                                                                    \
    static void ukr_##T(int64_t kc, const void *ap, const void *bp, void *cp, int64_t ldc,         \
                        bool accumulate) {                                                         \
        const T *a = ap, *b = bp;                                                                  \
        T *c = cp;                                                                                 \
        T ab[MR][NR];                                                                              \
        memset(ab, 0, sizeof ab);                                                                  \
        for (int64_t k = 0; k < kc; k++, a += MR, b += NR)                                         \
            for (int i = 0; i < MR; i++)                                                           \
                for (int j = 0; j < NR; j++) ab[i][j] += a[i] * b[j];                              \
        for (int i = 0; i < MR; i++)                                                               \
            for (int j = 0; j < NR; j++)                                                           \
                c[i * ldc + j] = accumulate ? c[i * ldc + j] + ab[i][j] : ab[i][j];                \
    }

PORTABLE_UKR(float, MR_F32, NR_F32)
PORTABLE_UKR(double, MR_F64, NR_F64)

/* Rows of C are sums of rows of B scaled by A's entries (i-k-j), so when B's rows are
 * contiguous the inner loop streams through memory. */
#define PORTABLE_DIRECT(T, NAME)                                                                   \
    void NAME(int64_t M, int64_t N, int64_t K, const void *Ap, int64_t a_rs, int64_t a_cs,         \
              const void *Bp, int64_t b_rs, int64_t b_cs, void *Cp, int64_t ldc,                   \
              bool accumulate, const void *bias) {                                                 \
        const T *A = Ap, *B = Bp;                                                                  \
        T *C = Cp;                                                                                 \
        for (int64_t i = 0; i < M; i++) {                                                          \
            T *c = C + i * ldc;                                                                    \
            if (!accumulate && bias)                                                               \
                memcpy(c, bias, (size_t)N * sizeof(T));                                            \
            else if (!accumulate)                                                                  \
                memset(c, 0, (size_t)N * sizeof(T));                                               \
            for (int64_t k = 0; k < K; k++) {                                                      \
                T a = A[i * a_rs + k * a_cs];                                                      \
                const T *b = B + k * b_rs;                                                         \
                if (b_cs == 1)                                                                     \
                    for (int64_t j = 0; j < N; j++) c[j] += a * b[j];                              \
                else                                                                               \
                    for (int64_t j = 0; j < N; j++) c[j] += a * b[j * b_cs];                       \
            }                                                                                      \
        }                                                                                          \
    }

PORTABLE_DIRECT(float, gemm_direct_portable_f32)
PORTABLE_DIRECT(double, gemm_direct_portable_f64)

/* Blocking: an A block of mc x kc and a B panel of kc x nc stay within typical L2 / L3. */
const gemm_impl gemm_portable_f32 = {
    .packed = {MR_F32, NR_F32, 256, 128, 2048, ukr_float},
    .direct = gemm_direct_portable_f32,
    .direct_unit_b = false,
    .direct_kc = 256,
    .direct_mr = 1,
    .direct_nr = NR_F32,
};

const gemm_impl gemm_portable_f64 = {
    .packed = {MR_F64, NR_F64, 256, 64, 2048, ukr_double},
    .direct = gemm_direct_portable_f64,
    .direct_unit_b = false,
    .direct_kc = 256,
    .direct_mr = 1,
    .direct_nr = NR_F64,
};

/* gemm.c: the matrix product C = A B on strided operands.
 *
 * This is the portable path: rows of C are built as sums of rows of B scaled by A's entries
 * (i-k-j order), so that when B's rows are contiguous the innermost loop streams through memory
 * and the compiler vectorises it. A transposed operand is read through its strides, not copied. */
#include <string.h>

#include "kernels.h"

#define GEMM(T)                                                                                \
    static void gemm_##T(int64_t M, int64_t N, int64_t K, const T *A, int64_t a_rs,            \
                         int64_t a_cs, const T *B, int64_t b_rs, int64_t b_cs, T *C,           \
                         int64_t ldc) {                                                        \
        for (int64_t i = 0; i < M; i++) {                                                      \
            T *c = C + i * ldc;                                                                \
            memset(c, 0, (size_t)N * sizeof(T));                                               \
            for (int64_t k = 0; k < K; k++) {                                                  \
                T a = A[i * a_rs + k * a_cs];                                                  \
                const T *b = B + k * b_rs;                                                     \
                if (b_cs == 1)                                                                 \
                    for (int64_t j = 0; j < N; j++) c[j] += a * b[j];                          \
                else                                                                           \
                    for (int64_t j = 0; j < N; j++) c[j] += a * b[j * b_cs];                   \
            }                                                                                  \
        }                                                                                      \
    }

GEMM(float)
GEMM(double)

void kern_gemm(tg_dtype dtype, int64_t M, int64_t N, int64_t K, const void *A, int64_t a_rs,
               int64_t a_cs, const void *B, int64_t b_rs, int64_t b_cs, void *C, int64_t ldc) {
    if (dtype == TG_F32)
        gemm_float(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc);
    else
        gemm_double(M, N, K, A, a_rs, a_cs, B, b_rs, b_cs, C, ldc);
}

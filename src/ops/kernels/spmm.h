/* spmm.h: the kernels of the sparse products (CSR pattern times dense, and the sampled dense
 * product that gives a CSR matrix's values their gradient), shared by the driver (spmm.c) and
 * its per-instruction-set instantiations (spmm_avx2.c, spmm_avx512.c, spmm_neon.c of spmm_simd.h).
 *
 * A pattern's column indices are int32 and sorted within each row; row_ptr has rows + 1
 * entries, row_ptr[0] = 0. Dense operands have contiguous rows (unit column stride) and any row
 * stride. Every kernel writes its result whole (no accumulate), so no input is read twice. */
#ifndef TG_KERN_SPMM_H
#define TG_KERN_SPMM_H

#include <stdint.h>

#include "tapegrad/base.h"
#include "tapegrad/runtime.h"

typedef struct kern_csr {
    int64_t rows, cols, nnz;
    const int32_t *row_ptr; /* rows + 1 */
    const int32_t *col;     /* nnz */
} kern_csr;

/* Y (a->rows, n) = A X, A the pattern with values val (nnz), X (a->cols, n): for every row r,
 * y[r] = sum over the row's entries p of val[p] * x[col[p]]. */
typedef void (*spmm_rows_fn)(const kern_csr *a, int64_t r0, int64_t r1, const void *val,
                             int64_t n, const void *x, int64_t ldx, void *y, int64_t ldy);
/* val[p] = sum_k P[r, k] Q[col[p], k] for every entry p of rows [r0, r1): P (rows, n),
 * Q (cols, n). */
typedef void (*sddmm_rows_fn)(const kern_csr *a, int64_t r0, int64_t r1, int64_t n,
                              const void *p, int64_t ldp, const void *q, int64_t ldq, void *val);

typedef struct spmm_impl {
    spmm_rows_fn spmm;
    sddmm_rows_fn sddmm;
} spmm_impl;

extern const spmm_impl spmm_portable_f32, spmm_portable_f64;
#if defined(__x86_64__) || defined(__i386__)
extern const spmm_impl spmm_avx2_f32, spmm_avx2_f64;
extern const spmm_impl spmm_avx512_f32, spmm_avx512_f64;
#endif
#if defined(__aarch64__)
extern const spmm_impl spmm_neon_f32, spmm_neon_f64;
#endif

/* The whole products, on the kernels of the CPU level in effect, rows shared between the
 * pool's threads when the work is large enough. */
void kern_spmm(tg_dtype dtype, const kern_csr *a, const void *val, int64_t n, const void *x,
               int64_t ldx, void *y, int64_t ldy);
void kern_sddmm(tg_dtype dtype, const kern_csr *a, int64_t n, const void *p, int64_t ldp,
                const void *q, int64_t ldq, void *val);

#endif

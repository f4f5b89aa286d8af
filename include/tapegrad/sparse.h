/* tapegrad/sparse.h: sparse matrices in CSR form and their products with dense matrices.
 *
 * A tg_csr holds only a pattern: which entries of a (rows, cols) matrix are kept, row by row
 * (row_ptr, and the column of each kept entry, sorted within a row). The values are an
 * ordinary 1-D tensor of nnz elements beside it, so that they can be a parameter, a tape
 * tensor or a view, and receive a gradient like any tensor:
 *
 *     // w: (256, 784) pruned weights, x: (784, B) a batch as columns  ->  y: (256, B)
 *     tg_error err = {0};
 *     tg_csr *a = tg_csr_from_dense(w, 0.0, &err);        // keeps the entries with |w| > 0
 *     tg_tensor *v = tg_zeros(t, TG_F32, TG_SHAPE(tg_csr_nnz(a)));
 *     tg_csr_gather(a, w, v, &err);                       // v[p] = w[i, j] of entry p
 *     tg_tensor *y = tg_spmm(t, a, v, x);                 // y = A x
 *     ...
 *     tg_csr_free(a);   // after the tape's last use of y (tg_tape_reset)
 *
 * The three products are a closed family: each one's gradient is made of the other two, so
 * second derivatives need nothing more (for A with values v, x dense, g an output gradient):
 *
 *     spmm:   y = A x              dx = A^T g          dv[(i,j)] = sum_n g[i,n] x[j,n]
 *     spmm_t: z = A^T x            dx = A g            dv[(i,j)] = sum_n x[i,n] g[j,n]
 *     sddmm:  v[(i,j)] = sum_n p[i,n] q[j,n]           dp = A(g) q,   dq = A(g)^T p
 *
 * A pattern is immutable once made and may be shared by any number of tapes and threads. An op
 * that used it keeps a pointer to it on its node: free the pattern only after the tape was
 * reset (or freed). Indices are int32: a pattern has fewer than 2^31 entries and columns. */
#ifndef TAPEGRAD_SPARSE_H
#define TAPEGRAD_SPARSE_H

#include "tapegrad/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

typedef struct tg_csr tg_csr;

/* The pattern of the entries of w (rows, cols), f32 or f64, any strides, whose magnitude
 * exceeds threshold (NaN entries are kept; threshold < 0 keeps every entry). Owned by the
 * caller: free with tg_csr_free. NULL with err set (if err is not NULL) when w is NULL, not
 * 2-D, too large for int32 indices, or memory runs out. */
tg_csr *tg_csr_from_dense(const tg_tensor *w, double threshold, tg_error *err);
/* The pattern of the nonzero entries of mask (rows, cols); otherwise as tg_csr_from_dense. */
tg_csr *tg_csr_from_mask(const tg_tensor *mask, tg_error *err);
/* A pattern from its arrays, copied: row_ptr (rows + 1, starting at 0, non-decreasing), col
 * (row_ptr[rows] entries, each in [0, cols), strictly increasing within a row), as PyTorch's
 * crow_indices and col_indices. NULL with err set on any array that breaks these rules. */
tg_csr *tg_csr_from_arrays(int64_t rows, int64_t cols, const int32_t *row_ptr,
                           const int32_t *col, tg_error *err);
/* Frees the pattern; NULL does nothing. */
void tg_csr_free(tg_csr *a);

int64_t tg_csr_rows(const tg_csr *a);
int64_t tg_csr_cols(const tg_csr *a);
int64_t tg_csr_nnz(const tg_csr *a);
/* The pattern's arrays (rows + 1 and nnz entries); owned by the pattern. */
const int32_t *tg_csr_row_ptr(const tg_csr *a);
const int32_t *tg_csr_col_idx(const tg_csr *a);
/* Bytes the matrix takes for inference with values of dtype: values, column indices and row
 * pointers (the transposed index kept for backward passes is not counted). */
size_t tg_csr_bytes(const tg_csr *a, tg_dtype dtype);

/* values[p] = w[i, j] for every entry p = (i, j) of the pattern. w: (rows, cols), values:
 * (nnz), both f32 or f64 (they may differ), any strides. TG_ERR_* with err set on a NULL or a
 * shape that does not fit; nothing is written then. */
tg_status tg_csr_gather(const tg_csr *a, const tg_tensor *w, tg_tensor *values, tg_error *err);
/* out (rows, cols) = the dense matrix: zeros with values scattered into the pattern. */
tg_status tg_csr_scatter(const tg_csr *a, const tg_tensor *values, tg_tensor *out,
                         tg_error *err);

/* y (rows, N) = A x, A the pattern with values (nnz), x: (cols, N), any strides. The op keeps
 * a pointer to a (see above). Errors: NULL a, values not (nnz), x not (cols, N), dtypes that
 * differ. */
tg_tensor *tg_spmm_at(tg_tape *t, const char *file, int line, const tg_csr *a,
                      tg_tensor *values, tg_tensor *x);
/* z (cols, N) = A^T x, x: (rows, N). */
tg_tensor *tg_spmm_t_at(tg_tape *t, const char *file, int line, const tg_csr *a,
                        tg_tensor *values, tg_tensor *x);
/* The dense product p q^T sampled at the pattern: v (nnz), v[(i,j)] = sum_n p[i,n] q[j,n],
 * p: (rows, N), q: (cols, N). */
tg_tensor *tg_sddmm_at(tg_tape *t, const char *file, int line, const tg_csr *a, tg_tensor *p,
                       tg_tensor *q);

#define tg_spmm(t, ...)   tg_spmm_at(t, TG_SITE_, __VA_ARGS__)
#define tg_spmm_t(t, ...) tg_spmm_t_at(t, TG_SITE_, __VA_ARGS__)
#define tg_sddmm(t, ...)  tg_sddmm_at(t, TG_SITE_, __VA_ARGS__)

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif

#endif

/* csr.h: the layout of a sparse pattern (tapegrad/sparse.h), shared by csr.c, which makes it,
 * and sparse.c, whose ops use it. Private to src/ops.
 *
 * Invariant: the transposed index describes the same entries as the rows: entry q of the
 * transpose (column j's q-th kept row) is entry t_perm[q] of the rows. */
#ifndef TG_OPS_CSR_H
#define TG_OPS_CSR_H

#include "tapegrad/sparse.h"
#include "kernels/spmm.h"

struct tg_csr {
    kern_csr rows;   /* the matrix, row by row */
    kern_csr cols;   /* its transpose: for each column, the rows that keep it, in order */
    int32_t *t_perm; /* cols' entry q is rows' entry t_perm[q] */
};

#endif

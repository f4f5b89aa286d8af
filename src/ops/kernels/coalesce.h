/* coalesce.h: merging the dimensions of an n-d loop that every operand lays out as one run, so
 * kernels see the fewest, longest loops (a contiguous (64, 256) add becomes one loop of 16384;
 * a row broadcast stays two loops, with the inner one contiguous in both operands).
 *
 * Invariant: the merged loop visits the same elements in the same row-major order, so results
 * (and the order of any accumulation) are exactly those of the unmerged loop. */
#ifndef TG_KERN_COALESCE_H
#define TG_KERN_COALESCE_H

#include "tapegrad/base.h"

/* Row-major strides (in elements) of a contiguous block of the given shape. */
static inline void kern_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        strides[d] = s;
        s *= shape[d] > 0 ? shape[d] : 1;
    }
}

/* Rewrites (ndim, shape) and the n_ops (at most 4) operands' strides (strides[op][d]) in place:
 * size-1 dimensions are dropped, and dimension d joins d + 1 when every operand's stride along d is
 * its stride along d + 1 times that size. Returns the new ndim (0 for a single element). A
 * shape holding a 0 is left as it is: callers return before looping over no elements. */
static inline int kern_coalesce(int ndim, int64_t *shape, int n_ops,
                                int64_t (*strides)[TG_MAX_DIMS]) {
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0) return ndim;
    int out = 0; /* dimensions kept so far, stored from the end backwards */
    int64_t sh[TG_MAX_DIMS], st[4][TG_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        if (shape[d] == 1) continue;
        bool merge = out > 0;
        for (int k = 0; merge && k < n_ops; k++)
            merge = strides[k][d] == st[k][TG_MAX_DIMS - out] * sh[TG_MAX_DIMS - out];
        if (merge) {
            sh[TG_MAX_DIMS - out] *= shape[d]; /* the step stays the innermost one's */
        } else {
            out++;
            sh[TG_MAX_DIMS - out] = shape[d];
            for (int k = 0; k < n_ops; k++) st[k][TG_MAX_DIMS - out] = strides[k][d];
        }
    }
    for (int d = 0; d < out; d++) {
        shape[d] = sh[TG_MAX_DIMS - out + d];
        for (int k = 0; k < n_ops; k++) strides[k][d] = st[k][TG_MAX_DIMS - out + d];
    }
    return out;
}

#endif

/* nd_iter.h: walks the outer dimensions of an n-d block while the caller runs the innermost
 * one as a plain strided loop. Used by every kernel that accepts strided operands.
 *
 *     nd_iter it;
 *     nd_iter_init(&it, ndim, shape);
 *     do { ... it.idx[] gives the outer position ... } while (nd_iter_next(&it));
 */
#ifndef TG_ND_ITER_H
#define TG_ND_ITER_H

#include "tapegrad/base.h"

typedef struct nd_iter {
    int n_outer;                 /* ndim - 1, or 0 */
    int64_t inner;               /* size of the innermost dimension (1 for 0-d) */
    int64_t idx[TG_MAX_DIMS];    /* position in the outer dimensions */
    const int64_t *shape;
    bool empty;                  /* some dimension is 0 */
} nd_iter;

static inline void nd_iter_init(nd_iter *it, int ndim, const int64_t *shape) {
    it->n_outer = ndim > 0 ? ndim - 1 : 0;
    it->inner = ndim > 0 ? shape[ndim - 1] : 1;
    it->shape = shape;
    it->empty = false;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0) it->empty = true;
        it->idx[i] = 0;
    }
}

/* Offset of the current outer position for the given strides. */
static inline int64_t nd_iter_offset(const nd_iter *it, const int64_t *strides) {
    int64_t off = 0;
    for (int i = 0; i < it->n_outer; i++) off += it->idx[i] * strides[i];
    return off;
}

/* Advances to the next outer position; false when done. */
static inline bool nd_iter_next(nd_iter *it) {
    for (int i = it->n_outer - 1; i >= 0; i--) {
        if (++it->idx[i] < it->shape[i]) return true;
        it->idx[i] = 0;
    }
    return false;
}

#endif

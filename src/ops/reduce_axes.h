/* reduce_axes.h: the bookkeeping that the reductions in reduce_extrema.c and reduce_stats.c
 * share: which axes are reduced, the result's shape with and without keepdim, and the node
 * attributes that let a backward rule restore the reduced axes as size 1.
 *
 * Node attributes of these reductions: iattr[0] = bit mask of reduced axes, iattr[1] = keepdim;
 * the ops may use iattr[2..] and fattr[] for their own parameters. */
#ifndef TG_REDUCE_AXES_H
#define TG_REDUCE_AXES_H

#include <stdio.h>

#include "op_util.h"

typedef struct tg_reduce_plan {
    bool mask[TG_MAX_DIMS];      /* reduced axes of x */
    int out_ndim;                /* the result's dimensions (keepdim or not) */
    int64_t out_shape[TG_MAX_DIMS];
    int64_t kept_shape[TG_MAX_DIMS]; /* x's shape with reduced axes as 1 (x->ndim entries) */
    int64_t count;               /* elements reduced into each result element */
    bool keepdim;
} tg_reduce_plan;

/* Fills the plan for reducing x over `axes` (every axis when all is true). False after keeping
 * an error naming op (axis out of range or repeated, bad axes list). */
static inline bool tg_reduce_plan_make(tg_tape *t, const char *op, const tg_tensor *x, bool all,
                                       int n_axes, const int *axes, bool keepdim,
                                       tg_reduce_plan *p) {
    if (all) {
        for (int d = 0; d < TG_MAX_DIMS; d++) p->mask[d] = d < x->ndim;
    } else if (!tg_axes_mask(t, op, x, n_axes, axes, p->mask)) {
        return false;
    }
    p->out_ndim = 0;
    p->count = 1;
    p->keepdim = keepdim;
    for (int d = 0; d < x->ndim; d++) {
        p->kept_shape[d] = p->mask[d] ? 1 : x->shape[d];
        if (p->mask[d]) p->count *= x->shape[d];
        if (!p->mask[d] || keepdim) p->out_shape[p->out_ndim++] = p->kept_shape[d];
    }
    return true;
}

/* Stores the plan's axes and keepdim on the node that produced y (if one was recorded). */
static inline void tg_reduce_plan_store(const tg_reduce_plan *p, const tg_tensor *x,
                                        tg_tensor *y) {
    if (!y->node) return;
    int64_t bits = 0;
    for (int d = 0; d < x->ndim; d++) bits |= (int64_t)p->mask[d] << d;
    y->node->iattr[0] = bits;
    y->node->iattr[1] = p->keepdim;
}

/* The reduced axes of a node's input 0 as a list; returns how many. */
static inline int tg_reduce_node_axes(const tg_node *n, int *axes) {
    int k = 0;
    for (int d = 0; d < n->inputs[0]->ndim; d++)
        if ((n->iattr[0] >> d) & 1) axes[k++] = d;
    return k;
}

/* y (a node's output or its gradient) with the reduced axes restored as size 1, so that it
 * broadcasts against the input. */
static inline tg_tensor *tg_reduce_node_kept(tg_tape *t, const tg_node *n, tg_tensor *y) {
    const tg_tensor *x = n->inputs[0];
    if (n->iattr[1]) return y;
    int64_t kept[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) kept[d] = (n->iattr[0] >> d) & 1 ? 1 : x->shape[d];
    return tg_reshape(t, y, x->ndim, kept);
}

/* Contiguous strides of the kept shape, with 0 along the reduced axes: how a (keepdim-shaped)
 * result is read when broadcast back over x. */
static inline void tg_reduce_plan_bstrides(const tg_reduce_plan *p, int ndim, int64_t *strides) {
    tg_contiguous_strides(ndim, p->kept_shape, strides);
    for (int d = 0; d < ndim; d++)
        if (p->mask[d]) strides[d] = 0;
}

/* "axes=(0,2) keepdim" for DOT labels. */
static inline void tg_reduce_describe(const tg_node *n, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "axes=(");
    bool first = true;
    for (int d = 0; d < n->inputs[0]->ndim && used < size; d++) {
        if (!((n->iattr[0] >> d) & 1)) continue;
        used += (size_t)snprintf(buf + used, size - used, first ? "%d" : ",%d", d);
        first = false;
    }
    if (used < size) snprintf(buf + used, size - used, ")%s", n->iattr[1] ? " keepdim" : "");
}

#endif

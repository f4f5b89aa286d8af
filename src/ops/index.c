/* index.c: gathering along an axis by integer indices, its adjoint, and what is built on them.
 *
 *   index_select  y[..., p, ...] = x[..., idx[p], ...]   for p < n, along `axis`
 *                 dL/dx = index_add(dL/dy, axis, x's size along axis, idx)
 *   index_add     y = zeros with `size` along axis; y[..., idx[p], ...] += x[..., p, ...]
 *                 (repeated indices accumulate)         dL/dx = index_select(dL/dy, axis, idx)
 *   embedding     W (V, D) and ids of shape S -> (S..., D): index_select(W, 0, ids), reshaped
 *   one_hot       labels (n) -> (n, C) with 1 at [p, labels[p]]: a constant, no gradient
 *
 * Invariant: indices are range-checked once, when the caller passes them, and a recorded node
 * keeps its own int64 copy as its saved blob (tg_node_save), so x is its only input and the
 * caller's array may change after the call. Node attributes: iattr[0] = axis, [1] = size. */
#include <stdio.h>

#include "kernels/nd_iter.h"
#include "op_util.h"

/* Checks that each of the caller's n indices lies in [0, size); false with an error naming op,
 * the first bad index and its position. */
static bool check_indices(tg_tape *t, const char *op, int64_t n, const int64_t *idx, int64_t size,
                          int axis) {
    if (n < 0) {
        tg_fail(t, TG_ERR_ARG, "%s: %lld indices given", op, (long long)n);
        return false;
    }
    if (n > 0 && !idx) {
        tg_fail(t, TG_ERR_NULL, "%s: the %lld indices are NULL", op, (long long)n);
        return false;
    }
    for (int64_t p = 0; p < n; p++) {
        if (idx[p] < 0 || idx[p] >= size) {
            tg_fail(t, TG_ERR_ARG,
                    "%s: index %lld at position %lld is out of range [0, %lld) along axis %d", op,
                    (long long)idx[p], (long long)p, (long long)size, axis);
            return false;
        }
    }
    return true;
}

/* Records y as op's node on x with iattr axis and size, keeping its own copy of the n indices.
 * Returns y, or NULL (error on the tape) when memory runs out. */
static tg_tensor *record_indexed(tg_tape *t, const tg_op_desc *op, tg_tensor *y, tg_tensor *x,
                                 int axis, int64_t size, int64_t n, const int64_t *idx) {
    if (!tg_record(t, op, y, 1, &x)) return NULL;
    if (!y->node) return y;
    y->node->iattr[0] = axis;
    y->node->iattr[1] = size;
    return tg_node_save(t, y->node, idx, (size_t)n * sizeof *idx) ? y : NULL;
}

/* The indices a node saved, and how many. */
static const int64_t *saved_indices(const tg_node *n, int64_t *count) {
    *count = (int64_t)(n->saved_bytes / sizeof(int64_t));
    return n->saved;
}

/* The shape and strides of `x` without dimension `axis`: one slice along it. */
static int drop_axis(const tg_tensor *x, int axis, int64_t *shape, int64_t *strides) {
    int nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d == axis) continue;
        shape[nd] = x->shape[d];
        strides[nd++] = x->strides[d];
    }
    return nd;
}

/* dst (f64, strided) += src (f32 or f64, strided) over an n-d block. The sums of repeated
 * indices are taken in double whatever the dtype (CONTRIBUTING S7.1). */
static void add_block(int ndim, const int64_t *shape, double *dst, const int64_t *dst_strides,
                      tg_dtype src_dtype, const char *src, const int64_t *src_strides) {
    nd_iter it;
    nd_iter_init(&it, ndim, shape);
    if (it.empty) return;
    int64_t dstep = ndim ? dst_strides[ndim - 1] : 0, sstep = ndim ? src_strides[ndim - 1] : 0;
    do {
        double *d = dst + nd_iter_offset(&it, dst_strides);
        int64_t so = nd_iter_offset(&it, src_strides);
        if (src_dtype == TG_F32) {
            const float *s = (const float *)(const void *)src + so;
            for (int64_t i = 0; i < it.inner; i++) d[i * dstep] += (double)s[i * sstep];
        } else {
            const double *s = (const double *)(const void *)src + so;
            for (int64_t i = 0; i < it.inner; i++) d[i * dstep] += s[i * sstep];
        }
    } while (nd_iter_next(&it));
}

static tg_tensor *gather(tg_tape *t, tg_tensor *x, int axis, int64_t n, const int64_t *idx);
static tg_tensor *scatter_add(tg_tape *t, tg_tensor *x, int axis, int64_t size, int64_t n,
                              const int64_t *idx);

static void describe_index(const tg_node *n, char *buf, size_t size) {
    int64_t count;
    saved_indices(n, &count);
    snprintf(buf, size, "axis=%lld n=%lld size=%lld", (long long)n->iattr[0], (long long)count,
             (long long)n->iattr[1]);
}

/* ---- index_select ---- */
static void index_select_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    int64_t count;
    const int64_t *idx = saved_indices(n, &count);
    grads[0] = scatter_add(t, g, (int)n->iattr[0], n->iattr[1], count, idx);
}

const tg_op_desc tg_op_index_select = {"index_select", 1, index_select_backward, describe_index,
                                       TG_OPF_SMOOTH};

/* y = x's slices along axis at idx, into a new contiguous tensor; x may be any view. */
static tg_tensor *gather(tg_tape *t, tg_tensor *x, int axis, int64_t n, const int64_t *idx) {
    int64_t shape[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[axis] = n;
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, x->ndim, shape);
    if (!y) return NULL;
    int64_t bshape[TG_MAX_DIMS], xs[TG_MAX_DIMS], ys[TG_MAX_DIMS];
    int bd = drop_axis(x, axis, bshape, xs);
    drop_axis(y, axis, bshape, ys);
    int64_t es = (int64_t)tg_dtype_size(x->dtype);
    for (int64_t p = 0; p < n; p++)
        kern_copy(y->dtype, y->data + p * y->strides[axis] * es, ys, x->dtype,
                  x->data + idx[p] * x->strides[axis] * es, xs, bd, bshape);
    return record_indexed(t, &tg_op_index_select, y, x, axis, x->shape[axis], n, idx);
}

tg_tensor *tg_index_select_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis,
                              int64_t n, const int64_t *indices) {
    if (!tg_op_enter(t, file, line, "index_select", 1, &x)) return NULL;
    int a = tg_norm_axis(t, "index_select", axis, x->ndim);
    if (a < 0) return NULL;
    if (!check_indices(t, "index_select", n, indices, x->shape[a], a)) return NULL;
    int64_t shape[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[a] = n;
    if (!tg_check_shape(t, "index_select", x->dtype, x->ndim, shape)) return NULL;
    return gather(t, x, a, n, indices);
}

/* ---- index_add ---- */
static void index_add_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    int64_t count;
    const int64_t *idx = saved_indices(n, &count);
    grads[0] = gather(t, g, (int)n->iattr[0], count, idx);
}

const tg_op_desc tg_op_index_add = {"index_add", 1, index_add_backward, describe_index,
                                    TG_OPF_SMOOTH};

/* y = zeros with `size` along axis, x's slice p added at idx[p]; x may be any view. */
static tg_tensor *scatter_add(tg_tape *t, tg_tensor *x, int axis, int64_t size, int64_t n,
                              const int64_t *idx) {
    int64_t shape[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[axis] = size;
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, x->ndim, shape);
    if (!y) return NULL;
    /* f32 sums go through an f64 scratch tensor, left unrecorded on the tape. */
    tg_tensor *acc = y->dtype == TG_F64 ? y : tg_tensor_alloc(t, TG_F64, x->ndim, shape);
    if (!acc) return NULL;
    kern_fill(TG_F64, acc->data, tg_tensor_numel(acc), 0.0);
    int64_t bshape[TG_MAX_DIMS], xs[TG_MAX_DIMS], as[TG_MAX_DIMS];
    int bd = drop_axis(x, axis, bshape, xs);
    drop_axis(acc, axis, bshape, as);
    int64_t es = (int64_t)tg_dtype_size(x->dtype);
    double *base = (double *)(void *)acc->data;
    for (int64_t p = 0; p < n; p++)
        add_block(bd, bshape, base + idx[p] * acc->strides[axis], as, x->dtype,
                  x->data + p * x->strides[axis] * es, xs);
    if (acc != y)
        kern_copy(y->dtype, y->data, y->strides, TG_F64, acc->data, acc->strides, y->ndim,
                  y->shape);
    return record_indexed(t, &tg_op_index_add, y, x, axis, size, n, idx);
}

tg_tensor *tg_index_add_at(tg_tape *t, const char *file, int line, tg_tensor *x, int axis,
                           int64_t size, int64_t n, const int64_t *indices) {
    if (!tg_op_enter(t, file, line, "index_add", 1, &x)) return NULL;
    int a = tg_norm_axis(t, "index_add", axis, x->ndim);
    if (a < 0) return NULL;
    if (size < 0)
        return tg_fail(t, TG_ERR_ARG, "index_add: size %lld along axis %d is negative",
                       (long long)size, a);
    char xs[TG_SHAPE_STR_MAX];
    if (n >= 0 && x->shape[a] != n)
        return tg_fail(t, TG_ERR_SHAPE,
                       "index_add: x %s has %lld entries along axis %d but %lld indices are "
                       "given",
                       tg_shape_str(x, xs, sizeof xs), (long long)x->shape[a], a, (long long)n);
    int64_t shape[TG_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[a] = size;
    if (!tg_check_shape(t, "index_add", x->dtype, x->ndim, shape)) return NULL;
    if (!check_indices(t, "index_add", n, indices, size, a)) return NULL;
    return scatter_add(t, x, a, size, n, indices);
}

/* ---- embedding (a composite) ---- */
tg_tensor *tg_embedding_at(tg_tape *t, const char *file, int line, tg_tensor *w, int ndim,
                           const int64_t *shape, const int64_t *ids) {
    if (!tg_op_enter(t, file, line, "embedding", 1, &w)) return NULL;
    char ws[TG_SHAPE_STR_MAX];
    if (w->ndim != 2)
        return tg_fail(t, TG_ERR_SHAPE, "embedding: the table must be (V, D), got %s",
                       tg_shape_str(w, ws, sizeof ws));
    if (ndim + 1 > TG_MAX_DIMS)
        return tg_fail(t, TG_ERR_SHAPE,
                       "embedding: ids of %d dimensions give a result of %d, at most %d are "
                       "supported",
                       ndim, ndim + 1, TG_MAX_DIMS);
    if (!tg_check_shape(t, "embedding", w->dtype, ndim, shape)) return NULL;
    int64_t n = tg_numel_of(ndim, shape);
    tg_tensor *rows =
        check_indices(t, "embedding", n, ids, w->shape[0], 0) ? gather(t, w, 0, n, ids) : NULL;
    if (!rows) return NULL;
    int64_t out[TG_MAX_DIMS];
    for (int d = 0; d < ndim; d++) out[d] = shape[d];
    out[ndim] = w->shape[1];
    return tg_reshape(t, rows, ndim + 1, out);
}

/* ---- one_hot (a creation function) ---- */
tg_tensor *tg_one_hot_at(tg_tape *t, const char *file, int line, tg_dtype dtype, int64_t n,
                         const int64_t *labels, int64_t n_classes) {
    if (!t) return NULL;
    tg_tape_set_site(t, file, line);
    if (n_classes <= 0)
        return tg_fail(t, TG_ERR_ARG, "one_hot: n_classes must be positive, got %lld",
                       (long long)n_classes);
    if (n < 0) return tg_fail(t, TG_ERR_ARG, "one_hot: %lld labels given", (long long)n);
    if (n > 0 && !labels)
        return tg_fail(t, TG_ERR_NULL, "one_hot: the %lld labels are NULL", (long long)n);
    int64_t shape[2] = {n, n_classes};
    if (!tg_check_shape(t, "one_hot", dtype, 2, shape)) return NULL;
    for (int64_t p = 0; p < n; p++)
        if (labels[p] < 0 || labels[p] >= n_classes)
            return tg_fail(t, TG_ERR_ARG,
                           "one_hot: label %lld at position %lld is out of range [0, %lld)",
                           (long long)labels[p], (long long)p, (long long)n_classes);
    tg_tensor *y = tg_tensor_alloc(t, dtype, 2, shape);
    if (!y) return NULL;
    kern_fill(dtype, y->data, n * n_classes, 0.0);
    for (int64_t p = 0; p < n; p++) {
        if (dtype == TG_F32)
            ((float *)(void *)y->data)[p * n_classes + labels[p]] = 1.0f;
        else
            ((double *)(void *)y->data)[p * n_classes + labels[p]] = 1.0;
    }
    return y;
}

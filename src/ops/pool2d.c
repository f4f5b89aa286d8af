/* pool2d.c: max and average pooling over (N, C, H, W), with the adjoint ops their rules use.
 *
 *   max_pool2d(x)[n,c,p,q] = x at the selected position of window (p, q)  (first maximum wins)
 *       backward: dx = max_pool2d_scatter(g, x)
 *   max_pool2d_scatter(g, x) = zeros like x, plus g at each window's selected position
 *       backward: dg = max_pool2d_gather(u, x); dx = 0 (the selection is locally constant)
 *   max_pool2d_gather(u, x)  = u read at each window's selected position of x
 *       backward: du = max_pool2d_scatter(g, x); dx = 0
 *   avg_pool2d(x) = window sums / (kh kw), padded zeros included
 *       backward: dx = avg_pool2d_adjoint(g)
 *   avg_pool2d_adjoint(g) = each g entry spread evenly over its window (the transpose)
 *       backward: dg = avg_pool2d(u)
 *
 * max_pool2d on 2x2 windows at stride 2 (no padding or dilation) keeps each window's choice
 * (bit masks) when its backward will run; a backward that is not itself recorded then
 * scatters from those choices instead of selecting again from x (the same dx).
 * Node attributes: iattr[0..8) = kernel h,w, stride h,w, padding h,w, dilation h,w;
 * iattr[8..12) = the input shape (N, C, H, W). */
#include <stdio.h>
#include <string.h>

#include "op_util.h"
#include "kernels/conv.h"

enum { P_KERNEL = 0, P_STRIDE = 2, P_PAD = 4, P_DIL = 6, P_SHAPE = 8 };

static bool resolve(tg_tape *t, const char *op, const tg_pool2d_params *in, bool max_pool,
                    int64_t *p) {
    if (!in) {
        tg_fail(t, TG_ERR_NULL, "%s: params are NULL (the kernel size is required)", op);
        return false;
    }
    for (int a = 0; a < 2; a++) {
        int k = in->kernel[a], s = in->stride[a], pd = in->padding[a], d = in->dilation[a];
        if (k <= 0 || s < 0 || pd < 0 || d < 0 || pd > k / 2) {
            tg_fail(t, TG_ERR_ARG, "%s: bad geometry on axis %d: kernel %d (> 0), stride %d "
                    "(>= 0), padding %d (>= 0, at most half the kernel), dilation %d", op, a, k, s,
                    pd, d);
            return false;
        }
        if (!max_pool && d > 1) {
            tg_fail(t, TG_ERR_ARG, "%s: dilation is not supported for average pooling", op);
            return false;
        }
        p[P_KERNEL + a] = k;
        p[P_STRIDE + a] = s ? s : k;
        p[P_PAD + a] = pd;
        p[P_DIL + a] = d ? d : 1;
    }
    return true;
}

/* The window geometry for input shape xs (N, C, H, W); false with an error if it is empty. */
static bool window(tg_tape *t, const char *op, const int64_t *xs, const int64_t *p,
                   kern_window *w) {
    char s[TG_SHAPE_STR_MAX];
    int64_t hh = xs[2] + 2 * p[P_PAD] - p[P_DIL] * (p[P_KERNEL] - 1) - 1;
    int64_t ww = xs[3] + 2 * p[P_PAD + 1] - p[P_DIL + 1] * (p[P_KERNEL + 1] - 1) - 1;
    if (hh < 0 || ww < 0) {
        tg_fail(t, TG_ERR_SHAPE, "%s: window %lldx%lld does not fit input %s", op,
                (long long)p[P_KERNEL], (long long)p[P_KERNEL + 1], tg_dims_str(4, xs, s, sizeof s));
        return false;
    }
    *w = (kern_window){xs[1], xs[2], xs[3], p[P_KERNEL], p[P_KERNEL + 1], p[P_STRIDE],
                       p[P_STRIDE + 1], p[P_PAD], p[P_PAD + 1], p[P_DIL], p[P_DIL + 1],
                       hh / p[P_STRIDE] + 1, ww / p[P_STRIDE + 1] + 1};
    return true;
}

static tg_pool2d_params params_of(const tg_node *n) {
    tg_pool2d_params q;
    for (int a = 0; a < 2; a++) {
        q.kernel[a] = (int)n->iattr[P_KERNEL + a];
        q.stride[a] = (int)n->iattr[P_STRIDE + a];
        q.padding[a] = (int)n->iattr[P_PAD + a];
        q.dilation[a] = (int)n->iattr[P_DIL + a];
    }
    return q;
}

static void set_attrs(tg_tensor *y, const int64_t *p, const int64_t *xs) {
    if (!y || !y->node) return;
    for (int i = 0; i < 8; i++) y->node->iattr[i] = p[i];
    for (int i = 0; i < 4; i++) y->node->iattr[P_SHAPE + i] = xs[i];
}

static void describe_pool(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "k=%lldx%lld stride=%lld,%lld pad=%lld,%lld", (long long)n->iattr[0],
             (long long)n->iattr[1], (long long)n->iattr[2], (long long)n->iattr[3],
             (long long)n->iattr[4], (long long)n->iattr[5]);
}

/* A contiguous copy of x on the tape when x is a view (pool kernels read whole planes). */
static tg_tensor *dense(tg_tape *t, tg_tensor *x) {
    if (tg_tensor_is_contiguous(x)) return x;
    tg_tensor *c = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (c) kern_copy(c->dtype, c->data, c->strides, x->dtype, x->data, x->strides, x->ndim,
                     x->shape);
    return c;
}

static bool need_4d(tg_tape *t, const char *op, const char *what, const tg_tensor *x) {
    char s[TG_SHAPE_STR_MAX];
    if (x->ndim == 4) return true;
    tg_fail(t, TG_ERR_SHAPE, "%s: %s must be 4-D (N, C, H, W), got %s", op, what,
            tg_shape_str(x, s, sizeof s));
    return false;
}

static bool need_pooled(tg_tape *t, const char *op, const tg_tensor *g, const int64_t *xs,
                        const kern_window *w) {
    char s[TG_SHAPE_STR_MAX], e[TG_SHAPE_STR_MAX];
    int64_t want[4] = {xs[0], xs[1], w->oh, w->ow};
    bool ok = g->ndim == 4;
    for (int i = 0; ok && i < 4; i++) ok = g->shape[i] == want[i];
    if (!ok)
        tg_fail(t, TG_ERR_SHAPE, "%s: gradient has shape %s, expected %s", op,
                tg_shape_str(g, s, sizeof s), tg_dims_str(4, want, e, sizeof e));
    return ok;
}

/* The window over all n images at once: (N, C, H, W) is N C planes one after another, and the
 * kernels (which may share the planes between threads) treat every plane alike. */
static kern_window planes_of(const kern_window *w, int64_t n) {
    kern_window all = *w;
    /* N C planes of H W: bounded by x's element count unless x is empty (then none run). */
    if (!tg_size_mul(all.C, n, INT64_MAX, &all.C)) all.C = 0;
    return all;
}

/* A zero gradient for the selection input x (its derivative is zero where it exists). */
static tg_tensor *zeros_like(tg_tape *t, const tg_tensor *x) {
    return tg_zeros(t, x->dtype, x->ndim, x->shape);
}

/* The forward both pools share: checks, output (N, C, OH, OW), one kernel over every plane. */
typedef void (*pool_kernel)(tg_dtype dtype, const kern_window *g, const void *x, void *out);

static tg_tensor *pool_forward(tg_tape *t, const char *file, int line, const tg_op_desc *op,
                               bool max_pool, pool_kernel kernel, tg_tensor *x,
                               const tg_pool2d_params *params) {
    int64_t p[8];
    kern_window w;
    if (!tg_op_enter(t, file, line, op->name, 1, &x)) return NULL;
    if (!need_4d(t, op->name, "input", x) || !resolve(t, op->name, params, max_pool, p) ||
        !window(t, op->name, x->shape, p, &w))
        return NULL;
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, 4, (int64_t[]){x->shape[0], x->shape[1], w.oh, w.ow});
    tg_tensor *xd = dense(t, x);
    if (!y || !xd) return NULL;
    kern_window all = planes_of(&w, x->shape[0]);
    /* A max pool whose backward will run keeps its choices (three bits per output) when its
     * windows have the 2x2 path, so that the backward need not read x again. */
    tg_tensor *sel = NULL;
    if (max_pool && tg_tape_grad_enabled(t) && x->requires_grad && kern_max_pool2_fast(&all)) {
        int64_t words = (kern_max_pool2_choice_elems(&all) + 1) / 2 + 1;
        sel = tg_tensor_alloc(t, TG_F32, 1, &words);
        if (!sel) return NULL;
        kern_max_pool2_select(x->dtype, &all, xd->data, y->data, (uint16_t *)(void *)sel->data);
    } else {
        kernel(x->dtype, &all, xd->data, y->data);
    }
    if (!tg_record(t, op, y, 1, &x)) return NULL;
    if (y->node && sel && !tg_node_save(t, y->node, &sel, sizeof sel)) return NULL;
    set_attrs(y, p, x->shape);
    return y;
}

/* ---- max_pool2d ---- */

/* dx from the choices the forward kept: what max_pool2d_scatter computes, without reading x.
 * Only when the backward is not itself recorded (the op keeps higher derivatives exact). */
static tg_tensor *scatter_kept(tg_tape *t, const tg_node *n, tg_tensor *g, const tg_tensor *sel) {
    const tg_tensor *x = n->inputs[0];
    kern_window w;
    if (!window(t, "max_pool2d", x->shape, n->iattr, &w)) return NULL;
    tg_tensor *dx = tg_tensor_alloc(t, x->dtype, 4, x->shape), *gd = dense(t, g);
    if (!dx || !gd) return NULL;
    kern_window all = planes_of(&w, x->shape[0]);
    kern_max_pool2_scatter_sel(x->dtype, &all, (const uint16_t *)(const void *)sel->data,
                               gd->data, dx->data);
    return dx;
}

static void max_pool_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_pool2d_params q = params_of(n);
    const tg_tensor *sel = NULL; /* the forward's choices, when it kept them */
    if (n->saved && !tg_tape_grad_enabled(t)) memcpy(&sel, n->saved, sizeof sel);
    if (sel) {
        grads[0] = scatter_kept(t, n, g, sel);
        return;
    }
    grads[0] = tg_max_pool2d_scatter(t, g, n->inputs[0], &q);
}

const tg_op_desc tg_op_max_pool2d = {"max_pool2d", 1, max_pool_backward, describe_pool, 0};

tg_tensor *tg_max_pool2d_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                            const tg_pool2d_params *params) {
    return pool_forward(t, file, line, &tg_op_max_pool2d, true, kern_max_pool, x, params);
}

/* ---- max_pool2d_scatter ---- */

static void scatter_backward(tg_tape *t, const tg_node *n, tg_tensor *u, tg_tensor **grads) {
    tg_pool2d_params q = params_of(n);
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_max_pool2d_gather(t, u, n->inputs[1], &q);
    if (tg_node_needs_grad(n, 1)) grads[1] = zeros_like(t, n->inputs[1]);
}

const tg_op_desc tg_op_max_pool2d_scatter = {"max_pool2d_scatter", 2, scatter_backward,
                                             describe_pool, 0};

tg_tensor *tg_max_pool2d_scatter_at(tg_tape *t, const char *file, int line, tg_tensor *g,
                                    tg_tensor *x, const tg_pool2d_params *params) {
    static const char op[] = "max_pool2d_scatter";
    tg_tensor *in[2] = {g, x};
    int64_t p[8];
    kern_window w;
    if (!tg_op_enter(t, file, line, op, 2, in)) return NULL;
    if (!need_4d(t, op, "input", x) || !resolve(t, op, params, true, p) ||
        !window(t, op, x->shape, p, &w) || !need_pooled(t, op, g, x->shape, &w))
        return NULL;
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, 4, x->shape);
    tg_tensor *xd = dense(t, x), *gd = dense(t, g);
    if (!y || !xd || !gd) return NULL;
    kern_window all = planes_of(&w, x->shape[0]);
    kern_max_pool_scatter(x->dtype, &all, xd->data, gd->data, y->data);
    if (!tg_record(t, &tg_op_max_pool2d_scatter, y, 2, in)) return NULL;
    set_attrs(y, p, x->shape);
    return y;
}

/* ---- max_pool2d_gather ---- */

static void gather_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_pool2d_params q = params_of(n);
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_max_pool2d_scatter(t, g, n->inputs[1], &q);
    if (tg_node_needs_grad(n, 1)) grads[1] = zeros_like(t, n->inputs[1]);
}

const tg_op_desc tg_op_max_pool2d_gather = {"max_pool2d_gather", 2, gather_backward,
                                            describe_pool, 0};

tg_tensor *tg_max_pool2d_gather_at(tg_tape *t, const char *file, int line, tg_tensor *u,
                                   tg_tensor *x, const tg_pool2d_params *params) {
    static const char op[] = "max_pool2d_gather";
    tg_tensor *in[2] = {u, x};
    int64_t p[8];
    kern_window w;
    char us[TG_SHAPE_STR_MAX], xs[TG_SHAPE_STR_MAX];
    if (!tg_op_enter(t, file, line, op, 2, in)) return NULL;
    if (!need_4d(t, op, "input", x) || !resolve(t, op, params, true, p) ||
        !window(t, op, x->shape, p, &w))
        return NULL;
    if (!tg_same_shape(u, x))
        return tg_fail(t, TG_ERR_SHAPE, "%s: source %s must have the input's shape %s", op,
                       tg_shape_str(u, us, sizeof us), tg_shape_str(x, xs, sizeof xs));
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, 4, (int64_t[]){x->shape[0], x->shape[1], w.oh, w.ow});
    tg_tensor *xd = dense(t, x), *ud = dense(t, u);
    if (!y || !xd || !ud) return NULL;
    kern_window all = planes_of(&w, x->shape[0]);
    kern_max_pool_gather(x->dtype, &all, xd->data, ud->data, y->data);
    if (!tg_record(t, &tg_op_max_pool2d_gather, y, 2, in)) return NULL;
    set_attrs(y, p, x->shape);
    return y;
}

/* ---- avg_pool2d ---- */

static void avg_pool_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_pool2d_params q = params_of(n);
    grads[0] = tg_avg_pool2d_adjoint(t, g, n->inputs[0]->shape, &q);
}

const tg_op_desc tg_op_avg_pool2d = {"avg_pool2d", 1, avg_pool_backward, describe_pool,
                                     TG_OPF_SMOOTH};

tg_tensor *tg_avg_pool2d_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                            const tg_pool2d_params *params) {
    return pool_forward(t, file, line, &tg_op_avg_pool2d, false, kern_avg_pool, x, params);
}

/* ---- avg_pool2d_adjoint ---- */

static void avg_adjoint_backward(tg_tape *t, const tg_node *n, tg_tensor *u, tg_tensor **grads) {
    tg_pool2d_params q = params_of(n);
    grads[0] = tg_avg_pool2d(t, u, &q);
}

const tg_op_desc tg_op_avg_pool2d_adjoint = {"avg_pool2d_adjoint", 1, avg_adjoint_backward,
                                             describe_pool, TG_OPF_SMOOTH};

tg_tensor *tg_avg_pool2d_adjoint_at(tg_tape *t, const char *file, int line, tg_tensor *g,
                                    const int64_t *x_shape, const tg_pool2d_params *params) {
    static const char op[] = "avg_pool2d_adjoint";
    int64_t p[8];
    kern_window w;
    if (!tg_op_enter(t, file, line, op, 1, &g)) return NULL;
    if (!x_shape) return tg_fail(t, TG_ERR_NULL, "%s: x_shape is NULL", op);
    if (!tg_check_shape(t, op, g->dtype, 4, x_shape) || !resolve(t, op, params, false, p) ||
        !window(t, op, x_shape, p, &w) || !need_pooled(t, op, g, x_shape, &w))
        return NULL;
    tg_tensor *y = tg_zeros(t, g->dtype, 4, x_shape);
    tg_tensor *gd = dense(t, g);
    if (!y || !gd) return NULL;
    kern_window all = planes_of(&w, x_shape[0]);
    kern_avg_pool_adjoint_add(g->dtype, &all, gd->data, y->data);
    if (!tg_record(t, &tg_op_avg_pool2d_adjoint, y, 1, &g)) return NULL;
    set_attrs(y, p, x_shape);
    return y;
}

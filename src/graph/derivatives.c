/* derivatives.c: Hessian-vector and Jacobian-vector products and small Jacobians
 * (tapegrad/derivatives.h), built from reverse sweeps over a recorded graph.
 *
 * Backward rules are made of ops, so a sweep with TG_CREATE_GRAPH records a graph of the
 * gradients that a second sweep can differentiate: H v is the gradient of <dy/dx, v>, and J v
 * the gradient, with respect to a dummy output weight u, of <J^T u, v>. Every sweep here keeps
 * the graph (TG_RETAIN_GRAPH) so that one recording serves several products, and recording is
 * switched on while these calls run and restored after, whatever the caller had set. */
#include <stdio.h>

#include "graph.h"

/* Checks y, the arrays and each v[i] against xs[i]; false with the error kept on t. */
static bool check_args(tg_tape *t, const char *api, tg_tensor *y, int n, tg_tensor *const *xs,
                       tg_tensor *const *v, void *out) {
    if (!y || !xs || !v || !out) {
        tg_fail_unsited(t, TG_ERR_NULL, "%s: %s is NULL (did an earlier op fail?)", api,
                       !y ? "the output" : !xs ? "the inputs" : !v ? "the vectors" : "the result");
        return false;
    }
    if (n < 1) {
        tg_fail_unsited(t, TG_ERR_ARG, "%s: n_inputs is %d, not at least 1", api, n);
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (!xs[i] || !v[i]) {
            tg_fail_unsited(t, TG_ERR_NULL, "%s: %s %d is NULL", api, !xs[i] ? "input" : "v", i);
            return false;
        }
        if (!tg_tensor_is_current(t, xs[i]) || !tg_tensor_is_current(t, v[i])) {
            tg_fail_unsited(t, TG_ERR_STALE, "%s: %s %d is a stale tensor, made before the last "
                           "tg_tape_reset of its tape", api,
                           tg_tensor_is_current(t, xs[i]) ? "v" : "input", i);
            return false;
        }
        char xsh[TG_SHAPE_STR_MAX], vsh[TG_SHAPE_STR_MAX];
        if (!tg_same_shape(xs[i], v[i]) || xs[i]->dtype != v[i]->dtype) {
            tg_fail_unsited(t, tg_same_shape(xs[i], v[i]) ? TG_ERR_DTYPE : TG_ERR_SHAPE,
                           "%s: v[%d] is %s %s but input %d is %s %s", api, i,
                           tg_dtype_name(v[i]->dtype), tg_shape_str(v[i], vsh, sizeof vsh), i,
                           tg_dtype_name(xs[i]->dtype), tg_shape_str(xs[i], xsh, sizeof xsh));
            return false;
        }
    }
    if (!tg_tensor_is_current(t, y)) {
        tg_fail_unsited(t, TG_ERR_STALE, "%s: the output is a stale tensor", api);
        return false;
    }
    return true;
}

/* sum_i <a[i], b[i]> as a scalar op result, recorded when recording is on. */
static tg_tensor *inner(tg_tape *t, int n, tg_tensor *const *a, tg_tensor *const *b) {
    tg_tensor *acc = NULL;
    for (int i = 0; i < n; i++) {
        tg_tensor *term = tg_sum_all(t, tg_mul(t, a[i], b[i]));
        acc = acc ? tg_add(t, acc, term) : term;
    }
    return acc;
}

/* zeros like x, in place of the gradient of something that does not depend on x */
static tg_tensor *zeros_like(tg_tape *t, const tg_tensor *x) {
    return tg_zeros(t, x->dtype, x->ndim, x->shape);
}

/* What ends every call: restores recording and the site, and on error clears the results. */
static tg_status finish(tg_tape *t, bool was_enabled, const char *site_file, int site_line,
                        int n, tg_tensor **res) {
    tg_tape_set_grad_enabled(t, was_enabled);
    t->site_file = site_file;
    t->site_line = site_line;
    if (t->status != TG_OK)
        for (int i = 0; i < n; i++) res[i] = NULL;
    return t->status;
}

tg_status tg_hvp(tg_tape *t, tg_tensor *y, int n_inputs, tg_tensor *const *xs,
                 tg_tensor *const *v, tg_tensor **hv, unsigned flags) {
    if (!t) return TG_ERR_NULL;
    if (hv && n_inputs > 0)
        for (int i = 0; i < n_inputs; i++) hv[i] = NULL;
    if (t->status != TG_OK) return t->status;
    if (!check_args(t, "hvp", y, n_inputs, xs, v, hv)) return t->status;
    char ys[TG_SHAPE_STR_MAX];
    if (tg_tensor_numel(y) != 1)
        return tg_fail_unsited(t, TG_ERR_SHAPE,
                              "hvp: the output has shape %s; a Hessian-vector product needs a "
                              "scalar output (one element)", tg_shape_str(y, ys, sizeof ys));
    const char *site_file = t->site_file;
    int site_line = t->site_line;
    bool was_enabled = tg_tape_set_grad_enabled(t, true);
    tg_tensor *small[8], **g = small;
    if (n_inputs > 8) g = tg_arena_alloc(&t->arena, (size_t)n_inputs * sizeof *g);
    if (!g) {
        tg_fail_unsited(t, TG_ERR_NOMEM, "hvp: out of memory");
        return finish(t, was_enabled, site_file, site_line, n_inputs, hv);
    }
    if (tg_tape_grad(t, y, NULL, n_inputs, xs, g, TG_CREATE_GRAPH) == TG_OK) {
        tg_tensor *gv = inner(t, n_inputs, g, v);
        if (gv && !gv->requires_grad) { /* the gradient is constant: y is linear in xs */
            for (int i = 0; i < n_inputs; i++) hv[i] = zeros_like(t, xs[i]);
        } else if (gv) {
            tg_tape_grad(t, gv, NULL, n_inputs, xs, hv,
                         TG_RETAIN_GRAPH | (flags & TG_CREATE_GRAPH));
        }
    }
    return finish(t, was_enabled, site_file, site_line, n_inputs, hv);
}

tg_status tg_jvp(tg_tape *t, tg_tensor *y, int n_inputs, tg_tensor *const *xs,
                 tg_tensor *const *v, tg_tensor **jv, unsigned flags) {
    if (!t) return TG_ERR_NULL;
    if (jv) *jv = NULL;
    if (t->status != TG_OK) return t->status;
    if (!check_args(t, "jvp", y, n_inputs, xs, v, jv)) return t->status;
    const char *site_file = t->site_file;
    int site_line = t->site_line;
    bool was_enabled = tg_tape_set_grad_enabled(t, true);
    tg_tensor *small[8], **g = small;
    if (n_inputs > 8) g = tg_arena_alloc(&t->arena, (size_t)n_inputs * sizeof *g);
    /* The dummy output weight: J^T u is linear in u, so its value does not matter. */
    tg_tensor *u = g ? zeros_like(t, y) : NULL;
    if (!g) tg_fail_unsited(t, TG_ERR_NOMEM, "jvp: out of memory");
    if (u) u->requires_grad = true;
    if (u && tg_tape_grad(t, y, u, n_inputs, xs, g, TG_CREATE_GRAPH) == TG_OK) {
        tg_tensor *gv = inner(t, n_inputs, g, v);
        if (gv && !gv->requires_grad) /* y does not depend on xs */
            *jv = zeros_like(t, y);
        else if (gv)
            tg_tape_grad(t, gv, NULL, 1, &u, jv, TG_RETAIN_GRAPH | (flags & TG_CREATE_GRAPH));
    }
    return finish(t, was_enabled, site_file, site_line, 1, jv);
}

tg_status tg_jacobian(tg_tape *t, tg_tensor *y, tg_tensor *x, tg_tensor **jac, unsigned flags) {
    if (!t) return TG_ERR_NULL;
    if (jac) *jac = NULL;
    if (t->status != TG_OK) return t->status;
    if (!check_args(t, "jacobian", y, 1, &x, &x, jac)) return t->status;
    char ys[TG_SHAPE_STR_MAX], xsh[TG_SHAPE_STR_MAX];
    if (y->ndim + x->ndim > TG_MAX_DIMS)
        return tg_fail_unsited(t, TG_ERR_SHAPE,
                              "jacobian: output %s and input %s make a Jacobian of %d dimensions, "
                              "more than %d", tg_shape_str(y, ys, sizeof ys),
                              tg_shape_str(x, xsh, sizeof xsh), y->ndim + x->ndim, TG_MAX_DIMS);
    int64_t m = tg_tensor_numel(y);
    if (m > TG_JACOBIAN_MAX_ROWS)
        return tg_fail_unsited(t, TG_ERR_ARG,
                               "jacobian: the output %s has %lld elements, more than the %d "
                               "sweeps this helper for small functions makes",
                               tg_shape_str(y, ys, sizeof ys), (long long)m,
                               TG_JACOBIAN_MAX_ROWS);
    int ndim = y->ndim + x->ndim;
    int64_t shape[TG_MAX_DIMS];
    for (int i = 0; i < y->ndim; i++) shape[i] = y->shape[i];
    for (int i = 0; i < x->ndim; i++) shape[y->ndim + i] = x->shape[i];
    const char *site_file = t->site_file;
    int site_line = t->site_line;
    bool was_enabled = tg_tape_set_grad_enabled(t, (flags & TG_CREATE_GRAPH) != 0);
    if (m == 0 || tg_tensor_numel(x) == 0) {
        *jac = tg_zeros(t, x->dtype, ndim, shape);
        return finish(t, was_enabled, site_file, site_line, 1, jac);
    }
    tg_tensor **rows = tg_arena_alloc(&t->arena, (size_t)m * sizeof *rows);
    if (!rows) tg_fail_unsited(t, TG_ERR_NOMEM, "jacobian: out of memory for %lld rows",
                              (long long)m);
    for (int64_t k = 0; rows && k < m && t->status == TG_OK; k++) {
        /* Row k: the gradient of y[k], seeded with the k-th unit tensor. */
        tg_tensor *e = tg_zeros(t, y->dtype, y->ndim, y->shape);
        if (!e) break;
        if (y->dtype == TG_F64)
            ((double *)e->data)[k] = 1.0;
        else
            ((float *)e->data)[k] = 1.0f;
        tg_tape_grad(t, y, e, 1, &x, &rows[k], TG_RETAIN_GRAPH | (flags & TG_CREATE_GRAPH));
    }
    if (t->status == TG_OK) {
        tg_tensor *stacked = tg_stack(t, (int)m, rows, 0);
        *jac = tg_reshape(t, stacked, ndim, shape);
    }
    return finish(t, was_enabled, site_file, site_line, 1, jac);
}

/* conv2d.c: 2-D convolution (cross-correlation) and its two gradient ops.
 *
 *   y[n,o,p,q] = sum_{c,i,j} x[n, G(o)+c, p*sh - ph + i*dh, q*sw - pw + j*dw] w[o,c,i,j]
 *
 * All three ops are slices of one trilinear form T(x, w, g) = <conv2d(x, w), g>:
 *   conv2d(x, w)           = dT/dg    backward: dx = input_grad(g, w),  dw = weight_grad(x, g)
 *   input_grad(g, w)       = dT/dx    backward: dg = conv2d(u, w),      dw = weight_grad(u, g)
 *   weight_grad(x, g)      = dT/dw    backward: dx = input_grad(g, u),  dg = conv2d(x, u)
 * (u is the upstream gradient), so each op's rule is made of the other two and every derivative
 * of any order stays exact. Kernels: im2col + GEMM per image and group; col2im for input_grad.
 * Node attributes: iattr[0..7) = stride h,w, padding h,w, dilation h,w, groups; iattr[7..11) =
 * the shape the grad ops produce. */
#include <stdio.h>
#include <string.h>

#include "op_util.h"
#include "kernels/conv.h"

enum { A_STRIDE = 0, A_PAD = 2, A_DIL = 4, A_GROUPS = 6, A_SHAPE = 7 };

/* Geometry of one convolution: sizes of x, w and y, resolved parameters. */
typedef struct conv_geom {
    int64_t N, C, H, W, O, Cg, kh, kw, OH, OW, groups;
    int64_t p[7];
} conv_geom;

static bool resolve_params(tg_tape *t, const char *op, const tg_conv2d_params *in, int64_t *p) {
    tg_conv2d_params d = in ? *in : (tg_conv2d_params){{0, 0}, {0, 0}, {0, 0}, 0};
    for (int a = 0; a < 2; a++) {
        if (d.stride[a] < 0 || d.padding[a] < 0 || d.dilation[a] < 0) {
            tg_fail(t, TG_ERR_ARG, "%s: stride, padding and dilation must be >= 0 (axis %d: %d, "
                    "%d, %d)", op, a, d.stride[a], d.padding[a], d.dilation[a]);
            return false;
        }
        p[A_STRIDE + a] = d.stride[a] ? d.stride[a] : 1;
        p[A_PAD + a] = d.padding[a];
        p[A_DIL + a] = d.dilation[a] ? d.dilation[a] : 1;
    }
    if (d.groups < 0) {
        tg_fail(t, TG_ERR_ARG, "%s: groups must be >= 1, got %d", op, d.groups);
        return false;
    }
    p[A_GROUPS] = d.groups ? d.groups : 1;
    return true;
}

/* Fills g from the shapes of x (N, C, H, W) and w (O, C/groups, kh, kw), checking everything. */
static bool geometry(tg_tape *t, const char *op, const int64_t *xs, const int64_t *ws,
                     const int64_t *p, conv_geom *g) {
    char a[TG_SHAPE_STR_MAX], b[TG_SHAPE_STR_MAX];
    memcpy(g->p, p, sizeof g->p);
    g->N = xs[0], g->C = xs[1], g->H = xs[2], g->W = xs[3];
    g->O = ws[0], g->Cg = ws[1], g->kh = ws[2], g->kw = ws[3];
    g->groups = p[A_GROUPS];
    if (g->C % g->groups || g->O % g->groups || g->Cg * g->groups != g->C) {
        tg_fail(t, TG_ERR_SHAPE, "%s: input %s and weight %s do not fit %lld groups (need C_in = "
                "weight dim 1 x groups, C_out divisible by groups)", op, tg_dims_str(4, xs, a,
                sizeof a), tg_dims_str(4, ws, b, sizeof b), (long long)g->groups);
        return false;
    }
    if (g->kh < 1 || g->kw < 1) {
        tg_fail(t, TG_ERR_SHAPE, "%s: empty kernel in weight %s", op,
                tg_dims_str(4, ws, b, sizeof b));
        return false;
    }
    /* The dilated kernel's extent; a product that overflows cannot fit any input either. */
    int64_t eh, ew;
    if (__builtin_mul_overflow(p[A_DIL], g->kh - 1, &eh)) eh = INT64_MAX - 1;
    if (__builtin_mul_overflow(p[A_DIL + 1], g->kw - 1, &ew)) ew = INT64_MAX - 1;
    eh++, ew++;
    int64_t hh = g->H + 2 * p[A_PAD] - eh, ww = g->W + 2 * p[A_PAD + 1] - ew;
    if (hh < 0 || ww < 0) {
        tg_fail(t, TG_ERR_SHAPE, "%s: kernel %lldx%lld (dilated %lldx%lld) does not fit input %s "
                "with padding (%lld, %lld)", op, (long long)g->kh, (long long)g->kw,
                (long long)eh, (long long)ew, tg_dims_str(4, xs, a, sizeof a),
                (long long)p[A_PAD], (long long)p[A_PAD + 1]);
        return false;
    }
    g->OH = hh / p[A_STRIDE] + 1;
    g->OW = ww / p[A_STRIDE + 1] + 1;
    return true;
}

static kern_window window_of(const conv_geom *g) {
    return (kern_window){g->Cg, g->H, g->W, g->kh, g->kw, g->p[A_STRIDE], g->p[A_STRIDE + 1],
                         g->p[A_PAD], g->p[A_PAD + 1], g->p[A_DIL], g->p[A_DIL + 1], g->OH,
                         g->OW};
}

static tg_conv2d_params params_of(const tg_node *n) {
    tg_conv2d_params q;
    for (int a = 0; a < 2; a++) {
        q.stride[a] = (int)n->iattr[A_STRIDE + a];
        q.padding[a] = (int)n->iattr[A_PAD + a];
        q.dilation[a] = (int)n->iattr[A_DIL + a];
    }
    q.groups = (int)n->iattr[A_GROUPS];
    return q;
}

static void set_attrs(tg_tensor *y, const conv_geom *g, const int64_t *shape) {
    if (!y || !y->node) return;
    for (int i = 0; i < 7; i++) y->node->iattr[i] = g->p[i];
    for (int i = 0; i < 4; i++) y->node->iattr[A_SHAPE + i] = shape[i];
}

static void describe_conv(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "stride=%lld,%lld pad=%lld,%lld dil=%lld,%lld groups=%lld",
             (long long)n->iattr[0], (long long)n->iattr[1], (long long)n->iattr[2],
             (long long)n->iattr[3], (long long)n->iattr[4], (long long)n->iattr[5],
             (long long)n->iattr[6]);
}

/* x's elements in contiguous row-major memory: x's own data, or a scratch copy on the tape. */
static const char *contiguous_data(tg_tape *t, const tg_tensor *x) {
    if (tg_tensor_is_contiguous(x)) return x->data;
    tg_tensor *c = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (!c) return NULL;
    kern_copy(c->dtype, c->data, c->strides, x->dtype, x->data, x->strides, x->ndim, x->shape);
    return c->data;
}

/* Scratch memory on the tape for n elements of dtype. */
static char *scratch(tg_tape *t, tg_dtype dtype, int64_t n) {
    tg_tensor *s = tg_tensor_alloc(t, dtype, 1, &n);
    return s ? s->data : NULL;
}

static bool need_4d(tg_tape *t, const char *op, const char *what, const tg_tensor *x) {
    char s[TG_SHAPE_STR_MAX];
    if (x->ndim == 4) return true;
    tg_fail(t, TG_ERR_SHAPE, "%s: %s must be 4-D (N, C, H, W) or (C_out, C_in/groups, kH, kW), "
            "got %s", op, what, tg_shape_str(x, s, sizeof s));
    return false;
}

static bool need_shape(tg_tape *t, const char *op, const char *what, const tg_tensor *x,
                       const int64_t *want) {
    char s[TG_SHAPE_STR_MAX], w[TG_SHAPE_STR_MAX];
    bool same = x->ndim == 4;
    for (int i = 0; same && i < 4; i++) same = x->shape[i] == want[i];
    if (!same)
        tg_fail(t, TG_ERR_SHAPE, "%s: %s has shape %s, expected %s", op, what,
                tg_shape_str(x, s, sizeof s), tg_dims_str(4, want, w, sizeof w));
    return same;
}

/* ---- the three kernels: forward, input gradient, weight gradient ---- */

static void run_forward(const conv_geom *g, tg_dtype dt, const char *x, const char *w, char *y,
                        char *cols) {
    kern_window win = window_of(g);
    int64_t es = (int64_t)tg_dtype_size(dt), og = g->O / g->groups, kk = g->Cg * g->kh * g->kw;
    int64_t hw = g->OH * g->OW;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t gr = 0; gr < g->groups; gr++) {
            kern_im2col(dt, &win, x + ((n * g->C + gr * g->Cg) * g->H * g->W) * es, cols);
            kern_gemm(dt, og, hw, kk, w + gr * og * kk * es, kk, 1, cols, hw, 1,
                      y + ((n * g->O + gr * og) * hw) * es, hw);
        }
}

static void run_input_grad(const conv_geom *g, tg_dtype dt, const char *gy, const char *w,
                           char *gx, char *cols) {
    kern_window win = window_of(g);
    int64_t es = (int64_t)tg_dtype_size(dt), og = g->O / g->groups, kk = g->Cg * g->kh * g->kw;
    int64_t hw = g->OH * g->OW;
    kern_fill(dt, gx, g->N * g->C * g->H * g->W, 0.0);
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t gr = 0; gr < g->groups; gr++) {
            kern_gemm(dt, kk, hw, og, w + gr * og * kk * es, 1, kk,
                      gy + ((n * g->O + gr * og) * hw) * es, hw, 1, cols, hw);
            kern_col2im_add(dt, &win, cols, gx + ((n * g->C + gr * g->Cg) * g->H * g->W) * es);
        }
}

static void run_weight_grad(const conv_geom *g, tg_dtype dt, const char *x, const char *gy,
                            char *gw, char *cols, char *tmp) {
    kern_window win = window_of(g);
    int64_t es = (int64_t)tg_dtype_size(dt), og = g->O / g->groups, kk = g->Cg * g->kh * g->kw;
    int64_t hw = g->OH * g->OW, one[1] = {1};
    kern_fill(dt, gw, g->O * kk, 0.0);
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t gr = 0; gr < g->groups; gr++) {
            kern_im2col(dt, &win, x + ((n * g->C + gr * g->Cg) * g->H * g->W) * es, cols);
            kern_gemm(dt, og, kk, hw, gy + ((n * g->O + gr * og) * hw) * es, hw, 1, cols, 1, hw,
                      tmp, kk);
            char *dst = gw + gr * og * kk * es;
            int64_t len[1] = {og * kk};
            kern_binary(KERN_ADD, dt, 1, len, dst, dst, one, tmp, one);
        }
}

/* ---- conv2d ---- */

static void conv2d_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_conv2d_params q = params_of(n);
    tg_tensor *x = n->inputs[0], *w = n->inputs[1];
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_conv2d_input_grad(t, g, w, x->shape, &q);
    if (tg_node_needs_grad(n, 1)) grads[1] = tg_conv2d_weight_grad(t, x, g, w->shape, &q);
}

const tg_op_desc tg_op_conv2d = {"conv2d", 2, conv2d_backward, describe_conv, TG_OPF_SMOOTH};

tg_tensor *tg_conv2d_at(tg_tape *t, const char *file, int line, tg_tensor *x, tg_tensor *w,
                        tg_tensor *b, const tg_conv2d_params *params) {
    tg_tensor *in[2] = {x, w};
    if (!tg_op_enter(t, file, line, "conv2d", 2, in)) return NULL;
    int64_t p[7];
    conv_geom g;
    if (!need_4d(t, "conv2d", "input", x) || !need_4d(t, "conv2d", "weight", w) ||
        !resolve_params(t, "conv2d", params, p) || !geometry(t, "conv2d", x->shape, w->shape, p, &g))
        return NULL;
    if (b) {
        char s[TG_SHAPE_STR_MAX];
        if (b->dtype != x->dtype)
            return tg_fail(t, TG_ERR_DTYPE, "conv2d: bias is %s but input is %s",
                           tg_dtype_name(b->dtype), tg_dtype_name(x->dtype));
        if (b->ndim != 1 || b->shape[0] != g.O)
            return tg_fail(t, TG_ERR_SHAPE, "conv2d: bias must have shape (%lld,), got %s",
                           (long long)g.O, tg_shape_str(b, s, sizeof s));
    }
    int64_t shape[4] = {g.N, g.O, g.OH, g.OW};
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, 4, shape);
    const char *xd = contiguous_data(t, x), *wd = contiguous_data(t, w);
    char *cols = scratch(t, x->dtype, g.Cg * g.kh * g.kw * g.OH * g.OW);
    if (!y || !xd || !wd || !cols) return NULL;
    run_forward(&g, x->dtype, xd, wd, y->data, cols);
    if (!tg_record(t, &tg_op_conv2d, y, 2, in)) return NULL;
    set_attrs(y, &g, shape);
    if (!b) return y;
    return tg_add(t, y, tg_reshape(t, b, 3, (int64_t[]){g.O, 1, 1}));
}

/* ---- conv2d_input_grad ---- */

static void input_grad_backward(tg_tape *t, const tg_node *n, tg_tensor *u, tg_tensor **grads) {
    tg_conv2d_params q = params_of(n);
    tg_tensor *g = n->inputs[0], *w = n->inputs[1];
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_conv2d(t, u, w, NULL, &q);
    if (tg_node_needs_grad(n, 1)) grads[1] = tg_conv2d_weight_grad(t, u, g, w->shape, &q);
}

const tg_op_desc tg_op_conv2d_input_grad = {"conv2d_input_grad", 2, input_grad_backward,
                                            describe_conv, TG_OPF_SMOOTH};

tg_tensor *tg_conv2d_input_grad_at(tg_tape *t, const char *file, int line, tg_tensor *g,
                                   tg_tensor *w, const int64_t *x_shape,
                                   const tg_conv2d_params *params) {
    static const char op[] = "conv2d_input_grad";
    tg_tensor *in[2] = {g, w};
    if (!tg_op_enter(t, file, line, op, 2, in)) return NULL;
    if (!x_shape) return tg_fail(t, TG_ERR_NULL, "%s: x_shape is NULL", op);
    int64_t p[7];
    conv_geom geo;
    if (!tg_check_shape(t, op, g->dtype, 4, x_shape) || !need_4d(t, op, "weight", w) ||
        !resolve_params(t, op, params, p) || !geometry(t, op, x_shape, w->shape, p, &geo))
        return NULL;
    int64_t gshape[4] = {geo.N, geo.O, geo.OH, geo.OW};
    if (!need_shape(t, op, "output gradient", g, gshape)) return NULL;
    tg_tensor *gx = tg_tensor_alloc(t, g->dtype, 4, x_shape);
    const char *gd = contiguous_data(t, g), *wd = contiguous_data(t, w);
    char *cols = scratch(t, g->dtype, geo.Cg * geo.kh * geo.kw * geo.OH * geo.OW);
    if (!gx || !gd || !wd || !cols) return NULL;
    run_input_grad(&geo, g->dtype, gd, wd, gx->data, cols);
    if (!tg_record(t, &tg_op_conv2d_input_grad, gx, 2, in)) return NULL;
    set_attrs(gx, &geo, x_shape);
    return gx;
}

/* ---- conv2d_weight_grad ---- */

static void weight_grad_backward(tg_tape *t, const tg_node *n, tg_tensor *u, tg_tensor **grads) {
    tg_conv2d_params q = params_of(n);
    tg_tensor *x = n->inputs[0], *g = n->inputs[1];
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_conv2d_input_grad(t, g, u, x->shape, &q);
    if (tg_node_needs_grad(n, 1)) grads[1] = tg_conv2d(t, x, u, NULL, &q);
}

const tg_op_desc tg_op_conv2d_weight_grad = {"conv2d_weight_grad", 2, weight_grad_backward,
                                             describe_conv, TG_OPF_SMOOTH};

tg_tensor *tg_conv2d_weight_grad_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                                    tg_tensor *g, const int64_t *w_shape,
                                    const tg_conv2d_params *params) {
    static const char op[] = "conv2d_weight_grad";
    tg_tensor *in[2] = {x, g};
    if (!tg_op_enter(t, file, line, op, 2, in)) return NULL;
    if (!w_shape) return tg_fail(t, TG_ERR_NULL, "%s: w_shape is NULL", op);
    int64_t p[7];
    conv_geom geo;
    if (!need_4d(t, op, "input", x) || !tg_check_shape(t, op, x->dtype, 4, w_shape) ||
        !resolve_params(t, op, params, p) || !geometry(t, op, x->shape, w_shape, p, &geo))
        return NULL;
    int64_t gshape[4] = {geo.N, geo.O, geo.OH, geo.OW};
    if (!need_shape(t, op, "output gradient", g, gshape)) return NULL;
    tg_tensor *gw = tg_tensor_alloc(t, x->dtype, 4, w_shape);
    const char *xd = contiguous_data(t, x), *gd = contiguous_data(t, g);
    int64_t kk = geo.Cg * geo.kh * geo.kw;
    char *cols = scratch(t, x->dtype, kk * geo.OH * geo.OW);
    char *tmp = scratch(t, x->dtype, (geo.O / geo.groups) * kk);
    if (!gw || !xd || !gd || !cols || !tmp) return NULL;
    run_weight_grad(&geo, x->dtype, xd, gd, gw->data, cols, tmp);
    if (!tg_record(t, &tg_op_conv2d_weight_grad, gw, 2, in)) return NULL;
    set_attrs(gw, &geo, w_shape);
    return gw;
}

/* layer_norm.c: layer normalisation with gamma and beta as one node (tg_layer_norm takes this
 * path when both are given; tapegrad/norm.h).
 *
 *   over the C = prod(last n_dims sizes) values of each row:
 *   mu = mean x,  var = mean (x - mu)^2,  r = 1 / sqrt(var + eps),  xh = (x - mu) r
 *   y = xh gamma + beta
 * With G = dL/dy and gy = G gamma:
 *   dL/dx = r (gy - mean(gy) - xh mean(gy xh))      (means over the row)
 *   dL/dgamma = sum over rows of G xh,   dL/dbeta = sum over rows of G
 * The composition records nine nodes and passes over the data a dozen times each way; here the
 * forward is two passes per row (statistics, then y) and keeps mu and r for the backward, which
 * is one pass per row. Statistics and the sums over rows are accumulated in double. When the
 * backward pass is itself recorded (create_graph) the rule is the formulas above in ops, so
 * every higher derivative follows from theirs.
 * Saved: the (rows, 2) f64 tape tensor of [mu, r] per row; fattr[0] = eps, iattr[0] = n_dims. */
#include <math.h>
#include <string.h>

#include "op_util.h"

extern const tg_op_desc tg_op_layer_norm;

/* x itself when contiguous, else a contiguous copy on the tape. */
static const tg_tensor *dense(tg_tape *t, const tg_tensor *x) {
    if (tg_tensor_is_contiguous(x)) return x;
    tg_tensor *c = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (c)
        kern_copy(c->dtype, c->data, c->strides, x->dtype, x->data, x->strides, x->ndim, x->shape);
    return c;
}

#define LN_FORWARD(T)                                                                          \
    static void forward_##T(int64_t rows, int64_t C, const T *x, const T *g, const T *b,      \
                            double eps, T *y, double *stats) {                                 \
        for (int64_t i = 0; i < rows; i++) {                                                   \
            const T *xr = x + i * C;                                                           \
            T *yr = y + i * C;                                                                 \
            double s = 0, q = 0;                                                               \
            for (int64_t j = 0; j < C; j++) s += (double)xr[j];                                \
            double mu = s / (double)C;                                                         \
            for (int64_t j = 0; j < C; j++) {                                                  \
                double d = (double)xr[j] - mu;                                                 \
                q += d * d;                                                                    \
            }                                                                                  \
            double r = 1.0 / sqrt(q / (double)C + eps);                                        \
            stats[2 * i] = mu;                                                                 \
            stats[2 * i + 1] = r;                                                              \
            T mt = (T)mu, rt = (T)r;                                                           \
            for (int64_t j = 0; j < C; j++) yr[j] = (xr[j] - mt) * rt * g[j] + b[j];           \
        }                                                                                      \
    }
LN_FORWARD(float)
LN_FORWARD(double)

/* dx (when wanted) and the row sums of G xh and G into acc_g, acc_b (double, C each). */
#define LN_BACKWARD(T)                                                                         \
    static void backward_##T(int64_t rows, int64_t C, const T *x, const T *g, const T *gy,    \
                             int64_t g_rs, const double *stats, T *dx, double *acc_g,          \
                             double *acc_b, T *tmp) {                                          \
        for (int64_t i = 0; i < rows; i++) {                                                   \
            const T *xr = x + i * C, *gr = gy + i * g_rs;                                      \
            T mt = (T)stats[2 * i], rt = (T)stats[2 * i + 1];                                  \
            double a = 0, bsum = 0;                                                            \
            for (int64_t j = 0; j < C; j++) {                                                  \
                T xh = (xr[j] - mt) * rt, gg = gr[j] * g[j];                                   \
                tmp[j] = xh;                                                                   \
                a += (double)gg;                                                               \
                bsum += (double)gg * (double)xh;                                               \
                acc_g[j] += (double)gr[j] * (double)xh;                                        \
                acc_b[j] += (double)gr[j];                                                     \
            }                                                                                  \
            if (!dx) continue;                                                                 \
            T am = (T)(a / (double)C), bm = (T)(bsum / (double)C);                             \
            T *dr = dx + i * C;                                                                \
            for (int64_t j = 0; j < C; j++) dr[j] = rt * (gr[j] * g[j] - am - tmp[j] * bm);    \
        }                                                                                      \
    }
LN_BACKWARD(float)
LN_BACKWARD(double)

/* The rule in primitive ops, for a recorded backward pass. */
static void composed_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_tensor *x = n->inputs[0], *gamma = n->inputs[1], *beta = n->inputs[2];
    int nd = (int)n->iattr[0], axes[TG_MAX_DIMS];
    for (int d = 0; d < nd; d++) axes[d] = x->ndim - nd + d;
    tg_tensor *mu = tg_mean(t, x, nd, axes, true), *d = tg_sub(t, x, mu);
    tg_tensor *var = tg_mean(t, tg_mul(t, d, d), nd, axes, true);
    tg_tensor *r = tg_pow_scalar(t, tg_add_scalar(t, var, n->fattr[0]), -0.5);
    tg_tensor *xh = tg_mul(t, d, r);
    if (tg_node_needs_grad(n, 0)) {
        tg_tensor *gy = tg_mul(t, g, gamma);
        tg_tensor *a = tg_mean(t, gy, nd, axes, true);
        tg_tensor *b = tg_mean(t, tg_mul(t, gy, xh), nd, axes, true);
        grads[0] = tg_mul(t, r, tg_sub(t, tg_sub(t, gy, a), tg_mul(t, xh, b)));
    }
    if (tg_node_needs_grad(n, 1)) grads[1] = tg_sum_to(t, tg_mul(t, g, xh), gamma->ndim, gamma->shape);
    if (tg_node_needs_grad(n, 2)) grads[2] = tg_sum_to(t, g, beta->ndim, beta->shape);
}

static void layer_norm_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    if (tg_tape_grad_enabled(t)) {
        composed_backward(t, n, g, grads);
        return;
    }
    tg_tensor *x = n->inputs[0], *gamma = n->inputs[1], *beta = n->inputs[2], *st;
    memcpy(&st, n->saved, sizeof st);
    int64_t C = tg_tensor_numel(gamma), rows = tg_tensor_numel(x) / C;
    const tg_tensor *xc = dense(t, x), *gc = dense(t, g), *gam = dense(t, gamma);
    tg_tensor *dx = tg_node_needs_grad(n, 0) ? tg_tensor_alloc(t, x->dtype, x->ndim, x->shape) : NULL;
    tg_tensor *acc = tg_tensor_alloc(t, TG_F64, 1, (int64_t[]){3 * C});
    tg_tensor *dg = tg_node_needs_grad(n, 1) ? tg_tensor_alloc(t, x->dtype, gamma->ndim, gamma->shape) : NULL;
    tg_tensor *db = tg_node_needs_grad(n, 2) ? tg_tensor_alloc(t, x->dtype, beta->ndim, beta->shape) : NULL;
    if (!xc || !gc || !gam || !acc || (tg_node_needs_grad(n, 0) && !dx) ||
        (tg_node_needs_grad(n, 1) && !dg) || (tg_node_needs_grad(n, 2) && !db))
        return;
    double *ag = (double *)(void *)acc->data, *ab = ag + C;
    memset(ag, 0, (size_t)(2 * C) * sizeof *ag);
    const double *sv = (const double *)(const void *)st->data;
    if (x->dtype == TG_F32) {
        float *tmp = (float *)(void *)(ab + C);
        backward_float(rows, C, (const float *)(const void *)xc->data,
                       (const float *)(const void *)gam->data, (const float *)(const void *)gc->data,
                       C, sv, dx ? (float *)(void *)dx->data : NULL, ag, ab, tmp);
    } else {
        double *tmp = ab + C;
        backward_double(rows, C, (const double *)(const void *)xc->data,
                        (const double *)(const void *)gam->data,
                        (const double *)(const void *)gc->data, C, sv,
                        dx ? (double *)(void *)dx->data : NULL, ag, ab, tmp);
    }
    if (dg) tg_tensor_copy_in(dg, TG_F64, ag);
    if (db) tg_tensor_copy_in(db, TG_F64, ab);
    grads[0] = dx;
    grads[1] = dg;
    grads[2] = db;
}

static void describe(const tg_node *n, char *buf, size_t size) {
    snprintf(buf, size, "axes=%d eps=%g", (int)n->iattr[0], n->fattr[0]);
}

const tg_op_desc tg_op_layer_norm = {"layer_norm", 3, layer_norm_backward, describe,
                                     TG_OPF_SMOOTH};

tg_tensor *tg_layer_norm_fused(tg_tape *t, tg_tensor *x, int n_dims, tg_tensor *gamma,
                               tg_tensor *beta, double eps) {
    tg_tensor *in[3] = {x, gamma, beta};
    int64_t C = tg_tensor_numel(gamma), rows = C ? tg_tensor_numel(x) / C : 0;
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    tg_tensor *st = tg_tensor_alloc(t, TG_F64, 2, (int64_t[]){rows, 2});
    const tg_tensor *xc = dense(t, x), *gc = dense(t, gamma), *bc = dense(t, beta);
    if (!y || !st || !xc || !gc || !bc) return NULL;
    double *sv = (double *)(void *)st->data;
    if (rows > 0 && C > 0) {
        if (x->dtype == TG_F32)
            forward_float(rows, C, (const float *)(const void *)xc->data,
                          (const float *)(const void *)gc->data,
                          (const float *)(const void *)bc->data, eps, (float *)(void *)y->data, sv);
        else
            forward_double(rows, C, (const double *)(const void *)xc->data,
                           (const double *)(const void *)gc->data,
                           (const double *)(const void *)bc->data, eps, (double *)(void *)y->data,
                           sv);
    }
    if (!tg_record(t, &tg_op_layer_norm, y, 3, in)) return NULL;
    if (y->node) {
        y->node->fattr[0] = eps;
        y->node->iattr[0] = n_dims;
        if (!tg_node_save(t, y->node, &st, sizeof st)) return NULL;
    }
    return y;
}

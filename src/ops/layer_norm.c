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
 * is one pass per row. Statistics and the sums over rows are accumulated in double; f32 rows
 * run in the SIMD loops of kernels/vec_f32.h (AVX-512, AVX2, NEON), which widen to double a
 * vector at a time, and in the plain loops below at the portable level and for f64. When the
 * backward pass is itself recorded (create_graph) the rule is the formulas above in ops, so
 * every higher derivative follows from theirs.
 * Saved: the (rows, 2) f64 tape tensor of [mu, r] per row; fattr[0] = eps, iattr[0] = n_dims. */
#include <math.h>
#include <string.h>

#include "kernels/threadpool.h"
#include "kernels/vec.h"
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

/* Row sums run in four double accumulators (in a fixed order), so that the additions do not
 * wait on one another; the order does not depend on the thread count. */
#define LN_FORWARD(T)                                                                          \
    static void forward_##T(int64_t first, int64_t last, int64_t C, const T *x, const T *g,   \
                            const T *b, double eps, T *y, double *stats) {                     \
        for (int64_t i = first; i < last; i++) {                                               \
            const T *xr = x + i * C;                                                           \
            T *yr = y + i * C;                                                                 \
            double s[4] = {0, 0, 0, 0}, q[4] = {0, 0, 0, 0};                                   \
            int64_t j = 0;                                                                     \
            for (; j + 4 <= C; j += 4)                                                         \
                for (int k = 0; k < 4; k++) s[k] += (double)xr[j + k];                         \
            for (; j < C; j++) s[0] += (double)xr[j];                                          \
            double mu = ((s[0] + s[1]) + (s[2] + s[3])) / (double)C;                           \
            for (j = 0; j + 4 <= C; j += 4)                                                    \
                for (int k = 0; k < 4; k++) {                                                  \
                    double d = (double)xr[j + k] - mu;                                         \
                    q[k] += d * d;                                                             \
                }                                                                              \
            for (; j < C; j++) {                                                               \
                double d = (double)xr[j] - mu;                                                 \
                q[0] += d * d;                                                                 \
            }                                                                                  \
            double r = 1.0 / sqrt(((q[0] + q[1]) + (q[2] + q[3])) / (double)C + eps);          \
            stats[2 * i] = mu;                                                                 \
            stats[2 * i + 1] = r;                                                              \
            T mt = (T)mu, rt = (T)r;                                                           \
            for (j = 0; j < C; j++) yr[j] = (xr[j] - mt) * rt * g[j] + b[j];                   \
        }                                                                                      \
    }
LN_FORWARD(float)
LN_FORWARD(double)

/* Rows first..last: dx (when wanted), and the rows' sums of G xh and G added into acc_g and
 * acc_b (double, C each); tmp holds C values. */
#define LN_BACKWARD(T)                                                                         \
    static void backward_##T(int64_t first, int64_t last, int64_t C, const T *x, const T *g,  \
                             const T *gy, const double *stats, T *dx, double *acc_g,           \
                             double *acc_b, T *tmp) {                                          \
        for (int64_t i = first; i < last; i++) {                                               \
            const T *xr = x + i * C, *gr = gy + i * C;                                         \
            T mt = (T)stats[2 * i], rt = (T)stats[2 * i + 1];                                  \
            for (int64_t j = 0; j < C; j++) {                                                  \
                T xh = (xr[j] - mt) * rt;                                                      \
                tmp[j] = xh;                                                                   \
                acc_g[j] += (double)gr[j] * (double)xh;                                        \
                acc_b[j] += (double)gr[j];                                                     \
            }                                                                                  \
            if (!dx) continue;                                                                 \
            double a[4] = {0, 0, 0, 0}, bs[4] = {0, 0, 0, 0};                                  \
            int64_t j = 0;                                                                     \
            for (; j + 4 <= C; j += 4)                                                         \
                for (int k = 0; k < 4; k++) {                                                  \
                    double gg = (double)(gr[j + k] * g[j + k]);                                \
                    a[k] += gg;                                                                \
                    bs[k] += gg * (double)tmp[j + k];                                          \
                }                                                                              \
            for (; j < C; j++) {                                                               \
                double gg = (double)(gr[j] * g[j]);                                            \
                a[0] += gg;                                                                    \
                bs[0] += gg * (double)tmp[j];                                                  \
            }                                                                                  \
            T am = (T)(((a[0] + a[1]) + (a[2] + a[3])) / (double)C);                           \
            T bm = (T)(((bs[0] + bs[1]) + (bs[2] + bs[3])) / (double)C);                       \
            T *dr = dx + i * C;                                                                \
            for (j = 0; j < C; j++) dr[j] = rt * (gr[j] * g[j] - am - tmp[j] * bm);            \
        }                                                                                      \
    }
LN_BACKWARD(float)
LN_BACKWARD(double)

/* Rows are cut into LN_CHUNKS fixed pieces, shared between the kernels' threads; each piece
 * has its own sums over rows, added in piece order, so the result does not depend on the
 * thread count. */
enum { LN_CHUNKS = 8 };

typedef struct ln_job {
    tg_dtype dtype;
    int64_t rows, C;
    double eps;
    const void *x, *g, *b, *gy;
    void *y, *dx;
    double *stats;
    double *acc; /* LN_CHUNKS x (2 C) sums, then LN_CHUNKS x C tmp values */
} ln_job;

static void chunk_range(const ln_job *j, int64_t c, int64_t *first, int64_t *last) {
    *first = j->rows * c / LN_CHUNKS;
    *last = j->rows * (c + 1) / LN_CHUNKS;
}

static void forward_chunk(void *ctx, int64_t c) {
    const ln_job *j = ctx;
    int64_t f, l;
    chunk_range(j, c, &f, &l);
    if (j->dtype == TG_F32) {
        if (!kern_vec_layer_norm_forward_f32(f, l, j->C, j->x, j->g, j->b, j->eps, j->y,
                                             j->stats))
            forward_float(f, l, j->C, j->x, j->g, j->b, j->eps, j->y, j->stats);
    } else {
        forward_double(f, l, j->C, j->x, j->g, j->b, j->eps, j->y, j->stats);
    }
}

static void backward_chunk(void *ctx, int64_t c) {
    const ln_job *j = ctx;
    int64_t f, l, C = j->C;
    chunk_range(j, c, &f, &l);
    double *ag = j->acc + c * 2 * C, *ab = ag + C, *tmp = j->acc + LN_CHUNKS * 2 * C + c * C;
    memset(ag, 0, (size_t)(2 * C) * sizeof *ag);
    if (j->dtype == TG_F32) {
        if (!kern_vec_layer_norm_backward_f32(f, l, C, j->x, j->g, j->gy, j->stats, j->dx, ag, ab))
            backward_float(f, l, C, j->x, j->g, j->gy, j->stats, j->dx, ag, ab,
                           (float *)(void *)tmp);
    } else {
        backward_double(f, l, C, j->x, j->g, j->gy, j->stats, j->dx, ag, ab, tmp);
    }
}

static void run_chunks(ln_job *j, kern_task_fn fn) {
    if (kern_threads() > 1 && j->rows * j->C >= KERN_PIECES_AWAKE)
        kern_parallel_for(LN_CHUNKS, kern_threads(), fn, j);
    else
        for (int64_t c = 0; c < LN_CHUNKS; c++) fn(j, c);
}

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
    tg_tensor *acc = tg_tensor_alloc(t, TG_F64, 1, (int64_t[]){3 * LN_CHUNKS * C});
    tg_tensor *dg = tg_node_needs_grad(n, 1) ? tg_tensor_alloc(t, x->dtype, gamma->ndim, gamma->shape) : NULL;
    tg_tensor *db = tg_node_needs_grad(n, 2) ? tg_tensor_alloc(t, x->dtype, beta->ndim, beta->shape) : NULL;
    if (!xc || !gc || !gam || !acc || (tg_node_needs_grad(n, 0) && !dx) ||
        (tg_node_needs_grad(n, 1) && !dg) || (tg_node_needs_grad(n, 2) && !db))
        return;
    ln_job j = {.dtype = x->dtype, .rows = rows, .C = C, .x = xc->data, .g = gam->data,
                .gy = gc->data, .dx = dx ? dx->data : NULL,
                .stats = (double *)(void *)st->data, .acc = (double *)(void *)acc->data};
    run_chunks(&j, backward_chunk);
    /* The pieces' sums, in piece order, into the first piece's. */
    double *ag = j.acc, *ab = ag + C;
    for (int c = 1; c < LN_CHUNKS; c++)
        for (int64_t k = 0; k < C; k++) {
            ag[k] += j.acc[c * 2 * C + k];
            ab[k] += j.acc[c * 2 * C + C + k];
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
        ln_job j = {.dtype = x->dtype, .rows = rows, .C = C, .eps = eps, .x = xc->data,
                    .g = gc->data, .b = bc->data, .y = y->data, .stats = sv};
        run_chunks(&j, forward_chunk);
    }
    if (!tg_record(t, &tg_op_layer_norm, y, 3, in)) return NULL;
    if (y->node) {
        y->node->fattr[0] = eps;
        y->node->iattr[0] = n_dims;
        if (!tg_node_save(t, y->node, &st, sizeof st)) return NULL;
    }
    return y;
}

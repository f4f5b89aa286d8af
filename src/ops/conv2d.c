/* conv2d.c: 2-D convolution (cross-correlation), its two gradient ops, and the transposed
 * convolution, which is input_grad under PyTorch's name and sizes (its section at the end).
 *
 *   y[n,o,p,q] = sum_{c,i,j} x[n, G(o)+c, p*sh - ph + i*dh, q*sw - pw + j*dw] w[o,c,i,j]
 *
 * All three ops are slices of one trilinear form T(x, w, g) = <conv2d(x, w), g>:
 *   conv2d(x, w)           = dT/dg    backward: dx = input_grad(g, w),  dw = weight_grad(x, g)
 *   input_grad(g, w)       = dT/dx    backward: dg = conv2d(u, w),      dw = weight_grad(u, g)
 *   weight_grad(x, g)      = dT/dw    backward: dx = input_grad(g, u),  dg = conv2d(x, u)
 * (u is the upstream gradient), so each op's rule is made of the other two and every derivative
 * of any order stays exact. Kernels: im2col + GEMM per group over chunks of images whose columns
 * sit side by side (about CHUNK_BYTES of them, so one product covers several small images and
 * its operands stay in L2); col2im for input_grad. When conv2d is recorded with a weight that
 * takes a gradient, its columns are kept (a tape tensor named by the node's saved blob), so the
 * weight gradient of its backward is one product with no im2col of its own. For f32 at stride
 * 1 and dilation 1 on AVX-512 the forward and the weight gradient make no columns at all: the
 * direct kernel (few taps, rows of 12 or more) or the one with 16 images per vector (batches of
 * 8 or more) computes them from the images, and such a forward keeps nothing; the input gradient
 * takes the images-in-lanes kernel where it applies, else the column path. Every path computes
 * the same sums, in its own order.
 * Node attributes: iattr[0..7) = stride h,w, padding h,w, dilation h,w, groups; iattr[7..11) =
 * the shape the grad ops produce. */
#include <stdio.h>
#include <string.h>

#include "op_util.h"
#include "kernels/conv.h"
#include "kernels/threadpool.h"

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
    if (!tg_size_mul(p[A_DIL], g->kh - 1, INT64_MAX - 1, &eh)) eh = INT64_MAX - 1;
    if (!tg_size_mul(p[A_DIL + 1], g->kw - 1, INT64_MAX - 1, &ew)) ew = INT64_MAX - 1;
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
    /* The output and one image's columns (kk x OH OW, the im2col scratch) must be countable:
     * a padding of 2^31 makes OH OW about 2^64, which the plan's products would wrap. N comes
     * last so that an empty batch does not excuse the per-image sizes the plan multiplies. */
    int64_t n_out, n_cols;
    if (!tg_numel_checked(4, (int64_t[]){g->O, g->OH, g->OW, g->N}, &n_out) ||
        !tg_numel_checked(5, (int64_t[]){g->Cg, g->kh, g->kw, g->OH, g->OW}, &n_cols)) {
        tg_fail(t, TG_ERR_SHAPE, "%s: input %s with weight %s and padding (%lld, %lld) gives a "
                "%lldx%lld output, more than 2^40 elements (or columns) per call", op,
                tg_dims_str(4, xs, a, sizeof a), tg_dims_str(4, ws, b, sizeof b),
                (long long)p[A_PAD], (long long)p[A_PAD + 1], (long long)g->OH,
                (long long)g->OW);
        return false;
    }
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

/* Bytes of im2col columns per chunk of images, and the column elements from which a chunk's
 * images are shared between threads. */
enum { CHUNK_BYTES = 1 << 20, PAR_COLS_MIN = 1 << 15 };

/* Images per chunk, and the scratch each kernel needs (in elements) for that many. */
typedef struct conv_plan {
    int64_t nb;         /* images per chunk */
    int64_t og, kk, hw; /* output channels per group, rows of the columns, output positions */
    int64_t n_cols;     /* kk x nb hw */
    int64_t n_gperm;    /* og x nb hw: a chunk's output gradient, channel-major */
    int64_t n_tmp;      /* og x max(kk, nb hw): a product before it is scattered or added */
} conv_plan;

static conv_plan plan_of(const conv_geom *g, tg_dtype dt) {
    conv_plan p;
    p.og = g->O / g->groups;
    p.kk = g->Cg * g->kh * g->kw;
    p.hw = g->OH * g->OW;
    int64_t per = p.kk * p.hw * (int64_t)tg_dtype_size(dt);
    p.nb = per > 0 ? CHUNK_BYTES / per : g->N;
    if (p.nb < 1) p.nb = 1;
    if (p.nb > g->N) p.nb = g->N > 0 ? g->N : 1;
    p.n_cols = p.kk * p.nb * p.hw;
    p.n_gperm = p.og * p.nb * p.hw;
    p.n_tmp = p.og * (p.kk > p.nb * p.hw ? p.kk : p.nb * p.hw);
    return p;
}

/* Copies the (b, og, hw) block of channels [gr og, (gr + 1) og) of images n0.. of an
 * (N, O, hw) tensor to or from a channel-major (og, b hw) matrix. */
static void gather_channels(const conv_geom *g, const conv_plan *p, tg_dtype dt, int64_t n0,
                            int64_t b, int64_t gr, const char *nchw, char *cm) {
    int64_t es = (int64_t)tg_dtype_size(dt);
    int64_t shape[3] = {b, p->og, p->hw}, src[3] = {g->O * p->hw, p->hw, 1};
    int64_t dst[3] = {p->hw, b * p->hw, 1};
    kern_copy(dt, cm, dst, dt, nchw + ((n0 * g->O + gr * p->og) * p->hw) * es, src, 3, shape);
}

static void scatter_channels(const conv_geom *g, const conv_plan *p, tg_dtype dt, int64_t n0,
                             int64_t b, int64_t gr, const char *cm, char *nchw) {
    int64_t es = (int64_t)tg_dtype_size(dt);
    int64_t shape[3] = {b, p->og, p->hw}, dst[3] = {g->O * p->hw, p->hw, 1};
    int64_t src[3] = {p->hw, b * p->hw, 1};
    kern_copy(dt, nchw + ((n0 * g->O + gr * p->og) * p->hw) * es, dst, dt, cm, src, 3, shape);
}

/* The columns of images n0..n0+b of group gr (im2col), one image per task (threads share the
 * images of a chunk when it is large). With `cols_to_image` the reverse: each image's columns
 * are folded back into the image gradient (col2im), images again one per task. */
typedef struct cols_job {
    const conv_geom *g;
    const conv_plan *p;
    tg_dtype dt;
    const char *x; /* image batch (im2col), or columns (col2im) */
    char *out;     /* columns (im2col), or the image gradient batch (col2im) */
    int64_t n0, b, gr;
    bool cols_to_image;
    int64_t ld, col0; /* the columns' row stride, and where image n0's start in a row */
} cols_job;

static void cols_task(void *ctx, int64_t k) {
    const cols_job *j = ctx;
    const conv_geom *g = j->g;
    kern_window win = window_of(g);
    int64_t es = (int64_t)tg_dtype_size(j->dt), col = (j->col0 + k * j->p->hw) * es;
    int64_t img = (((j->n0 + k) * g->C + j->gr * g->Cg) * g->H * g->W) * es;
    if (j->cols_to_image)
        kern_col2im_add(j->dt, &win, j->x + col, j->ld, j->out + img);
    else
        kern_im2col(j->dt, &win, j->x + img, j->out + col, j->ld);
}

static void run_cols(const cols_job *j) {
    int threads = kern_threads();
    if (threads > 1 && j->b > 1 && j->p->kk * j->b * j->p->hw >= PAR_COLS_MIN)
        kern_parallel_for(j->b, threads, cols_task, (void *)j);
    else
        for (int64_t k = 0; k < j->b; k++) cols_task((void *)j, k);
}

/* The columns of images n0..n0+b of group gr into a chunk buffer (kk, b hw). */
static void chunk_cols(const conv_geom *g, const conv_plan *p, tg_dtype dt, const char *x,
                       int64_t n0, int64_t b, int64_t gr, char *cols) {
    cols_job j = {g, p, dt, x, cols, n0, b, gr, false, b * p->hw, 0};
    run_cols(&j);
}

/* The f32 kernels without columns (direct: along rows; lanes: 16 images per vector), group by
 * group: image-sized operands start at the group's first channel, weights at its first output. */
typedef struct group_at {
    const float *x, *w, *gy; /* x: (N, C, H, W); w: (O, Cg, kh, kw); gy: (N, O, OH, OW) */
    float *y;                /* the forward's output or the weight gradient */
} group_at;

static group_at group_of(const conv_geom *g, int64_t gr, const char *x, const char *w,
                         const char *gy, char *y, bool weight_out) {
    int64_t og = g->O / g->groups, kk = g->Cg * g->kh * g->kw, hw = g->OH * g->OW;
    group_at a = {(const float *)(const void *)x + gr * g->Cg * g->H * g->W, NULL, NULL, NULL};
    if (w) a.w = (const float *)(const void *)w + gr * og * kk;
    if (gy) a.gy = (const float *)(const void *)gy + gr * og * hw;
    if (y) a.y = (float *)(void *)y + gr * og * (weight_out ? kk : hw);
    return a;
}

/* The group's slice of the bias (f32), or NULL without one. */
static const float *group_bias(const conv_geom *g, int64_t gr, const char *b) {
    return b ? (const float *)(const void *)b + gr * (g->O / g->groups) : NULL;
}

static void run_forward_direct(const conv_geom *g, const char *x, const char *w, const char *b,
                               char *y, char *pad, char *wpk) {
    kern_window win = window_of(g);
    for (int64_t gr = 0; gr < g->groups; gr++) {
        group_at a = group_of(g, gr, x, w, NULL, y, false);
        kern_conv_direct_forward(&win, g->N, g->O / g->groups, a.x, g->C * g->H * g->W, a.w,
                                 group_bias(g, gr, b), (float *)(void *)pad,
                                 (float *)(void *)wpk, a.y, g->O * g->OH * g->OW);
    }
}

static void run_weight_grad_direct(const conv_geom *g, const char *x, const char *gy, char *gw,
                                   char *pad, char *parts, int64_t n_parts) {
    kern_window win = window_of(g);
    for (int64_t gr = 0; gr < g->groups; gr++) {
        group_at a = group_of(g, gr, x, NULL, gy, gw, true);
        kern_conv_direct_weight_grad(&win, g->N, g->O / g->groups, a.x, g->C * g->H * g->W, a.gy,
                                     g->O * g->OH * g->OW, (float *)(void *)pad,
                                     (float *)(void *)parts, n_parts, a.y);
    }
}

static void run_forward_lanes(const conv_geom *g, const char *x, const char *w, const char *b,
                              char *y, char *wpk, char *xp, char *yp) {
    kern_window win = window_of(g);
    for (int64_t gr = 0; gr < g->groups; gr++) {
        group_at a = group_of(g, gr, x, w, NULL, y, false);
        kern_conv_lanes_forward(&win, g->N, g->O / g->groups, a.x, g->C * g->H * g->W, a.w,
                                group_bias(g, gr, b), (float *)(void *)wpk, (float *)(void *)xp, (float *)(void *)yp,
                                a.y, g->O * g->OH * g->OW);
    }
}

static void run_weight_grad_lanes(const conv_geom *g, const char *x, const char *gy, char *gw,
                                  char *xp, char *gp) {
    kern_window win = window_of(g);
    for (int64_t gr = 0; gr < g->groups; gr++) {
        group_at a = group_of(g, gr, x, NULL, gy, gw, true);
        kern_conv_lanes_weight_grad(&win, g->N, g->O / g->groups, a.x, g->C * g->H * g->W, a.gy,
                                    g->O * g->OH * g->OW, (float *)(void *)xp,
                                    (float *)(void *)gp, a.y);
    }
}

static void run_input_grad_lanes(const conv_geom *g, const char *gy, const char *w, char *gx,
                                 char *wpk, char *gp, char *dxp) {
    kern_window win = window_of(g);
    for (int64_t gr = 0; gr < g->groups; gr++) {
        group_at a = group_of(g, gr, gx, w, gy, NULL, false);
        float *dx = (float *)(void *)gx + gr * g->Cg * g->H * g->W; /* the group's first plane */
        kern_conv_lanes_input_grad(&win, g->N, g->O / g->groups, a.gy, g->O * g->OH * g->OW, a.w,
                                   (float *)(void *)wpk, (float *)(void *)gp,
                                   (float *)(void *)dxp, dx, g->C * g->H * g->W);
    }
}

/* With `keep` (groups blocks of (kk, N hw), one per group: every image's columns) the columns
 * are built there, chunk by chunk, and stay for the weight gradient (conv2d's backward), which
 * then needs no im2col of its own; without, in the chunk buffer `cols`. */
static void run_forward(const conv_geom *g, tg_dtype dt, const char *x, const char *w, char *y,
                        char *cols, char *tmp, char *keep) {
    conv_plan p = plan_of(g, dt);
    int64_t es = (int64_t)tg_dtype_size(dt), ldk = g->N * p.hw;
    for (int64_t n0 = 0; n0 < g->N; n0 += p.nb) {
        int64_t b = g->N - n0 < p.nb ? g->N - n0 : p.nb, ld = b * p.hw;
        for (int64_t gr = 0; gr < g->groups; gr++) {
            const char *bm = cols;
            int64_t b_rs = ld;
            if (keep) {
                char *block = keep + gr * p.kk * ldk * es;
                cols_job j = {g, &p, dt, x, block, n0, b, gr, false, ldk, n0 * p.hw};
                run_cols(&j);
                bm = block + n0 * p.hw * es;
                b_rs = ldk;
            } else {
                chunk_cols(g, &p, dt, x, n0, b, gr, cols);
            }
            /* One image: the product lands in y directly. */
            char *c = b == 1 ? y + ((n0 * g->O + gr * p.og) * p.hw) * es : tmp;
            kern_gemm(dt, p.og, ld, p.kk, w + gr * p.og * p.kk * es, p.kk, 1, bm, b_rs, 1, c, ld);
            if (b > 1) scatter_channels(g, &p, dt, n0, b, gr, tmp, y);
        }
    }
}

static void run_input_grad(const conv_geom *g, tg_dtype dt, const char *gy, const char *w,
                           char *gx, char *cols, char *gperm) {
    conv_plan p = plan_of(g, dt);
    int64_t es = (int64_t)tg_dtype_size(dt);
    kern_fill(dt, gx, g->N * g->C * g->H * g->W, 0.0);
    for (int64_t n0 = 0; n0 < g->N; n0 += p.nb) {
        int64_t b = g->N - n0 < p.nb ? g->N - n0 : p.nb, ld = b * p.hw;
        for (int64_t gr = 0; gr < g->groups; gr++) {
            const char *gm = gy + ((n0 * g->O + gr * p.og) * p.hw) * es;
            if (b > 1) {
                gather_channels(g, &p, dt, n0, b, gr, gy, gperm);
                gm = gperm;
            }
            kern_gemm(dt, p.kk, ld, p.og, w + gr * p.og * p.kk * es, 1, p.kk, gm, ld, 1, cols,
                      ld);
            cols_job j = {g, &p, dt, cols, gx, n0, b, gr, true, ld, 0};
            run_cols(&j);
        }
    }
}

/* The weight gradient from the forward's kept columns C (kk, N hw) (run_forward's `keep`) and
 * the output gradient G of every image, in one product over the long N hw dimension. With at
 * least a vector's worth of output channels it is computed transposed, dW^T (kk, og) = C G^T
 * with G^T position-major (N hw, og) in gperm: both operands then have contiguous rows, and the
 * small result is transposed into gw. With fewer, as dW (og, kk) = G C^T with G channel-major
 * (og, N hw), which keeps the product's columns (kk) wide: measured at LeNet's shapes, each
 * form is 1.5 to 3 times faster than the other on its side of the line. */
enum { KEPT_WIDE_OG = 16 };

static void run_weight_grad_kept(const conv_geom *g, tg_dtype dt, const char *keep,
                                 const char *gy, char *gw, char *gperm, char *tmp) {
    conv_plan p = plan_of(g, dt);
    int64_t es = (int64_t)tg_dtype_size(dt), ldk = g->N * p.hw;
    for (int64_t gr = 0; gr < g->groups; gr++) {
        const char *cm = keep + gr * p.kk * ldk * es;
        char *dw = gw + gr * p.og * p.kk * es;
        if (p.og < KEPT_WIDE_OG) {
            gather_channels(g, &p, dt, 0, g->N, gr, gy, gperm);
            kern_gemm(dt, p.og, p.kk, ldk, gperm, ldk, 1, cm, 1, ldk, dw, p.kk);
            continue;
        }
        int64_t shape[3] = {g->N, p.og, p.hw}, src[3] = {g->O * p.hw, p.hw, 1};
        int64_t dst[3] = {p.hw * p.og, 1, p.og};
        kern_copy(dt, gperm, dst, dt, gy + gr * p.og * p.hw * es, src, 3, shape);
        kern_gemm(dt, p.kk, p.og, ldk, cm, ldk, 1, gperm, p.og, 1, tmp, p.og);
        int64_t tshape[2] = {p.og, p.kk}, tsrc[2] = {1, p.og}, tdst[2] = {p.kk, 1};
        kern_copy(dt, dw, tdst, dt, tmp, tsrc, 2, tshape);
    }
    if (g->N == 0) kern_fill(dt, gw, g->O * p.kk, 0.0);
}

static void run_weight_grad(const conv_geom *g, tg_dtype dt, const char *x, const char *gy,
                            char *gw, char *cols, char *gperm, char *tmp) {
    conv_plan p = plan_of(g, dt);
    int64_t es = (int64_t)tg_dtype_size(dt), one[1] = {1}, len[1] = {p.og * p.kk};
    for (int64_t n0 = 0; n0 < g->N; n0 += p.nb) {
        int64_t b = g->N - n0 < p.nb ? g->N - n0 : p.nb, ld = b * p.hw;
        for (int64_t gr = 0; gr < g->groups; gr++) {
            chunk_cols(g, &p, dt, x, n0, b, gr, cols);
            const char *gm = gy + ((n0 * g->O + gr * p.og) * p.hw) * es;
            if (b > 1) {
                gather_channels(g, &p, dt, n0, b, gr, gy, gperm);
                gm = gperm;
            }
            /* The first chunk writes the group's gradient, later ones add to it. */
            char *dst = gw + gr * p.og * p.kk * es;
            kern_gemm(dt, p.og, p.kk, ld, gm, ld, 1, cols, 1, ld, n0 == 0 ? dst : tmp, p.kk);
            if (n0 > 0) kern_binary(KERN_ADD, dt, 1, len, dst, dst, one, tmp, one);
        }
    }
    if (g->N == 0) kern_fill(dt, gw, g->O * p.kk, 0.0);
}

/* ---- conv2d ---- */

static tg_tensor *weight_grad(tg_tape *t, const char *file, int line, tg_tensor *x, tg_tensor *g,
                              const int64_t *w_shape, const tg_conv2d_params *params,
                              const tg_tensor *kept);

static void conv2d_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    tg_conv2d_params q = params_of(n);
    tg_tensor *x = n->inputs[0], *w = n->inputs[1];
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_conv2d_input_grad(t, g, w, x->shape, &q);
    if (tg_node_needs_grad(n, 1)) {
        const tg_tensor *kept = NULL; /* the forward's columns, when it kept them */
        if (n->saved) memcpy(&kept, n->saved, sizeof kept);
        grads[1] = weight_grad(t, NULL, 0, x, g, w->shape, &q, kept);
    }
}

const tg_op_desc tg_op_conv2d = {"conv2d", 2, conv2d_backward, describe_conv, TG_OPF_SMOOTH};

/* conv2d with a bias (the third input): the bias is added inside the convolution (the direct
 * kernels start their sums from it, the lanes kernels add it while unpacking, the others in one
 * pass over the output), not by a broadcast add after it; its gradient is the output
 * gradient's sum over images and positions. */
static void conv2d_bias_backward(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads) {
    conv2d_backward(t, n, g, grads);
    if (tg_node_needs_grad(n, 2)) grads[2] = tg_sum(t, g, 3, (const int[]){0, 2, 3}, false);
}

const tg_op_desc tg_op_conv2d_bias = {"conv2d_bias", 3, conv2d_bias_backward, describe_conv,
                                      TG_OPF_SMOOTH};

/* y (N, O, hw) += b[o], in y's dtype: the bias for the paths whose kernels do not add it. */
static void add_bias(tg_dtype dt, char *y, const char *b, int64_t N, int64_t O, int64_t hw) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++) {
            if (dt == TG_F32) {
                float *r = (float *)(void *)y + (n * O + o) * hw, v = ((const float *)(const void *)b)[o];
                for (int64_t k = 0; k < hw; k++) r[k] += v;
            } else {
                double *r = (double *)(void *)y + (n * O + o) * hw, v = ((const double *)(const void *)b)[o];
                for (int64_t k = 0; k < hw; k++) r[k] += v;
            }
        }
}

tg_tensor *tg_conv2d_at(tg_tape *t, const char *file, int line, tg_tensor *x, tg_tensor *w,
                        tg_tensor *b, const tg_conv2d_params *params) {
    tg_tensor *in[3] = {x, w, b};
    int n_in = b ? 3 : 2;
    /* The bias is checked below, with a message that names it. */
    if (!tg_op_enter(t, file, line, "conv2d", 2, in)) return NULL;
    int64_t p[7];
    conv_geom g;
    if (!need_4d(t, "conv2d", "input", x) || !need_4d(t, "conv2d", "weight", w) ||
        !resolve_params(t, "conv2d", params, p) || !geometry(t, "conv2d", x->shape, w->shape, p, &g))
        return NULL;
    if (b) {
        char s[TG_SHAPE_STR_MAX];
        if (!tg_op_current(t, "conv2d", "the bias", b)) return NULL;
        if (b->dtype != x->dtype)
            return tg_fail(t, TG_ERR_DTYPE, "conv2d: bias is %s but input is %s",
                           tg_dtype_name(b->dtype), tg_dtype_name(x->dtype));
        if (b->ndim != 1 || b->shape[0] != g.O)
            return tg_fail(t, TG_ERR_SHAPE, "conv2d: bias must have shape (%lld,), got %s",
                           (long long)g.O, tg_shape_str(b, s, sizeof s));
    }
    int64_t shape[4] = {g.N, g.O, g.OH, g.OW};
    /* Each allocation only after the one before it worked: once one has failed, asking for
     * the (often larger) scratch as well only makes a sanitizer's allocator abort. */
    tg_tensor *y = tg_tensor_alloc(t, x->dtype, 4, shape);
    const char *xd = y ? contiguous_data(t, x) : NULL, *wd = xd ? contiguous_data(t, w) : NULL;
    const char *bd = wd && b ? contiguous_data(t, b) : NULL;
    if (!wd || (b && !bd)) return NULL;
    conv_plan pl = plan_of(&g, x->dtype);
    kern_window win = window_of(&g);
    tg_tensor *kept = NULL;
    if (kern_conv_direct_usable(x->dtype, &win)) {
        /* Straight from the image: no columns to make, none to keep (the weight gradient is
         * direct too). */
        char *pad = scratch(t, x->dtype, kern_conv_direct_pad_elems(&win, g.N) + 1);
        char *wpk = pad ? scratch(t, x->dtype, pl.og * pl.kk + 1) : NULL;
        if (!wpk) return NULL;
        run_forward_direct(&g, xd, wd, bd, y->data, pad, wpk);
    } else if (kern_conv_lanes_usable(x->dtype, &win, g.N)) {
        char *wpk = scratch(t, x->dtype, pl.og * pl.kk + 1);
        char *xp = wpk ? scratch(t, x->dtype, kern_conv_lanes_x_elems(&win, g.N) + 1) : NULL;
        char *yp = xp ? scratch(t, x->dtype, kern_conv_lanes_y_elems(&win, g.N, pl.og) + 1)
                      : NULL;
        if (!yp) return NULL;
        run_forward_lanes(&g, xd, wd, bd, y->data, wpk, xp, yp);
    } else {
        /* Keep every image's columns when the weight will want its gradient from them. */
        bool keep = tg_tape_grad_enabled(t) && w->requires_grad;
        int64_t n_kept = 0;
        if (keep && !tg_numel_checked(4, (int64_t[]){g.groups, pl.kk, pl.hw, g.N}, &n_kept))
            return tg_fail(t, TG_ERR_NOMEM, "conv2d: the columns of %lld images would have "
                           "more than 2^40 elements", (long long)g.N);
        kept = keep ? tg_tensor_alloc(t, x->dtype, 1, &n_kept) : NULL;
        char *cols = keep ? NULL : scratch(t, x->dtype, pl.n_cols);
        char *tmp = (keep ? kept != NULL : cols != NULL) ? scratch(t, x->dtype, pl.n_tmp) : NULL;
        if (!tmp) return NULL;
        run_forward(&g, x->dtype, xd, wd, y->data, cols, tmp, kept ? kept->data : NULL);
        if (bd) add_bias(x->dtype, y->data, bd, g.N, g.O, g.OH * g.OW);
    }
    if (!tg_record(t, b ? &tg_op_conv2d_bias : &tg_op_conv2d, y, n_in, in)) return NULL;
    if (y->node && kept && !tg_node_save(t, y->node, &kept, sizeof kept)) return NULL;
    set_attrs(y, &g, shape);
    return y;
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

/* The values of input_grad(g, w) for an input of shape x_shape and the checked geometry geo,
 * into a new tensor on the tape, recorded as nothing (its caller records its own op). */
static tg_tensor *input_grad_values(tg_tape *t, tg_tensor *g, tg_tensor *w,
                                    const int64_t *x_shape, const conv_geom *geo) {
    /* As in the forward: each allocation only after the one before it worked. */
    tg_tensor *gx = tg_tensor_alloc(t, g->dtype, 4, x_shape);
    const char *gd = gx ? contiguous_data(t, g) : NULL, *wd = gd ? contiguous_data(t, w) : NULL;
    if (!wd) return NULL;
    conv_plan pl = plan_of(geo, g->dtype);
    kern_window win = window_of(geo);
    if (kern_conv_lanes_usable(g->dtype, &win, geo->N)) {
        char *wpk = scratch(t, g->dtype, pl.og * pl.kk + 1);
        char *gp = wpk ? scratch(t, g->dtype, kern_conv_lanes_y_elems(&win, geo->N, pl.og) + 1)
                       : NULL;
        char *dxp = gp ? scratch(t, g->dtype, kern_conv_lanes_dx_elems(&win, geo->N) + 1) : NULL;
        if (!dxp) return NULL;
        run_input_grad_lanes(geo, gd, wd, gx->data, wpk, gp, dxp);
    } else {
        char *cols = scratch(t, g->dtype, pl.n_cols);
        char *gperm = cols ? scratch(t, g->dtype, pl.n_gperm) : NULL;
        if (!gperm) return NULL;
        run_input_grad(geo, g->dtype, gd, wd, gx->data, cols, gperm);
    }
    return gx;
}

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
    tg_tensor *gx = input_grad_values(t, g, w, x_shape, &geo);
    if (!gx || !tg_record(t, &tg_op_conv2d_input_grad, gx, 2, in)) return NULL;
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

/* The op, from the columns a conv2d forward kept (kept not NULL) or from its own im2col. */
static tg_tensor *weight_grad(tg_tape *t, const char *file, int line, tg_tensor *x, tg_tensor *g,
                              const int64_t *w_shape, const tg_conv2d_params *params,
                              const tg_tensor *kept) {
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
    /* As in the forward: each allocation only after the one before it worked. */
    tg_tensor *gw = tg_tensor_alloc(t, x->dtype, 4, w_shape);
    const char *gd = gw ? contiguous_data(t, g) : NULL;
    if (!gd) return NULL;
    conv_plan pl = plan_of(&geo, x->dtype);
    kern_window win = window_of(&geo);
    if (!kept && kern_conv_direct_usable(x->dtype, &win)) {
        const char *xd = contiguous_data(t, x);
        char *pad = xd ? scratch(t, x->dtype, kern_conv_direct_pad_elems(&win, geo.N) + 1) : NULL;
        int64_t n_parts = kern_conv_direct_parts(); /* read once: it sizes the scratch */
        char *parts = pad ? scratch(t, x->dtype, n_parts * pl.og * pl.kk + 1) : NULL;
        if (!parts) return NULL;
        run_weight_grad_direct(&geo, xd, gd, gw->data, pad, parts, n_parts);
    } else if (!kept && kern_conv_lanes_usable(x->dtype, &win, geo.N)) {
        const char *xd = contiguous_data(t, x);
        char *xp = xd ? scratch(t, x->dtype, kern_conv_lanes_x_elems(&win, geo.N) + 1) : NULL;
        char *gp = xp ? scratch(t, x->dtype, kern_conv_lanes_y_elems(&win, geo.N, pl.og) + 1)
                      : NULL;
        if (!gp) return NULL;
        run_weight_grad_lanes(&geo, xd, gd, gw->data, xp, gp);
    } else if (kept) {
        char *gperm = scratch(t, x->dtype, pl.og * geo.N * pl.hw);
        char *tmp = gperm ? scratch(t, x->dtype, pl.og * pl.kk) : NULL;
        if (!tmp) return NULL;
        run_weight_grad_kept(&geo, x->dtype, kept->data, gd, gw->data, gperm, tmp);
    } else {
        const char *xd = contiguous_data(t, x);
        char *cols = xd ? scratch(t, x->dtype, pl.n_cols) : NULL;
        char *gperm = cols ? scratch(t, x->dtype, pl.n_gperm) : NULL;
        char *tmp = gperm ? scratch(t, x->dtype, pl.n_tmp) : NULL;
        if (!tmp) return NULL;
        run_weight_grad(&geo, x->dtype, xd, gd, gw->data, cols, gperm, tmp);
    }
    if (!tg_record(t, &tg_op_conv2d_weight_grad, gw, 2, in)) return NULL;
    set_attrs(gw, &geo, w_shape);
    return gw;
}

tg_tensor *tg_conv2d_weight_grad_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                                    tg_tensor *g, const int64_t *w_shape,
                                    const tg_conv2d_params *params) {
    return weight_grad(t, file, line, x, g, w_shape, params, NULL);
}

/* ---- conv_transpose2d ----
 * PyTorch's transposed convolution: y = input_grad(x, w) for a convolution whose input has y's
 * shape, so x (N, C_in, H, W) plays the output gradient and w (C_in, C_out / groups, kh, kw)
 * is read exactly as conv2d_input_grad reads it. Along each axis
 *   OH = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1,
 * and output_padding < stride picks one of the stride sizes that all convolve back to H.
 * Backward (the same trilinear form): dx = conv2d(u, w), dw = weight_grad(u, x).
 * Node attributes: as conv2d's, with iattr[11..13) = output_padding h,w. */

enum { A_OUTPAD = 11 };

static void conv_transpose2d_backward(tg_tape *t, const tg_node *n, tg_tensor *u,
                                      tg_tensor **grads) {
    tg_conv2d_params q = params_of(n);
    tg_tensor *x = n->inputs[0], *w = n->inputs[1];
    if (tg_node_needs_grad(n, 0)) grads[0] = tg_conv2d(t, u, w, NULL, &q);
    if (tg_node_needs_grad(n, 1)) grads[1] = tg_conv2d_weight_grad(t, u, x, w->shape, &q);
}

static void describe_conv_transpose(const tg_node *n, char *buf, size_t size) {
    char c[160];
    describe_conv(n, c, sizeof c);
    snprintf(buf, size, "%s outpad=%lld,%lld", c, (long long)n->iattr[A_OUTPAD],
             (long long)n->iattr[A_OUTPAD + 1]);
}

const tg_op_desc tg_op_conv_transpose2d = {"conv_transpose2d", 2, conv_transpose2d_backward,
                                           describe_conv_transpose, TG_OPF_SMOOTH};

/* The output's height or width from the input's, or -1 when it is below 1 or too large. */
static int64_t transposed_size(int64_t in, int64_t stride, int64_t pad, int64_t dil, int64_t k,
                               int64_t outpad) {
    int64_t a, b;
    if (in < 1 || !tg_size_mul(in - 1, stride, INT64_MAX / 4, &a) ||
        !tg_size_mul(dil, k - 1, INT64_MAX / 4, &b))
        return -1;
    int64_t out = a - 2 * pad + b + outpad + 1;
    return out >= 1 ? out : -1;
}

tg_tensor *tg_conv_transpose2d_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                                  tg_tensor *w, tg_tensor *b,
                                  const tg_conv_transpose2d_params *params) {
    static const char op[] = "conv_transpose2d";
    tg_tensor *in[2] = {x, w};
    if (!tg_op_enter(t, file, line, op, 2, in)) return NULL;
    tg_conv_transpose2d_params d =
        params ? *params : (tg_conv_transpose2d_params){{0, 0}, {0, 0}, {0, 0}, {0, 0}, 0};
    tg_conv2d_params cp = {{d.stride[0], d.stride[1]}, {d.padding[0], d.padding[1]},
                           {d.dilation[0], d.dilation[1]}, d.groups};
    int64_t p[7];
    char xs[TG_SHAPE_STR_MAX], ws[TG_SHAPE_STR_MAX];
    if (!need_4d(t, op, "input", x) || !need_4d(t, op, "weight", w) ||
        !resolve_params(t, op, &cp, p))
        return NULL;
    if (w->shape[0] != x->shape[1] || x->shape[1] % p[A_GROUPS])
        return tg_fail(t, TG_ERR_SHAPE, "%s: input %s and weight %s do not fit %lld groups (need "
                       "weight dim 0 = C_in, divisible by groups)", op,
                       tg_shape_str(x, xs, sizeof xs), tg_shape_str(w, ws, sizeof ws),
                       (long long)p[A_GROUPS]);
    int64_t yshape[4] = {x->shape[0], w->shape[1] * p[A_GROUPS], 0, 0};
    for (int a = 0; a < 2; a++) {
        int64_t s = p[A_STRIDE + a], dil = p[A_DIL + a];
        if (d.output_padding[a] < 0 || d.output_padding[a] >= s)
            return tg_fail(t, TG_ERR_ARG, "%s: output_padding must be >= 0 and below the stride "
                           "(axis %d: output_padding %d, stride %lld)", op, a,
                           d.output_padding[a], (long long)s);
        yshape[2 + a] = w->shape[2 + a] < 1 ? -1
                        : transposed_size(x->shape[2 + a], s, p[A_PAD + a], dil,
                                          w->shape[2 + a], d.output_padding[a]);
        if (yshape[2 + a] < 1)
            return tg_fail(t, TG_ERR_SHAPE, "%s: input %s with weight %s, stride %lld, padding "
                           "%lld and dilation %lld gives no output along axis %d", op,
                           tg_shape_str(x, xs, sizeof xs), tg_shape_str(w, ws, sizeof ws),
                           (long long)s, (long long)p[A_PAD + a], (long long)dil, a);
    }
    /* The convolution from y's shape back to x's: geometry checks the sizes' products. */
    conv_geom geo;
    if (!tg_check_shape(t, op, x->dtype, 4, yshape) ||
        !geometry(t, op, yshape, w->shape, p, &geo))
        return NULL;
    if (geo.OH != x->shape[2] || geo.OW != x->shape[3]) /* output_padding < stride ensures it */
        return tg_fail(t, TG_ERR_SHAPE, "%s: internal: output %lldx%lld does not convolve back "
                       "to input %s", op, (long long)yshape[2], (long long)yshape[3],
                       tg_shape_str(x, xs, sizeof xs));
    if (b) {
        char s[TG_SHAPE_STR_MAX];
        if (!tg_op_current(t, op, "the bias", b)) return NULL;
        if (b->dtype != x->dtype)
            return tg_fail(t, TG_ERR_DTYPE, "%s: bias is %s but input is %s", op,
                           tg_dtype_name(b->dtype), tg_dtype_name(x->dtype));
        if (b->ndim != 1 || b->shape[0] != yshape[1])
            return tg_fail(t, TG_ERR_SHAPE, "%s: bias must have shape (%lld,), got %s", op,
                           (long long)yshape[1], tg_shape_str(b, s, sizeof s));
    }
    tg_tensor *y = input_grad_values(t, x, w, yshape, &geo);
    if (!y || !tg_record(t, &tg_op_conv_transpose2d, y, 2, in)) return NULL;
    set_attrs(y, &geo, yshape);
    if (y->node)
        for (int a = 0; a < 2; a++) y->node->iattr[A_OUTPAD + a] = d.output_padding[a];
    if (!b) return y;
    return tg_add(t, y, tg_reshape(t, b, 3, (int64_t[]){yshape[1], 1, 1}));
}

/* op_cases_conv.c: the gradient-proof cases of 2-D convolution and pooling (conv2d and its two
 * gradient ops, the transposed convolution, max and average pooling and their adjoints).
 * Appended to op_cases.c's table (op_cases.h); public API only, like the rest of the table.
 *
 * Max pooling is piecewise: finite differences are only meaningful where no window has a
 * near-tie. Its cases therefore feed the op ramp + 0.2 x, where the ramp is a fixed
 * permutation of 0, 1, 2, ... (so the order inside every window is fixed by the ramp and no
 * step of the checker, even f32's 0.01, can change which element wins). */
#include <stdint.h>

#include "op_cases.h"

static int one(tg_tensor **out, tg_tensor *y) {
    out[0] = y;
    return y ? 1 : -1;
}

/* ---- conv2d and its gradient ops ---- */
typedef struct conv_ctx {
    tg_conv2d_params p;
    bool bias;          /* conv2d: the third input is a bias */
    bool transposed;    /* conv2d: the input is a (H, W)-transposed view */
    int64_t shape[4];   /* input_grad: x's shape; weight_grad: w's shape */
} conv_ctx;

static int conv2d_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const conv_ctx *c = ctx;
    tg_tensor *x = c->transposed ? tg_transpose(t, in[0], -1, -2) : in[0];
    return one(out, tg_conv2d(t, x, in[1], c->bias ? in[2] : NULL, &c->p));
}

static int input_grad_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const conv_ctx *c = ctx;
    return one(out, tg_conv2d_input_grad(t, in[0], in[1], c->shape, &c->p));
}

static int weight_grad_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const conv_ctx *c = ctx;
    return one(out, tg_conv2d_weight_grad(t, in[0], in[1], c->shape, &c->p));
}

/* tanh(conv2d(x, w[, b])): curvature in x, w and b separately, not only across them. */
static int conv2d_tanh_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const conv_ctx *c = ctx;
    return one(out, tg_tanh(t, tg_conv2d(t, in[0], in[1], c->bias ? in[2] : NULL, &c->p)));
}

static conv_ctx cv_basic = {{{0, 0}, {0, 0}, {0, 0}, 0}, false, false, {0}},
                cv_bias = {{{0, 0}, {0, 0}, {0, 0}, 0}, true, false, {0}},
                cv_pad_stride = {{{2, 2}, {1, 1}, {0, 0}, 0}, false, false, {0}},
                cv_pad_stride_bias = {{{2, 2}, {1, 1}, {0, 0}, 0}, true, false, {0}},
                cv_dil = {{{0, 0}, {0, 0}, {2, 2}, 0}, false, false, {0}},
                cv_groups = {{{0, 0}, {0, 0}, {0, 0}, 2}, true, false, {0}},
                cv_asym = {{{1, 2}, {0, 1}, {0, 0}, 0}, false, false, {0}},
                cv_t = {{{0, 0}, {1, 0}, {0, 0}, 0}, false, true, {0}};

static conv_ctx ig_basic = {{{0, 0}, {0, 0}, {0, 0}, 0}, false, false, {1, 2, 4, 4}},
                ig_pad_stride = {{{2, 2}, {1, 1}, {0, 0}, 0}, false, false, {1, 2, 5, 5}},
                ig_groups_dil = {{{0, 0}, {0, 0}, {2, 2}, 2}, false, false, {1, 4, 4, 4}},
                wg_basic = {{{0, 0}, {0, 0}, {0, 0}, 0}, false, false, {3, 2, 3, 3}},
                wg_pad_stride = {{{2, 2}, {1, 1}, {0, 0}, 0}, false, false, {2, 2, 3, 3}},
                wg_groups_dil = {{{0, 0}, {0, 0}, {2, 2}, 2}, false, false, {4, 2, 2, 2}};

/* ---- conv_transpose2d ---- */
typedef struct convt_ctx {
    tg_conv_transpose2d_params p;
    bool bias;       /* the third input is a bias */
    bool transposed; /* the input is a (H, W)-transposed view */
    bool tanh;       /* tanh of the result: curvature in x and in w separately */
} convt_ctx;

static int conv_transpose2d_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const convt_ctx *c = ctx;
    tg_tensor *x = c->transposed ? tg_transpose(t, in[0], -1, -2) : in[0];
    tg_tensor *y = tg_conv_transpose2d(t, x, in[1], c->bias ? in[2] : NULL, &c->p);
    return one(out, c->tanh ? tg_tanh(t, y) : y);
}

static convt_ctx ct_basic = {{{0, 0}, {0, 0}, {0, 0}, {0, 0}, 0}, false, false, false},
                 ct_k4s2 = {{{2, 2}, {1, 1}, {0, 0}, {0, 0}, 0}, true, false, false},
                 ct_outpad = {{{2, 2}, {1, 1}, {1, 1}, {0, 0}, 0}, false, false, false},
                 ct_groups_dil = {{{0, 0}, {0, 0}, {0, 0}, {2, 2}, 2}, false, false, false},
                 ct_asym = {{{1, 2}, {0, 1}, {0, 1}, {0, 0}, 0}, false, false, false},
                 ct_t = {{{0, 0}, {0, 0}, {0, 0}, {0, 0}, 0}, false, true, false},
                 ct_tanh = {{{2, 2}, {0, 0}, {0, 0}, {0, 0}, 0}, false, false, true};

/* ---- pooling ---- */
typedef struct pool_ctx {
    tg_pool2d_params p;
    bool negative;    /* max pooling: shift every value below zero (padding must never win) */
    bool transposed;  /* avg_pool2d: the input is an (H, W)-transposed view */
    int64_t shape[4]; /* avg_pool2d_adjoint: the input shape */
} pool_ctx;

/* ramp + 0.2 x (or its negative shift), where ramp[k] = (37 k) mod 67: a permutation of
 * 0..66 for the at most 64 elements of an input, one apart, while 0.2 x stays within 0.4. */
static tg_tensor *separated(tg_tape *t, tg_tensor *x, bool negative) {
    /* Accessors cannot refuse a tensor from before a reset: leave that to the ops. */
    if (tg_tape_check_tensor(t, x) != TG_OK) return tg_mul_scalar(t, x, 0.2);
    double r[OP_CASE_MAX_NUMEL];
    int64_t n = tg_tensor_numel(x), shape[TG_MAX_DIMS];
    int nd = tg_tensor_ndim(x);
    if (n > OP_CASE_MAX_NUMEL) return NULL;
    for (int d = 0; d < nd; d++) shape[d] = tg_tensor_dim(x, d);
    for (int64_t k = 0; k < n; k++) r[k] = (double)((37 * k) % 67) - (negative ? 80.0 : 0.0);
    tg_tensor *ramp = tg_zeros(t, tg_tensor_dtype(x), nd, shape);
    if (!ramp || tg_tensor_copy_in(ramp, TG_F64, r) != TG_OK) return NULL;
    return tg_add(t, ramp, tg_mul_scalar(t, x, 0.2));
}

static int max_pool_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const pool_ctx *c = ctx;
    return one(out, tg_max_pool2d(t, separated(t, in[0], c->negative), &c->p));
}

/* Inputs: g (N, C, OH, OW) and x. */
static int scatter_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const pool_ctx *c = ctx;
    return one(out, tg_max_pool2d_scatter(t, in[0], separated(t, in[1], c->negative), &c->p));
}

/* Inputs: u (shaped like x) and x. */
static int gather_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const pool_ctx *c = ctx;
    return one(out, tg_max_pool2d_gather(t, in[0], separated(t, in[1], c->negative), &c->p));
}

static int avg_pool_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const pool_ctx *c = ctx;
    tg_tensor *x = c->transposed ? tg_transpose(t, in[0], -1, -2) : in[0];
    return one(out, tg_avg_pool2d(t, x, &c->p));
}

/* Average pooling is linear; squaring its result gives the second-order check curvature. */
static int avg_pool_square_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const pool_ctx *c = ctx;
    tg_tensor *y = tg_avg_pool2d(t, in[0], &c->p);
    return one(out, tg_mul(t, y, y));
}

static int avg_adjoint_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const pool_ctx *c = ctx;
    return one(out, tg_avg_pool2d_adjoint(t, in[0], c->shape, &c->p));
}

/* Fields: kernel, stride, padding, dilation. */
static pool_ctx mp_2 = {{{2, 2}, {0, 0}, {0, 0}, {0, 0}}, false, false, {0}},
                mp_3s1p1 = {{{3, 3}, {1, 1}, {1, 1}, {0, 0}}, false, false, {0}},
                mp_3s1p1_neg = {{{3, 3}, {1, 1}, {1, 1}, {0, 0}}, true, false, {0}},
                mp_dil = {{{2, 2}, {1, 1}, {0, 0}, {2, 2}}, false, false, {0}},
                mp_rect = {{{2, 3}, {2, 1}, {0, 0}, {0, 0}}, false, false, {0}};

static pool_ctx ap_2 = {{{2, 2}, {0, 0}, {0, 0}, {0, 0}}, false, false, {0}},
                ap_3s1p1 = {{{3, 3}, {1, 1}, {1, 1}, {0, 0}}, false, false, {0}},
                ap_rect = {{{2, 3}, {1, 2}, {0, 0}, {0, 0}}, false, false, {0}},
                ap_t = {{{2, 2}, {1, 1}, {0, 0}, {0, 0}}, false, true, {0}},
                aa_2 = {{{2, 2}, {0, 0}, {0, 0}, {0, 0}}, false, false, {1, 2, 4, 4}},
                aa_3s1p1 = {{{3, 3}, {1, 1}, {1, 1}, {0, 0}}, false, false, {1, 1, 4, 4}},
                aa_3s2 = {{{3, 3}, {2, 2}, {0, 0}, {0, 0}}, false, false, {1, 1, 5, 5}};

/* ---- the table ---- */

#define S1(a) 1, {a}
#define S4(a, b, c, d) 4, {a, b, c, d}
#define UNI(shape) {shape, OP_CASE_UNIFORM, -2.0, 2.0}
#define IN4(a, b, c, d) UNI(S4(a, b, c, d))

const op_case op_cases_conv[] = {
    {"conv2d", "x (1,2,4,4) w (3,2,3,3)", 2, {IN4(1, 2, 4, 4), IN4(3, 2, 3, 3)}, conv2d_fn,
     &cv_basic, 0},
    {"conv2d_bias", "batch of 2 with bias: x (2,1,4,4) w (2,1,3,3) b (2)", 3,
     {IN4(2, 1, 4, 4), IN4(2, 1, 3, 3), UNI(S1(2))}, conv2d_fn, &cv_bias, 0},
    {"conv2d", "padding 1 stride 2: x (1,2,5,5) w (2,2,3,3)", 2,
     {IN4(1, 2, 5, 5), IN4(2, 2, 3, 3)}, conv2d_fn, &cv_pad_stride, 0},
    {"conv2d", "dilation 2: x (1,1,5,5) w (2,1,2,2)", 2, {IN4(1, 1, 5, 5), IN4(2, 1, 2, 2)},
     conv2d_fn, &cv_dil, 0},
    {"conv2d_bias", "groups 2 with bias: x (1,4,3,3) w (4,2,2,2) b (4)", 3,
     {IN4(1, 4, 3, 3), IN4(4, 2, 2, 2), UNI(S1(4))}, conv2d_fn, &cv_groups, 0},
    {"conv2d", "stride (1,2) padding (0,1): x (1,1,4,6) w (2,1,2,3)", 2,
     {IN4(1, 1, 4, 6), IN4(2, 1, 2, 3)}, conv2d_fn, &cv_asym, 0},
    {"conv2d", "transposed view input (1,2,4,3)^T, padding (1,0)", 2,
     {IN4(1, 2, 4, 3), IN4(2, 2, 2, 2)}, conv2d_fn, &cv_t, 0},
    {"conv2d", "tanh(conv2d): x (1,2,3,3) w (2,2,2,2)", 2, {IN4(1, 2, 3, 3), IN4(2, 2, 2, 2)},
     conv2d_tanh_fn, &cv_basic, 0},
    {"conv2d_bias", "tanh(conv2d with bias), padding 1 stride 2: x (2,2,4,4) w (3,2,3,3) b (3)",
     3, {IN4(2, 2, 4, 4), IN4(3, 2, 3, 3), UNI(S1(3))}, conv2d_tanh_fn, &cv_pad_stride_bias, 0},

    {"conv2d_input_grad", "g (1,3,2,2) w (3,2,3,3) to x (1,2,4,4)", 2,
     {IN4(1, 3, 2, 2), IN4(3, 2, 3, 3)}, input_grad_fn, &ig_basic, 0},
    {"conv2d_input_grad", "padding 1 stride 2: g (1,2,3,3) w (2,2,3,3)", 2,
     {IN4(1, 2, 3, 3), IN4(2, 2, 3, 3)}, input_grad_fn, &ig_pad_stride, 0},
    {"conv2d_input_grad", "groups 2 dilation 2: g (1,4,2,2) w (4,2,2,2)", 2,
     {IN4(1, 4, 2, 2), IN4(4, 2, 2, 2)}, input_grad_fn, &ig_groups_dil, 0},

    {"conv_transpose2d", "x (1,2,3,3) w (2,3,2,2) to (1,3,4,4)", 2,
     {IN4(1, 2, 3, 3), IN4(2, 3, 2, 2)}, conv_transpose2d_fn, &ct_basic, 0},
    {"conv_transpose2d", "kernel 4 stride 2 padding 1 with bias: x (1,2,2,2) w (2,2,4,4) b (2)",
     3, {IN4(1, 2, 2, 2), IN4(2, 2, 4, 4), UNI(S1(2))}, conv_transpose2d_fn, &ct_k4s2, 0},
    {"conv_transpose2d", "stride 2 padding 1 output_padding 1: x (2,1,2,2) w (1,2,3,3)", 2,
     {IN4(2, 1, 2, 2), IN4(1, 2, 3, 3)}, conv_transpose2d_fn, &ct_outpad, 0},
    {"conv_transpose2d", "groups 2 dilation 2: x (1,4,2,2) w (4,1,2,2)", 2,
     {IN4(1, 4, 2, 2), IN4(4, 1, 2, 2)}, conv_transpose2d_fn, &ct_groups_dil, 0},
    {"conv_transpose2d", "stride (1,2) padding (0,1) output_padding (0,1): x (1,1,3,2)", 2,
     {IN4(1, 1, 3, 2), IN4(1, 2, 2, 3)}, conv_transpose2d_fn, &ct_asym, 0},
    {"conv_transpose2d", "transposed view input (1,2,3,2)^T w (2,1,2,2)", 2,
     {IN4(1, 2, 3, 2), IN4(2, 1, 2, 2)}, conv_transpose2d_fn, &ct_t, 0},
    {"conv_transpose2d", "tanh(conv_transpose2d) stride 2: x (1,2,2,2) w (2,2,3,3)", 2,
     {IN4(1, 2, 2, 2), IN4(2, 2, 3, 3)}, conv_transpose2d_fn, &ct_tanh, 0},

    {"conv2d_weight_grad", "x (1,2,4,4) g (1,3,2,2) to w (3,2,3,3)", 2,
     {IN4(1, 2, 4, 4), IN4(1, 3, 2, 2)}, weight_grad_fn, &wg_basic, 0},
    {"conv2d_weight_grad", "padding 1 stride 2: x (1,2,5,5) g (1,2,3,3)", 2,
     {IN4(1, 2, 5, 5), IN4(1, 2, 3, 3)}, weight_grad_fn, &wg_pad_stride, 0},
    {"conv2d_weight_grad", "groups 2 dilation 2: x (1,4,4,4) g (1,4,2,2)", 2,
     {IN4(1, 4, 4, 4), IN4(1, 4, 2, 2)}, weight_grad_fn, &wg_groups_dil, 0},

    {"max_pool2d", "kernel 2: (1,2,4,4)", 1, {IN4(1, 2, 4, 4)}, max_pool_fn, &mp_2, 0},
    {"max_pool2d", "kernel 3 stride 1 padding 1: (1,1,4,4)", 1, {IN4(1, 1, 4, 4)}, max_pool_fn,
     &mp_3s1p1, 0},
    {"max_pool2d", "all negative, padding 1: (1,1,4,4)", 1, {IN4(1, 1, 4, 4)}, max_pool_fn,
     &mp_3s1p1_neg, 0},
    {"max_pool2d", "kernel 2 dilation 2 stride 1: (1,1,5,5)", 1, {IN4(1, 1, 5, 5)},
     max_pool_fn, &mp_dil, 0},
    {"max_pool2d", "kernel (2,3) stride (2,1): (2,1,4,5)", 1, {IN4(2, 1, 4, 5)}, max_pool_fn,
     &mp_rect, 0},

    {"max_pool2d_scatter", "kernel 2: g (1,2,2,2) into x (1,2,4,4)", 2,
     {IN4(1, 2, 2, 2), IN4(1, 2, 4, 4)}, scatter_fn, &mp_2, 0},
    {"max_pool2d_scatter", "overlapping windows: g (1,1,4,4), kernel 3 padding 1", 2,
     {IN4(1, 1, 4, 4), IN4(1, 1, 4, 4)}, scatter_fn, &mp_3s1p1, 0},
    {"max_pool2d_scatter", "dilation 2: g (1,1,3,3) into x (1,1,5,5)", 2,
     {IN4(1, 1, 3, 3), IN4(1, 1, 5, 5)}, scatter_fn, &mp_dil, 0},

    {"max_pool2d_gather", "kernel 2: u and x (1,2,4,4)", 2, {IN4(1, 2, 4, 4), IN4(1, 2, 4, 4)},
     gather_fn, &mp_2, 0},
    {"max_pool2d_gather", "overlapping windows, kernel 3 padding 1: (1,1,4,4)", 2,
     {IN4(1, 1, 4, 4), IN4(1, 1, 4, 4)}, gather_fn, &mp_3s1p1_neg, 0},
    {"max_pool2d_gather", "kernel (2,3) stride (2,1): (2,1,4,5)", 2,
     {IN4(2, 1, 4, 5), IN4(2, 1, 4, 5)}, gather_fn, &mp_rect, 0},

    {"avg_pool2d", "kernel 2: (1,2,4,4)", 1, {IN4(1, 2, 4, 4)}, avg_pool_fn, &ap_2, 0},
    {"avg_pool2d", "kernel 3 stride 1 padding 1: (1,1,4,4)", 1, {IN4(1, 1, 4, 4)}, avg_pool_fn,
     &ap_3s1p1, 0},
    {"avg_pool2d", "kernel (2,3) stride (1,2): (2,1,4,5)", 1, {IN4(2, 1, 4, 5)}, avg_pool_fn,
     &ap_rect, 0},
    {"avg_pool2d", "transposed view input (1,2,4,3)^T", 1, {IN4(1, 2, 4, 3)}, avg_pool_fn,
     &ap_t, 0},
    {"avg_pool2d", "squared: kernel 3 padding 1", 1, {IN4(1, 1, 4, 4)}, avg_pool_square_fn,
     &ap_3s1p1, 0},

    {"avg_pool2d_adjoint", "kernel 2: g (1,2,2,2) to (1,2,4,4)", 1, {IN4(1, 2, 2, 2)},
     avg_adjoint_fn, &aa_2, 0},
    {"avg_pool2d_adjoint", "kernel 3 stride 1 padding 1: g (1,1,4,4)", 1, {IN4(1, 1, 4, 4)},
     avg_adjoint_fn, &aa_3s1p1, 0},
    {"avg_pool2d_adjoint", "overlapping kernel 3 stride 2: g (1,1,2,2) to (1,1,5,5)", 1,
     {IN4(1, 1, 2, 2)}, avg_adjoint_fn, &aa_3s2, 0},
};

const int op_cases_conv_count = (int)(sizeof op_cases_conv / sizeof op_cases_conv[0]);

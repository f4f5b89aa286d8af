/* op_cases_elementwise.c: the gradient-proof cases of the elementwise ops (pow, maximum,
 * minimum, comparisons, where, the scalar forms, the one-input functions and activations), the
 * reductions max, min, var and logsumexp, softmax and log_softmax, and of the composites built
 * on them (the losses and dropout). Appended to op_cases.c's table (op_cases.h).
 *
 * Finite differences must stay off kinks and ties. Where sampling alone cannot promise that
 * (max ties, maximum's a = b, clamp's edges, comparisons) a case adds a fixed, well-separated
 * constant pattern to an input drawn from a narrow range, so every difference between competing
 * values is at least ~0.3, far beyond the f32 step of 1e-2. Public API only, like op_cases.c. */
#include <math.h>
#include <stdint.h>

#include "op_cases.h"

static int one(tg_tensor **out, tg_tensor *y) {
    out[0] = y;
    return y ? 1 : -1;
}

/* How an operand is seen before the op under test uses it. */
typedef enum ew_view {
    EV_NONE,
    EV_T,    /* the last two dimensions swapped: a transposed, non-contiguous view */
    EV_STEP2 /* every other element of the last dimension: a strided slice */
} ew_view;

static tg_tensor *view_of(tg_tape *t, tg_tensor *x, ew_view v) {
    switch (v) {
    case EV_T: return tg_transpose(t, x, -1, -2);
    case EV_STEP2: return tg_slice(t, x, -1, 0, INT64_MAX, 2);
    case EV_NONE: break;
    }
    return x;
}

/* Constant patterns added to an input (before its view) to keep values apart. */
typedef enum ew_pattern {
    P_NONE,
    P_SPREAD, /* distinct multiples of 0.5 (a permutation of 0, 0.5, 1, ...): no two equal */
    P_SIGNS,  /* -1, +1, -1, ...: one operand 1 below or above the other */
    P_THIRDS  /* -2, 0, 2, -2, ...: below, inside and above a clamp to [-1, 1] */
} ew_pattern;

static tg_tensor *with_pattern(tg_tape *t, tg_tensor *x, ew_pattern p) {
    /* x's shape is read through accessors, which take no tape and so cannot refuse a tensor
     * from before a reset: check first, and leave refusing it to the op that follows. */
    if (p == P_NONE || !x || tg_tape_check_tensor(t, x) != TG_OK) return x;
    int ndim = tg_tensor_ndim(x);
    int64_t shape[TG_MAX_DIMS], n = tg_tensor_numel(x);
    double v[OP_CASE_MAX_NUMEL];
    for (int d = 0; d < ndim; d++) shape[d] = tg_tensor_dim(x, d);
    for (int64_t k = 0; k < n && k < OP_CASE_MAX_NUMEL; k++) {
        switch (p) {
        case P_SPREAD: v[k] = 0.5 * (double)(n % 5 ? (k * 5 + 3) % n : k); break;
        case P_SIGNS: v[k] = k % 2 ? 1.0 : -1.0; break;
        case P_THIRDS: v[k] = 2.0 * (double)(k % 3) - 2.0; break;
        case P_NONE: break;
        }
    }
    tg_tensor *c = tg_zeros(t, tg_tensor_dtype(x), ndim, shape);
    if (!c || tg_tensor_copy_in(c, TG_F64, v) != TG_OK) return NULL;
    return tg_add(t, x, c);
}

/* ---- one input: scalar forms, pointwise functions, activations ---- */
typedef enum ew_unary {
    EU_SUB_S,
    EU_RSUB_S,
    EU_DIV_S,
    EU_RDIV_S,
    EU_POW_S,
    EU_ABS,
    EU_SIGN,
    EU_SQRT,
    EU_SQUARE,
    EU_SIN,
    EU_COS,
    EU_LEAKY,
    EU_ELU,
    EU_GELU,
    EU_GELU_GRAD,
    EU_SOFTPLUS,
    EU_CLAMP
} ew_unary;

typedef struct unary_ctx {
    ew_unary k;
    double a, b; /* the op's parameters */
    ew_view v;
    ew_pattern p;
    bool times_x; /* y * x: a curved function around a piecewise-linear op (second order) */
} unary_ctx;

static tg_tensor *apply_unary(tg_tape *t, const unary_ctx *c, tg_tensor *x) {
    switch (c->k) {
    case EU_SUB_S: return tg_sub_scalar(t, x, c->a);
    case EU_RSUB_S: return tg_rsub_scalar(t, x, c->a);
    case EU_DIV_S: return tg_div_scalar(t, x, c->a);
    case EU_RDIV_S: return tg_rdiv_scalar(t, x, c->a);
    case EU_POW_S: return tg_pow_scalar(t, x, c->a);
    case EU_ABS: return tg_abs(t, x);
    case EU_SIGN: return tg_sign(t, x);
    case EU_SQRT: return tg_sqrt(t, x);
    case EU_SQUARE: return tg_square(t, x);
    case EU_SIN: return tg_sin(t, x);
    case EU_COS: return tg_cos(t, x);
    case EU_LEAKY: return tg_leaky_relu(t, x, c->a);
    case EU_ELU: return tg_elu(t, x, c->a);
    case EU_GELU: return tg_gelu(t, x);
    case EU_GELU_GRAD: return tg_gelu_grad(t, x);
    case EU_SOFTPLUS: return tg_softplus(t, x);
    case EU_CLAMP: return tg_clamp(t, x, c->a, c->b);
    }
    return NULL;
}

static int unary_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const unary_ctx *c = ctx;
    tg_tensor *x = view_of(t, with_pattern(t, in[0], c->p), c->v);
    tg_tensor *y = apply_unary(t, c, x);
    return one(out, c->times_x ? tg_mul(t, y, x) : y);
}

/* A case's parameters, as a static compound literal in the table. */
#define UC(kind, a, b, view, pat, times_x) (&(unary_ctx){kind, a, b, view, pat, times_x})

/* sign_ste's backward is not the derivative of sign (0) but that of clamp(x, -1, 1). The case
 * builds y = sign_ste(x) - c1 + c2 where c1 = sign_ste(x) and c2 = clamp(x, -1, 1) are computed
 * with recording off (constants for differentiation, equal values): y's value is clamp(x), whose
 * finite differences are the gradient the straight-through estimator must give, and y's
 * analytic gradient is sign_ste's rule alone. */
static int sign_ste_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const ew_view *v = ctx;
    tg_tensor *x = view_of(t, in[0], *v);
    bool was = tg_tape_set_grad_enabled(t, false);
    tg_tensor *c1 = tg_sign_ste(t, x), *c2 = tg_clamp(t, x, -1.0, 1.0);
    tg_tape_set_grad_enabled(t, was);
    return one(out, tg_add(t, tg_sub(t, tg_sign_ste(t, x), c1), c2));
}

/* binarize has sign_ste's rule (it differs only in its value at 0, +1), checked the same way:
 * y = binarize(x) - c1 + c2 with c1 = binarize(x) and c2 = clamp(x, -1, 1) as constants. */
static int binarize_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const ew_view *v = ctx;
    tg_tensor *x = view_of(t, in[0], *v);
    bool was = tg_tape_set_grad_enabled(t, false);
    tg_tensor *c1 = tg_binarize(t, x), *c2 = tg_clamp(t, x, -1.0, 1.0);
    tg_tape_set_grad_enabled(t, was);
    return one(out, tg_add(t, tg_sub(t, tg_binarize(t, x), c1), c2));
}

#define VC(view) (&(ew_view){view})

/* ---- two inputs: pow, maximum, minimum, comparisons ---- */
typedef enum ew_binary {
    EB_POW,
    EB_MAXIMUM,
    EB_MINIMUM,
    EB_GT,
    EB_GE,
    EB_LT,
    EB_LE,
    EB_EQ,
    EB_NE
} ew_binary;

typedef struct binary_ctx {
    ew_binary k;
    ew_view va, vb;
    ew_pattern pb;  /* added to b before its view */
    bool times_a;   /* multiply the result by a (a mask then selects a's gradient) */
} binary_ctx;

static int binary_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const binary_ctx *c = ctx;
    tg_tensor *a = view_of(t, in[0], c->va);
    tg_tensor *b = view_of(t, with_pattern(t, in[1], c->pb), c->vb), *y = NULL;
    switch (c->k) {
    case EB_POW: y = tg_pow(t, a, b); break;
    case EB_MAXIMUM: y = tg_maximum(t, a, b); break;
    case EB_MINIMUM: y = tg_minimum(t, a, b); break;
    case EB_GT: y = tg_gt(t, a, b); break;
    case EB_GE: y = tg_ge(t, a, b); break;
    case EB_LT: y = tg_lt(t, a, b); break;
    case EB_LE: y = tg_le(t, a, b); break;
    case EB_EQ: y = tg_eq(t, a, b); break;
    case EB_NE: y = tg_ne(t, a, b); break;
    }
    return one(out, c->times_a ? tg_mul(t, y, a) : y);
}

#define BC(kind, va, vb, pat, times_a) (&(binary_ctx){kind, va, vb, pat, times_a})

/* eq(x, x) and ne(x, x): every element equal, so eq is all ones; x multiplies it so the case
 * sees the mask's value through the gradient. */
static int eq_self_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const binary_ctx *c = ctx;
    tg_tensor *m = c->k == EB_EQ ? tg_eq(t, in[0], in[0]) : tg_ne(t, in[0], in[0]);
    return one(out, tg_mul(t, m, in[0]));
}

/* ---- where ---- */
typedef struct where_ctx {
    int mask_kind; /* 0: gt(m, 0); 1: step(m); 2: m itself (never zero: all a) */
    ew_view va;
    bool curved; /* where(mask, a, a*a) with a single leaf on both sides */
} where_ctx;

static int where_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const where_ctx *c = ctx;
    tg_tensor *m = in[0], *mask = m;
    /* The zero is made from m rather than from its dtype: the stale-input test runs this on
     * tensors from before a reset, and the accessors do not check for that (only ops do). */
    if (c->mask_kind == 0) mask = tg_gt(t, m, tg_mul_scalar(t, m, 0.0));
    if (c->mask_kind == 1) mask = tg_step(t, m);
    tg_tensor *a = view_of(t, in[1], c->va);
    tg_tensor *b = c->curved ? tg_mul(t, a, a) : in[2];
    return one(out, tg_where(t, mask, a, b));
}

#define WC(mask_kind, va, curved) (&(where_ctx){mask_kind, va, curved})

/* ---- reductions: max, min, var, logsumexp ---- */
typedef enum ew_reduce { ER_MAX, ER_MIN, ER_VAR, ER_LSE } ew_reduce;

typedef struct red_ctx {
    ew_reduce k;
    bool all;
    int n_axes;
    int axes[3];
    bool keepdim;
    int correction; /* var */
    ew_view v;
    bool square; /* y * y: curvature for the second-order check of the piecewise-linear ones */
} red_ctx;

static int red_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const red_ctx *c = ctx;
    bool spread = c->k == ER_MAX || c->k == ER_MIN;
    tg_tensor *x = view_of(t, with_pattern(t, in[0], spread ? P_SPREAD : P_NONE), c->v), *y;
    switch (c->k) {
    case ER_MAX:
        y = c->all ? tg_max_all(t, x) : tg_max(t, x, c->n_axes, c->axes, c->keepdim);
        break;
    case ER_MIN:
        y = c->all ? tg_min_all(t, x) : tg_min(t, x, c->n_axes, c->axes, c->keepdim);
        break;
    case ER_VAR:
        y = c->all ? tg_var_all(t, x, c->correction)
                   : tg_var(t, x, c->n_axes, c->axes, c->correction, c->keepdim);
        break;
    default:
        y = c->all ? tg_logsumexp_all(t, x) : tg_logsumexp(t, x, c->n_axes, c->axes, c->keepdim);
        break;
    }
    return one(out, c->square ? tg_mul(t, y, y) : y);
}

#define RC(kind, all, n_axes, axes, keepdim, corr, view, square)                             \
    (&(red_ctx){kind, all, n_axes, axes, keepdim, corr, view, square})

/* ---- softmax, log_softmax ---- */
typedef struct sm_ctx {
    bool log;
    int axis;
    ew_view v;
} sm_ctx;

static int softmax_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const sm_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v);
    return one(out, c->log ? tg_log_softmax(t, x, c->axis) : tg_softmax(t, x, c->axis));
}

#define SC(log, axis, view) (&(sm_ctx){log, axis, view})

/* ---- losses and dropout (composites) ---- */
typedef enum ew_loss { EL_CE, EL_CE_PROBS, EL_NLL, EL_MSE, EL_BCE, EL_BCE_LOGITS } ew_loss;

typedef struct loss_ctx {
    ew_loss k;
    double smoothing;
    tg_reduction red;
    ew_view v;
} loss_ctx;

static const int64_t labels3[3] = {2, 0, 3};

static int loss_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const loss_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v);
    switch (c->k) {
    case EL_CE: return one(out, tg_cross_entropy(t, x, labels3, c->smoothing, c->red));
    case EL_CE_PROBS:
        return one(out, tg_cross_entropy_probs(t, x, in[1], c->smoothing, c->red));
    case EL_NLL: return one(out, tg_nll(t, x, labels3, c->red));
    case EL_MSE: return one(out, tg_mse(t, x, in[1], c->red));
    case EL_BCE: return one(out, tg_bce(t, x, in[1], c->red));
    case EL_BCE_LOGITS: return one(out, tg_bce_with_logits(t, x, in[1], c->red));
    }
    return -1;
}

#define LC(kind, smoothing, red, view) (&(loss_ctx){kind, smoothing, red, view})

/* Dropout draws its mask from a generator reseeded on every call, so the checker's repeated
 * evaluations see the same mask; times x makes the function curved. */
typedef struct dropout_ctx {
    double p;
    uint64_t seed;
} dropout_ctx;

static int dropout_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const dropout_ctx *c = ctx;
    tg_rng rng;
    tg_rng_seed(&rng, c->seed);
    tg_tensor *y = tg_dropout(t, in[0], c->p, &rng, true);
    return one(out, tg_mul(t, y, in[0]));
}

#define DC(p, seed) (&(dropout_ctx){p, seed})

/* ---- lstm_gates ---- */

/* One step: z (B, 4H), c (B, H), c seen through `ctx`'s view. */
static int lstm_gates_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const ew_view *v = ctx;
    return one(out, tg_lstm_gates(t, in[0], view_of(t, in[1], *v)));
}

/* Two chained steps: the second reads the first's c' (a view with rows 2H apart) as its c,
 * and the result is the second's [h', c'] scaled by the first's h' summed. */
static int lstm_two_steps_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    if (tg_tape_check_tensor(t, in[1]) != TG_OK) return one(out, tg_lstm_gates(t, in[0], in[1]));
    int64_t H = tg_tensor_dim(in[1], 1);
    tg_tensor *hc1 = tg_lstm_gates(t, in[0], in[1]);
    tg_tensor *hc2 = tg_lstm_gates(t, in[2], tg_slice(t, hc1, 1, H, 2 * H, 1));
    return one(out, tg_mul(t, hc2, tg_sum_all(t, tg_slice(t, hc1, 1, 0, H, 1))));
}

/* ---- rnn_seq and lstm_seq, reached through the cells' unroll (their only public entry) ---- */

/* What a sequence case varies: the cell, whether in[3] is the biases (2, G H) [b_ih; b_hh] or
 * the states (S, B, H) [h0 (; c0)], whether W_hh is given as the transpose of a (H, G H) leaf
 * (a non-contiguous weight), and which outputs the result is made of. */
typedef struct seq_ctx {
    bool lstm, bias_input, w_hh_t, out_t, only_last;
} seq_ctx;

static tg_tensor *row_of(tg_tape *t, tg_tensor *x, int64_t i) {
    /* Accessors cannot refuse a tensor from before a reset: leave that to the ops. */
    if (tg_tape_check_tensor(t, x) != TG_OK) return tg_slice(t, x, 0, i, i + 1, 1);
    int64_t rows = tg_tensor_dim(x, 0);
    int64_t n = rows > 0 ? tg_tensor_numel(x) / rows : 0; /* no rows: the slice refuses */
    tg_tensor *r = tg_slice(t, x, 0, i, i + 1, 1);
    return tg_tensor_ndim(x) == 2 ? tg_reshape(t, r, TG_SHAPE(n))
                                  : tg_reshape(t, r, TG_SHAPE(tg_tensor_dim(x, 1),
                                                              tg_tensor_dim(x, 2)));
}

/* in: x (T, B, I), W_ih (G H, I), W_hh (G H, H) or its transpose, then biases or states. */
static int seq_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const seq_ctx *c = ctx;
    tg_tensor *w_hh = c->w_hh_t ? tg_transpose(t, in[2], 0, 1) : in[2];
    tg_tensor *b_ih = NULL, *b_hh = NULL, *h0 = NULL, *c0 = NULL, *hn = NULL, *cn = NULL;
    if (c->bias_input) {
        b_ih = row_of(t, in[3], 0);
        b_hh = row_of(t, in[3], 1);
    } else {
        h0 = row_of(t, in[3], 0);
        if (c->lstm) c0 = row_of(t, in[3], 1);
    }
    if (tg_tape_check_tensor(t, in[0]) != TG_OK || !w_hh || tg_tape_check_tensor(t, w_hh) != TG_OK)
        return one(out, tg_add(t, in[0], w_hh)); /* refused: from before a reset */
    int64_t I = tg_tensor_dim(in[0], 2), H = tg_tensor_dim(w_hh, 1);
    tg_tensor *y;
    if (c->lstm) {
        tg_lstm_cell cell = {in[1], w_hh, b_ih, b_hh, I, H};
        y = tg_lstm_cell_unroll(t, &cell, in[0], h0, c0, &hn, &cn);
    } else {
        tg_rnn_cell cell = {in[1], w_hh, b_ih, b_hh, I, H};
        y = tg_rnn_cell_unroll(t, &cell, in[0], h0, &hn);
    }
    if (!y) return -1;
    if (c->only_last) {
        out[0] = c->lstm ? cn : hn;
        return out[0] ? 1 : -1;
    }
    out[0] = c->out_t ? tg_transpose(t, y, 0, 2) : y;
    out[1] = hn;
    out[2] = cn;
    int n = c->lstm ? 3 : 2;
    for (int i = 0; i < n; i++)
        if (!out[i]) return -1;
    return n;
}

#define SQC(...) (&(seq_ctx){__VA_ARGS__})

/* ---- the table ---- */

#define S0 0, {0}
#define S1(a) 1, {a}
#define S2(a, b) 2, {a, b}
#define S3(a, b, c) 3, {a, b, c}
#define UNI(shape) {shape, OP_CASE_UNIFORM, -2.0, 2.0}
#define POS(shape) {shape, OP_CASE_UNIFORM, 0.5, 3.0}
#define AWAY(shape) {shape, OP_CASE_AWAY_FROM_ZERO, 0.2, 2.0}
#define RANGE(shape, lo, hi) {shape, OP_CASE_UNIFORM, lo, hi}
#define MAG(shape, lo, hi) {shape, OP_CASE_AWAY_FROM_ZERO, lo, hi}
/* Narrow values, for inputs that get a separating pattern added. */
#define NARROW(shape) {shape, OP_CASE_UNIFORM, 0.0, 0.2}
#define AX(...) {__VA_ARGS__}

/* The standard cases of a one-input op with parameters (a, b) and pattern pat; D the domain. */
#define UNARY5(name, k, a, b, pat, D)                                                           \
    {name, "(2,3)", 1, {D(S2(2, 3))}, unary_fn, UC(k, a, b, EV_NONE, pat, false), 0},          \
    {name, "3-D (2,3,4)", 1, {D(S3(2, 3, 4))}, unary_fn, UC(k, a, b, EV_NONE, pat, false), 0}, \
    {name, "0-d", 1, {D(S0)}, unary_fn, UC(k, a, b, EV_NONE, pat, false), 0},                  \
    {name, "transposed view (3,4)^T", 1, {D(S2(3, 4))}, unary_fn,                              \
     UC(k, a, b, EV_T, pat, false), 0},                                                        \
    {name, "strided view (2,6)[:, ::2]", 1, {D(S2(2, 6))}, unary_fn,                           \
     UC(k, a, b, EV_STEP2, pat, false), 0}

/* The cases of a two-input op; A and B the domains of the operands, pat added to b. */
#define BINARY7(name, k, pat, A, B)                                                             \
    {name, "same shape (2,3)", 2, {A(S2(2, 3)), B(S2(2, 3))}, binary_fn,                       \
     BC(k, EV_NONE, EV_NONE, pat, false), 0},                                                  \
    {name, "broadcast (2,3) and (3,)", 2, {A(S2(2, 3)), B(S1(3))}, binary_fn,                  \
     BC(k, EV_NONE, EV_NONE, pat, false), 0},                                                  \
    {name, "broadcast both ways (3,1) and (1,4)", 2, {A(S2(3, 1)), B(S2(1, 4))}, binary_fn,    \
     BC(k, EV_NONE, EV_NONE, pat, false), 0},                                                  \
    {name, "0-d right operand", 2, {A(S2(2, 3)), B(S0)}, binary_fn,                            \
     BC(k, EV_NONE, EV_NONE, pat, false), 0},                                                  \
    {name, "transposed view left (3,2)^T", 2, {A(S2(3, 2)), B(S2(2, 3))}, binary_fn,           \
     BC(k, EV_T, EV_NONE, pat, false), 0},                                                     \
    {name, "transposed view right (3,2)^T", 2, {A(S2(2, 3)), B(S2(3, 2))}, binary_fn,          \
     BC(k, EV_NONE, EV_T, pat, false), 0},                                                     \
    {name, "strided view right (2,6)[:, ::2]", 2, {A(S2(2, 3)), B(S2(2, 6))}, binary_fn,       \
     BC(k, EV_NONE, EV_STEP2, pat, false), 0}

/* The cases of a reduction; corr0 is the correction for the 0-d case (var needs 0 there). */
#define REDUCE8(name, k, corr, corr0, D)                                                        \
    {name, "all of (2,3,4)", 1, {D(S3(2, 3, 4))}, red_fn,                                      \
     RC(k, true, 0, AX(0), false, corr, EV_NONE, false), 0},                                   \
    {name, "all of a 0-d", 1, {D(S0)}, red_fn, RC(k, true, 0, AX(0), false, corr0, EV_NONE,    \
     false), 0},                                                                               \
    {name, "axis 1 of (2,3,4)", 1, {D(S3(2, 3, 4))}, red_fn,                                   \
     RC(k, false, 1, AX(1), false, corr, EV_NONE, false), 0},                                  \
    {name, "axis 1 keepdim", 1, {D(S3(2, 3, 4))}, red_fn,                                      \
     RC(k, false, 1, AX(1), true, corr, EV_NONE, false), 0},                                   \
    {name, "axes (0,2)", 1, {D(S3(2, 3, 4))}, red_fn,                                          \
     RC(k, false, 2, AX(0, 2), false, corr, EV_NONE, false), 0},                               \
    {name, "axes (-1,0) keepdim", 1, {D(S3(2, 3, 4))}, red_fn,                                 \
     RC(k, false, 2, AX(-1, 0), true, corr, EV_NONE, false), 0},                               \
    {name, "axis 0 of transposed view (3,4)^T", 1, {D(S2(3, 4))}, red_fn,                      \
     RC(k, false, 1, AX(0), false, corr, EV_T, false), 0},                                     \
    {name, "axis -1 of strided view (3,8)[:, ::2]", 1, {D(S2(3, 8))}, red_fn,                  \
     RC(k, false, 1, AX(-1), false, corr, EV_STEP2, false), 0},                                \
    {name, "squared: axis 1 keepdim", 1, {D(S3(2, 3, 4))}, red_fn,                             \
     RC(k, false, 1, AX(1), true, corr, EV_NONE, true), 0}

#define SOFTMAX7(name, log)                                                                     \
    {name, "(3,4) axis 1", 1, {UNI(S2(3, 4))}, softmax_fn, SC(log, 1, EV_NONE), 0},            \
    {name, "(3,4) axis 0", 1, {UNI(S2(3, 4))}, softmax_fn, SC(log, 0, EV_NONE), 0},            \
    {name, "3-D (2,3,4) middle axis", 1, {UNI(S3(2, 3, 4))}, softmax_fn, SC(log, 1, EV_NONE),  \
     0},                                                                                       \
    {name, "1-D (5,) axis -1", 1, {UNI(S1(5))}, softmax_fn, SC(log, -1, EV_NONE), 0},          \
    {name, "transposed view (4,3)^T axis 1", 1, {UNI(S2(4, 3))}, softmax_fn,                   \
     SC(log, 1, EV_T), 0},                                                                     \
    {name, "strided view (2,8)[:, ::2] axis 1", 1, {UNI(S2(2, 8))}, softmax_fn,                \
     SC(log, 1, EV_STEP2), 0},                                                                 \
    {name, "large values |x| in [995, 1005)", 1, {MAG(S2(3, 4), 995.0, 1005.0)}, softmax_fn,   \
     SC(log, 1, EV_NONE), 0}

/* A comparison's cases: separated operands, broadcasting, views, and the mask times a. */
#define COMPARE4(name, k)                                                                       \
    {name, "separated (2,3)", 2, {NARROW(S2(2, 3)), NARROW(S2(2, 3))}, binary_fn,              \
     BC(k, EV_NONE, EV_NONE, P_SIGNS, false), 0},                                              \
    {name, "mask times a, broadcast (3,1) and (1,4)", 2, {NARROW(S2(3, 1)), NARROW(S2(1, 4))}, \
     binary_fn, BC(k, EV_NONE, EV_NONE, P_SIGNS, true), 0},                                    \
    {name, "mask times a, 0-d right", 2, {NARROW(S2(2, 3)), NARROW(S0)}, binary_fn,            \
     BC(k, EV_NONE, EV_NONE, P_SIGNS, true), 0},                                               \
    {name, "transposed left, strided right", 2, {NARROW(S2(3, 2)), NARROW(S2(2, 6))},          \
     binary_fn, BC(k, EV_T, EV_STEP2, P_SIGNS, false), 0}

const op_case op_cases_elementwise[] = {
    BINARY7("pow", EB_POW, P_NONE, POS, UNI),
    {"pow", "0-d base to (2,3)", 2, {POS(S0), UNI(S2(2, 3))}, binary_fn,
     BC(EB_POW, EV_NONE, EV_NONE, P_NONE, false), 0},
    {"pow", "small base [0.1, 0.5)", 2, {RANGE(S2(2, 3), 0.1, 0.5), UNI(S2(2, 3))}, binary_fn,
     BC(EB_POW, EV_NONE, EV_NONE, P_NONE, false), 0},
    BINARY7("maximum", EB_MAXIMUM, P_SIGNS, NARROW, NARROW),
    {"maximum", "times a (curved)", 2, {NARROW(S2(2, 3)), NARROW(S2(2, 3))}, binary_fn,
     BC(EB_MAXIMUM, EV_NONE, EV_NONE, P_SIGNS, true), 0},
    BINARY7("minimum", EB_MINIMUM, P_SIGNS, NARROW, NARROW),
    {"minimum", "times a (curved)", 2, {NARROW(S2(2, 3)), NARROW(S1(3))}, binary_fn,
     BC(EB_MINIMUM, EV_NONE, EV_NONE, P_SIGNS, true), 0},
    COMPARE4("gt", EB_GT),
    COMPARE4("ge", EB_GE),
    COMPARE4("lt", EB_LT),
    COMPARE4("le", EB_LE),
    COMPARE4("eq", EB_EQ),
    {"eq", "eq(x, x) times x", 1, {UNI(S2(2, 3))}, eq_self_fn,
     BC(EB_EQ, EV_NONE, EV_NONE, P_NONE, false), 0},
    COMPARE4("ne", EB_NE),
    {"ne", "ne(x, x) times x", 1, {UNI(S2(2, 3))}, eq_self_fn,
     BC(EB_NE, EV_NONE, EV_NONE, P_NONE, false), 0},

    {"where", "same shape (2,3), mask gt(m, 0)", 3,
     {AWAY(S2(2, 3)), UNI(S2(2, 3)), UNI(S2(2, 3))}, where_fn, WC(0, EV_NONE, false), 0},
    {"where", "three-way broadcast mask (2,1,3) a (4,1) b ()", 3,
     {AWAY(S3(2, 1, 3)), UNI(S2(4, 1)), UNI(S0)}, where_fn, WC(0, EV_NONE, false), 0},
    {"where", "mask (3,1) a (1,4) b (3,4)", 3, {AWAY(S2(3, 1)), UNI(S2(1, 4)), UNI(S2(3, 4))},
     where_fn, WC(0, EV_NONE, false), 0},
    {"where", "0-d mask", 3, {AWAY(S0), UNI(S2(2, 3)), UNI(S2(2, 3))}, where_fn,
     WC(0, EV_NONE, false), 0},
    {"where", "mask from step, b (3,)", 3, {AWAY(S2(2, 3)), UNI(S2(2, 3)), UNI(S1(3))},
     where_fn, WC(1, EV_NONE, false), 0},
    {"where", "raw nonzero mask (gets a zero gradient)", 3,
     {AWAY(S2(2, 3)), UNI(S2(2, 3)), UNI(S2(2, 3))}, where_fn, WC(2, EV_NONE, false), 0},
    {"where", "transposed view a (3,2)^T", 3, {AWAY(S2(2, 3)), UNI(S2(3, 2)), UNI(S2(2, 3))},
     where_fn, WC(0, EV_T, false), 0},
    {"where", "where(mask, a, a*a) (curved)", 2, {AWAY(S2(3, 4)), UNI(S2(3, 4))}, where_fn,
     WC(0, EV_NONE, true), 0},

    UNARY5("sub_scalar", EU_SUB_S, 0.75, 0, P_NONE, UNI),
    UNARY5("rsub_scalar", EU_RSUB_S, -1.25, 0, P_NONE, UNI),
    UNARY5("div_scalar", EU_DIV_S, -2.5, 0, P_NONE, UNI),
    UNARY5("rdiv_scalar", EU_RDIV_S, 1.5, 0, P_NONE, AWAY),
    UNARY5("pow_scalar", EU_POW_S, 2.5, 0, P_NONE, POS),
    {"pow_scalar", "x^3, negative x too", 1, {UNI(S2(2, 3))}, unary_fn,
     UC(EU_POW_S, 3.0, 0, EV_NONE, P_NONE, false), 0},
    {"pow_scalar", "x^-1.5", 1, {POS(S2(2, 3))}, unary_fn,
     UC(EU_POW_S, -1.5, 0, EV_NONE, P_NONE, false), 0},
    {"pow_scalar", "x^0.5", 1, {POS(S2(2, 3))}, unary_fn,
     UC(EU_POW_S, 0.5, 0, EV_NONE, P_NONE, false), 0},
    {"pow_scalar", "x^1", 1, {UNI(S2(2, 3))}, unary_fn,
     UC(EU_POW_S, 1.0, 0, EV_NONE, P_NONE, false), 0},
    {"pow_scalar", "x^0 (constant 1)", 1, {UNI(S2(2, 3))}, unary_fn,
     UC(EU_POW_S, 0.0, 0, EV_NONE, P_NONE, false), 0},
    {"pow_scalar", "x^0 times x", 1, {UNI(S2(2, 3))}, unary_fn,
     UC(EU_POW_S, 0.0, 0, EV_NONE, P_NONE, true), 0},

    UNARY5("abs", EU_ABS, 0, 0, P_NONE, AWAY),
    {"abs", "abs(x) * x (curved)", 1, {AWAY(S2(3, 4))}, unary_fn,
     UC(EU_ABS, 0, 0, EV_NONE, P_NONE, true), 0},
    UNARY5("sign", EU_SIGN, 0, 0, P_NONE, AWAY),
    {"sign", "sign(x) * x", 1, {AWAY(S2(3, 4))}, unary_fn,
     UC(EU_SIGN, 0, 0, EV_NONE, P_NONE, true), 0},
    UNARY5("sqrt", EU_SQRT, 0, 0, P_NONE, POS),
    {"sqrt", "small positive [0.05, 0.5)", 1, {RANGE(S2(2, 3), 0.05, 0.5)}, unary_fn,
     UC(EU_SQRT, 0, 0, EV_NONE, P_NONE, false), 0},
    UNARY5("square", EU_SQUARE, 0, 0, P_NONE, UNI),
    UNARY5("sin", EU_SIN, 0, 0, P_NONE, UNI),
    {"sin", "wide [-6, 6)", 1, {RANGE(S2(3, 4), -6.0, 6.0)}, unary_fn,
     UC(EU_SIN, 0, 0, EV_NONE, P_NONE, false), 0},
    UNARY5("cos", EU_COS, 0, 0, P_NONE, UNI),
    {"cos", "wide [-6, 6)", 1, {RANGE(S2(3, 4), -6.0, 6.0)}, unary_fn,
     UC(EU_COS, 0, 0, EV_NONE, P_NONE, false), 0},

    UNARY5("leaky_relu", EU_LEAKY, 0.1, 0, P_NONE, AWAY),
    {"leaky_relu", "slope -0.3", 1, {AWAY(S2(2, 3))}, unary_fn,
     UC(EU_LEAKY, -0.3, 0, EV_NONE, P_NONE, false), 0},
    {"leaky_relu", "leaky_relu(x) * x (curved)", 1, {AWAY(S2(3, 4))}, unary_fn,
     UC(EU_LEAKY, 0.1, 0, EV_NONE, P_NONE, true), 0},
    UNARY5("elu", EU_ELU, 1.0, 0, P_NONE, AWAY),
    {"elu", "alpha 2", 1, {AWAY(S2(3, 4))}, unary_fn, UC(EU_ELU, 2.0, 0, EV_NONE, P_NONE, false),
     0},
    {"elu", "elu(x) * x", 1, {AWAY(S2(3, 4))}, unary_fn, UC(EU_ELU, 1.0, 0, EV_NONE, P_NONE, true),
     0},
    UNARY5("gelu", EU_GELU, 0, 0, P_NONE, UNI),
    {"gelu", "wide [-5, 5)", 1, {RANGE(S2(3, 4), -5.0, 5.0)}, unary_fn,
     UC(EU_GELU, 0, 0, EV_NONE, P_NONE, false), 0},
    UNARY5("gelu_grad", EU_GELU_GRAD, 0, 0, P_NONE, UNI),
    {"gelu_grad", "wide [-5, 5)", 1, {RANGE(S2(3, 4), -5.0, 5.0)}, unary_fn,
     UC(EU_GELU_GRAD, 0, 0, EV_NONE, P_NONE, false), 0},
    UNARY5("softplus", EU_SOFTPLUS, 0, 0, P_NONE, UNI),
    {"softplus", "large |x| in [20, 40)", 1, {MAG(S2(2, 3), 20.0, 40.0)}, unary_fn,
     UC(EU_SOFTPLUS, 0, 0, EV_NONE, P_NONE, false), 0},
    UNARY5("clamp", EU_CLAMP, -1.0, 1.0, P_THIRDS, NARROW),
    {"clamp", "clamp(x) * x (curved)", 1, {NARROW(S2(3, 4))}, unary_fn,
     UC(EU_CLAMP, -1.0, 1.0, EV_NONE, P_THIRDS, true), 0},
    {"clamp", "lower bound only", 1, {NARROW(S2(3, 4))}, unary_fn,
     UC(EU_CLAMP, -1.0, INFINITY, EV_NONE, P_THIRDS, false), 0},
    {"clamp", "upper bound only", 1, {NARROW(S2(3, 4))}, unary_fn,
     UC(EU_CLAMP, -INFINITY, 1.0, EV_NONE, P_THIRDS, false), 0},

    {"sign_ste", "inside |x| in [0.2, 0.8): passes g", 1, {MAG(S2(2, 3), 0.2, 0.8)},
     sign_ste_fn, VC(EV_NONE), 0},
    {"sign_ste", "outside |x| in [1.2, 2): blocks g", 1, {MAG(S2(2, 3), 1.2, 2.0)}, sign_ste_fn,
     VC(EV_NONE), 0},
    {"sign_ste", "transposed view, |x| in [0.3, 0.9)", 1, {MAG(S2(3, 4), 0.3, 0.9)},
     sign_ste_fn, VC(EV_T), 0},
    {"sign_ste", "strided view, |x| in [1.1, 1.9)", 1, {MAG(S2(2, 6), 1.1, 1.9)}, sign_ste_fn,
     VC(EV_STEP2), 0},
    {"binarize", "inside |x| in [0.2, 0.8): passes g", 1, {MAG(S2(2, 3), 0.2, 0.8)},
     binarize_fn, VC(EV_NONE), 0},
    {"binarize", "outside |x| in [1.2, 2): blocks g", 1, {MAG(S2(2, 3), 1.2, 2.0)}, binarize_fn,
     VC(EV_NONE), 0},
    {"binarize", "transposed view, |x| in [0.3, 0.9)", 1, {MAG(S2(3, 4), 0.3, 0.9)},
     binarize_fn, VC(EV_T), 0},
    {"binarize", "strided view, |x| in [1.1, 1.9)", 1, {MAG(S2(2, 6), 1.1, 1.9)}, binarize_fn,
     VC(EV_STEP2), 0},

    REDUCE8("max", ER_MAX, 0, 0, NARROW),
    REDUCE8("min", ER_MIN, 0, 0, NARROW),
    REDUCE8("var", ER_VAR, 1, 0, UNI),
    {"var", "population (correction 0), all", 1, {UNI(S2(3, 4))}, red_fn,
     RC(ER_VAR, true, 0, AX(0), false, 0, EV_NONE, false), 0},
    {"var", "correction 2, axis 1", 1, {UNI(S3(2, 3, 4))}, red_fn,
     RC(ER_VAR, false, 1, AX(1), false, 2, EV_NONE, false), 0},
    REDUCE8("logsumexp", ER_LSE, 0, 0, UNI),
    {"logsumexp", "large values |x| in [995, 1005)", 1, {MAG(S2(3, 4), 995.0, 1005.0)}, red_fn,
     RC(ER_LSE, false, 1, AX(1), false, 0, EV_NONE, false), 0},

    SOFTMAX7("softmax", false),
    SOFTMAX7("log_softmax", true),

    /* The losses are composites: each case names the registered op whose rule carries it. */
    {"softmax_cross_entropy", "cross_entropy (3,4), labels [2,0,3]", 1, {UNI(S2(3, 4))}, loss_fn,
     LC(EL_CE, 0.0, TG_REDUCE_MEAN, EV_NONE), 0},
    {"softmax_cross_entropy", "cross_entropy, label smoothing 0.1", 1, {UNI(S2(3, 4))}, loss_fn,
     LC(EL_CE, 0.1, TG_REDUCE_MEAN, EV_NONE), 0},
    {"softmax_cross_entropy", "cross_entropy, sum", 1, {UNI(S2(3, 4))}, loss_fn,
     LC(EL_CE, 0.0, TG_REDUCE_SUM, EV_NONE), 0},
    {"softmax_cross_entropy", "cross_entropy, smoothing 0.2, no reduction", 1, {UNI(S2(3, 4))}, loss_fn,
     LC(EL_CE, 0.2, TG_REDUCE_NONE, EV_NONE), 0},
    {"softmax_cross_entropy", "cross_entropy of a transposed view (4,3)^T", 1, {UNI(S2(4, 3))}, loss_fn,
     LC(EL_CE, 0.0, TG_REDUCE_MEAN, EV_T), 0},
    {"softmax_cross_entropy", "cross_entropy, smoothing 1 (uniform target)", 1,
     {UNI(S2(3, 4))}, loss_fn, LC(EL_CE, 1.0, TG_REDUCE_MEAN, EV_NONE), 0},
    {"softmax_cross_entropy", "cross_entropy, large logits |x| in [995, 1005)", 1,
     {MAG(S2(3, 4), 995.0, 1005.0)}, loss_fn, LC(EL_CE, 0.1, TG_REDUCE_SUM, EV_NONE), 0},
    {"log_softmax", "cross_entropy with probability targets", 2,
     {UNI(S2(3, 4)), RANGE(S2(3, 4), 0.0, 1.0)}, loss_fn,
     LC(EL_CE_PROBS, 0.0, TG_REDUCE_MEAN, EV_NONE), 0},
    {"log_softmax", "cross_entropy probs, smoothing 0.3, no reduction", 2,
     {UNI(S2(3, 4)), RANGE(S2(3, 4), 0.0, 1.0)}, loss_fn,
     LC(EL_CE_PROBS, 0.3, TG_REDUCE_NONE, EV_NONE), 0},
    {"where", "nll (3,4), labels [2,0,3]", 1, {UNI(S2(3, 4))}, loss_fn,
     LC(EL_NLL, 0.0, TG_REDUCE_MEAN, EV_NONE), 0},
    {"where", "nll, no reduction", 1, {UNI(S2(3, 4))}, loss_fn,
     LC(EL_NLL, 0.0, TG_REDUCE_NONE, EV_NONE), 0},
    {"square", "mse (2,3)", 2, {UNI(S2(2, 3)), UNI(S2(2, 3))}, loss_fn,
     LC(EL_MSE, 0.0, TG_REDUCE_MEAN, EV_NONE), 0},
    {"square", "mse sum, transposed view", 2, {UNI(S2(3, 2)), UNI(S2(2, 3))}, loss_fn,
     LC(EL_MSE, 0.0, TG_REDUCE_SUM, EV_T), 0},
    {"where", "bce (2,3), p in [0.05, 0.95)", 2,
     {RANGE(S2(2, 3), 0.05, 0.95), RANGE(S2(2, 3), 0.0, 1.0)}, loss_fn,
     LC(EL_BCE, 0.0, TG_REDUCE_MEAN, EV_NONE), 0},
    {"where", "bce, no reduction", 2, {RANGE(S2(2, 3), 0.05, 0.95), RANGE(S2(2, 3), 0.0, 1.0)},
     loss_fn, LC(EL_BCE, 0.0, TG_REDUCE_NONE, EV_NONE), 0},
    {"softplus", "bce_with_logits (2,3)", 2, {UNI(S2(2, 3)), RANGE(S2(2, 3), 0.0, 1.0)},
     loss_fn, LC(EL_BCE_LOGITS, 0.0, TG_REDUCE_MEAN, EV_NONE), 0},
    {"softplus", "bce_with_logits sum, |x| in [10, 30)", 2,
     {MAG(S2(2, 3), 10.0, 30.0), RANGE(S2(2, 3), 0.0, 1.0)}, loss_fn,
     LC(EL_BCE_LOGITS, 0.0, TG_REDUCE_SUM, EV_NONE), 0},
    {"lstm_gates", "z (2,8), c (2,2)", 2, {UNI(S2(2, 8)), UNI(S2(2, 2))}, lstm_gates_fn,
     VC(EV_NONE), 0},
    {"lstm_gates", "B 3, H 3, c a transposed view", 2, {UNI(S2(3, 12)), UNI(S2(3, 3))},
     lstm_gates_fn, VC(EV_T), 0},
    {"lstm_gates", "two chained steps, c' a strided view", 3,
     {UNI(S2(2, 8)), UNI(S2(2, 2)), UNI(S2(2, 8))}, lstm_two_steps_fn, NULL, 0},
    {"rnn_seq", "T 4, B 2, I 3, H 3, both biases", 4,
     {UNI(S3(4, 2, 3)), UNI(S2(3, 3)), UNI(S2(3, 3)), UNI(S2(2, 3))}, seq_fn,
     SQC(false, true, false, false, false), 0},
    {"rnn_seq", "T 3, B 3, I 2, H 4, h0 given, W_hh transposed, output read transposed", 4,
     {UNI(S3(3, 3, 2)), UNI(S2(4, 2)), UNI(S2(4, 4)), UNI(S3(1, 3, 4))}, seq_fn,
     SQC(false, false, true, true, false), 0},
    {"rnn_seq", "T 1, B 2, I 2, H 2, only h_n", 4,
     {UNI(S3(1, 2, 2)), UNI(S2(2, 2)), UNI(S2(2, 2)), UNI(S3(1, 2, 2))}, seq_fn,
     SQC(false, false, false, false, true), 0},
    {"lstm_seq", "T 3, B 2, I 3, H 2, both biases", 4,
     {UNI(S3(3, 2, 3)), UNI(S2(8, 3)), UNI(S2(8, 2)), UNI(S2(2, 8))}, seq_fn,
     SQC(true, true, false, false, false), 0},
    {"lstm_seq", "T 4, B 2, I 2, H 2, h0 c0 given, W_hh transposed, output read transposed", 4,
     {UNI(S3(4, 2, 2)), UNI(S2(8, 2)), UNI(S2(2, 8)), UNI(S3(2, 2, 2))}, seq_fn,
     SQC(true, false, true, true, false), 0},
    {"lstm_seq", "T 2, B 3, I 2, H 1, only c_n", 4,
     {UNI(S3(2, 3, 2)), UNI(S2(4, 2)), UNI(S2(4, 1)), UNI(S3(2, 3, 1))}, seq_fn,
     SQC(true, false, false, false, true), 0},
    {"mul", "dropout p 0.5 times x", 1, {UNI(S2(3, 4))}, dropout_fn, DC(0.5, 7), 0},
    {"mul", "dropout p 0.2 times x", 1, {UNI(S3(2, 3, 4))}, dropout_fn, DC(0.2, 11), 0},
};

const int op_cases_elementwise_count =
    (int)(sizeof op_cases_elementwise / sizeof op_cases_elementwise[0]);

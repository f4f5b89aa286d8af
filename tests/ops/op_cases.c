/* op_cases.c: the gradient-proof cases of the core ops (arithmetic, activations, matmul,
 * reductions, layout and views), the assembly of the whole table from the op_cases_*.c
 * families, input sampling, and the DOT-based check of which ops a case records (op_cases.h).
 *
 * Each case is a small function of fresh leaf tensors; most are one op, some put the op behind
 * a view (transpose, strided slice) or a broadcast so that strided and stride-0 operands are
 * proven too. Only the public API is used here, so tools/ can reuse the table. */
#include <stdio.h>
#include <string.h>

#include "op_cases.h"

/* ---- building blocks ---- */

/* The output of a one-output case: 1 when the chain of ops succeeded, -1 otherwise (the error
 * is on the tape for the checker to report). */
static int one(tg_tensor **out, tg_tensor *y) {
    out[0] = y;
    return y ? 1 : -1;
}

/* How an operand is seen before the op under test uses it. */
typedef enum view_kind {
    VIEW_NONE,
    VIEW_T,    /* the last two dimensions swapped: a transposed, non-contiguous view */
    VIEW_STEP2 /* every other element of the last dimension: a strided slice */
} view_kind;

static tg_tensor *view_of(tg_tape *t, tg_tensor *x, view_kind v) {
    switch (v) {
    case VIEW_T: return tg_transpose(t, x, -1, -2);
    case VIEW_STEP2: return tg_slice(t, x, -1, 0, INT64_MAX, 2);
    case VIEW_NONE: break;
    }
    return x;
}

/* ---- add, sub, mul, div ---- */
typedef struct bin_ctx {
    char op; /* '+', '-', '*', '/' */
    view_kind va, vb;
} bin_ctx;

static int binary_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const bin_ctx *c = ctx;
    tg_tensor *a = view_of(t, in[0], c->va), *b = view_of(t, in[1], c->vb), *y = NULL;
    switch (c->op) {
    case '+': y = tg_add(t, a, b); break;
    case '-': y = tg_sub(t, a, b); break;
    case '*': y = tg_mul(t, a, b); break;
    case '/': y = tg_div(t, a, b); break;
    }
    return one(out, y);
}

/* Per op: plain operands, left transposed, right transposed, right a strided slice. */
#define BIN_CTX(name, ch)                                                                      \
    static bin_ctx name##_p = {ch, VIEW_NONE, VIEW_NONE}, name##_ta = {ch, VIEW_T, VIEW_NONE}, \
                   name##_tb = {ch, VIEW_NONE, VIEW_T}, name##_sb = {ch, VIEW_NONE, VIEW_STEP2};
BIN_CTX(add, '+')
BIN_CTX(sub, '-')
BIN_CTX(mul, '*')
BIN_CTX(div, '/')
#undef BIN_CTX

/* ---- add_scalar, mul_scalar ---- */
typedef struct scalar_ctx {
    bool mul;
    double c;
    view_kind v;
} scalar_ctx;

static int scalar_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const scalar_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v);
    return one(out, c->mul ? tg_mul_scalar(t, x, c->c) : tg_add_scalar(t, x, c->c));
}

static scalar_ctx adds_p = {false, 0.75, VIEW_NONE}, adds_neg = {false, -3.0, VIEW_NONE},
                  adds_t = {false, 0.75, VIEW_T}, adds_s = {false, 1.25, VIEW_STEP2};
static scalar_ctx muls_p = {true, -1.5, VIEW_NONE}, muls_zero = {true, 0.0, VIEW_NONE},
                  muls_t = {true, 2.5, VIEW_T}, muls_s = {true, 2.5, VIEW_STEP2};

/* A product with a scalar is linear, so its own second derivative is zero; squaring the
 * result first makes the second-order check see mul_scalar's rule inside a curved function. */
static int mul_scalar_square_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const scalar_ctx *c = ctx;
    tg_tensor *y = tg_mul_scalar(t, tg_mul(t, in[0], in[0]), c->c);
    return one(out, y);
}

/* ---- neg, exp, log, tanh, sigmoid, relu, step ---- */
typedef enum unary_kind { U_NEG, U_EXP, U_LOG, U_TANH, U_SIGMOID, U_RELU, U_STEP } unary_kind;

typedef struct unary_ctx {
    unary_kind k;
    view_kind v;
} unary_ctx;

static int unary_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const unary_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v), *y = NULL;
    switch (c->k) {
    case U_NEG: y = tg_neg(t, x); break;
    case U_EXP: y = tg_exp(t, x); break;
    case U_LOG: y = tg_log(t, x); break;
    case U_TANH: y = tg_tanh(t, x); break;
    case U_SIGMOID: y = tg_sigmoid(t, x); break;
    case U_RELU: y = tg_relu(t, x); break;
    case U_STEP: y = tg_step(t, x); break;
    }
    return one(out, y);
}

/* Per op: a plain input, a transposed view (the forward's gather path), a strided slice. */
#define UNARY_CTX(name, kind)                                                                  \
    static unary_ctx name##_p = {kind, VIEW_NONE}, name##_t = {kind, VIEW_T},                  \
                     name##_s = {kind, VIEW_STEP2};
UNARY_CTX(neg, U_NEG)
UNARY_CTX(exp, U_EXP)
UNARY_CTX(log, U_LOG)
UNARY_CTX(tanh, U_TANH)
UNARY_CTX(sigmoid, U_SIGMOID)
UNARY_CTX(relu, U_RELU)
UNARY_CTX(step, U_STEP)
#undef UNARY_CTX

/* relu(x) * x: relu's rule (g * step(x)) inside a function with a non-zero second derivative,
 * so the second-order check exercises relu's recorded backward, not just zeros. */
static int relu_times_x_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    return one(out, tg_mul(t, tg_relu(t, in[0]), in[0]));
}

/* step(x) * y: the step's zero derivative must not hide the other factor's gradient; with y a
 * second input, d/dy = step(x) is checked against finite differences too. */
static int step_times_y_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    return one(out, tg_mul(t, tg_step(t, in[0]), in[1]));
}

/* ---- matmul ---- */
typedef struct matmul_ctx {
    view_kind va, vb;
} matmul_ctx;

static int matmul_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const matmul_ctx *c = ctx;
    return one(out, tg_matmul(t, view_of(t, in[0], c->va), view_of(t, in[1], c->vb)));
}

static matmul_ctx mm_p = {VIEW_NONE, VIEW_NONE}, mm_ta = {VIEW_T, VIEW_NONE},
                  mm_tb = {VIEW_NONE, VIEW_T}, mm_tt = {VIEW_T, VIEW_T},
                  mm_sa = {VIEW_STEP2, VIEW_NONE};

/* a @ broadcast_to(b): the right operand has row stride 0 (one row repeated K times), and in
 * the batched form a batch stride of 0 as well. */
typedef struct matmul_bc_ctx {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} matmul_bc_ctx;

static int matmul_bcast_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const matmul_bc_ctx *c = ctx;
    return one(out, tg_matmul(t, in[0], tg_broadcast_to(t, in[1], c->ndim, c->shape)));
}

static matmul_bc_ctx mmb_rows = {2, {3, 4}}, mmb_batch = {3, {2, 3, 2}};

/* x @ x: both operands are the same leaf, so its gradient is the sum of the two rules'. */
static int matmul_self_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    return one(out, tg_matmul(t, in[0], in[0]));
}

/* ---- sum, mean ---- */
typedef struct reduce_ctx {
    bool mean;
    bool all; /* tg_sum_all / tg_mean_all */
    int n_axes;
    int axes[3];
    bool keepdim;
    view_kind v;
} reduce_ctx;

static int reduce_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const reduce_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v);
    if (c->all) return one(out, c->mean ? tg_mean_all(t, x) : tg_sum_all(t, x));
    return one(out, c->mean ? tg_mean(t, x, c->n_axes, c->axes, c->keepdim)
                            : tg_sum(t, x, c->n_axes, c->axes, c->keepdim));
}

#define REDUCE_CTX(name, mean)                                                                 \
    static reduce_ctx name##_all = {mean, true, 0, {0}, false, VIEW_NONE},                    \
                      name##_a1 = {mean, false, 1, {1}, false, VIEW_NONE},                     \
                      name##_a1k = {mean, false, 1, {1}, true, VIEW_NONE},                     \
                      name##_a02 = {mean, false, 2, {0, 2}, false, VIEW_NONE},                 \
                      name##_a20k = {mean, false, 2, {2, 0}, true, VIEW_NONE},                 \
                      name##_neg = {mean, false, 1, {-1}, false, VIEW_NONE},                   \
                      name##_neg2k = {mean, false, 2, {-3, -1}, true, VIEW_NONE},              \
                      name##_none = {mean, false, 0, {0}, false, VIEW_NONE},                   \
                      name##_every = {mean, false, 3, {0, 1, 2}, true, VIEW_NONE},             \
                      name##_t = {mean, false, 1, {0}, false, VIEW_T},                         \
                      name##_s = {mean, false, 1, {-1}, true, VIEW_STEP2};
REDUCE_CTX(sum, false)
REDUCE_CTX(mean, true)
#undef REDUCE_CTX

/* A reduction is linear; squaring its result gives the second-order check something to see. */
static int reduce_square_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    tg_tensor *y = NULL;
    if (reduce_fn(t, in, &y, ctx) < 0) return -1;
    return one(out, tg_mul(t, y, y));
}

/* ---- reshape, contiguous ---- */
typedef struct shape_ctx {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    view_kind v;
} shape_ctx;

static int reshape_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const shape_ctx *c = ctx;
    return one(out, tg_reshape(t, view_of(t, in[0], c->v), c->ndim, c->shape));
}

static shape_ctx rs_64 = {2, {6, 4}, VIEW_NONE}, rs_4m1 = {2, {4, -1}, VIEW_NONE},
                 rs_flat = {1, {-1}, VIEW_NONE}, rs_t26 = {2, {2, 6}, VIEW_T},
                 rs_sflat = {1, {-1}, VIEW_STEP2}, rs_0d = {0, {0}, VIEW_NONE},
                 rs_111 = {3, {1, 1, 1}, VIEW_NONE}, rs_m13 = {2, {-1, 3}, VIEW_T};

/* Rows 1:3 of x reshaped: a contiguous view that starts inside x's memory, so reshape takes
 * its view path with a non-zero offset. */
static int reshape_rows_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const shape_ctx *c = ctx;
    return one(out, tg_reshape(t, tg_slice(t, in[0], 0, 1, 3, 1), c->ndim, c->shape));
}

static int contiguous_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const view_kind *v = ctx;
    return one(out, tg_contiguous(t, view_of(t, in[0], *v)));
}

static view_kind v_none = VIEW_NONE, v_t = VIEW_T, v_step2 = VIEW_STEP2;

/* contiguous of a 3-D permutation: the gather walks a stride pattern no transpose makes. */
static int contiguous_perm_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    static const int perm[3] = {2, 0, 1};
    return one(out, tg_contiguous(t, tg_permute(t, in[0], perm)));
}

/* ---- permute, transpose ---- */
typedef struct permute_ctx {
    bool transpose; /* tg_transpose(d0, d1) instead of tg_permute(perm) */
    int perm[TG_MAX_DIMS];
    int d0, d1;
    view_kind v;
} permute_ctx;

static int permute_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const permute_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v);
    return one(out, c->transpose ? tg_transpose(t, x, c->d0, c->d1) : tg_permute(t, x, c->perm));
}

static permute_ctx pm_201 = {false, {2, 0, 1}, 0, 0, VIEW_NONE},
                   pm_120 = {false, {1, 2, 0}, 0, 0, VIEW_NONE},
                   pm_id = {false, {0, 1, 2}, 0, 0, VIEW_NONE},
                   pm_4d = {false, {3, 1, 0, 2}, 0, 0, VIEW_NONE},
                   pm_t01 = {true, {0}, 0, 1, VIEW_NONE},
                   pm_t0m1 = {true, {0}, 0, -1, VIEW_NONE},
                   pm_slice = {false, {1, 0}, 0, 0, VIEW_STEP2};

/* A permuted view fed to an elementwise op: the op must read it through its strides. */
static int permute_then_mul_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const permute_ctx *c = ctx;
    return one(out, tg_mul(t, tg_permute(t, in[0], c->perm), in[1]));
}

/* ---- slice, slice_embed ---- */
typedef struct slice_ctx {
    int axis;
    int64_t start, stop, step;
    view_kind v;
    bool twice; /* slice the result again (from 1, step 1, along the same axis) */
    /* slice_embed only: the full shape the input is embedded into */
    int ndim;
    int64_t shape[TG_MAX_DIMS];
} slice_ctx;

static int slice_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const slice_ctx *c = ctx;
    tg_tensor *y = tg_slice(t, view_of(t, in[0], c->v), c->axis, c->start, c->stop, c->step);
    if (c->twice) y = tg_slice(t, y, c->axis, 1, INT64_MAX, 1);
    return one(out, y);
}

static int slice_embed_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const slice_ctx *c = ctx;
    return one(out, tg_slice_embed(t, view_of(t, in[0], c->v), c->ndim, c->shape, c->axis,
                                   c->start, c->stop, c->step));
}

static slice_ctx sl_rows = {0, 1, 3, 1, VIEW_NONE, false, 0, {0}},
                 sl_step2 = {1, 0, 5, 2, VIEW_NONE, false, 0, {0}},
                 sl_lastodd = {-1, 1, 6, 2, VIEW_NONE, false, 0, {0}},
                 sl_negstart = {1, -2, INT64_MAX, 1, VIEW_NONE, false, 0, {0}},
                 sl_negboth = {0, -5, -1, 2, VIEW_NONE, false, 0, {0}},
                 sl_t = {0, 1, 4, 2, VIEW_T, false, 0, {0}},
                 sl_twice = {1, 0, 6, 2, VIEW_NONE, true, 0, {0}},
                 sl_clamp = {1, 1, 100, 1, VIEW_NONE, false, 0, {0}},
                 sl_mid = {1, 1, 5, 2, VIEW_NONE, false, 0, {0}},
                 sl_step3 = {0, 0, INT64_MAX, 3, VIEW_NONE, false, 0, {0}};

static slice_ctx se_step2 = {1, 1, 7, 2, VIEW_NONE, false, 2, {2, 7}},
                 se_negstart = {0, -3, INT64_MAX, 1, VIEW_NONE, false, 2, {5, 3}},
                 se_last = {-1, 0, 4, 2, VIEW_NONE, false, 2, {2, 5}},
                 se_t = {1, 0, 6, 2, VIEW_T, false, 2, {2, 6}},
                 se_3d = {1, 1, 4, 1, VIEW_NONE, false, 3, {2, 4, 2}};

/* slice_embed is linear; times itself it is not, which the second-order check needs. */
static int slice_embed_square_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    tg_tensor *y = NULL;
    if (slice_embed_fn(t, in, &y, ctx) < 0) return -1;
    return one(out, tg_mul(t, y, y));
}

/* ---- broadcast_to, and the composite sum_to ---- */
static int broadcast_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const shape_ctx *c = ctx;
    return one(out, tg_broadcast_to(t, view_of(t, in[0], c->v), c->ndim, c->shape));
}

static shape_ctx bc_row = {2, {2, 3}, VIEW_NONE}, bc_col = {2, {3, 4}, VIEW_NONE},
                 bc_0d = {2, {2, 2}, VIEW_NONE}, bc_lead = {3, {2, 2, 3}, VIEW_NONE},
                 bc_t = {2, {4, 3}, VIEW_T}, bc_id = {2, {2, 3}, VIEW_NONE};

/* broadcast_to gives a stride-0 view: multiplying it by itself proves that elementwise ops read
 * such operands correctly, and makes the function curved for the second-order check. */
static int broadcast_square_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const shape_ctx *c = ctx;
    tg_tensor *b = tg_broadcast_to(t, in[0], c->ndim, c->shape);
    return one(out, tg_mul(t, b, b));
}

/* A stride-0 view reshaped: reshape must gather it (it is not contiguous). */
static int broadcast_reshape_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const shape_ctx *c = ctx;
    static const int64_t flat[1] = {-1};
    return one(out, tg_reshape(t, tg_broadcast_to(t, in[0], c->ndim, c->shape), 1, flat));
}

/* tg_upsample_nearest2d is a composite (reshape, broadcast_to, reshape): its cases prove
 * broadcast_to. Squared, so the second-order check sees curvature; scale 3 on a (1,2,2,3) x. */
static int upsample_square_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const int *scale = ctx;
    tg_tensor *u = tg_upsample_nearest2d(t, in[0], *scale);
    return one(out, tg_mul(t, u, u));
}

static int up_2 = 2, up_3 = 3;

static int sum_to_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const shape_ctx *c = ctx;
    return one(out, tg_sum_to(t, view_of(t, in[0], c->v), c->ndim, c->shape));
}

static shape_ctx st_31 = {2, {3, 1}, VIEW_NONE}, st_row = {1, {3}, VIEW_NONE},
                 st_0d = {0, {0}, VIEW_NONE}, st_13 = {2, {1, 3}, VIEW_NONE},
                 st_t = {1, {2}, VIEW_T};

/* ---- the table ---- */

#define S0 0, {0}
#define S1(a) 1, {a}
#define S2(a, b) 2, {a, b}
#define S3(a, b, c) 3, {a, b, c}
#define S4(a, b, c, d) 4, {a, b, c, d}
/* Domains: general values; positive (log); away from zero (kinks at 0, denominators). */
#define UNI(shape) {shape, OP_CASE_UNIFORM, -2.0, 2.0}
#define POS(shape) {shape, OP_CASE_UNIFORM, 0.5, 3.0}
#define AWAY(shape) {shape, OP_CASE_AWAY_FROM_ZERO, 0.2, 2.0}
#define DEN(shape) {shape, OP_CASE_AWAY_FROM_ZERO, 0.5, 2.0}
#define RANGE(shape, lo, hi) {shape, OP_CASE_UNIFORM, lo, hi}

/* The cases of one two-input broadcasting op; R is the domain of the right operand. */
#define BINARY_CASES(name, c, R)                                                                \
    {name, "same shape (2,3) and (2,3)", 2, {UNI(S2(2, 3)), R(S2(2, 3))}, binary_fn, &c##_p, 0}, \
    {name, "broadcast (2,3) and (3,)", 2, {UNI(S2(2, 3)), R(S1(3))}, binary_fn, &c##_p, 0},    \
    {name, "broadcast (3,) and (2,3)", 2, {UNI(S1(3)), R(S2(2, 3))}, binary_fn, &c##_p, 0},    \
    {name, "broadcast both ways (3,1) and (1,4)", 2, {UNI(S2(3, 1)), R(S2(1, 4))}, binary_fn,  \
     &c##_p, 0},                                                                               \
    {name, "broadcast 3-D (2,1,3) and (4,1)", 2, {UNI(S3(2, 1, 3)), R(S2(4, 1))}, binary_fn,   \
     &c##_p, 0},                                                                               \
    {name, "scalar-like (2,3) and (1,)", 2, {UNI(S2(2, 3)), R(S1(1))}, binary_fn, &c##_p, 0},  \
    {name, "scalar-like (1,) and (2,3)", 2, {UNI(S1(1)), R(S2(2, 3))}, binary_fn, &c##_p, 0},  \
    {name, "0-d operand (2,3) and ()", 2, {UNI(S2(2, 3)), R(S0)}, binary_fn, &c##_p, 0},       \
    {name, "0-d operand () and (2,3)", 2, {UNI(S0), R(S2(2, 3))}, binary_fn, &c##_p, 0},       \
    {name, "both 0-d", 2, {UNI(S0), R(S0)}, binary_fn, &c##_p, 0},                             \
    {name, "transposed view left (3,2)^T and (2,3)", 2, {UNI(S2(3, 2)), R(S2(2, 3))},          \
     binary_fn, &c##_ta, 0},                                                                   \
    {name, "transposed view left (3,2)^T, broadcast (3,)", 2, {UNI(S2(3, 2)), R(S1(3))},       \
     binary_fn, &c##_ta, 0},                                                                   \
    {name, "transposed view right (2,3) and (3,2)^T", 2, {UNI(S2(2, 3)), R(S2(3, 2))},         \
     binary_fn, &c##_tb, 0},                                                                   \
    {name, "strided view right (2,3) and (2,6)[:, ::2]", 2, {UNI(S2(2, 3)), R(S2(2, 6))},      \
     binary_fn, &c##_sb, 0}

#define UNARY_CASES(name, c, D)                                                                 \
    {name, "(2,3)", 1, {D(S2(2, 3))}, unary_fn, &c##_p, 0},                                    \
    {name, "3-D (2,3,4)", 1, {D(S3(2, 3, 4))}, unary_fn, &c##_p, 0},                           \
    {name, "0-d", 1, {D(S0)}, unary_fn, &c##_p, 0},                                            \
    {name, "transposed view (3,4)^T", 1, {D(S2(3, 4))}, unary_fn, &c##_t, 0},                  \
    {name, "strided view (2,6)[:, ::2]", 1, {D(S2(2, 6))}, unary_fn, &c##_s, 0}

#define REDUCE_CASES(name, c)                                                                   \
    {name, "all of (2,3,4)", 1, {UNI(S3(2, 3, 4))}, reduce_fn, &c##_all, 0},                   \
    {name, "all of a 0-d", 1, {UNI(S0)}, reduce_fn, &c##_all, 0},                              \
    {name, "axis 1 of (2,3,4)", 1, {UNI(S3(2, 3, 4))}, reduce_fn, &c##_a1, 0},                 \
    {name, "axis 1 keepdim", 1, {UNI(S3(2, 3, 4))}, reduce_fn, &c##_a1k, 0},                   \
    {name, "axes (0,2)", 1, {UNI(S3(2, 3, 4))}, reduce_fn, &c##_a02, 0},                       \
    {name, "axes (2,0) keepdim", 1, {UNI(S3(2, 3, 4))}, reduce_fn, &c##_a20k, 0},              \
    {name, "negative axis -1", 1, {UNI(S3(2, 3, 4))}, reduce_fn, &c##_neg, 0},                 \
    {name, "negative axes (-3,-1) keepdim", 1, {UNI(S3(2, 3, 4))}, reduce_fn, &c##_neg2k, 0},  \
    {name, "no axes (a copy)", 1, {UNI(S2(2, 3))}, reduce_fn, &c##_none, 0},                   \
    {name, "every axis listed, keepdim", 1, {UNI(S3(2, 3, 4))}, reduce_fn, &c##_every, 0},     \
    {name, "axis 0 of transposed view (3,4)^T", 1, {UNI(S2(3, 4))}, reduce_fn, &c##_t, 0},     \
    {name, "axis -1 keepdim of strided view", 1, {UNI(S2(3, 6))}, reduce_fn, &c##_s, 0},       \
    {name, "squared: axis 1 keepdim", 1, {UNI(S3(2, 3, 4))}, reduce_square_fn, &c##_a1k, 0},   \
    {name, "squared: all", 1, {UNI(S2(3, 4))}, reduce_square_fn, &c##_all, 0}

static const op_case cases[] = {
    BINARY_CASES("add", add, UNI),
    BINARY_CASES("sub", sub, UNI),
    BINARY_CASES("mul", mul, UNI),
    BINARY_CASES("div", div, DEN),

    {"add_scalar", "(2,3) + 0.75", 1, {UNI(S2(2, 3))}, scalar_fn, &adds_p, 0},
    {"add_scalar", "(2,3) - 3", 1, {UNI(S2(2, 3))}, scalar_fn, &adds_neg, 0},
    {"add_scalar", "0-d + 0.75", 1, {UNI(S0)}, scalar_fn, &adds_p, 0},
    {"add_scalar", "transposed view (3,4)^T", 1, {UNI(S2(3, 4))}, scalar_fn, &adds_t, 0},
    {"add_scalar", "strided view (2,6)[:, ::2]", 1, {UNI(S2(2, 6))}, scalar_fn, &adds_s, 0},
    {"mul_scalar", "(2,3) * -1.5", 1, {UNI(S2(2, 3))}, scalar_fn, &muls_p, 0},
    {"mul_scalar", "(2,3) * 0", 1, {UNI(S2(2, 3))}, scalar_fn, &muls_zero, 0},
    {"mul_scalar", "0-d * -1.5", 1, {UNI(S0)}, scalar_fn, &muls_p, 0},
    {"mul_scalar", "transposed view (3,4)^T", 1, {UNI(S2(3, 4))}, scalar_fn, &muls_t, 0},
    {"mul_scalar", "strided view (2,6)[:, ::2]", 1, {UNI(S2(2, 6))}, scalar_fn, &muls_s, 0},
    {"mul_scalar", "of x*x (curved)", 1, {UNI(S2(2, 3))}, mul_scalar_square_fn, &muls_p, 0},

    UNARY_CASES("neg", neg, UNI),
    UNARY_CASES("exp", exp, UNI),
    UNARY_CASES("log", log, POS),
    {"log", "small positive [0.05, 0.5)", 1, {RANGE(S2(2, 3), 0.05, 0.5)}, unary_fn, &log_p,
     0},
    UNARY_CASES("tanh", tanh, UNI),
    {"tanh", "saturated |x| in [4, 8)", 1, {{S2(2, 3), OP_CASE_AWAY_FROM_ZERO, 4.0, 8.0}},
     unary_fn, &tanh_p, 0},
    UNARY_CASES("sigmoid", sigmoid, UNI),
    {"sigmoid", "wide [-6, 6)", 1, {RANGE(S2(3, 4), -6.0, 6.0)}, unary_fn, &sigmoid_p, 0},
    {"sigmoid", "around +30", 1, {RANGE(S2(2, 3), 25.0, 35.0)}, unary_fn, &sigmoid_p, 0},
    {"sigmoid", "around -30", 1, {RANGE(S2(2, 3), -35.0, -25.0)}, unary_fn, &sigmoid_p, 0},
    {"sigmoid", "around +-30", 1, {{S2(3, 3), OP_CASE_AWAY_FROM_ZERO, 28.0, 32.0}}, unary_fn,
     &sigmoid_p, 0},
    UNARY_CASES("relu", relu, AWAY),
    {"relu", "relu(x) * x (curved)", 1, {AWAY(S2(3, 4))}, relu_times_x_fn, NULL, 0},
    UNARY_CASES("step", step, AWAY),
    {"step", "step(x) * y", 2, {AWAY(S2(2, 3)), UNI(S2(2, 3))}, step_times_y_fn, NULL, 0},

    {"matmul", "2-D (2,3)@(3,4)", 2, {UNI(S2(2, 3)), UNI(S2(3, 4))}, matmul_fn, &mm_p, 0},
    {"matmul", "vector result (1,4)@(4,1)", 2, {UNI(S2(1, 4)), UNI(S2(4, 1))}, matmul_fn,
     &mm_p, 0},
    {"matmul", "outer product (3,1)@(1,4)", 2, {UNI(S2(3, 1)), UNI(S2(1, 4))}, matmul_fn,
     &mm_p, 0},
    {"matmul", "batched (2,2,3)@(2,3,2)", 2, {UNI(S3(2, 2, 3)), UNI(S3(2, 3, 2))}, matmul_fn,
     &mm_p, 0},
    {"matmul", "batch-broadcast (2,3,4)@(4,5)", 2, {UNI(S3(2, 3, 4)), UNI(S2(4, 5))},
     matmul_fn, &mm_p, 0},
    {"matmul", "batch-broadcast (1,3,4)@(2,4,5)", 2, {UNI(S3(1, 3, 4)), UNI(S3(2, 4, 5))},
     matmul_fn, &mm_p, 0},
    {"matmul", "batch-broadcast (3,4)@(2,4,2)", 2, {UNI(S2(3, 4)), UNI(S3(2, 4, 2))},
     matmul_fn, &mm_p, 0},
    {"matmul", "4-D batch-broadcast (2,1,2,3)@(1,2,3,2)", 2,
     {UNI(S4(2, 1, 2, 3)), UNI(S4(1, 2, 3, 2))}, matmul_fn, &mm_p, 0},
    {"matmul", "transposed view left (3,2)^T@(3,4)", 2, {UNI(S2(3, 2)), UNI(S2(3, 4))},
     matmul_fn, &mm_ta, 0},
    {"matmul", "transposed view right (2,3)@(4,3)^T", 2, {UNI(S2(2, 3)), UNI(S2(4, 3))},
     matmul_fn, &mm_tb, 0},
    {"matmul", "both transposed (3,2)^T@(4,3)^T", 2, {UNI(S2(3, 2)), UNI(S2(4, 3))},
     matmul_fn, &mm_tt, 0},
    {"matmul", "batched transposed view (2,3,2)^T@(2,3,2)", 2,
     {UNI(S3(2, 3, 2)), UNI(S3(2, 3, 2))}, matmul_fn, &mm_ta, 0},
    {"matmul", "strided view left (2,6)[:, ::2]@(3,2)", 2, {UNI(S2(2, 6)), UNI(S2(3, 2))},
     matmul_fn, &mm_sa, 0},
    {"matmul", "one leaf on both sides x@x (3,3)", 1, {UNI(S2(3, 3))}, matmul_self_fn, NULL, 0},
    {"matmul", "stride-0 rows: (2,3)@((1,4) broadcast to (3,4))", 2,
     {UNI(S2(2, 3)), UNI(S2(1, 4))}, matmul_bcast_fn, &mmb_rows, 0},
    {"matmul", "stride-0 batch: (2,2,3)@((3,2) broadcast to (2,3,2))", 2,
     {UNI(S3(2, 2, 3)), UNI(S2(3, 2))}, matmul_bcast_fn, &mmb_batch, 0},

    REDUCE_CASES("sum", sum),
    REDUCE_CASES("mean", mean),

    {"reshape", "(2,3,4) to (6,4)", 1, {UNI(S3(2, 3, 4))}, reshape_fn, &rs_64, 0},
    {"reshape", "(2,3,4) to (4,-1)", 1, {UNI(S3(2, 3, 4))}, reshape_fn, &rs_4m1, 0},
    {"reshape", "(3,4) to (-1)", 1, {UNI(S2(3, 4))}, reshape_fn, &rs_flat, 0},
    {"reshape", "transposed view (4,3)^T to (2,6)", 1, {UNI(S2(4, 3))}, reshape_fn, &rs_t26, 0},
    {"reshape", "transposed view (3,3)^T to (-1,3)", 1, {UNI(S2(3, 3))}, reshape_fn, &rs_m13,
     0},
    {"reshape", "strided view (3,4)[:, ::2] to (-1)", 1, {UNI(S2(3, 4))}, reshape_fn,
     &rs_sflat, 0},
    {"reshape", "rows 1:3 of (4,3) (offset view) to (-1)", 1, {UNI(S2(4, 3))},
     reshape_rows_fn, &rs_flat, 0},
    {"reshape", "(1,1) to 0-d", 1, {UNI(S2(1, 1))}, reshape_fn, &rs_0d, 0},
    {"reshape", "0-d to (1,1,1)", 1, {UNI(S0)}, reshape_fn, &rs_111, 0},
    {"reshape", "stride-0 view (3,) broadcast to (2,3), to (-1)", 1, {UNI(S1(3))},
     broadcast_reshape_fn, &bc_row, 0},

    {"contiguous", "already contiguous (2,3)", 1, {UNI(S2(2, 3))}, contiguous_fn, &v_none, 0},
    {"contiguous", "transposed view (3,4)^T", 1, {UNI(S2(3, 4))}, contiguous_fn, &v_t, 0},
    {"contiguous", "strided view (2,6)[:, ::2]", 1, {UNI(S2(2, 6))}, contiguous_fn, &v_step2,
     0},
    {"contiguous", "permuted (2,3,4) by (2,0,1)", 1, {UNI(S3(2, 3, 4))}, contiguous_perm_fn,
     NULL, 0},
    {"contiguous", "0-d", 1, {UNI(S0)}, contiguous_fn, &v_none, 0},

    {"permute", "(2,3,4) by (2,0,1)", 1, {UNI(S3(2, 3, 4))}, permute_fn, &pm_201, 0},
    {"permute", "(2,3,4) by (1,2,0)", 1, {UNI(S3(2, 3, 4))}, permute_fn, &pm_120, 0},
    {"permute", "identity (2,3,4)", 1, {UNI(S3(2, 3, 4))}, permute_fn, &pm_id, 0},
    {"permute", "4-D (2,1,3,2) by (3,1,0,2)", 1, {UNI(S4(2, 1, 3, 2))}, permute_fn, &pm_4d, 0},
    {"permute", "transpose (3,4) dims 0,1", 1, {UNI(S2(3, 4))}, permute_fn, &pm_t01, 0},
    {"permute", "transpose (2,3,4) dims 0,-1", 1, {UNI(S3(2, 3, 4))}, permute_fn, &pm_t0m1, 0},
    {"permute", "of a strided view (3,4)[:, ::2]", 1, {UNI(S2(3, 4))}, permute_fn, &pm_slice,
     0},
    {"permute", "permuted view times (4,2,3)", 2, {UNI(S3(2, 3, 4)), UNI(S3(4, 2, 3))},
     permute_then_mul_fn, &pm_201, 0},

    {"slice", "rows 1:3 of (4,3)", 1, {UNI(S2(4, 3))}, slice_fn, &sl_rows, 0},
    {"slice", "0:5:2 along axis 1 of (2,5)", 1, {UNI(S2(2, 5))}, slice_fn, &sl_step2, 0},
    {"slice", "1:6:2 along axis -1 of (2,6)", 1, {UNI(S2(2, 6))}, slice_fn, &sl_lastodd, 0},
    {"slice", "negative start -2: of (2,5)", 1, {UNI(S2(2, 5))}, slice_fn, &sl_negstart, 0},
    {"slice", "negative start and stop -5:-1:2 of (6,)", 1, {UNI(S1(6))}, slice_fn,
     &sl_negboth, 0},
    {"slice", "step 3 of (7,2)", 1, {UNI(S2(7, 2))}, slice_fn, &sl_step3, 0},
    {"slice", "1:4:2 of transposed view (3,5)^T", 1, {UNI(S2(3, 5))}, slice_fn, &sl_t, 0},
    {"slice", "slice of a slice", 1, {UNI(S2(2, 6))}, slice_fn, &sl_twice, 0},
    {"slice", "stop clamped 1:100 of (2,4)", 1, {UNI(S2(2, 4))}, slice_fn, &sl_clamp, 0},
    {"slice", "middle axis 1:5:2 of (2,5,2)", 1, {UNI(S3(2, 5, 2))}, slice_fn, &sl_mid, 0},

    {"slice_embed", "(2,3) into (2,7) at 1:7:2", 1, {UNI(S2(2, 3))}, slice_embed_fn, &se_step2,
     0},
    {"slice_embed", "(3,3) into (5,3) at -3:", 1, {UNI(S2(3, 3))}, slice_embed_fn,
     &se_negstart, 0},
    {"slice_embed", "(2,2) into (2,5) axis -1 at 0:4:2", 1, {UNI(S2(2, 2))}, slice_embed_fn,
     &se_last, 0},
    {"slice_embed", "transposed view (3,2)^T into (2,6) at ::2", 1, {UNI(S2(3, 2))},
     slice_embed_fn, &se_t, 0},
    {"slice_embed", "3-D (2,3,2) into (2,4,2) at 1:4", 1, {UNI(S3(2, 3, 2))}, slice_embed_fn,
     &se_3d, 0},
    {"slice_embed", "squared: (2,3) into (2,7)", 1, {UNI(S2(2, 3))}, slice_embed_square_fn,
     &se_step2, 0},

    {"broadcast_to", "(3,) to (2,3)", 1, {UNI(S1(3))}, broadcast_fn, &bc_row, 0},
    {"broadcast_to", "(3,1) to (3,4)", 1, {UNI(S2(3, 1))}, broadcast_fn, &bc_col, 0},
    {"broadcast_to", "0-d to (2,2)", 1, {UNI(S0)}, broadcast_fn, &bc_0d, 0},
    {"broadcast_to", "(1,3) to (2,2,3)", 1, {UNI(S2(1, 3))}, broadcast_fn, &bc_lead, 0},
    {"broadcast_to", "transposed view (3,1)^T to (4,3)", 1, {UNI(S2(3, 1))}, broadcast_fn,
     &bc_t, 0},
    {"broadcast_to", "identity (2,3)", 1, {UNI(S2(2, 3))}, broadcast_fn, &bc_id, 0},
    {"broadcast_to", "squared: (3,1) to (3,4)", 1, {UNI(S2(3, 1))}, broadcast_square_fn,
     &bc_col, 0},
    {"broadcast_to", "upsample_nearest2d x2, squared: (2,1,2,2)", 1, {UNI(S4(2, 1, 2, 2))},
     upsample_square_fn, &up_2, 0},
    {"broadcast_to", "upsample_nearest2d x3, squared: (1,2,1,2)", 1, {UNI(S4(1, 2, 1, 2))},
     upsample_square_fn, &up_3, 0},

    /* tg_sum_to is a composite (sum with keepdim, then reshape): its cases prove sum. */
    {"sum", "sum_to (2,3,4) to (3,1)", 1, {UNI(S3(2, 3, 4))}, sum_to_fn, &st_31, 0},
    {"sum", "sum_to (2,3) to (3,)", 1, {UNI(S2(2, 3))}, sum_to_fn, &st_row, 0},
    {"sum", "sum_to (2,3) to 0-d", 1, {UNI(S2(2, 3))}, sum_to_fn, &st_0d, 0},
    {"sum", "sum_to (4,3) to (1,3)", 1, {UNI(S2(4, 3))}, sum_to_fn, &st_13, 0},
    {"sum", "sum_to of transposed view (2,3)^T to (2,)", 1, {UNI(S2(2, 3))}, sum_to_fn, &st_t,
     0},
};

/* This file's cases first, then the other families', in the order listed (op_cases.h). Their
 * counts live in other files, so the table holds their addresses. */
static int n_own(void) { return (int)(sizeof cases / sizeof cases[0]); }

static const struct {
    const op_case *cases;
    const int *count;
} families[] = {
    {op_cases_shape, &op_cases_shape_count},
    {op_cases_elementwise, &op_cases_elementwise_count},
    {op_cases_conv, &op_cases_conv_count},
    {op_cases_norm, &op_cases_norm_count},
    {op_cases_attention, &op_cases_attention_count},
    {op_cases_basic, &op_cases_basic_count},
    {op_cases_sparse, &op_cases_sparse_count},
    {op_cases_binary, &op_cases_binary_count},
};
enum { N_FAMILIES = sizeof families / sizeof families[0] };

int op_case_count(void) {
    int n = n_own();
    for (int f = 0; f < N_FAMILIES; f++) n += *families[f].count;
    return n;
}

const op_case *op_case_at(int i) {
    if (i < 0 || i >= op_case_count()) return NULL;
    if (i < n_own()) return &cases[i];
    i -= n_own();
    for (int f = 0; f < N_FAMILIES; i -= *families[f].count, f++)
        if (i < *families[f].count) return &families[f].cases[i];
    return NULL;
}

uint64_t op_case_seed(int i) { return UINT64_C(0x7a9e0000) + (uint64_t)i; }

/* ---- making inputs ---- */

int op_case_make_inputs(const op_case *c, tg_tape *t, tg_dtype dtype, tg_rng *rng,
                        tg_tensor **inputs) {
    if (!c || !t || !rng || !inputs || c->n_inputs < 1 || c->n_inputs > OP_CASE_MAX_INPUTS)
        return -1;
    for (int i = 0; i < c->n_inputs; i++) {
        const op_case_input *in = &c->in[i];
        double vals[OP_CASE_MAX_NUMEL];
        tg_tensor *x = tg_zeros(t, dtype, in->ndim, in->shape);
        if (!x) return -1;
        int64_t n = tg_tensor_numel(x);
        if (n > OP_CASE_MAX_NUMEL) return -1;
        for (int64_t k = 0; k < n; k++) {
            double v = in->lo + (in->hi - in->lo) * tg_rng_uniform(rng);
            if (in->domain == OP_CASE_AWAY_FROM_ZERO && (tg_rng_next_u32(rng) & 1u)) v = -v;
            vals[k] = v;
        }
        if (tg_tensor_copy_in(x, TG_F64, vals) != TG_OK) return -1;
        inputs[i] = x;
    }
    return c->n_inputs;
}

/* ---- which ops a case records ---- */

/* True when a DOT line is an op node (id n<k>) whose label's first line has the op name as a
 * whole space-separated word: "  n3 [label=\"#3 slice axis=0 1:3:1\n(2, 3) f64\"];". Matching a
 * word, not a prefix, keeps slice apart from slice_embed and survives decorations such as the
 * "#3" id; test_registry checks this reading against the tape's own node list. */
static bool line_names_op(const char *line, const char *name) {
    if (strncmp(line, "  n", 3) != 0) return false;
    const char *p = strstr(line, "[label=\"");
    if (!p) return false;
    p += strlen("[label=\"");
    size_t len = strlen(name);
    /* Words end at a space, the label's escaped line break (\n) or its closing quote. */
    while (*p && *p != '"' && *p != '\\') {
        const char *w = p;
        while (*p && *p != ' ' && *p != '"' && *p != '\\') p++;
        if ((size_t)(p - w) == len && strncmp(w, name, len) == 0) return true;
        while (*p == ' ') p++;
    }
    return false;
}

int op_case_records_each(const op_case *c, int n_names, const char *const *names,
                         bool *recorded) {
    if (!c || n_names < 0 || (n_names > 0 && (!names || !recorded))) return -1;
    for (int k = 0; k < n_names; k++)
        if (!names[k]) return -1;
    tg_tape *t = tg_tape_new();
    FILE *f = tmpfile();
    int result = -1;
    tg_rng rng;
    tg_tensor *in[OP_CASE_MAX_INPUTS];
    tg_tensor *out[TG_GRADCHECK_MAX_OUTPUTS] = {NULL};
    tg_rng_seed(&rng, 1);
    if (!t || !f || op_case_make_inputs(c, t, TG_F64, &rng, in) < 0) goto done;
    for (int i = 0; i < c->n_inputs; i++) tg_tensor_set_requires_grad(in[i], true);
    if (c->fn(t, in, out, c->ctx) <= 0 || tg_tape_status(t) != TG_OK) goto done;
    if (tg_tape_write_dot(t, f, NULL) != TG_OK) goto done;
    rewind(f);
    result = 0;
    for (int k = 0; k < n_names; k++) recorded[k] = false;
    char line[1024];
    while (fgets(line, sizeof line, f))
        for (int k = 0; k < n_names; k++)
            if (!recorded[k] && line_names_op(line, names[k])) recorded[k] = true;
done:
    if (f) fclose(f);
    tg_tape_free(t);
    return result;
}

int op_case_records(const op_case *c, const char *op_name) {
    bool seen = false;
    if (!op_name) return -1;
    return op_case_records_each(c, 1, &op_name, &seen) < 0 ? -1 : seen;
}

/* op_cases_basic.c: the gradient-proof cases of the small ops a model reaches for between the
 * big ones: cast and detach; the axis views squeeze, unsqueeze and select; split and chunk,
 * composites filed under slice, the op they record; argmax and argmin; comparisons with a
 * number, where_scalar and masked_fill; gather and scatter_add. Appended to op_cases.c's table
 * (op_cases.h). Public API only, like op_cases.c.
 *
 * The ops without a derivative (argmax, argmin, the comparisons) are proven as the tensor
 * comparisons are: inside a product whose other factor carries the gradient, sampled away from
 * the points where their value jumps, so finite differences see them constant.
 *
 * The view ops are linear, so their "squared" cases add curvature for the second-order check
 * (the vector-Jacobian product's derivative in x is then non-zero). */
#include <stdint.h>

#include "op_cases.h"

static int one(tg_tensor **out, tg_tensor *y) {
    out[0] = y;
    return y ? 1 : -1;
}

typedef enum view_kind { V_NONE, V_T, V_STEP2 } view_kind;

static tg_tensor *view_of(tg_tape *t, tg_tensor *x, view_kind v) {
    if (v == V_T) return tg_transpose(t, x, -1, -2);
    if (v == V_STEP2) return tg_slice(t, x, -1, 0, INT64_MAX, 2);
    return x;
}

static int finish(tg_tape *t, tg_tensor **out, tg_tensor *y, bool square) {
    return one(out, square ? tg_mul(t, y, y) : y);
}

/* x computed again with recording off: equal values, but a constant for differentiation. */
static tg_tensor *constant_copy(tg_tape *t, tg_tensor *x) {
    bool was = tg_tape_set_grad_enabled(t, false);
    tg_tensor *c = tg_mul_scalar(t, x, 1.0);
    tg_tape_set_grad_enabled(t, was);
    return c;
}

/* ---- cast ---- */
typedef struct cast_ctx {
    bool round_trip; /* to the other dtype and back, the rounding error added as a constant */
    view_kind v;
    bool square;
} cast_ctx;

/* The plain case casts to f64: in the f64 runs that is the same-dtype view, in the f32 run a
 * real conversion whose gradient is cast back to f32. A cast from f64 to f32 cannot face
 * central differences in f64 (its rounding is larger than the step), so the round trip adds
 * x - cast(cast(x)) back as a constant: the value is x exactly, whose finite differences are
 * the identity, and the analytic gradient is the one through both casts alone. */
static int cast_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const cast_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v);
    if (!c->round_trip) return finish(t, out, tg_cast(t, x, TG_F64), c->square);
    tg_dtype own = tg_tensor_dtype(in[0]), other = own == TG_F64 ? TG_F32 : TG_F64;
    tg_tensor *trip = tg_cast(t, tg_cast(t, x, other), own);
    bool was = tg_tape_set_grad_enabled(t, false);
    tg_tensor *err = tg_sub(t, x, tg_cast(t, tg_cast(t, x, other), own));
    tg_tape_set_grad_enabled(t, was);
    return finish(t, out, tg_add(t, trip, err), c->square);
}

static cast_ctx ca_p = {false, V_NONE, false}, ca_t = {false, V_T, false},
                ca_s = {false, V_STEP2, false}, ca_sq = {false, V_NONE, true},
                ca_trip = {true, V_NONE, false}, ca_trip_t = {true, V_T, true};

/* ---- detach ---- */
typedef struct detach_ctx {
    bool product; /* x * detach(x) - x^2/2 (a constant): value x^2/2, gradient x only if blocked */
    view_kind v;
    bool square;
} detach_ctx;

/* x - detach(x) + c with c = x unrecorded: the value is x, so finite differences give the
 * identity, which the analytic gradient matches only if nothing flows through detach (it would
 * give 0 otherwise). The product form checks the same inside a product; its second derivative
 * in x is 1 by differences but 0 through detach's constant, so it is first order only. */
static int detach_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const detach_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v);
    tg_tensor *k = constant_copy(t, x);
    if (c->product) {
        bool was = tg_tape_set_grad_enabled(t, false);
        tg_tensor *half_sq = tg_mul_scalar(t, tg_mul(t, k, k), 0.5);
        tg_tape_set_grad_enabled(t, was);
        return one(out, tg_sub(t, tg_mul(t, x, tg_detach(t, x)), half_sq));
    }
    return finish(t, out, tg_add(t, tg_sub(t, x, tg_detach(t, x)), k), c->square);
}

static detach_ctx de_p = {false, V_NONE, false}, de_sq = {false, V_NONE, true},
                  de_t = {false, V_T, true}, de_prod = {true, V_NONE, false};

/* ---- squeeze, unsqueeze, select ---- */
typedef enum axis_op { A_SQUEEZE, A_SQUEEZE_ALL, A_UNSQUEEZE, A_SELECT } axis_op;

typedef struct axis_ctx {
    axis_op op;
    int axis;
    int64_t index; /* select */
    view_kind v;
    bool square;
} axis_ctx;

static int axis_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const axis_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v), *y = NULL;
    switch (c->op) {
    case A_SQUEEZE: y = tg_squeeze(t, x, c->axis); break;
    case A_SQUEEZE_ALL: y = tg_squeeze_all(t, x); break;
    case A_UNSQUEEZE: y = tg_unsqueeze(t, x, c->axis); break;
    case A_SELECT: y = tg_select(t, x, c->axis, c->index); break;
    }
    return finish(t, out, y, c->square);
}

static axis_ctx sq_mid = {A_SQUEEZE, 1, 0, V_NONE, false},
                sq_neg = {A_SQUEEZE, -2, 0, V_NONE, false},
                sq_t = {A_SQUEEZE, 0, 0, V_T, false}, sq_all = {A_SQUEEZE_ALL, 0, 0, V_NONE, false},
                sq_all_t = {A_SQUEEZE_ALL, 0, 0, V_T, true},
                sq_sq = {A_SQUEEZE, 0, 0, V_NONE, true};
static axis_ctx us_0 = {A_UNSQUEEZE, 0, 0, V_NONE, false},
                us_neg = {A_UNSQUEEZE, -1, 0, V_NONE, false},
                us_t = {A_UNSQUEEZE, 1, 0, V_T, false},
                us_s = {A_UNSQUEEZE, -2, 0, V_STEP2, false},
                us_0d = {A_UNSQUEEZE, 0, 0, V_NONE, false},
                us_sq = {A_UNSQUEEZE, 2, 0, V_NONE, true};
static axis_ctx se_row = {A_SELECT, 0, 1, V_NONE, false},
                se_last = {A_SELECT, -1, -1, V_NONE, false},
                se_mid = {A_SELECT, 1, 2, V_NONE, false}, se_t = {A_SELECT, 0, 2, V_T, false},
                se_s = {A_SELECT, 1, 1, V_STEP2, false}, se_1d = {A_SELECT, 0, 3, V_NONE, false},
                se_sq = {A_SELECT, -2, 0, V_NONE, true};

/* ---- split, chunk (slice views) ---- */
typedef struct split_ctx {
    int axis;
    int n;
    int64_t sizes[4]; /* split; all zero: chunk into n */
    view_kind v;
    bool gru; /* combine three pieces as a GRU gate does: a * b + (1 - a) * c */
} split_ctx;

static int split_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const split_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v), *p[4];
    tg_status s = c->sizes[0] || c->sizes[1] ? tg_split(t, x, c->axis, c->sizes, c->n, p)
                                             : tg_chunk(t, x, c->axis, c->n, p);
    if (s != TG_OK) return -1;
    if (c->gru)
        return one(out, tg_add(t, tg_mul(t, p[0], p[1]),
                               tg_mul(t, tg_rsub_scalar(t, p[0], 1.0), p[2])));
    for (int k = 0; k < c->n; k++) out[k] = p[k];
    return c->n;
}

static split_ctx ch_3 = {-1, 3, {0}, V_NONE, false}, ch_rows = {0, 2, {0}, V_NONE, false},
                 ch_t = {1, 2, {0}, V_T, false}, ch_gru = {1, 3, {0}, V_NONE, true},
                 ch_one = {0, 1, {0}, V_NONE, false},
                 sp_3 = {1, 3, {2, 1, 3}, V_NONE, false}, sp_0 = {0, 3, {1, 3, 0}, V_NONE, false},
                 sp_s = {-1, 2, {1, 2}, V_STEP2, false}, sp_gru = {0, 3, {2, 2, 2}, V_T, true};

/* ---- argmax, argmin ---- */
typedef struct arg_ctx {
    bool is_max;
    int axis;
    bool keepdim;
    view_kind v;
} arg_ctx;

/* x * (1 + argmax(x)): the indices scale each element, so a wrong index gives a wrong gradient;
 * without keepdim the indices broadcast along the reduced axis's place from the right. */
static int arg_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const arg_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v);
    tg_tensor *i = c->is_max ? tg_argmax(t, x, c->axis, c->keepdim)
                             : tg_argmin(t, x, c->axis, c->keepdim);
    return one(out, tg_mul(t, x, tg_add_scalar(t, i, 1.0)));
}

static arg_ctx am_1k = {true, 1, true, V_NONE}, am_0 = {true, 0, false, V_NONE},
               am_t = {true, -1, true, V_T}, an_1k = {false, 1, true, V_NONE},
               an_s = {false, -1, true, V_STEP2}, an_0 = {false, 0, false, V_NONE};

/* ---- comparisons with a number, where_scalar, masked_fill ---- */
typedef enum cmp_kind { C_GT, C_GE, C_LT, C_LE, C_EQ } cmp_kind;

typedef struct cmp_ctx {
    cmp_kind kind;
    double c;
    view_kind v;
} cmp_ctx;

static tg_tensor *compare(tg_tape *t, tg_tensor *x, cmp_kind k, double c) {
    switch (k) {
    case C_GT: return tg_gt_scalar(t, x, c);
    case C_GE: return tg_ge_scalar(t, x, c);
    case C_LT: return tg_lt_scalar(t, x, c);
    case C_LE: return tg_le_scalar(t, x, c);
    case C_EQ: break;
    }
    /* relu(x) is exactly 0 wherever x < 0: a mask with both values on random inputs */
    return tg_eq_scalar(t, tg_relu(t, x), c);
}

/* x * (mask + 0.5) * y: the mask picks each element's slope. */
static int cmp_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const cmp_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v);
    tg_tensor *m = compare(t, x, c->kind, c->c);
    return one(out, tg_mul(t, tg_mul(t, x, tg_add_scalar(t, m, 0.5)), in[1]));
}

#define CMP(k, c, v) (&(cmp_ctx){k, c, v})

typedef struct select_ctx {
    bool fill;     /* masked_fill(x, mask, c); else where_scalar(mask, x, c) */
    double c;
    bool mask_rows; /* the mask is (2,1), broadcast over x's columns */
    view_kind v;
    bool square;
} select_ctx;

/* The mask comes from the second input's sign (a constant); x is the first input. */
static int select_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const select_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v);
    tg_tensor *mask = tg_gt_scalar(t, in[1], 0.0);
    tg_tensor *y = c->fill ? tg_masked_fill(t, x, mask, c->c) : tg_where_scalar(t, mask, x, c->c);
    return finish(t, out, y, c->square);
}

static select_ctx ws_p = {false, -1.5, false, V_NONE, false},
                  ws_rows = {false, 0.25, true, V_NONE, false},
                  ws_t = {false, 2.0, false, V_T, true}, ws_sq = {false, 0.0, false, V_NONE, true},
                  mf_p = {true, -1.5, false, V_NONE, false},
                  mf_rows = {true, 3.0, true, V_NONE, false},
                  mf_s = {true, 0.5, false, V_STEP2, true}, mf_sq = {true, 0.0, false, V_NONE, true};

/* ---- gather, scatter_add ---- */
typedef struct gather_ctx {
    bool scatter;
    int axis;
    int64_t size; /* scatter_add: the size along axis */
    int ndim;
    int64_t shape[TG_MAX_DIMS]; /* of the index */
    double idx[12];
    view_kind v;
    bool square;
} gather_ctx;

static int gather_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const gather_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v);
    tg_tensor *index = tg_from_data(t, TG_F64, c->ndim, c->shape, c->idx);
    tg_tensor *y = c->scatter ? tg_scatter_add(t, x, c->axis, index, c->size)
                              : tg_gather(t, x, c->axis, index);
    return finish(t, out, y, c->square);
}

/* gather of the rows' argmax: the largest of each row, through an index of the input's dtype */
static int gather_argmax_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    tg_tensor *best = tg_gather(t, in[0], 1, tg_argmax(t, in[0], 1, true));
    return one(out, tg_mul(t, best, best));
}

static gather_ctx ga_cols = {false, 1, 0, 2, {3, 2}, {3, 0, 1, 1, 2, 0}, V_NONE, false},
                  ga_rows = {false, 0, 0, 2, {4, 2}, {1, 0, 2, 2, 0, 0, 1, 2}, V_NONE, false},
                  ga_t = {false, -1, 0, 2, {2, 3}, {0, 2, 2, 1, 1, 0}, V_T, false},
                  ga_s = {false, 1, 0, 2, {2, 1}, {2, 0}, V_STEP2, false},
                  ga_3d = {false, 1, 0, 3, {2, 1, 2}, {1, 0, 0, 1}, V_NONE, false},
                  ga_sq = {false, 1, 0, 2, {3, 3}, {0, 0, 3, 2, 1, 1, 3, 3, 0}, V_NONE, true};
static gather_ctx sa_cols = {true, 1, 4, 2, {3, 2}, {3, 0, 1, 1, 2, 0}, V_NONE, false},
                  sa_rows = {true, 0, 2, 2, {3, 2}, {1, 0, 1, 1, 0, 0}, V_NONE, false},
                  sa_t = {true, -1, 3, 2, {3, 2}, {0, 2, 2, 2, 1, 0}, V_T, false},
                  sa_sq = {true, 1, 3, 2, {2, 3}, {0, 0, 2, 1, 2, 1}, V_NONE, true};

/* ---- the table ---- */
/* clang-format off */
#define S0 0, {0}
#define S1(a) 1, {a}
#define S2(a, b) 2, {a, b}
#define S3(a, b, c) 3, {a, b, c}
#define S4(a, b, c, d) 4, {a, b, c, d}
#define UNI(shape) {shape, OP_CASE_UNIFORM, -2.0, 2.0}
#define AWAY(shape) {shape, OP_CASE_AWAY_FROM_ZERO, 0.2, 2.0}

const op_case op_cases_basic[] = {
    {"cast", "to f64 (2,3)", 1, {UNI(S2(2, 3))}, cast_fn, &ca_p, 0},
    {"cast", "to f64, transposed view (3,2)^T", 1, {UNI(S2(3, 2))}, cast_fn, &ca_t, 0},
    {"cast", "to f64, strided view (2,6)[:, ::2]", 1, {UNI(S2(2, 6))}, cast_fn, &ca_s, 0},
    {"cast", "squared: to f64 (3,2)", 1, {UNI(S2(3, 2))}, cast_fn, &ca_sq, 0},
    {"cast", "round trip through the other dtype (2,3)", 1, {UNI(S2(2, 3))}, cast_fn, &ca_trip,
     OP_CASE_FIRST_ORDER_ONLY},
    {"cast", "squared round trip of a transposed view (3,2)^T", 1, {UNI(S2(3, 2))}, cast_fn,
     &ca_trip_t, OP_CASE_FIRST_ORDER_ONLY},

    {"detach", "x - detach(x) + x unrecorded", 1, {UNI(S2(2, 3))}, detach_fn, &de_p, 0},
    {"detach", "squared: (x - detach(x) + x unrecorded)^2", 1, {UNI(S2(3, 2))}, detach_fn,
     &de_sq, 0},
    {"detach", "squared, transposed view (3,2)^T", 1, {UNI(S2(3, 2))}, detach_fn, &de_t, 0},
    {"detach", "x * detach(x) - x^2/2 unrecorded", 1, {UNI(S2(2, 3))}, detach_fn, &de_prod,
     OP_CASE_FIRST_ORDER_ONLY},

    {"squeeze", "axis 1 of (2,1,3)", 1, {UNI(S3(2, 1, 3))}, axis_fn, &sq_mid, 0},
    {"squeeze", "axis -2 of (3,1,2)", 1, {UNI(S3(3, 1, 2))}, axis_fn, &sq_neg, 0},
    {"squeeze", "axis 0 of a transposed view (3,1)^T", 1, {UNI(S2(3, 1))}, axis_fn, &sq_t, 0},
    {"squeeze", "squeeze_all of (1,2,1,3)", 1, {UNI(S4(1, 2, 1, 3))}, axis_fn, &sq_all, 0},
    {"squeeze", "squared squeeze_all of a transposed view (3,1)^T", 1, {UNI(S2(3, 1))},
     axis_fn, &sq_all_t, 0},
    {"squeeze", "squared: axis 0 of (1,4)", 1, {UNI(S2(1, 4))}, axis_fn, &sq_sq, 0},

    {"unsqueeze", "axis 0 of (2,3)", 1, {UNI(S2(2, 3))}, axis_fn, &us_0, 0},
    {"unsqueeze", "axis -1 (appended) of (2,3)", 1, {UNI(S2(2, 3))}, axis_fn, &us_neg, 0},
    {"unsqueeze", "axis 1 of a transposed view (3,2)^T", 1, {UNI(S2(3, 2))}, axis_fn, &us_t,
     0},
    {"unsqueeze", "axis -2 of a strided view (2,6)[:, ::2]", 1, {UNI(S2(2, 6))}, axis_fn,
     &us_s, 0},
    {"unsqueeze", "0-d to (1,)", 1, {UNI(S0)}, axis_fn, &us_0d, 0},
    {"unsqueeze", "squared: axis 2 of (2,3)", 1, {UNI(S2(2, 3))}, axis_fn, &us_sq, 0},

    {"select", "row 1 of (3,4)", 1, {UNI(S2(3, 4))}, axis_fn, &se_row, 0},
    {"select", "index -1 of axis -1 of (2,3)", 1, {UNI(S2(2, 3))}, axis_fn, &se_last, 0},
    {"select", "index 2 of the middle axis of (2,3,2)", 1, {UNI(S3(2, 3, 2))}, axis_fn,
     &se_mid, 0},
    {"select", "row 2 of a transposed view (4,3)^T", 1, {UNI(S2(4, 3))}, axis_fn, &se_t, 0},
    {"select", "column 1 of a strided view (2,6)[:, ::2]", 1, {UNI(S2(2, 6))}, axis_fn, &se_s,
     0},
    {"select", "1-D (5,) to 0-d at 3", 1, {UNI(S1(5))}, axis_fn, &se_1d, 0},
    {"select", "squared: index 0 of axis -2 of (2,3)", 1, {UNI(S2(2, 3))}, axis_fn, &se_sq, 0},

    {"slice", "chunk (2,6) into 3 along -1", 1, {UNI(S2(2, 6))}, split_fn, &ch_3, 0},
    {"slice", "chunk (4,3) into 2 along 0", 1, {UNI(S2(4, 3))}, split_fn, &ch_rows, 0},
    {"slice", "chunk a transposed view (4,2)^T into 2 along 1", 1, {UNI(S2(4, 2))}, split_fn,
     &ch_t, 0},
    {"slice", "chunk (2,9) into GRU gates a*b + (1-a)*c", 1, {UNI(S2(2, 9))}, split_fn, &ch_gru,
     0},
    {"slice", "chunk into 1 piece (the whole)", 1, {UNI(S2(2, 3))}, split_fn, &ch_one, 0},
    {"slice", "split (2,6) into 2,1,3 along 1", 1, {UNI(S2(2, 6))}, split_fn, &sp_3, 0},
    {"slice", "split (4,2) into 1,3,0 along 0 (an empty piece)", 1, {UNI(S2(4, 2))}, split_fn,
     &sp_0, 0},
    {"slice", "split a strided view (2,6)[:, ::2] into 1,2", 1, {UNI(S2(2, 6))}, split_fn,
     &sp_s, 0},
    {"slice", "split a transposed view (2,6)^T into GRU gates 2,2,2", 1, {UNI(S2(2, 6))},
     split_fn, &sp_gru, 0},

    {"argmax", "axis 1 of (3,4), keepdim", 1, {UNI(S2(3, 4))}, arg_fn, &am_1k, 0},
    {"argmax", "axis 0 of (3,3)", 1, {UNI(S2(3, 3))}, arg_fn, &am_0, 0},
    {"argmax", "axis -1 of a transposed view (4,3)^T, keepdim", 1, {UNI(S2(4, 3))}, arg_fn,
     &am_t, 0},
    {"argmin", "axis 1 of (2,5), keepdim", 1, {UNI(S2(2, 5))}, arg_fn, &an_1k, 0},
    {"argmin", "axis -1 of a strided view (3,6)[:, ::2], keepdim", 1, {UNI(S2(3, 6))}, arg_fn,
     &an_s, 0},
    {"argmin", "axis 0 of (4,4)", 1, {UNI(S2(4, 4))}, arg_fn, &an_0, 0},

    {"gt_scalar", "x > 0 (2,3)", 2, {AWAY(S2(2, 3)), UNI(S2(2, 3))}, cmp_fn,
     CMP(C_GT, 0.0, V_NONE), 0},
    {"gt_scalar", "x > 0, transposed view (3,2)^T", 2, {AWAY(S2(3, 2)), UNI(S2(2, 3))}, cmp_fn,
     CMP(C_GT, 0.0, V_T), 0},
    {"ge_scalar", "x >= 0 (2,3)", 2, {AWAY(S2(2, 3)), UNI(S2(2, 3))}, cmp_fn,
     CMP(C_GE, 0.0, V_NONE), 0},
    {"ge_scalar", "x >= 0, strided view (2,6)[:, ::2]", 2, {AWAY(S2(2, 6)), UNI(S2(2, 3))},
     cmp_fn, CMP(C_GE, 0.0, V_STEP2), 0},
    {"lt_scalar", "x < 0 (2,3)", 2, {AWAY(S2(2, 3)), UNI(S2(2, 3))}, cmp_fn,
     CMP(C_LT, 0.0, V_NONE), 0},
    {"lt_scalar", "x < 0, transposed view (3,2)^T", 2, {AWAY(S2(3, 2)), UNI(S2(2, 3))}, cmp_fn,
     CMP(C_LT, 0.0, V_T), 0},
    {"le_scalar", "x <= 0 (2,3)", 2, {AWAY(S2(2, 3)), UNI(S2(2, 3))}, cmp_fn,
     CMP(C_LE, 0.0, V_NONE), 0},
    {"le_scalar", "x <= 0, strided view (2,6)[:, ::2]", 2, {AWAY(S2(2, 6)), UNI(S2(2, 3))},
     cmp_fn, CMP(C_LE, 0.0, V_STEP2), 0},
    {"eq_scalar", "relu(x) == 0 (2,3)", 2, {AWAY(S2(2, 3)), UNI(S2(2, 3))}, cmp_fn,
     CMP(C_EQ, 0.0, V_NONE), 0},
    {"eq_scalar", "relu(x) == 0, transposed view (3,2)^T", 2, {AWAY(S2(3, 2)), UNI(S2(2, 3))},
     cmp_fn, CMP(C_EQ, 0.0, V_T), 0},

    {"where_scalar", "(2,3) else -1.5", 2, {UNI(S2(2, 3)), AWAY(S2(2, 3))}, select_fn, &ws_p,
     0},
    {"where_scalar", "mask (2,1) broadcast over (2,3)", 2, {UNI(S2(2, 3)), AWAY(S2(2, 1))},
     select_fn, &ws_rows, 0},
    {"where_scalar", "squared, transposed view (3,2)^T", 2, {UNI(S2(3, 2)), AWAY(S2(2, 3))},
     select_fn, &ws_t, 0},
    {"where_scalar", "x (3,) broadcast by a mask (2,3), squared", 2,
     {UNI(S1(3)), AWAY(S2(2, 3))}, select_fn, &ws_sq, 0},
    {"masked_fill", "(2,3) with -1.5", 2, {UNI(S2(2, 3)), AWAY(S2(2, 3))}, select_fn, &mf_p, 0},
    {"masked_fill", "mask (2,1) broadcast over (2,3)", 2, {UNI(S2(2, 3)), AWAY(S2(2, 1))},
     select_fn, &mf_rows, 0},
    {"masked_fill", "squared, strided view (2,6)[:, ::2]", 2, {UNI(S2(2, 6)), AWAY(S2(2, 3))},
     select_fn, &mf_s, 0},
    {"masked_fill", "x (3,) broadcast by a mask (2,3), squared", 2,
     {UNI(S1(3)), AWAY(S2(2, 3))}, select_fn, &mf_sq, 0},

    {"gather", "columns of (3,4) by a (3,2) index", 1, {UNI(S2(3, 4))}, gather_fn, &ga_cols, 0},
    {"gather", "rows of (3,2) by a (4,2) index, repeats", 1, {UNI(S2(3, 2))}, gather_fn,
     &ga_rows, 0},
    {"gather", "axis -1 of a transposed view (4,2)^T", 1, {UNI(S2(4, 2))}, gather_fn, &ga_t, 0},
    {"gather", "a strided view (2,6)[:, ::2], one per row", 1, {UNI(S2(2, 6))}, gather_fn,
     &ga_s, 0},
    {"gather", "middle axis of (2,3,2)", 1, {UNI(S3(2, 3, 2))}, gather_fn, &ga_3d, 0},
    {"gather", "squared: (3,4) by a (3,3) index", 1, {UNI(S2(3, 4))}, gather_fn, &ga_sq, 0},
    {"gather", "each row's largest, by argmax", 1, {UNI(S2(3, 4))}, gather_argmax_fn, NULL, 0},
    {"scatter_add", "(3,2) into 4 columns", 1, {UNI(S2(3, 2))}, gather_fn, &sa_cols, 0},
    {"scatter_add", "(3,2) into 2 rows, repeats", 1, {UNI(S2(3, 2))}, gather_fn, &sa_rows, 0},
    {"scatter_add", "a transposed view (2,3)^T into 3 along -1", 1, {UNI(S2(2, 3))}, gather_fn,
     &sa_t, 0},
    {"scatter_add", "squared: (2,3) into 3 columns", 1, {UNI(S2(2, 3))}, gather_fn, &sa_sq, 0},
};
/* clang-format on */

const int op_cases_basic_count = (int)(sizeof op_cases_basic / sizeof op_cases_basic[0]);

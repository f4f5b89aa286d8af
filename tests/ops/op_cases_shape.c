/* op_cases_shape.c: the gradient-proof cases of the joining, padding and indexing ops (concat,
 * pad, index_select, index_add), of the composites built on them (stack, embedding), and of
 * linear, the fully connected layer's one op. Appended to op_cases.c's table (op_cases.h).
 *
 * Every one of these ops is linear in its input, so a case's second-order check proves that the
 * backward rule is itself recorded (the vector-Jacobian product's derivative in v is the
 * Jacobian); the "squared" cases add curvature so the second derivative in x is non-zero too.
 * Public API only, like op_cases.c. */
#include <stdint.h>

#include "op_cases.h"

static int one(tg_tensor **out, tg_tensor *y) {
    out[0] = y;
    return y ? 1 : -1;
}

/* How an input is seen before the op uses it. */
typedef enum view_kind {
    V_NONE,
    V_T,     /* the last two dimensions swapped */
    V_STEP2, /* every other element of the last dimension */
    V_BCAST  /* broadcast to the shape in the case's ctx (a stride-0 view) */
} view_kind;

static tg_tensor *view_of(tg_tape *t, tg_tensor *x, view_kind v, int ndim, const int64_t *shape) {
    switch (v) {
    case V_T:
        return tg_transpose(t, x, -1, -2);
    case V_STEP2:
        return tg_slice(t, x, -1, 0, INT64_MAX, 2);
    case V_BCAST:
        return tg_broadcast_to(t, x, ndim, shape);
    case V_NONE:
        break;
    }
    return x;
}

/* y * y when asked: a curved function around a linear op, for the second-order check. */
static int finish(tg_tape *t, tg_tensor **out, tg_tensor *y, bool square) {
    return one(out, square ? tg_mul(t, y, y) : y);
}

/* ---- concat, stack ---- */
typedef struct concat_ctx {
    int axis;
    bool stack;
    /* inputs used, by index into the case's inputs, so one leaf can appear twice */
    int n;
    int use[4];
    view_kind v[4];
    int bc_ndim; /* the shape for V_BCAST */
    int64_t bc_shape[TG_MAX_DIMS];
    bool square;
} concat_ctx;

static int concat_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const concat_ctx *c = ctx;
    tg_tensor *xs[4];
    for (int i = 0; i < c->n; i++)
        xs[i] = view_of(t, in[c->use[i]], c->v[i], c->bc_ndim, c->bc_shape);
    tg_tensor *y = c->stack ? tg_stack(t, c->n, xs, c->axis) : tg_concat(t, c->n, xs, c->axis);
    return finish(t, out, y, c->square);
}

static concat_ctx cc_a1 = {1, false, 2, {0, 1}, {V_NONE, V_NONE}, 0, {0}, false},
                  cc_a0x3 = {0, false, 3, {0, 1, 2}, {V_NONE, V_NONE, V_NONE}, 0, {0}, false},
                  cc_neg = {-1, false, 2, {0, 1}, {V_NONE, V_NONE}, 0, {0}, false},
                  cc_t = {1, false, 2, {0, 1}, {V_T, V_NONE}, 0, {0}, false},
                  cc_s = {0, false, 2, {0, 1}, {V_STEP2, V_NONE}, 0, {0}, false},
                  cc_bc = {0, false, 2, {0, 1}, {V_BCAST, V_NONE}, 2, {2, 3}, false},
                  cc_twice = {1, false, 3, {0, 1, 0}, {V_NONE, V_NONE, V_NONE}, 0, {0}, false},
                  cc_one = {0, false, 1, {0}, {V_NONE}, 0, {0}, false},
                  cc_sq = {0, false, 2, {0, 1}, {V_NONE, V_NONE}, 0, {0}, true},
                  sk_0 = {0, true, 3, {0, 1, 2}, {V_NONE, V_NONE, V_NONE}, 0, {0}, false},
                  sk_last = {-1, true, 2, {0, 1}, {V_NONE, V_NONE}, 0, {0}, false},
                  sk_t = {1, true, 2, {0, 1}, {V_T, V_T}, 0, {0}, false},
                  sk_sq = {1, true, 2, {0, 1}, {V_NONE, V_NONE}, 0, {0}, true};

/* Six one-row slices of one (6,2) input joined in reverse order along axis 1: a concat node
 * with more inputs than a node keeps inline, each a view into the same leaf. */
static int concat_many_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    tg_tensor *rows[6];
    for (int i = 0; i < 6; i++) rows[i] = tg_slice(t, in[0], 0, 5 - i, 6 - i, 1);
    return one(out, tg_concat(t, 6, rows, 1));
}

/* ---- pad ---- */
typedef struct pad_ctx {
    int n_pads;
    int64_t pads[2 * TG_MAX_DIMS];
    double value;
    view_kind v;
    bool square;
} pad_ctx;

static int pad_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const pad_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v, 0, NULL);
    return finish(t, out, tg_pad(t, x, c->n_pads, c->pads, c->value), c->square);
}

static pad_ctx pd_2d = {4, {1, 0, 2, 1}, 0.0, V_NONE, false},
               pd_3d = {6, {1, 1, 0, 2, 1, 0}, 1.5, V_NONE, false},
               pd_last = {4, {0, 0, 0, 2}, -2.0, V_NONE, false},
               pd_t = {4, {1, 1, 1, 1}, 0.0, V_T, false},
               pd_s = {4, {0, 1, 2, 0}, 0.5, V_STEP2, false},
               pd_none = {4, {0, 0, 0, 0}, 3.0, V_NONE, false},
               pd_1d = {2, {2, 3}, 0.0, V_NONE, false}, pd_0d = {0, {0}, 0.0, V_NONE, false},
               pd_sq = {4, {1, 2, 0, 1}, 0.25, V_NONE, true};

/* ---- index_select, index_add, embedding ---- */
typedef struct index_ctx {
    int axis;
    int64_t size; /* index_add: the size along axis */
    int64_t n;
    int64_t idx[8];
    view_kind v;
    int bc_ndim;
    int64_t bc_shape[TG_MAX_DIMS];
    bool square;
} index_ctx;

static int index_select_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const index_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v, c->bc_ndim, c->bc_shape);
    return finish(t, out, tg_index_select(t, x, c->axis, c->n, c->idx), c->square);
}

static int index_add_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const index_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->v, c->bc_ndim, c->bc_shape);
    return finish(t, out, tg_index_add(t, x, c->axis, c->size, c->n, c->idx), c->square);
}

static index_ctx is_rows = {0, 0, 3, {2, 0, 2}, V_NONE, 0, {0}, false},
                 is_cols = {1, 0, 2, {3, 1}, V_NONE, 0, {0}, false},
                 is_3d = {-1, 0, 5, {0, 3, 3, 1, 2}, V_NONE, 0, {0}, false},
                 is_mid = {1, 0, 3, {1, 1, 1}, V_NONE, 0, {0}, false},
                 is_t = {0, 0, 4, {1, 2, 0, 1}, V_T, 0, {0}, false},
                 is_bc = {1, 0, 3, {2, 0, 2}, V_BCAST, 2, {2, 3}, false},
                 is_1d = {0, 0, 3, {4, 0, 4}, V_NONE, 0, {0}, false},
                 is_sq = {0, 0, 4, {1, 1, 0, 2}, V_NONE, 0, {0}, true};

static index_ctx ia_rows = {0, 5, 3, {4, 0, 4}, V_NONE, 0, {0}, false},
                 ia_cols = {1, 4, 3, {3, 3, 0}, V_NONE, 0, {0}, false},
                 ia_t = {1, 3, 3, {0, 2, 0}, V_T, 0, {0}, false},
                 ia_s = {-1, 2, 3, {1, 1, 1}, V_STEP2, 0, {0}, false},
                 ia_bc = {0, 3, 2, {2, 2}, V_BCAST, 2, {2, 3}, false},
                 ia_sq = {0, 3, 4, {2, 0, 2, 2}, V_NONE, 0, {0}, true};

typedef struct embed_ctx {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t ids[8];
    view_kind v;
    bool square;
} embed_ctx;

static int embedding_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const embed_ctx *c = ctx;
    tg_tensor *w = view_of(t, in[0], c->v, 0, NULL);
    return finish(t, out, tg_embedding(t, w, c->ndim, c->shape, c->ids), c->square);
}

static embed_ctx em_2d = {2, {2, 3}, {4, 0, 1, 4, 4, 2}, V_NONE, false},
                 em_0d = {0, {0}, {3}, V_NONE, false}, em_t = {1, {4}, {1, 0, 4, 1}, V_T, false},
                 em_sq = {2, {3, 1}, {0, 2, 0}, V_NONE, true};

/* ---- linear (one op: a product whose sums start from the bias) ---- */
typedef struct linear_ctx {
    bool bias;
    view_kind vx, vw, vb; /* how x, W and b are seen */
    bool square;
} linear_ctx;

static int linear_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const linear_ctx *c = ctx;
    tg_tensor *x = view_of(t, in[0], c->vx, 0, NULL), *w = view_of(t, in[1], c->vw, 0, NULL);
    tg_tensor *b = c->bias ? view_of(t, in[2], c->vb, 0, NULL) : NULL;
    return finish(t, out, tg_linear(t, x, w, b), c->square);
}

static linear_ctx ln_b = {true, V_NONE, V_NONE, V_NONE, false},
                  ln_views = {true, V_T, V_T, V_STEP2, true},
                  ln_nob_sq = {false, V_NONE, V_NONE, V_NONE, true};

/* tanh of a layer: the usual shape of a hidden unit, curved in every input. */
static int linear_tanh_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    return one(out, tg_tanh(t, tg_linear(t, in[0], in[1], in[2])));
}

/* ---- the table ---- */
/* One case per entry, as in op_cases.c. */
/* clang-format off */
#define S0 0, {0}
#define S1(a) 1, {a}
#define S2(a, b) 2, {a, b}
#define S3(a, b, c) 3, {a, b, c}
#define UNI(shape) {shape, OP_CASE_UNIFORM, -2.0, 2.0}

const op_case op_cases_shape[] = {
    {"concat", "axis 1 of (2,3) and (2,2)", 2, {UNI(S2(2, 3)), UNI(S2(2, 2))}, concat_fn,
     &cc_a1, 0},
    {"concat", "axis 0 of (1,3), (2,3), (1,3)", 3,
     {UNI(S2(1, 3)), UNI(S2(2, 3)), UNI(S2(1, 3))}, concat_fn, &cc_a0x3, 0},
    {"concat", "axis -1 of (2,2,3) and (2,2,1)", 2, {UNI(S3(2, 2, 3)), UNI(S3(2, 2, 1))},
     concat_fn, &cc_neg, 0},
    {"concat", "transposed view (3,2)^T with (2,4) along 1", 2, {UNI(S2(3, 2)), UNI(S2(2, 4))},
     concat_fn, &cc_t, 0},
    {"concat", "strided view (2,6)[:, ::2] with (1,3) along 0", 2,
     {UNI(S2(2, 6)), UNI(S2(1, 3))}, concat_fn, &cc_s, 0},
    {"concat", "stride-0 view (3,) broadcast to (2,3) with (1,3)", 2,
     {UNI(S1(3)), UNI(S2(1, 3))}, concat_fn, &cc_bc, 0},
    {"concat", "one leaf twice: (a, b, a) along 1", 2, {UNI(S2(2, 2)), UNI(S2(2, 1))},
     concat_fn, &cc_twice, 0},
    {"concat", "a single input (a copy)", 1, {UNI(S2(2, 3))}, concat_fn, &cc_one, 0},
    {"concat", "six inputs: rows of (6,2) reversed along 1", 1, {UNI(S2(6, 2))},
     concat_many_fn, NULL, 0},
    {"concat", "squared: (2,2) and (1,2) along 0", 2, {UNI(S2(2, 2)), UNI(S2(1, 2))},
     concat_fn, &cc_sq, 0},
    {"concat", "stack three (2,3) at axis 0", 3, {UNI(S2(2, 3)), UNI(S2(2, 3)), UNI(S2(2, 3))},
     concat_fn, &sk_0, 0},
    {"concat", "stack two (3,2) at axis -1", 2, {UNI(S2(3, 2)), UNI(S2(3, 2))}, concat_fn,
     &sk_last, 0},
    {"concat", "stack transposed views (3,2)^T at axis 1", 2, {UNI(S2(3, 2)), UNI(S2(3, 2))},
     concat_fn, &sk_t, 0},
    {"concat", "squared: stack two (2,2) at axis 1", 2, {UNI(S2(2, 2)), UNI(S2(2, 2))},
     concat_fn, &sk_sq, 0},

    {"pad", "(2,3) by (1,0),(2,1)", 1, {UNI(S2(2, 3))}, pad_fn, &pd_2d, 0},
    {"pad", "3-D (2,2,2) on every axis, value 1.5", 1, {UNI(S3(2, 2, 2))}, pad_fn, &pd_3d, 0},
    {"pad", "last axis only, value -2", 1, {UNI(S2(2, 3))}, pad_fn, &pd_last, 0},
    {"pad", "transposed view (3,2)^T by 1 all round", 1, {UNI(S2(3, 2))}, pad_fn, &pd_t, 0},
    {"pad", "strided view (2,6)[:, ::2]", 1, {UNI(S2(2, 6))}, pad_fn, &pd_s, 0},
    {"pad", "no padding (a copy)", 1, {UNI(S2(2, 3))}, pad_fn, &pd_none, 0},
    {"pad", "1-D (4,) by (2,3)", 1, {UNI(S1(4))}, pad_fn, &pd_1d, 0},
    {"pad", "0-d (nothing to pad)", 1, {UNI(S0)}, pad_fn, &pd_0d, 0},
    {"pad", "squared: (2,3) by (1,2),(0,1)", 1, {UNI(S2(2, 3))}, pad_fn, &pd_sq, 0},

    {"index_select", "rows [2,0,2] of (3,4)", 1, {UNI(S2(3, 4))}, index_select_fn, &is_rows,
     0},
    {"index_select", "columns [3,1] of (2,4)", 1, {UNI(S2(2, 4))}, index_select_fn, &is_cols,
     0},
    {"index_select", "axis -1 of (2,3,4) at [0,3,3,1,2]", 1, {UNI(S3(2, 3, 4))},
     index_select_fn, &is_3d, 0},
    {"index_select", "middle axis of (2,3,2) at [1,1,1]", 1, {UNI(S3(2, 3, 2))},
     index_select_fn, &is_mid, 0},
    {"index_select", "transposed view (4,3)^T at [1,2,0,1]", 1, {UNI(S2(4, 3))},
     index_select_fn, &is_t, 0},
    {"index_select", "stride-0 view (3,) broadcast to (2,3)", 1, {UNI(S1(3))},
     index_select_fn, &is_bc, 0},
    {"index_select", "1-D (5,) at [4,0,4]", 1, {UNI(S1(5))}, index_select_fn, &is_1d, 0},
    {"index_select", "squared: rows [1,1,0,2] of (3,2)", 1, {UNI(S2(3, 2))}, index_select_fn,
     &is_sq, 0},
    {"index_select", "embedding (5,3) at ids (2,3)", 1, {UNI(S2(5, 3))}, embedding_fn, &em_2d,
     0},
    {"index_select", "embedding (4,2) at one 0-d id", 1, {UNI(S2(4, 2))}, embedding_fn, &em_0d,
     0},
    {"index_select", "embedding of a transposed table (3,5)^T", 1, {UNI(S2(3, 5))},
     embedding_fn, &em_t, 0},
    {"index_select", "squared: embedding (3,2) at ids (3,1)", 1, {UNI(S2(3, 2))},
     embedding_fn, &em_sq, 0},

    {"index_add", "(3,4) into 5 rows at [4,0,4]", 1, {UNI(S2(3, 4))}, index_add_fn, &ia_rows,
     0},
    {"index_add", "(2,3) into 4 columns at [3,3,0]", 1, {UNI(S2(2, 3))}, index_add_fn,
     &ia_cols, 0},
    {"index_add", "transposed view (3,2)^T at [0,2,0]", 1, {UNI(S2(3, 2))}, index_add_fn,
     &ia_t, 0},
    {"index_add", "strided view (2,6)[:, ::2] along -1", 1, {UNI(S2(2, 6))}, index_add_fn,
     &ia_s, 0},
    {"index_add", "stride-0 view (3,) broadcast to (2,3)", 1, {UNI(S1(3))}, index_add_fn,
     &ia_bc, 0},
    {"index_add", "squared: (4,2) into 3 at [2,0,2,2]", 1, {UNI(S2(4, 2))}, index_add_fn,
     &ia_sq, 0},

    /* linear is linear in each input: the squared cases give the second-order check a
     * non-zero second derivative in every one. Five cases, as many as before linear was one
     * op, so that the cases after them keep their seeds. */
    {"linear_bias", "x (4,3) W (2,3) b (2)", 3, {UNI(S2(4, 3)), UNI(S2(2, 3)), UNI(S1(2))},
     linear_fn, &ln_b, 0},
    {"linear_bias", "of a vector x (3,)", 3, {UNI(S1(3)), UNI(S2(2, 3)), UNI(S1(2))},
     linear_fn, &ln_b, 0},
    {"linear", "squared, batched x (2,3,2), no bias", 2, {UNI(S3(2, 3, 2)), UNI(S2(3, 2))},
     linear_fn, &ln_nob_sq, 0},
    {"linear_bias", "squared, every input a view: x (3,4)^T, W (3,2)^T, b (4,)[::2]", 3,
     {UNI(S2(3, 4)), UNI(S2(3, 2)), UNI(S1(4))}, linear_fn, &ln_views, 0},
    {"linear_bias", "tanh(linear) x (3,2) W (3,2) b (3)", 3,
     {UNI(S2(3, 2)), UNI(S2(3, 2)), UNI(S1(3))}, linear_tanh_fn, NULL, 0},
};
/* clang-format on */

const int op_cases_shape_count = (int)(sizeof op_cases_shape / sizeof op_cases_shape[0]);

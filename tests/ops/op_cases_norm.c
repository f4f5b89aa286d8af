/* op_cases_norm.c: the gradient-proof cases of batch and layer normalisation (tapegrad/norm.h).
 * Appended to op_cases.c's table (op_cases.h); public API only, like the rest of the table.
 *
 * Batch norm and layer norm without affine parts are composites, so each such case is filed
 * under a registered op it is sure to record, as the losses are: batch_norm in training under
 * pow_scalar (the 1/sqrt(var + eps) of the batch's variance), batch_norm in eval under sub (x
 * minus the running mean, a constant), layer_norm without gamma and beta under mean; with both,
 * layer_norm is a node of its own (layer_norm.c) and its cases are filed under it. Every label starts with the composite's name, which is how tools/op_coverage.c
 * lists them. Running estimates are made inside each case as constants, never case inputs: they
 * take no gradient (the eval output does depend on them, but as PyTorch, only through data). */
#include <stdint.h>

#include "op_cases.h"

static int one(tg_tensor **out, tg_tensor *y) {
    out[0] = y;
    return y ? 1 : -1;
}

/* Running estimates for C channels in dtype dt: a mean of 0.3 k - 0.4 and a variance of
 * 0.5 + 0.25 k for channel k (variances well away from zero, so eval's 1/sqrt is tame). Fresh
 * tape tensors on every call, so the checker's repeated calls see the same values even though
 * training moves them. */
static bool running_stats(tg_tape *t, tg_dtype dt, int64_t C, tg_tensor **mean, tg_tensor **var) {
    double m[8], v[8];
    if (C > 8) return false;
    for (int64_t k = 0; k < C; k++) {
        m[k] = 0.3 * (double)k - 0.4;
        v[k] = 0.5 + 0.25 * (double)k;
    }
    *mean = tg_from_data(t, dt, 1, &C, m);
    *var = tg_from_data(t, dt, 1, &C, v);
    return *mean && *var;
}

/* ---- batch_norm ---- */
typedef struct bn_ctx {
    bool training;
    bool affine;     /* in[1] and in[2] are gamma and beta */
    bool running;    /* pass running estimates (required in eval) */
    bool transposed; /* x is a view: the case's (..., a, b) input with its last two axes swapped */
    bool square;     /* y * y: curvature for the second-order check of an otherwise affine map */
    double momentum, eps;
} bn_ctx;

static int batch_norm_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const bn_ctx *c = ctx;
    tg_tensor *x = c->transposed ? tg_transpose(t, in[0], -1, -2) : in[0];
    tg_tensor *rm = NULL, *rv = NULL;
    if (!x) return -1;
    if (tg_tape_check_tensor(t, x) != TG_OK) return one(out, tg_neg(t, x)); /* refused */
    if (c->running && !running_stats(t, tg_tensor_dtype(x), tg_tensor_dim(x, 1), &rm, &rv))
        return -1;
    tg_tensor *y = tg_batch_norm(t, x, c->affine ? in[1] : NULL, c->affine ? in[2] : NULL, rm, rv,
                                 c->training, c->momentum, c->eps);
    return one(out, c->square && y ? tg_mul(t, y, y) : y);
}

static bn_ctx bn_plain = {true, false, false, false, false, 0.1, 1e-5},
              bn_affine = {true, true, false, false, false, 0.1, 1e-5},
              bn_run = {true, false, true, false, false, 0.1, 1e-5},
              bn_affine_run = {true, true, true, false, false, 1.0, 1e-5},
              bn_big_eps = {true, true, true, false, false, 0.0, 0.5},
              bn_t = {true, true, false, true, false, 0.1, 1e-5},
              bn_eval = {false, false, true, false, false, 0.1, 1e-5},
              bn_eval_affine = {false, true, true, false, false, 0.1, 1e-5},
              bn_eval_sq = {false, false, true, false, true, 0.1, 1e-3};

/* ---- layer_norm ---- */
typedef struct ln_ctx {
    int n_dims;
    bool affine;
    bool transposed;
    double eps;
} ln_ctx;

static int layer_norm_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const ln_ctx *c = ctx;
    tg_tensor *x = c->transposed ? tg_transpose(t, in[0], -1, -2) : in[0];
    return one(out, tg_layer_norm(t, x, c->n_dims, c->affine ? in[1] : NULL,
                                  c->affine ? in[2] : NULL, c->eps));
}

static ln_ctx ln_1 = {1, false, false, 1e-5}, ln_1a = {1, true, false, 1e-5},
              ln_2 = {2, false, false, 1e-5}, ln_2a = {2, true, false, 1e-5},
              ln_t = {1, true, true, 1e-5}, ln_big_eps = {1, true, false, 0.5};

/* ---- the table ---- */
/* clang-format off */
#define S1(a) 1, {a}
#define S2(a, b) 2, {a, b}
#define S3(a, b, c) 3, {a, b, c}
#define S4(a, b, c, d) 4, {a, b, c, d}
#define UNI(shape) {shape, OP_CASE_UNIFORM, -2.0, 2.0}
/* Scales kept away from zero and of one sign, as trained gammas usually are. */
#define SCALE(shape) {shape, OP_CASE_UNIFORM, 0.5, 1.5}

const op_case op_cases_norm[] = {
    {"pow_scalar", "batch_norm training (4,3), no affine, no running stats", 1, {UNI(S2(4, 3))},
     batch_norm_fn, &bn_plain, 0},
    {"pow_scalar", "batch_norm training (4,3) with gamma, beta", 3,
     {UNI(S2(4, 3)), SCALE(S1(3)), UNI(S1(3))}, batch_norm_fn, &bn_affine, 0},
    {"pow_scalar", "batch_norm training (2,2,3), running stats, no affine", 1,
     {UNI(S3(2, 2, 3))}, batch_norm_fn, &bn_run, 0},
    {"pow_scalar", "batch_norm training (2,2,2,2), affine and running stats, momentum 1", 3,
     {UNI(S4(2, 2, 2, 2)), SCALE(S1(2)), UNI(S1(2))}, batch_norm_fn, &bn_affine_run, 0},
    {"pow_scalar", "batch_norm training (3,2,2), eps 0.5, momentum 0", 3,
     {UNI(S3(3, 2, 2)), SCALE(S1(2)), UNI(S1(2))}, batch_norm_fn, &bn_big_eps, 0},
    {"pow_scalar", "batch_norm training of a transposed view (2,3,4)^T, affine", 3,
     {UNI(S3(2, 3, 4)), SCALE(S1(4)), UNI(S1(4))}, batch_norm_fn, &bn_t, 0},

    {"sub", "batch_norm eval (3,4), running stats, no affine", 1, {UNI(S2(3, 4))},
     batch_norm_fn, &bn_eval, 0},
    {"sub", "batch_norm eval (2,3,2,2), running stats, gamma and beta", 3,
     {UNI(S4(2, 3, 2, 2)), SCALE(S1(3)), UNI(S1(3))}, batch_norm_fn, &bn_eval_affine, 0},
    {"sub", "squared: batch_norm eval (2,2,3), eps 1e-3", 1, {UNI(S3(2, 2, 3))}, batch_norm_fn,
     &bn_eval_sq, 0},

    {"mean", "layer_norm (3,4) over the last axis, no affine", 1, {UNI(S2(3, 4))},
     layer_norm_fn, &ln_1, 0},
    {"layer_norm", "layer_norm (3,4) over the last axis with gamma, beta (4)", 3,
     {UNI(S2(3, 4)), SCALE(S1(4)), UNI(S1(4))}, layer_norm_fn, &ln_1a, 0},
    {"mean", "layer_norm (2,3,4) over the last 2 axes, no affine", 1, {UNI(S3(2, 3, 4))},
     layer_norm_fn, &ln_2, 0},
    {"layer_norm", "layer_norm (2,2,3) over the last 2 axes with gamma, beta (2,3)", 3,
     {UNI(S3(2, 2, 3)), SCALE(S2(2, 3)), UNI(S2(2, 3))}, layer_norm_fn, &ln_2a, 0},
    {"mean", "layer_norm (3,4) over every axis", 1, {UNI(S2(3, 4))}, layer_norm_fn, &ln_2, 0},
    {"layer_norm", "layer_norm of a transposed view (5,3)^T with gamma, beta (5)", 3,
     {UNI(S2(5, 3)), SCALE(S1(5)), UNI(S1(5))}, layer_norm_fn, &ln_t, 0},
    {"layer_norm", "layer_norm (2,5), eps 0.5, with gamma, beta", 3,
     {UNI(S2(2, 5)), SCALE(S1(5)), UNI(S1(5))}, layer_norm_fn, &ln_big_eps, 0},
};
/* clang-format on */

const int op_cases_norm_count = (int)(sizeof op_cases_norm / sizeof op_cases_norm[0]);

/* op_cases_attention.c: the gradient-proof cases of causal attention (tapegrad/attention.h).
 * Appended to op_cases.c's table (op_cases.h); public API only, like the rest of the table.
 *
 * causal_attention is proven on plain operands, on leading batch and head axes, and on the
 * strided heads of a packed projection (the way the multi-head layer calls it). The composite
 * tg_attention is filed under softmax, which it always records; its labels start with
 * "attention". */
#include <stdint.h>

#include "op_cases.h"

static int one(tg_tensor **out, tg_tensor *y) {
    out[0] = y;
    return y ? 1 : -1;
}

/* q, k, v given as three inputs of one shape. */
static int causal_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const double *scale = ctx;
    return one(out, tg_causal_attention(t, in[0], in[1], in[2], *scale));
}

/* One input x (T, 3 H D), T = 4, H = D = 2, cut as the layer cuts its projection: viewed as
 * (T, 3, H, D), permuted to (3, H, T, D), and q, k, v the three strided slices (1, H, T, D). */
static int packed_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    tg_tensor *x = tg_permute(t, tg_reshape(t, in[0], 4, (const int64_t[]){4, 3, 2, 2}),
                              (const int[]){1, 2, 0, 3});
    tg_tensor *q = tg_slice(t, x, 0, 0, 1, 1), *k = tg_slice(t, x, 0, 1, 2, 1),
              *v = tg_slice(t, x, 0, 2, 3, 1);
    return one(out, tg_causal_attention(t, q, k, v, 0.7071067811865476));
}

/* q (.., Tq, D), k and v (.., Tk, D); the mask, when asked, is the causal one (Tq = Tk). */
static int composed_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const int *causal = ctx;
    tg_tensor *mask = NULL;
    if (*causal && tg_tape_check_tensor(t, in[0]) == TG_OK)
        mask = tg_causal_mask(t, tg_tensor_dtype(in[0]), tg_tensor_dim(in[0], -2));
    return one(out, tg_attention(t, in[0], in[1], in[2], mask, 0.5));
}

static const double half = 0.5, unit = 1.0;
static const int yes = 1, no = 0;

#define S2(a, b) 2, {a, b}
#define S3(a, b, c) 3, {a, b, c}
#define S4(a, b, c, d) 4, {a, b, c, d}
#define UNI(shape) {shape, OP_CASE_UNIFORM, -2.0, 2.0}

const op_case op_cases_attention[] = {
    {"causal_attention", "q, k, v (4,3), scale 0.5", 3, {UNI(S2(4, 3)), UNI(S2(4, 3)), UNI(S2(4, 3))},
     causal_fn, (void *)&half, 0},
    {"causal_attention", "batch and heads (2,2,3,2), scale 1", 3,
     {UNI(S4(2, 2, 3, 2)), UNI(S4(2, 2, 3, 2)), UNI(S4(2, 2, 3, 2))}, causal_fn, (void *)&unit, 0},
    /* More rows than the kernels' tiles of 8 rows and vectors of 4 to 16 keys: whole tiles and
     * a short last one (21 = 8 + 8 + 5, 33 = 4 x 8 + 1), keys past a vector's edge. */
    {"causal_attention", "21 rows over three row tiles (21,3), scale 0.5", 3,
     {UNI(S2(21, 3)), UNI(S2(21, 3)), UNI(S2(21, 3))}, causal_fn, (void *)&half, 0},
    {"causal_attention", "33 rows over five row tiles (33,1), scale 1", 3,
     {UNI(S2(33, 1)), UNI(S2(33, 1)), UNI(S2(33, 1))}, causal_fn, (void *)&unit, 0},
    {"causal_attention", "heads of a packed projection (4,12) as strided views", 1,
     {UNI(S2(4, 12))}, packed_fn, NULL, 0},
    {"softmax", "attention with the causal mask (2,3,2)", 3,
     {UNI(S3(2, 3, 2)), UNI(S3(2, 3, 2)), UNI(S3(2, 3, 2))}, composed_fn, (void *)&yes, 0},
    {"softmax", "attention, no mask, 2 queries over 3 keys", 3,
     {UNI(S2(2, 3)), UNI(S2(3, 3)), UNI(S2(3, 2))}, composed_fn, (void *)&no, 0},
};
const int op_cases_attention_count = (int)(sizeof op_cases_attention / sizeof op_cases_attention[0]);

/* op_cases_binary.c: the gradient-proof cases of the packed binary products
 * (tapegrad/binpack.h): binmm, binmm_t and binxnor. Appended to op_cases.c's table
 * (op_cases.h); public API only, like the rest of the table.
 *
 * The packed matrix is not a case input (it has no gradient): every case uses one fixed 5 x 20
 * matrix (one word per row, partly past the columns) with scales, made once on
 * first use and kept for the life of the program, since the nodes a case records point at it
 * after the case function returns. */
#include <stdint.h>

#include "op_cases.h"

static int one(tg_tensor **out, tg_tensor *y) {
    out[0] = y;
    return y ? 1 : -1;
}

static const tg_binpack *case_matrix(void) {
    static tg_binpack *p;
    static const uint32_t bits[5] = {0x000779b9u, 0x000a7c15u, 0x00045678u, 0x000cba98u,
                                     0x000f0f0fu};
    static const float scale[5] = {0.5f, 1.0f, 0.25f, 2.0f, 0.75f};
    if (!p) p = tg_binpack_from_arrays(5, 20, bits, scale, NULL);
    return p;
}

typedef enum bin_kind { BIN_MM, BIN_MM_T, BIN_XNOR } bin_kind;

typedef struct bin_ctx {
    bin_kind kind;
    bool transposed; /* the input is seen through a transposed view */
} bin_ctx;

/* binxnor's rule is the straight-through one, so its case is built as sign_ste's: y =
 * binxnor(x) - c1 + c2 with c1 = binxnor(x) and c2 = binmm(clamp(x, -1, 1)) computed with
 * recording off. y's value is c2's, whose finite differences are the gradient the rule must
 * give (binmm_t(g) where |x| <= 1, else 0), and y's analytic gradient is binxnor's rule alone. */
static int binary_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const bin_ctx *c = ctx;
    const tg_binpack *p = case_matrix();
    tg_tensor *x = c->transposed ? tg_transpose(t, in[0], 0, 1) : in[0];
    switch (c->kind) {
    case BIN_MM:
        return one(out, tg_binmm(t, p, x));
    case BIN_MM_T:
        return one(out, tg_binmm_t(t, p, x));
    case BIN_XNOR: {
        bool was = tg_tape_set_grad_enabled(t, false);
        tg_tensor *c1 = tg_binxnor(t, p, x), *c2 = tg_binmm(t, p, tg_clamp(t, x, -1.0, 1.0));
        tg_tape_set_grad_enabled(t, was);
        return one(out, tg_add(t, tg_sub(t, tg_binxnor(t, p, x), c1), c2));
    }
    }
    return -1;
}

static bin_ctx mm_p = {BIN_MM, false}, mm_t = {BIN_MM, true}, mmt_p = {BIN_MM_T, false},
               mmt_t = {BIN_MM_T, true}, xn_p = {BIN_XNOR, false}, xn_t = {BIN_XNOR, true};

#define S2(a, b)                                                                                   \
    2, { a, b }
#define UNI(shape)                                                                                 \
    { shape, OP_CASE_UNIFORM, -2.0, 2.0 }
#define MAG(shape, lo, hi)                                                                         \
    { shape, OP_CASE_AWAY_FROM_ZERO, lo, hi }

const op_case op_cases_binary[] = {
    {"binmm", "(5,20) packed, x (3,20)", 1, {UNI(S2(3, 20))}, binary_fn, &mm_p, 0},
    {"binmm", "x a transposed view of (20,2)", 1, {UNI(S2(20, 2))}, binary_fn, &mm_t, 0},
    {"binmm_t", "(5,20)^T, x (3,5)", 1, {UNI(S2(3, 5))}, binary_fn, &mmt_p, 0},
    {"binmm_t", "x a transposed view of (5,2)", 1, {UNI(S2(5, 2))}, binary_fn, &mmt_t, 0},
    {"binxnor",
     "inside |x| in [0.2, 0.8): passes g W",
     1,
     {MAG(S2(3, 20), 0.2, 0.8)},
     binary_fn,
     &xn_p,
     0},
    {"binxnor",
     "outside |x| in [1.2, 2): blocks g",
     1,
     {MAG(S2(3, 20), 1.2, 2.0)},
     binary_fn,
     &xn_p,
     0},
    {"binxnor",
     "transposed view, |x| in [0.3, 0.9)",
     1,
     {MAG(S2(20, 3), 0.3, 0.9)},
     binary_fn,
     &xn_t,
     0},
};
const int op_cases_binary_count = (int)(sizeof op_cases_binary / sizeof op_cases_binary[0]);

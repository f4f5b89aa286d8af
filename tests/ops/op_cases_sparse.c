/* op_cases_sparse.c: the gradient-proof cases of the sparse products (tapegrad/sparse.h):
 * spmm, spmm_t and sddmm. Appended to op_cases.c's table (op_cases.h); public API only, like
 * the rest of the table.
 *
 * The pattern is not a case input (it has no gradient): every case uses one fixed 4 x 5
 * pattern with an empty row, made once on first use and kept for the life of the program,
 * since the nodes a case records point at it after the case function returns. The values and
 * the dense operands are the inputs, some seen through transposed or strided views. */
#include <stdint.h>

#include "op_cases.h"

static int one(tg_tensor **out, tg_tensor *y) {
    out[0] = y;
    return y ? 1 : -1;
}

/* Rows 0: columns 0, 3; row 1: none; row 2: 1, 2, 4; row 3: 0, 4. */
static const tg_csr *case_pattern(void) {
    static tg_csr *a;
    static const int32_t row_ptr[] = {0, 2, 2, 5, 7}, col[] = {0, 3, 1, 2, 4, 0, 4};
    if (!a) a = tg_csr_from_arrays(4, 5, row_ptr, col, NULL);
    return a;
}

typedef enum sp_kind { SP_MM, SP_MM_T, SP_DDMM } sp_kind;

typedef struct sp_ctx {
    sp_kind kind;
    bool t1;         /* in[1] is seen transposed */
    bool step2_vals; /* in[0] (the values) is seen as every other element */
    bool t0;         /* in[0] is seen transposed (sddmm's p) */
} sp_ctx;

static int sparse_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const sp_ctx *c = ctx;
    const tg_csr *a = case_pattern();
    tg_tensor *x0 = in[0], *x1 = in[1];
    if (c->step2_vals) x0 = tg_slice(t, x0, 0, 0, INT64_MAX, 2);
    if (c->t0) x0 = tg_transpose(t, x0, 0, 1);
    if (c->t1) x1 = tg_transpose(t, x1, 0, 1);
    switch (c->kind) {
    case SP_MM: return one(out, tg_spmm(t, a, x0, x1));
    case SP_MM_T: return one(out, tg_spmm_t(t, a, x0, x1));
    case SP_DDMM: return one(out, tg_sddmm(t, a, x0, x1));
    }
    return -1;
}

static sp_ctx mm_p = {SP_MM, false, false, false}, mm_t = {SP_MM, true, false, false},
              mm_s = {SP_MM, false, true, false}, mmt_p = {SP_MM_T, false, false, false},
              mmt_t = {SP_MM_T, true, true, false}, dd_p = {SP_DDMM, false, false, false},
              dd_t = {SP_DDMM, true, false, true};

#define S1(a)      1, {a}
#define S2(a, b)   2, {a, b}
#define UNI(shape) {shape, OP_CASE_UNIFORM, -2.0, 2.0}

const op_case op_cases_sparse[] = {
    {"spmm", "(4,5) 7 entries, empty row, x (5,3)", 2, {UNI(S1(7)), UNI(S2(5, 3))}, sparse_fn,
     &mm_p, 0},
    {"spmm", "x a transposed view of (3,5)", 2, {UNI(S1(7)), UNI(S2(3, 5))}, sparse_fn, &mm_t,
     0},
    {"spmm", "values every other of (14), x (5,1)", 2, {UNI(S1(14)), UNI(S2(5, 1))}, sparse_fn,
     &mm_s, 0},
    {"spmm_t", "A^T (5,4), x (4,3)", 2, {UNI(S1(7)), UNI(S2(4, 3))}, sparse_fn, &mmt_p, 0},
    {"spmm_t", "strided values, x a transposed view of (2,4)", 2, {UNI(S1(14)), UNI(S2(2, 4))},
     sparse_fn, &mmt_t, 0},
    {"sddmm", "p (4,3), q (5,3)", 2, {UNI(S2(4, 3)), UNI(S2(5, 3))}, sparse_fn, &dd_p, 0},
    {"sddmm", "p, q transposed views of (2,4), (2,5)", 2, {UNI(S2(2, 4)), UNI(S2(2, 5))},
     sparse_fn, &dd_t, 0},
};
const int op_cases_sparse_count = (int)(sizeof op_cases_sparse / sizeof op_cases_sparse[0]);

/* test_empty_inputs.c: every case of the op table (op_cases.c) run again with a dimension of
 * size 0, forward, backward and backward-of-backward, in f32 and f64.
 *
 * An empty tensor is a legal input (a batch with no rows, a sequence of length 0, a slice that
 * selects nothing), and it is where kernels that assume "at least one element" read before the
 * start of a buffer, divide by zero or leave an output unwritten. causal_attention once crashed
 * this way in backward. Each op may refuse an empty input, but only with an error on the tape;
 * when it accepts one, the sweep must give each input a gradient of the input's own shape, and a
 * result that is not empty (a sum over nothing, a product with an inner size of 0) must hold the
 * same values in f32 as in f64, which an unwritten output would not. Run under AddressSanitizer
 * (the README's test command does), a read out of bounds fails the suite too.
 *
 * The variants of a case: each input's each dimension set to 0 alone, and each dimension index
 * set to 0 in every input that has it (for ops whose inputs must agree in that dimension). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op_cases.h"
#include "test_util.h"

#define MAX_VALUES 256

/* What one run of a variant gave: whether the op accepted the inputs, and if so the values of
 * its outputs (flattened, at most MAX_VALUES) for the f32/f64 comparison. */
typedef struct run_result {
    bool accepted;
    int n_values;
    double values[MAX_VALUES];
    char failure[512]; /* non-empty: the run broke a rule */
} run_result;

static void note_broken(run_result *r, const char *what, const char *detail) {
    if (!r->failure[0]) snprintf(r->failure, sizeof r->failure, "%s: %s", what, detail);
}

/* The sum of every element of every output, the scalar the sweeps start from. */
static tg_tensor *total(tg_tape *t, tg_tensor *const *outs, int n) {
    tg_tensor *acc = NULL;
    for (int k = 0; k < n; k++) {
        tg_tensor *s = tg_sum_all(t, outs[k]);
        acc = acc ? tg_add(t, acc, s) : s;
    }
    return acc;
}

/* Checks that each gradient has its input's shape and dtype. */
static void check_grad_shapes(tg_tensor *const *in, tg_tensor *const *grads, int n,
                              const char *sweep, run_result *r) {
    for (int j = 0; j < n; j++) {
        char detail[160];
        if (!grads[j]) {
            snprintf(detail, sizeof detail, "input %d got no gradient", j);
            note_broken(r, sweep, detail);
            continue;
        }
        bool same = tg_tensor_ndim(grads[j]) == tg_tensor_ndim(in[j]) &&
                    tg_tensor_dtype(grads[j]) == tg_tensor_dtype(in[j]);
        for (int d = 0; same && d < tg_tensor_ndim(in[j]); d++)
            same = tg_tensor_dim(grads[j], d) == tg_tensor_dim(in[j], d);
        if (!same) {
            snprintf(detail, sizeof detail, "input %d's gradient has another shape or dtype", j);
            note_broken(r, sweep, detail);
        }
    }
}

/* Runs case c with the input shapes in `shapes`: forward, a first-order sweep recorded for a
 * second one, and the second one. An op may refuse anywhere with an error on the tape. */
static void run_variant(const op_case *base, const op_case_input *shapes, uint64_t seed,
                        tg_dtype dtype, run_result *r) {
    memset(r, 0, sizeof *r);
    op_case c = *base;
    memcpy(c.in, shapes, sizeof c.in);
    tg_tape *t = tg_tape_new();
    ck_assert_ptr_nonnull(t);
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_tensor *in[OP_CASE_MAX_INPUTS] = {NULL};
    tg_tensor *out[TG_GRADCHECK_MAX_OUTPUTS] = {NULL};
    if (op_case_make_inputs(&c, t, dtype, &rng, in) != c.n_inputs) {
        note_broken(r, "making the inputs", tg_tape_error(t));
        goto done;
    }
    for (int j = 0; j < c.n_inputs; j++) tg_tensor_set_requires_grad(in[j], true);

    int n_out = c.fn(t, in, out, c.ctx);
    if (n_out <= 0 || tg_tape_status(t) != TG_OK) {
        if (!tg_tape_error(t)[0]) note_broken(r, "forward", "refused without an error message");
        goto done;
    }
    r->accepted = true;
    for (int k = 0; k < n_out; k++) {
        int64_t n = tg_tensor_numel(out[k]);
        for (int64_t e = 0; e < n && r->n_values < MAX_VALUES; e++)
            r->values[r->n_values++] = tg_tensor_get(out[k], e);
    }

    tg_tensor *loss = total(t, out, n_out);
    tg_tensor *grads[OP_CASE_MAX_INPUTS] = {NULL};
    if (!loss || tg_tape_grad(t, loss, NULL, c.n_inputs, in, grads, TG_CREATE_GRAPH) != TG_OK) {
        if (!tg_tape_error(t)[0]) note_broken(r, "backward", "refused without an error message");
        goto done;
    }
    check_grad_shapes(in, grads, c.n_inputs, "backward", r);
    if (r->failure[0] || (c.flags & OP_CASE_FIRST_ORDER_ONLY)) goto done;

    /* Second order: the sum of the recorded gradients, swept again. */
    tg_tensor *again = total(t, grads, c.n_inputs);
    tg_tensor *grads2[OP_CASE_MAX_INPUTS] = {NULL};
    if (!again || tg_tape_grad(t, again, NULL, c.n_inputs, in, grads2, 0) != TG_OK) {
        if (!tg_tape_error(t)[0]) note_broken(r, "second order", "refused without an error message");
        goto done;
    }
    check_grad_shapes(in, grads2, c.n_inputs, "second order", r);
done:
    tg_tape_free(t);
}

static bool same_value(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b)) return a == b;
    return fabs(a - b) <= 1e-5 * (1.0 + fabs(b));
}

/* Runs one variant in f64 and (unless the case is f64-only) f32; appends a line to `list` for
 * every broken rule. Returns whether f64 accepted it. */
static bool check_variant(int i, const op_case_input *shapes, const char *what, char *list,
                          size_t size, int *n_failed) {
    const op_case *c = op_case_at(i);
    static run_result r64, r32; /* large: kept off the stack */
    run_variant(c, shapes, op_case_seed(i), TG_F64, &r64);
    char line[768] = "";
    if (r64.failure[0]) {
        snprintf(line, sizeof line, "case %d %s [%s] %s f64: %s", i, c->op, c->label, what,
                 r64.failure);
    } else if (!(c->flags & OP_CASE_F64_ONLY)) {
        run_variant(c, shapes, op_case_seed(i), TG_F32, &r32);
        if (r32.failure[0])
            snprintf(line, sizeof line, "case %d %s [%s] %s f32: %s", i, c->op, c->label, what,
                     r32.failure);
        else if (r32.accepted != r64.accepted)
            snprintf(line, sizeof line, "case %d %s [%s] %s: f32 %s it, f64 %s it", i, c->op,
                     c->label, what, r32.accepted ? "accepts" : "refuses",
                     r64.accepted ? "accepts" : "refuses");
        else if (r64.accepted && r32.n_values != r64.n_values)
            snprintf(line, sizeof line, "case %d %s [%s] %s: %d values in f32, %d in f64", i,
                     c->op, c->label, what, r32.n_values, r64.n_values);
        else
            for (int e = 0; r64.accepted && e < r64.n_values; e++)
                if (!same_value(r32.values[e], r64.values[e])) {
                    snprintf(line, sizeof line,
                             "case %d %s [%s] %s: output element %d is %g in f32, %g in f64 "
                             "(an output left unwritten?)",
                             i, c->op, c->label, what, e, r32.values[e], r64.values[e]);
                    break;
                }
    }
    if (line[0]) {
        size_t used = strlen(list);
        if (++*n_failed <= 12) snprintf(list + used, size - used, "\n%s", line);
    }
    return r64.accepted;
}

/* Every empty variant of every case of one op (the run of consecutive cases from _i). */
START_TEST(op_group_empty) {
    const char *op = op_case_at(_i)->op;
    char failures[8192] = "";
    int n_failed = 0;
    for (int i = _i; i < op_case_count() && strcmp(op_case_at(i)->op, op) == 0; i++) {
        const op_case *c = op_case_at(i);
        op_case_input shapes[OP_CASE_MAX_INPUTS];
        char what[64];
        int max_ndim = 0;
        for (int j = 0; j < c->n_inputs; j++)
            if (c->in[j].ndim > max_ndim) max_ndim = c->in[j].ndim;
        for (int j = 0; j < c->n_inputs; j++)
            for (int d = 0; d < c->in[j].ndim; d++) {
                memcpy(shapes, c->in, sizeof shapes);
                shapes[j].shape[d] = 0;
                snprintf(what, sizeof what, "input %d dim %d = 0", j, d);
                check_variant(i, shapes, what, failures, sizeof failures, &n_failed);
            }
        for (int d = 0; d < max_ndim; d++) {
            memcpy(shapes, c->in, sizeof shapes);
            for (int j = 0; j < c->n_inputs; j++)
                if (d < shapes[j].ndim) shapes[j].shape[d] = 0;
            snprintf(what, sizeof what, "dim %d = 0 in every input", d);
            check_variant(i, shapes, what, failures, sizeof failures, &n_failed);
        }
    }
    ck_assert_msg(n_failed == 0, "%d broken rule(s) for empty inputs of %s (first 12):%s",
                  n_failed, op, failures);
}
END_TEST

/* The sweep above must have run something: at least some ops accept an empty input (an
 * elementwise op must), so a harness that silently refused everything would fail here. */
START_TEST(some_ops_accept_empty_inputs) {
    int accepted = 0, tried = 0;
    char unused[64] = "";
    int n_failed = 0;
    for (int i = 0; i < op_case_count(); i++) {
        const op_case *c = op_case_at(i);
        if (strcmp(c->op, "add") != 0 && strcmp(c->op, "exp") != 0 && strcmp(c->op, "matmul") != 0)
            continue;
        op_case_input shapes[OP_CASE_MAX_INPUTS];
        memcpy(shapes, c->in, sizeof shapes);
        for (int j = 0; j < c->n_inputs; j++)
            if (shapes[j].ndim > 0) shapes[j].shape[0] = 0;
        tried++;
        accepted += check_variant(i, shapes, "first dim = 0", unused, sizeof unused, &n_failed);
    }
    ck_assert_int_gt(tried, 2);
    ck_assert_int_gt(accepted, 2);
}
END_TEST

/* matmul with an inner size of 0 is a zero matrix of the outer sizes, not whatever the output
 * buffer held: the one case where an empty input gives a non-empty result with known values. */
START_TEST(matmul_with_empty_inner_size_is_zero) {
    for (tg_dtype dt = TG_F32; dt <= TG_F64; dt++) {
        tg_tape *t = tg_tape_new();
        tg_tensor *a = tg_ones(t, dt, 2, (int64_t[]){5, 0});
        tg_tensor *b = tg_ones(t, dt, 2, (int64_t[]){0, 7});
        tg_tensor *y = tg_matmul(t, a, b);
        ck_assert_ptr_nonnull(y);
        ck_assert_int_eq(tg_tensor_dim(y, 0), 5);
        ck_assert_int_eq(tg_tensor_dim(y, 1), 7);
        for (int64_t e = 0; e < 35; e++) ck_assert_double_eq(tg_tensor_get(y, e), 0.0);
        tg_tape_free(t);
    }
}
END_TEST

static Suite *empty_inputs_suite(void) {
    Suite *s = suite_create("ops_empty_inputs");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, some_ops_accept_empty_inputs);
    tcase_add_test(tc, matmul_with_empty_inner_size_is_zero);
    suite_add_tcase(s, tc);
    /* One TCase per op, named after it, so CK_RUN_CASE=matmul runs just matmul's variants. */
    for (int first = 0; first < op_case_count();) {
        const char *op = op_case_at(first)->op;
        int end = first + 1;
        while (end < op_case_count() && strcmp(op_case_at(end)->op, op) == 0) end++;
        TCase *g = tcase_create(op);
        tcase_set_timeout(g, 120);
        tcase_add_loop_test(g, op_group_empty, first, first + 1);
        suite_add_tcase(s, g);
        first = end;
    }
    return s;
}

int main(void) { return tg_test_run(empty_inputs_suite()); }

/* test_op_cases.c: runs every case of the op table (op_cases.c) through the finite-difference
 * checkers: first order in f64 and in f32, second order in f64 unless the case opts out, all
 * with the checker's default tolerances for the dtype. A failure names the case and prints the
 * checker's report (its worst element).
 *
 * One Check test per op (its run of consecutive cases in the table), in a TCase named after
 * the op, so CK_RUN_CASE=matmul runs just matmul's cases. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "op_cases.h"
#include "test_util.h"

typedef enum check_kind { FIRST_F64, SECOND_F64, FIRST_F32 } check_kind;

static const char *kind_name(check_kind k) {
    return k == FIRST_F64 ? "gradcheck f64" : k == SECOND_F64 ? "gradgradcheck f64"
                                                             : "gradcheck f32";
}

/* Appends a line to the failure list, keeping at most 12 lines. */
static void note(char *list, size_t size, int *n_failed, const char *line) {
    size_t used = strlen(list);
    if (++*n_failed <= 12) snprintf(list + used, size - used, "\n%s", line);
}

/* Runs one check of case i; on failure appends "case i op [label] kind: report". */
static void run_check(int i, check_kind k, char *list, size_t size, int *n_failed) {
    const op_case *c = op_case_at(i);
    if (k == SECOND_F64 && (c->flags & OP_CASE_FIRST_ORDER_ONLY)) return;
    if (k == FIRST_F32 && (c->flags & OP_CASE_F64_ONLY)) return;
    tg_dtype dtype = k == FIRST_F32 ? TG_F32 : TG_F64;

    tg_tape *t = tg_tape_new();
    ck_assert_ptr_nonnull(t);
    tg_rng rng;
    tg_rng_seed(&rng, op_case_seed(i));
    tg_tensor *in[OP_CASE_MAX_INPUTS];
    char line[768] = "";
    if (op_case_make_inputs(c, t, dtype, &rng, in) != c->n_inputs) {
        snprintf(line, sizeof line, "case %d %s [%s] %s: cannot make inputs: %s", i, c->op,
                 c->label, kind_name(k), tg_tape_error(t));
    } else {
        tg_gradcheck_report rep;
        tg_status s = k == SECOND_F64
                          ? tg_gradgradcheck(c->fn, c->ctx, c->n_inputs, in, NULL, &rep)
                          : tg_gradcheck(c->fn, c->ctx, c->n_inputs, in, NULL, &rep);
        if (s != TG_OK || !rep.ok)
            snprintf(line, sizeof line, "case %d %s [%s] %s: %s", i, c->op, c->label,
                     kind_name(k), rep.message);
        else if (rep.n_checked <= 0)
            snprintf(line, sizeof line, "case %d %s [%s] %s: compared nothing", i, c->op,
                     c->label, kind_name(k));
    }
    if (line[0]) note(list, size, n_failed, line);
    tg_tape_free(t);
}

/* One op's cases: the run of consecutive cases from _i naming the same op. Every check of
 * every case runs, and all failures are reported together. */
START_TEST(op_group) {
    const char *op = op_case_at(_i)->op;
    char failures[6144] = "";
    int n_failed = 0;
    for (int i = _i; i < op_case_count() && strcmp(op_case_at(i)->op, op) == 0; i++)
        for (check_kind k = FIRST_F64; k <= FIRST_F32; k++)
            run_check(i, k, failures, sizeof failures, &n_failed);
    ck_assert_msg(n_failed == 0, "%d failed check(s) of %s (first 12 listed):%s", n_failed, op,
                  failures);
}
END_TEST

/* The table must be non-empty and every case well formed; otherwise the loops above would
 * silently run nothing. */
START_TEST(table_is_well_formed) {
    ck_assert_int_gt(op_case_count(), 0);
    ck_assert_ptr_null(op_case_at(-1));
    ck_assert_ptr_null(op_case_at(op_case_count()));
    for (int i = 0; i < op_case_count(); i++) {
        const op_case *c = op_case_at(i);
        ck_assert_msg(c && c->op && c->label && c->fn, "case %d is incomplete", i);
        ck_assert_msg(c->n_inputs >= 1 && c->n_inputs <= OP_CASE_MAX_INPUTS,
                      "case %d %s [%s] has %d inputs", i, c->op, c->label, c->n_inputs);
        for (int k = 0; k < c->n_inputs; k++) {
            const op_case_input *in = &c->in[k];
            ck_assert_msg(in->lo < in->hi, "case %d %s [%s] input %d: empty domain", i, c->op,
                          c->label, k);
            ck_assert_msg(in->domain != OP_CASE_AWAY_FROM_ZERO || in->lo > 0,
                          "case %d %s [%s] input %d: away from zero needs lo > 0", i, c->op,
                          c->label, k);
            int64_t n = 1;
            for (int d = 0; d < in->ndim; d++) n *= in->shape[d];
            ck_assert_msg(n <= OP_CASE_MAX_NUMEL, "case %d %s [%s] input %d: %lld elements", i,
                          c->op, c->label, k, (long long)n);
        }
    }
}
END_TEST

/* Inputs are drawn in the declared domain, and the same seed gives the same values in both
 * dtypes (up to f32 rounding), so f32 and f64 runs check the same points. */
START_TEST(inputs_follow_domain_and_seed) {
    tg_tape *t = tg_tape_new();
    for (int i = 0; i < op_case_count(); i++) {
        const op_case *c = op_case_at(i);
        tg_tensor *a[OP_CASE_MAX_INPUTS], *b[OP_CASE_MAX_INPUTS];
        tg_rng r1, r2;
        tg_rng_seed(&r1, op_case_seed(i));
        tg_rng_seed(&r2, op_case_seed(i));
        ck_assert_int_eq(op_case_make_inputs(c, t, TG_F64, &r1, a), c->n_inputs);
        ck_assert_int_eq(op_case_make_inputs(c, t, TG_F32, &r2, b), c->n_inputs);
        for (int k = 0; k < c->n_inputs; k++) {
            const op_case_input *in = &c->in[k];
            ck_assert_int_eq(tg_tensor_ndim(a[k]), in->ndim);
            ck_assert_int_eq(tg_tensor_dtype(b[k]), TG_F32);
            for (int64_t e = 0; e < tg_tensor_numel(a[k]); e++) {
                double v = tg_tensor_get(a[k], e), w = tg_tensor_get(b[k], e);
                double m = in->domain == OP_CASE_AWAY_FROM_ZERO ? fabs(v) : v;
                ck_assert_msg(m >= in->lo && m < in->hi, "case %d %s [%s] input %d: %g outside",
                              i, c->op, c->label, k, v);
                ck_assert_msg(fabs(v - w) <= 1e-6 * fabs(v), "case %d: f32 %g vs f64 %g", i, w,
                              v);
            }
        }
        tg_tape_reset(t);
    }
    tg_tape_free(t);
}
END_TEST

static Suite *op_cases_suite(void) {
    Suite *s = suite_create("op_cases");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, table_is_well_formed);
    tcase_add_test(tc, inputs_follow_domain_and_seed);
    suite_add_tcase(s, tc);
    /* One TCase (and one test) per run of consecutive cases with the same op, so that
     * CK_RUN_CASE=matmul runs matmul's cases; a test per case would fork hundreds of times,
     * which under AddressSanitizer costs far more than the checks themselves. */
    for (int first = 0; first < op_case_count();) {
        const char *op = op_case_at(first)->op;
        int end = first + 1;
        while (end < op_case_count() && strcmp(op_case_at(end)->op, op) == 0) end++;
        tc = tcase_create(op);
        /* The second-order checks of the larger cases take a while under sanitizers. */
        tcase_set_timeout(tc, 120);
        tcase_add_loop_test(tc, op_group, first, first + 1);
        suite_add_tcase(s, tc);
        first = end;
    }
    return s;
}

int main(void) { return tg_test_run(op_cases_suite()); }

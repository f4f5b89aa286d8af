/* test_registry.c: the op registry against the case table, so that no op goes unproven.
 *
 * Every registered op (src/ops/ops.def, read through the private tg_op_count/tg_op_at) must
 * have a case that is gradchecked in f64, one that runs in f32 and, when its descriptor says
 * TG_OPF_SMOOTH, one that is checked to second order; adding an op without cases fails here.
 * A case's claim to prove an op is itself checked: running it must record a node of that op,
 * seen both on the private node list and through op_case_records (the public DOT route). */
#include <check.h>
#include <string.h>

#include "graph/graph.h"
#include "op_cases.h"
#include "test_util.h"

/* Index of the registered op named `name`, or -1. */
static int registry_index(const char *name) {
    for (int i = 0; i < tg_op_count(); i++)
        if (strcmp(tg_op_at(i)->name, name) == 0) return i;
    return -1;
}

START_TEST(descriptors_are_complete_and_names_unique) {
    ck_assert_int_gt(tg_op_count(), 0);
    ck_assert_ptr_null(tg_op_at(-1));
    ck_assert_ptr_null(tg_op_at(tg_op_count()));
    for (int i = 0; i < tg_op_count(); i++) {
        const tg_op_desc *d = tg_op_at(i);
        ck_assert_ptr_nonnull(d);
        ck_assert_msg(d->name && d->name[0], "op %d has no name", i);
        ck_assert_msg(d->backward != NULL, "op %s has no backward rule", d->name);
        /* -1 marks a variadic op (concat); fixed counts must fit a node. */
        ck_assert_msg(d->n_inputs == -1 || d->n_inputs >= 1, "op %s declares %d inputs",
                      d->name, d->n_inputs);
        for (int j = 0; j < i; j++)
            ck_assert_msg(strcmp(d->name, tg_op_at(j)->name) != 0,
                          "op name %s is registered twice (%d and %d)", d->name, j, i);
    }
}
END_TEST

/* The public view (tapegrad/registry.h) agrees with the private table, entry by entry, and
 * counts exactly the nodes a tape recorded. */
START_TEST(public_registry_matches_private_table) {
    ck_assert_int_eq(tg_op_registry_count(), tg_op_count());
    for (int i = 0; i < tg_op_count(); i++) {
        const tg_op_desc *d = tg_op_at(i);
        ck_assert_str_eq(tg_op_registry_name(i), d->name);
        ck_assert_int_eq(tg_op_registry_find(d->name), i);
        ck_assert(tg_op_registry_smooth(i) == ((d->flags & TG_OPF_SMOOTH) != 0));
        ck_assert(tg_op_registry_has_backward(i) == (d->backward != NULL));
    }
    for (int i = -1; i <= tg_op_count(); i += tg_op_count() + 1) {
        ck_assert_ptr_null(tg_op_registry_name(i));
        ck_assert(!tg_op_registry_smooth(i) && !tg_op_registry_has_backward(i));
    }
    ck_assert_int_eq(tg_op_registry_find("no_such_op"), -1);
    ck_assert_int_eq(tg_op_registry_find("slice_"), -1);
    ck_assert_int_eq(tg_op_registry_find(NULL), -1);

    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(2, 2));
    int relu = tg_op_registry_find("relu"), mul = tg_op_registry_find("mul");
    ck_assert_int_eq(tg_op_registry_recorded(t, relu), 0);
    tg_relu(t, x); /* x needs no gradient: computed, not recorded */
    ck_assert_int_eq(tg_op_registry_recorded(t, relu), 0);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_relu(t, tg_relu(t, x));
    tg_mul(t, y, x);
    ck_assert_int_eq(tg_op_registry_recorded(t, relu), 2);
    ck_assert_int_eq(tg_op_registry_recorded(t, mul), 1);
    ck_assert_int_eq(tg_op_registry_recorded(t, tg_op_registry_find("add")), 0);
    ck_assert_int_eq(tg_op_registry_recorded(t, -1), 0);
    ck_assert_int_eq(tg_op_registry_recorded(NULL, relu), 0);
    tg_tape_reset(t);
    ck_assert_int_eq(tg_op_registry_recorded(t, relu), 0);
    tg_tape_free(t);
}
END_TEST

START_TEST(every_case_names_a_registered_op) {
    for (int i = 0; i < op_case_count(); i++) {
        const op_case *c = op_case_at(i);
        ck_assert_msg(registry_index(c->op) >= 0, "case %d [%s] names %s, which is not registered",
                      i, c->label, c->op);
    }
}
END_TEST

/* Appends `name (what)` to a list of gaps. */
static void note_gap(char *list, size_t size, const char *name, const char *what) {
    size_t used = strlen(list);
    snprintf(list + used, size - used, "%s%s (%s)", used ? ", " : "", name, what);
}

START_TEST(every_registered_op_has_cases) {
    char gaps[4096] = "";
    for (int i = 0; i < tg_op_count(); i++) {
        const tg_op_desc *d = tg_op_at(i);
        int n = 0, n_f32 = 0, n_second = 0;
        for (int k = 0; k < op_case_count(); k++) {
            const op_case *c = op_case_at(k);
            if (strcmp(c->op, d->name) != 0) continue;
            n++; /* every case is gradchecked in f64 */
            if (!(c->flags & OP_CASE_F64_ONLY)) n_f32++;
            if (!(c->flags & OP_CASE_FIRST_ORDER_ONLY)) n_second++;
        }
        if (n == 0)
            note_gap(gaps, sizeof gaps, d->name, "no case");
        else if (n_f32 == 0)
            note_gap(gaps, sizeof gaps, d->name, "no f32 case");
        if (n > 0 && (d->flags & TG_OPF_SMOOTH) && n_second == 0)
            note_gap(gaps, sizeof gaps, d->name, "smooth but no second-order case");
    }
    ck_assert_msg(gaps[0] == '\0', "registered ops not proven by tests/ops/op_cases.c: %s", gaps);
}
END_TEST

/* Runs case i once in f64 with every input requiring a gradient and marks, per registry index,
 * which ops its recorded nodes belong to. Returns false (message in why) if it cannot run. */
static bool recorded_ops(int i, bool *seen, char *why, size_t why_size) {
    const op_case *c = op_case_at(i);
    for (int k = 0; k < tg_op_count(); k++) seen[k] = false;
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, op_case_seed(i));
    tg_tensor *in[OP_CASE_MAX_INPUTS], *out[TG_GRADCHECK_MAX_OUTPUTS] = {NULL};
    bool ok = t && op_case_make_inputs(c, t, TG_F64, &rng, in) == c->n_inputs;
    for (int k = 0; ok && k < c->n_inputs; k++) tg_tensor_set_requires_grad(in[k], true);
    ok = ok && c->fn(t, in, out, c->ctx) > 0 && tg_tape_status(t) == TG_OK;
    if (!ok) snprintf(why, why_size, "the case failed: %s", t ? tg_tape_error(t) : "no tape");
    for (const tg_node *n = ok ? t->last : NULL; n; n = n->prev) {
        int r = -1;
        for (int k = 0; k < tg_op_count(); k++)
            if (n->op == tg_op_at(k)) r = k;
        if (r < 0) {
            snprintf(why, why_size, "a node's op %s is not in the registry", n->op->name);
            ok = false;
            break;
        }
        if (n->op->n_inputs > 0 && n->n_inputs != n->op->n_inputs) {
            snprintf(why, why_size, "a %s node has %d inputs, its descriptor says %d",
                     n->op->name, n->n_inputs, n->op->n_inputs);
            ok = false;
            break;
        }
        seen[r] = true;
    }
    tg_tape_free(t);
    return ok;
}

enum { MAX_OPS = 256 };

/* Checks case i: it runs, records its declared op, and op_case_records_each (the public DOT
 * route) agrees with the node list for every registered op, so that a prefix such as slice /
 * slice_embed is never confused. Appends a line to `list` for each problem. */
static void check_recording(int i, const char **names, char *list, size_t size, int *n_bad) {
    const op_case *c = op_case_at(i);
    bool seen[MAX_OPS], via_dot[MAX_OPS];
    char why[512] = "", line[768] = "";
    int declared = registry_index(c->op);
    if (!recorded_ops(i, seen, why, sizeof why)) {
        snprintf(line, sizeof line, "case %d %s [%s]: %s", i, c->op, c->label, why);
    } else if (declared < 0 || !seen[declared]) {
        snprintf(line, sizeof line, "case %d [%s] claims to prove %s but records no %s node", i,
                 c->label, c->op, c->op);
    } else if (op_case_records_each(c, tg_op_count(), names, via_dot) != 0) {
        snprintf(line, sizeof line, "case %d %s [%s]: op_case_records_each could not run it", i,
                 c->op, c->label);
    } else {
        for (int k = 0; k < tg_op_count() && !line[0]; k++)
            if (via_dot[k] != seen[k])
                snprintf(line, sizeof line,
                         "case %d %s [%s]: through DOT %s is %srecorded, the tape says %s", i,
                         c->op, c->label, names[k], via_dot[k] ? "" : "not ",
                         seen[k] ? "it is" : "it is not");
    }
    if (line[0] && ++*n_bad <= 12) {
        size_t used = strlen(list);
        snprintf(list + used, size - used, "\n%s", line);
    }
}

/* The run of consecutive cases from _i naming the same op (one test per op: a test per case
 * would fork hundreds of times, which is slow under AddressSanitizer). */
START_TEST(cases_record_their_op) {
    const char *names[MAX_OPS];
    ck_assert_int_le(tg_op_count(), MAX_OPS);
    for (int k = 0; k < tg_op_count(); k++) names[k] = tg_op_at(k)->name;
    const char *op = op_case_at(_i)->op;
    char problems[6144] = "";
    int n_bad = 0;
    for (int i = _i; i < op_case_count() && strcmp(op_case_at(i)->op, op) == 0; i++)
        check_recording(i, names, problems, sizeof problems, &n_bad);
    ck_assert_msg(n_bad == 0, "%d case(s) of %s (first 12 listed):%s", n_bad, op, problems);
}
END_TEST

START_TEST(records_rejects_bad_arguments) {
    ck_assert_int_eq(op_case_records(NULL, "add"), -1);
    ck_assert_int_eq(op_case_records(op_case_at(0), NULL), -1);
    ck_assert_int_eq(op_case_records(op_case_at(0), "no_such_op"), 0);
    /* The declared op of the first case, alone and among others. */
    const char *names[3] = {"no_such_op", op_case_at(0)->op, "add_"};
    bool got[3] = {true, false, true};
    ck_assert_int_eq(op_case_records(op_case_at(0), op_case_at(0)->op), 1);
    ck_assert_int_eq(op_case_records_each(op_case_at(0), 3, names, got), 0);
    ck_assert(!got[0] && got[1] && !got[2]);
    ck_assert_int_eq(op_case_records_each(op_case_at(0), 1, NULL, got), -1);
}
END_TEST

static Suite *registry_suite(void) {
    Suite *s = suite_create("op_registry");
    TCase *tc = tcase_create("registry");
    tcase_add_test(tc, descriptors_are_complete_and_names_unique);
    tcase_add_test(tc, public_registry_matches_private_table);
    tcase_add_test(tc, every_case_names_a_registered_op);
    tcase_add_test(tc, every_registered_op_has_cases);
    tcase_add_test(tc, records_rejects_bad_arguments);
    suite_add_tcase(s, tc);
    tc = tcase_create("recording");
    tcase_set_timeout(tc, 60);
    for (int first = 0; first < op_case_count();) {
        const char *op = op_case_at(first)->op;
        int end = first + 1;
        while (end < op_case_count() && strcmp(op_case_at(end)->op, op) == 0) end++;
        tcase_add_loop_test(tc, cases_record_their_op, first, first + 1);
        first = end;
    }
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(registry_suite()); }

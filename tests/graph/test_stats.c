/* test_stats.c: gradient statistics (tapegrad/stats.h) against values worked out by hand, in
 * f32 and f64, on contiguous tensors and on strided, transposed and broadcast views, with NaN
 * and Inf counted apart; and the tape's scopes (tapegrad/tape.h): nesting, popping, errors,
 * resets, and the scope nodes and backward rules record. */
#include <string.h>

#include "test_util.h"
#include "graph/graph.h" /* the nodes' scopes and the scope table */

static tg_grad_stats stats_of(const tg_tensor *x) {
    tg_grad_stats s;
    memset(&s, 0xAB, sizeof s); /* every field must be written */
    ck_assert_int_eq(tg_tensor_stats(x, &s), TG_OK);
    return s;
}

#define ck_assert_stats(s, norm_, max_, nan_, inf_, n_)                                        \
    do {                                                                                       \
        ck_assert_msg(fabs((s).norm - (norm_)) <= 1e-12 * fabs(norm_) + 1e-300,               \
                      "norm %.17g, want %.17g", (s).norm, (double)(norm_));                    \
        ck_assert_msg((s).max_abs == (max_), "max_abs %.17g, want %.17g", (s).max_abs,        \
                      (double)(max_));                                                         \
        ck_assert_int_eq((s).n_nan, nan_);                                                     \
        ck_assert_int_eq((s).n_inf, inf_);                                                     \
        ck_assert_int_eq((s).n_elements, n_);                                                  \
    } while (0)

/* {3, -4, NaN, Inf, -Inf, 12, 0}: finite part 3, -4, 12, 0 -> norm 13, max 12. */
START_TEST(test_stats_by_hand) {
    tg_tape *t = tg_tape_new();
    const double v[] = {3, -4, NAN, INFINITY, -INFINITY, 12, 0};
    const float vf[] = {3, -4, NAN, INFINITY, -INFINITY, 12, 0};
    tg_grad_stats s = stats_of(tg_from_data(t, TG_F64, TG_SHAPE(7), v));
    ck_assert_stats(s, 13.0, 12.0, 1, 2, 7);
    s = stats_of(tg_from_data(t, TG_F32, TG_SHAPE(7), vf));
    ck_assert_stats(s, 13.0, 12.0, 1, 2, 7);
    /* All non-finite: nothing to measure, everything counted. */
    s = stats_of(tg_from_data(t, TG_F32, TG_SHAPE(2), ((const float[]){NAN, -INFINITY})));
    ck_assert_stats(s, 0.0, 0.0, 1, 1, 2);
    /* Empty and scalar. */
    s = stats_of(tg_zeros(t, TG_F64, TG_SHAPE(0, 3)));
    ck_assert_stats(s, 0.0, 0.0, 0, 0, 0);
    s = stats_of(tg_scalar(t, TG_F64, -2.5));
    ck_assert_stats(s, 2.5, 2.5, 0, 0, 1);
    tg_tape_free(t);
}
END_TEST

/* Views are read through their strides: every logical element once per position. */
START_TEST(test_stats_of_views) {
    tg_tape *t = tg_tape_new();
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? TG_F64 : TG_F32;
        /* x = [[1, 2, 3], [4, 5, NaN]] */
        const double v[] = {1, 2, 3, 4, 5, NAN};
        tg_tensor *x = tg_zeros(t, dt, TG_SHAPE(2, 3));
        ck_assert_int_eq(tg_tensor_copy_in(x, TG_F64, v), TG_OK);
        /* Columns 0 and 2, stepping over column 1: 1, 3, 4, NaN -> norm sqrt(26). */
        tg_tensor *cols = tg_slice(t, x, 1, 0, 3, 2);
        ck_assert(!tg_tensor_is_contiguous(cols));
        tg_grad_stats s = stats_of(cols);
        ck_assert_stats(s, sqrt(26.0), 4.0, 1, 0, 4);
        /* The transpose has the same elements. */
        s = stats_of(tg_transpose(t, x, 0, 1));
        ck_assert_stats(s, sqrt(55.0), 5.0, 1, 0, 6);
        /* Row 0 broadcast to 4 rows (stride 0): each element counts 4 times -> 2 sqrt(14). */
        tg_tensor *row = tg_slice(t, x, 0, 0, 1, 1);
        s = stats_of(tg_broadcast_to(t, row, 2, (const int64_t[]){4, 3}));
        ck_assert_stats(s, 2 * sqrt(14.0), 3.0, 0, 0, 12);
    }
    tg_tape_free(t);
}
END_TEST

/* Huge and tiny f64 values: the norm is scaled, never Inf or 0 when the values are not. */
START_TEST(test_stats_extremes) {
    tg_tape *t = tg_tape_new();
    tg_grad_stats s = stats_of(tg_from_data(t, TG_F64, TG_SHAPE(4), ((const double[]){
                                                     3e200, -4e200, 0, 1})));
    ck_assert_stats(s, 5e200, 4e200, 0, 0, 4);
    s = stats_of(tg_from_data(t, TG_F64, TG_SHAPE(2), ((const double[]){3e-200, 4e-200})));
    ck_assert_stats(s, 5e-200, 4e-200, 0, 0, 2);
    /* The largest f32 squared fits a double. */
    s = stats_of(tg_from_data(t, TG_F32, TG_SHAPE(2), ((const float[]){3e38f, 3e38f})));
    ck_assert_msg(fabs(s.norm - sqrt(2.0) * (double)3e38f) <= 1e-12 * s.norm, "%g", s.norm);
    tg_tape_free(t);
}
END_TEST

START_TEST(test_stats_null_arguments) {
    tg_tape *t = tg_tape_new();
    tg_grad_stats s = {1, 2, 3, 4, 5};
    ck_assert_int_eq(tg_tensor_stats(NULL, &s), TG_ERR_NULL);
    ck_assert(s.norm == 1 && s.n_elements == 5); /* left alone */
    ck_assert_int_eq(tg_tensor_stats(tg_ones(t, TG_F32, TG_SHAPE(2)), NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_store_grad_stats(NULL, 0, NULL, &s), TG_ERR_NULL);
    ck_assert_int_eq(tg_tensors_stats(-1, NULL, NULL, NULL), TG_ERR_ARG);
    ck_assert_int_eq(tg_tensors_stats(2, NULL, NULL, &s), TG_ERR_NULL);
    ck_assert_int_eq(tg_tensors_stats(0, NULL, NULL, &s), TG_OK);
    ck_assert_stats(s, 0.0, 0.0, 0, 0, 0);
    tg_tape_free(t);
}
END_TEST

/* A store's gradients after a real backward: loss = sum(a * x) + sum(log b) gives
 * grad a = x, grad b = 1/b; buffers are not parameters and are skipped. */
START_TEST(test_store_grad_stats) {
    tg_store *st = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *a = tg_store_param(st, "a", TG_F64, TG_SHAPE(2, 2));
    tg_tensor *buf = tg_store_buffer(st, "buf", TG_F64, TG_SHAPE(3));
    tg_tensor *b = tg_store_param(st, "b", TG_F32, TG_SHAPE(3));
    ck_assert_int_eq(tg_tensor_fill(buf, 100), TG_OK);
    ck_assert_int_eq(tg_tensor_copy_in(b, TG_F64, (const double[]){0, 0.5, -0.25}), TG_OK);
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(2, 2), ((const double[]){1, -2, 2, 4}));
    tg_tensor *loss_a = tg_sum_all(t, tg_mul(t, a, x));
    tg_tensor *loss_b = tg_sum_all(t, tg_log(t, b)); /* f32: a second backward */
    ck_assert_msg(loss_a && loss_b, "%s", tg_tape_error(t));
    ck_assert_int_eq(tg_tape_backward(t, loss_a, NULL, 0), TG_OK);
    ck_assert_int_eq(tg_tape_backward(t, loss_b, NULL, 0), TG_OK);
    tg_grad_stats per[2], total;
    ck_assert_int_eq(tg_store_n_params(st), 2);
    ck_assert_int_eq(tg_store_grad_stats(st, 2, per, &total), TG_OK);
    ck_assert_stats(per[0], 5.0, 4.0, 0, 0, 4);            /* |(1, -2, 2, 4)| = 5 */
    ck_assert_stats(per[1], sqrt(20.0), 4.0, 0, 1, 3);      /* (Inf, 2, -4) */
    ck_assert_stats(total, sqrt(45.0), 4.0, 0, 1, 7);
    /* Each pointer may be NULL. */
    ck_assert_int_eq(tg_store_grad_stats(st, 0, NULL, &total), TG_OK);
    ck_assert_stats(total, sqrt(45.0), 4.0, 0, 1, 7);
    ck_assert_int_eq(tg_store_grad_stats(st, 2, per, NULL), TG_OK);
    /* A per_param array shorter than the parameter count is refused before anything is
     * written (the element past it is a guard that must survive), as is a negative count. */
    tg_grad_stats small[2] = {{-1, -1, -1, -1, -1}, {-7, -7, -7, -7, -7}};
    tg_grad_stats kept = {-3, -3, -3, -3, -3};
    ck_assert_int_eq(tg_store_grad_stats(st, 1, small, &kept), TG_ERR_ARG);
    ck_assert(small[0].norm == -1 && small[1].norm == -7 && kept.norm == -3);
    ck_assert_int_eq(tg_store_grad_stats(st, 0, small, &kept), TG_ERR_ARG);
    ck_assert_int_eq(tg_store_grad_stats(st, -1, NULL, &kept), TG_ERR_ARG);
    ck_assert(kept.n_elements == -3);
    /* A larger array is fine; entries past the count are left alone. */
    tg_grad_stats big[3] = {{0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {-9, -9, -9, -9, -9}};
    ck_assert_int_eq(tg_store_grad_stats(st, 3, big, NULL), TG_OK);
    ck_assert_stats(big[0], 5.0, 4.0, 0, 0, 4);
    ck_assert(big[2].norm == -9);
    /* The list form, with a tensor that has no gradient. */
    const tg_tensor *list[3] = {tg_tensor_grad(b), NULL, tg_tensor_grad(a)};
    tg_grad_stats three[3];
    ck_assert_int_eq(tg_tensors_stats(3, list, three, &total), TG_OK);
    ck_assert_stats(three[1], 0.0, 0.0, 0, 0, 0);
    ck_assert_stats(three[2], 5.0, 4.0, 0, 0, 4);
    ck_assert_stats(total, sqrt(45.0), 4.0, 0, 1, 7);
    tg_tape_free(t);
    tg_store_free(st);
}
END_TEST

/* ---- scopes ---- */

START_TEST(test_scopes_nest_and_pop) {
    tg_tape *t = tg_tape_new();
    ck_assert_str_eq(tg_tape_scope(t), "");
    tg_tape_push_scope(t, "block1");
    char name[8] = "attn";
    tg_tape_push_scope(t, name);
    strcpy(name, "XXXX"); /* the name was copied */
    ck_assert_str_eq(tg_tape_scope(t), "block1/attn");
    ck_assert_int_eq(tg_tape_scope_depth(t), 2);
    tg_tape_pop_scope(t);
    ck_assert_str_eq(tg_tape_scope(t), "block1");
    tg_tape_push_scope(t, "mlp");
    ck_assert_str_eq(tg_tape_scope(t), "block1/mlp");
    tg_tape_pop_scope(t);
    tg_tape_pop_scope(t);
    ck_assert_str_eq(tg_tape_scope(t), "");
    /* Names may hold '/', which is only text. */
    tg_tape_push_scope(t, "step/3");
    ck_assert_str_eq(tg_tape_scope(t), "step/3");
    tg_tape_pop_scope(t);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    ck_assert_str_eq(tg_tape_scope(NULL), "");
    tg_tape_push_scope(NULL, "x"); /* no-ops */
    tg_tape_pop_scope(NULL);
    tg_tape_free(t);
}
END_TEST

START_TEST(test_scope_errors) {
    tg_tape *t = tg_tape_new();
    /* A pop at the top level is an error on the tape, not a crash. */
    tg_tape_pop_scope(t);
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_ARG);
    ck_assert_msg(strstr(tg_tape_error(t), "pop_scope"), "%s", tg_tape_error(t));
    ck_assert_int_eq(tg_tape_scope_depth(t), 0);
    tg_tape_clear_error(t);
    /* NULL and empty names: an error, yet the push counts so that its pop balances. */
    tg_tape_push_scope(t, "outer");
    tg_tape_push_scope(t, NULL);
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_ARG);
    ck_assert_msg(strstr(tg_tape_error(t), "NULL"), "%s", tg_tape_error(t));
    ck_assert_str_eq(tg_tape_scope(t), "outer");
    tg_tape_clear_error(t);
    tg_tape_push_scope(t, "");
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_ARG);
    tg_tape_clear_error(t);
    tg_tape_pop_scope(t);
    tg_tape_pop_scope(t);
    ck_assert_str_eq(tg_tape_scope(t), "outer");
    tg_tape_pop_scope(t);
    ck_assert_str_eq(tg_tape_scope(t), "");
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    /* Too deep: the extra pushes are errors, and popping them all returns to the top. */
    for (int i = 0; i < TG_SCOPE_MAX_DEPTH + 3; i++) tg_tape_push_scope(t, "d");
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_ARG);
    ck_assert_msg(strstr(tg_tape_error(t), "deep"), "%s", tg_tape_error(t));
    ck_assert_int_eq(tg_tape_scope_depth(t), TG_SCOPE_MAX_DEPTH + 3);
    ck_assert_uint_eq(strlen(tg_tape_scope(t)), 2 * TG_SCOPE_MAX_DEPTH - 1);
    for (int i = 0; i < TG_SCOPE_MAX_DEPTH + 3; i++) tg_tape_pop_scope(t);
    ck_assert_str_eq(tg_tape_scope(t), "");
    tg_tape_clear_error(t);
    /* A path too long. */
    char long_name[TG_SCOPE_PATH_MAX];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    tg_tape_push_scope(t, "x");
    tg_tape_push_scope(t, long_name + 10); /* "x/" + 245 bytes: fits */
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_pop_scope(t);
    tg_tape_push_scope(t, long_name + 1); /* "x/" + 254 bytes: 256, one too many */
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_ARG);
    ck_assert_str_eq(tg_tape_scope(t), "x");
    tg_tape_free(t);
}
END_TEST

/* Open scopes survive a reset; the table is rebuilt without stale entries. */
START_TEST(test_scopes_survive_reset) {
    tg_tape *t = tg_tape_new();
    for (int i = 0; i < 100; i++) { /* many scopes, so the table grows */
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        tg_tape_push_scope(t, name);
        tg_tape_pop_scope(t);
    }
    tg_tape_push_scope(t, "model");
    tg_tape_push_scope(t, "enc");
    tg_tape_reset(t);
    ck_assert_str_eq(tg_tape_scope(t), "model/enc");
    ck_assert_int_lt(t->scopes.n, 4); /* top, model, model/enc */
    tg_tape_pop_scope(t);
    ck_assert_str_eq(tg_tape_scope(t), "model");
    tg_tape_push_scope(t, "dec");
    ck_assert_str_eq(tg_tape_scope(t), "model/dec");
    tg_tape_pop_scope(t);
    tg_tape_pop_scope(t);
    ck_assert_str_eq(tg_tape_scope(t), "");
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

static const char *node_scope(tg_tape *t, const tg_tensor *x) {
    ck_assert_ptr_nonnull(x->node);
    return tg_scope_path(t, x->node->scope);
}

/* Nodes remember their scope; the backward rules' own nodes (recorded with create-graph)
 * join their forward node's scope; errors name the scope. */
START_TEST(test_nodes_record_scope) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(2), ((const double[]){0.5, 2}));
    tg_tensor_set_requires_grad(x, true);
    tg_tape_push_scope(t, "layer1");
    tg_tensor *h = tg_tanh(t, x);
    tg_tape_push_scope(t, "inner");
    tg_tensor *h2 = tg_mul(t, h, h);
    tg_tape_pop_scope(t);
    tg_tape_pop_scope(t);
    tg_tensor *loss = tg_sum_all(t, h2);
    ck_assert_str_eq(node_scope(t, h), "layer1");
    ck_assert_str_eq(node_scope(t, h2), "layer1/inner");
    ck_assert_str_eq(node_scope(t, loss), "");
    int64_t before = tg_tape_n_nodes(t);
    tg_tensor *g;
    ck_assert_int_eq(tg_tape_grad(t, loss, NULL, 1, &x, &g, TG_CREATE_GRAPH), TG_OK);
    ck_assert_str_eq(tg_tape_scope(t), ""); /* restored after the sweep */
    /* Every node the sweep recorded belongs to the scope of the node whose rule made it:
     * sum_all's rule at the top, mul's in layer1/inner, tanh's in layer1. */
    int seen_inner = 0, seen_layer1 = 0;
    for (tg_node *n = t->last; n && n->id >= before; n = n->prev) {
        const char *sc = tg_scope_path(t, n->scope);
        seen_inner += strcmp(sc, "layer1/inner") == 0;
        seen_layer1 += strcmp(sc, "layer1") == 0;
    }
    ck_assert_int_gt(seen_inner, 0);
    ck_assert_int_gt(seen_layer1, 0);
    /* An op error inside a scope names it. */
    tg_tape_push_scope(t, "bad");
    ck_assert_ptr_null(tg_matmul(t, x, x));
    ck_assert_msg(strstr(tg_tape_error(t), " in scope bad]"), "%s", tg_tape_error(t));
    tg_tape_free(t);
}
END_TEST

static Suite *stats_suite(void) {
    Suite *s = suite_create("stats");
    TCase *st = tcase_create("stats");
    tcase_add_test(st, test_stats_by_hand);
    tcase_add_test(st, test_stats_of_views);
    tcase_add_test(st, test_stats_extremes);
    tcase_add_test(st, test_stats_null_arguments);
    tcase_add_test(st, test_store_grad_stats);
    suite_add_tcase(s, st);
    TCase *sc = tcase_create("scopes");
    tcase_add_test(sc, test_scopes_nest_and_pop);
    tcase_add_test(sc, test_scope_errors);
    tcase_add_test(sc, test_scopes_survive_reset);
    tcase_add_test(sc, test_nodes_record_scope);
    suite_add_tcase(s, sc);
    return s;
}

int main(void) { return tg_test_run(stats_suite()); }

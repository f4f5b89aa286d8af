/* test_anomaly.c: anomaly mode (tg_tape_set_anomaly). The first NaN/Inf an op makes from finite
 * inputs, in the forward pass or in a sweep, becomes the tape's error naming that op, its
 * inputs' shapes and the forward call's file:line; ops that only pass a non-finite value on are
 * not blamed; with the mode off nothing changes.
 *
 * Sites are matched as "test_anomaly.c:LINE" because __FILE__ carries the build's relative path. */
#include <string.h>

#include "test_util.h"

#define EXPECT_ANOMALY(t, ...)                                                                     \
    do {                                                                                           \
        ck_assert_msg(tg_tape_status(t) == TG_ERR_NONFINITE, "status %s: %s",                      \
                      tg_status_string(tg_tape_status(t)), tg_tape_error(t));                      \
        const char *parts_[] = {__VA_ARGS__};                                                      \
        for (size_t i_ = 0; i_ < sizeof parts_ / sizeof parts_[0]; i_++)                           \
            ck_assert_msg(strstr(tg_tape_error(t), parts_[i_]) != NULL,                            \
                          "error \"%s\" does not mention \"%s\"", tg_tape_error(t), parts_[i_]);   \
    } while (0)

static const char *site(int line) {
    static char buf[4][64];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "test_anomaly.c:%d", line);
    return b;
}

/* A tensor of dtype dt with the given double values (no gradient). */
static tg_tensor *from(tg_tape *t, tg_dtype dt, int ndim, const int64_t *shape, const double *v) {
    tg_tensor *x = tg_zeros(t, dt, ndim, shape);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(tg_tensor_copy_in(x, TG_F64, v), TG_OK);
    return x;
}

static tg_tensor *leaf(tg_tape *t, tg_dtype dt, int64_t n, const double *v) {
    tg_tensor *x = from(t, dt, 1, &n, v);
    tg_tensor_set_requires_grad(x, true);
    return x;
}

/* Sets element i of a contiguous tensor. */
static void set(tg_tensor *x, int64_t i, double v) {
    if (tg_tensor_dtype(x) == TG_F32)
        ((float *)tg_tensor_data(x))[i] = (float)v;
    else
        ((double *)tg_tensor_data(x))[i] = v;
}

START_TEST(test_switch) {
    tg_tape *t = tg_tape_new();
    ck_assert(!tg_tape_anomaly(t));
    ck_assert(!tg_tape_set_anomaly(t, true));
    ck_assert(tg_tape_anomaly(t));
    tg_tape_reset(t); /* a setting, like recording: a reset keeps it */
    ck_assert(tg_tape_anomaly(t));
    ck_assert(tg_tape_set_anomaly(t, false));
    ck_assert(!tg_tape_anomaly(t));
    ck_assert(!tg_tape_anomaly(NULL));
    ck_assert(!tg_tape_set_anomaly(NULL, true));
    tg_tape_free(t);
}
END_TEST

/* log of a negative: NaN from finite inputs, in f32 and f64, recorded or not. */
START_TEST(test_forward_log_of_negative) {
    tg_dtype dt = _i % 2 ? TG_F64 : TG_F32;
    bool record = _i < 2;
    tg_tape *t = tg_tape_new();
    tg_tape_set_anomaly(t, true);
    tg_tape_set_grad_enabled(t, record);
    tg_tensor *x = leaf(t, dt, 3, (double[]){1, -1, 2});
    tg_tensor *y = tg_exp(t, x); /* finite: no error */
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    int line = __LINE__ + 1;
    tg_tensor *z = tg_log(t, tg_sub(t, y, tg_scalar(t, dt, 1.0)));
    ck_assert_ptr_null(z);
    EXPECT_ANOMALY(t, "anomaly in forward", "log made 1 NaN and 0 Inf", "(3,)", site(line));
    /* the chain goes on returning NULL; backward refuses */
    ck_assert_ptr_null(tg_sum_all(t, z));
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, y), NULL, 0), TG_ERR_NONFINITE);
    tg_tape_free(t);
}
END_TEST

/* exp overflows first; the ops after it pass the infinity on and are not blamed. */
START_TEST(test_forward_blames_the_maker) {
    tg_tape *t = tg_tape_new();
    tg_tape_set_anomaly(t, true);
    tg_tensor *x = leaf(t, TG_F64, 2, (double[]){1, 2});
    tg_tensor *w = tg_scalar(t, TG_F64, 1000.0);
    tg_tensor *h = tg_mul(t, x, w);
    int line = __LINE__ + 1;
    tg_tensor *e = tg_exp(t, h);
    ck_assert_ptr_null(e);
    EXPECT_ANOMALY(t, "exp made 0 NaN and 2 Inf", "finite inputs (2,)", site(line));
    tg_tape_free(t);

    /* Off, the same chain runs; turned on after the overflow, the ops downstream (mul and sum
     * of an infinite input) are not blamed. */
    t = tg_tape_new();
    x = leaf(t, TG_F64, 2, (double[]){1, 2});
    e = tg_exp(t, tg_mul_scalar(t, x, 1000.0));
    ck_assert_ptr_nonnull(e);
    ck_assert(isinf(tg_tensor_get(e, 0)));
    tg_tape_set_anomaly(t, true);
    tg_tensor *s = tg_sum_all(t, tg_mul(t, e, x));
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

/* A parameter holding NaN (as a step without a guard leaves it) is named at its first use; an
 * infinite leaf (a mask) is allowed and a softmax over it stays finite. */
START_TEST(test_forward_leaves) {
    tg_store *st = tg_store_new();
    tg_tensor *w = tg_store_param(st, "fc1.weight", TG_F64, TG_SHAPE(3));
    set(w, 1, NAN);
    tg_tape *t = tg_tape_new();
    tg_tape_set_anomaly(t, true);
    tg_tensor *x = leaf(t, TG_F64, 3, (double[]){1, 2, 3});
    int line = __LINE__ + 1;
    ck_assert_ptr_null(tg_mul(t, x, w));
    EXPECT_ANOMALY(t, "input 1 of mul", "parameter 'fc1.weight' (3,)", "holds 1 NaN",
                   site(line));
    tg_tape_reset(t);
    x = leaf(t, TG_F64, 3, (double[]){1, 2, 3});
    tg_tensor *mask = from(t, TG_F64, 1, (int64_t[]){3}, (double[]){0, -INFINITY, 0});
    tg_tensor *p = tg_softmax(t, tg_add(t, x, mask), 0);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_mul(t, p, x)), NULL, 0), TG_OK);
    tg_tape_free(t);
    tg_store_free(st);
}
END_TEST

/* A data batch holding NaN, reshaped (a view) before its matmul: the view's result is an
 * intermediate, so without a check at the view the NaN would look passed on and nothing would be
 * reported. The leaf is named at its first use, the reshape; a chain of views reports at the
 * first. A view of an op's result holding NaN is not blamed. */
START_TEST(test_forward_leaf_through_view) {
    tg_tape *t = tg_tape_new();
    tg_tape_set_anomaly(t, true);
    tg_tensor *x = from(t, TG_F64, 1, (int64_t[]){4}, (double[]){1, NAN, 3, 4});
    tg_tensor *w = leaf(t, TG_F64, 2, (double[]){1, 2});
    tg_tensor *w2 = tg_reshape(t, w, 2, (int64_t[]){2, 1});
    ck_assert_ptr_nonnull(w2);
    int line = __LINE__ + 1;
    tg_tensor *xr = tg_reshape(t, x, 2, (int64_t[]){2, 2});
    ck_assert_ptr_null(xr);
    EXPECT_ANOMALY(t, "input 0 of reshape", "the input (4,)", "holds 1 NaN", site(line));
    tg_tape_reset(t);

    /* Through two views: the first reports. */
    x = from(t, TG_F64, 1, (int64_t[]){4}, (double[]){1, 2, NAN, 4});
    line = __LINE__ + 1;
    ck_assert_ptr_null(tg_permute(t, tg_reshape(t, x, 2, (int64_t[]){2, 2}), (int[]){1, 0}));
    EXPECT_ANOMALY(t, "input 0 of reshape", "holds 1 NaN", site(line));
    tg_tape_reset(t);

    /* Made by log, then reshaped and used: blamed on log alone. */
    w = leaf(t, TG_F64, 2, (double[]){1, 2});
    x = from(t, TG_F64, 1, (int64_t[]){4}, (double[]){1, -1, 3, 4});
    tg_tape_set_anomaly(t, false);
    tg_tensor *l = tg_log(t, x);
    tg_tape_set_anomaly(t, true);
    xr = tg_reshape(t, l, 2, (int64_t[]){2, 2});
    ck_assert_ptr_nonnull(xr);
    ck_assert_ptr_nonnull(tg_matmul(t, xr, tg_reshape(t, w, 2, (int64_t[]){2, 1})));
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
}
END_TEST

/* An infinite fill or constant makes infinities on purpose (a -inf padding before a max, a mask
 * built with x + -inf): not blamed. NaN such an op makes (inf + -inf) still is. */
START_TEST(test_forward_infinite_constant) {
    tg_tape *t = tg_tape_new();
    tg_tape_set_anomaly(t, true);
    tg_tensor *x = leaf(t, TG_F64, 3, (double[]){1, 2, 3});
    tg_tensor *p = tg_pad(t, x, 2, (int64_t[]){1, 1}, -INFINITY);
    ck_assert_ptr_nonnull(p);
    ck_assert(isinf(tg_tensor_get(p, 0)));
    tg_tensor *a = tg_add_scalar(t, x, -INFINITY);
    ck_assert_ptr_nonnull(a);
    tg_tensor *m = tg_softmax(t, tg_add(t, p, tg_zeros(t, TG_F64, 1, (int64_t[]){5})), 0);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_reset(t);

    /* The same with a constant input that is not a leaf: still not blamed. */
    x = leaf(t, TG_F64, 3, (double[]){1, 2, 3});
    ck_assert_ptr_nonnull(tg_pad(t, tg_mul(t, x, x), 2, (int64_t[]){0, 1}, INFINITY));
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tape_reset(t);

    /* x * inf is allowed while x is nonzero; 0 * inf is NaN the op made, and is blamed. */
    x = from(t, TG_F64, 1, (int64_t[]){2}, (double[]){1, 2});
    tg_tensor *inf = tg_mul_scalar(t, x, INFINITY);
    ck_assert_ptr_nonnull(inf);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_tensor *z = from(t, TG_F64, 1, (int64_t[]){2}, (double[]){0, 1});
    int line = __LINE__ + 1;
    ck_assert_ptr_null(tg_mul_scalar(t, z, INFINITY));
    EXPECT_ANOMALY(t, "mul_scalar made 1 NaN and 1 Inf", site(line));
    tg_tape_free(t);
}
END_TEST

/* sqrt at 0: the forward is finite, the rule's 1/(2 sqrt x) is infinite. The error names sqrt
 * and the line of the forward call, not the line of the sum or of backward. */
START_TEST(test_backward_sqrt_at_zero) {
    bool create = _i == 1;
    tg_tape *t = tg_tape_new();
    tg_tape_set_anomaly(t, true);
    tg_tensor *x = leaf(t, TG_F64, 3, (double[]){4, 0, 1});
    int line = __LINE__ + 1;
    tg_tensor *r = tg_sqrt(t, x);
    tg_tensor *loss = tg_sum_all(t, tg_mul_scalar(t, r, 3.0));
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_status s = tg_tape_backward(t, loss, NULL, create ? TG_CREATE_GRAPH : 0);
    ck_assert_int_eq(s, TG_ERR_NONFINITE);
    EXPECT_ANOMALY(t, "anomaly in backward", "rule of sqrt", "0 NaN and 1 Inf", "input 0",
                   "inputs (3,)", site(line));
    tg_tape_free(t);
}
END_TEST

/* Two finite contributions whose f32 sum overflows: the sum is blamed, at the leaf. */
START_TEST(test_backward_sum_overflows) {
    tg_tape *t = tg_tape_new();
    tg_tape_set_anomaly(t, true);
    tg_tensor *x = leaf(t, TG_F32, 1, (double[]){1e-30});
    tg_tensor *a = tg_mul_scalar(t, x, 3e38), *b = tg_mul_scalar(t, x, 3e38);
    tg_tensor *loss = tg_add(t, tg_sum_all(t, a), tg_sum_all(t, b));
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_ERR_NONFINITE);
    EXPECT_ANOMALY(t, "anomaly in backward", "sum of the gradients reaching", "1 Inf");
    tg_tape_free(t);

    /* A parameter whose gradient already held NaN before the sweep. */
    tg_store *st = tg_store_new();
    tg_tensor *w = tg_store_param(st, "w", TG_F64, TG_SHAPE(2));
    set(tg_tensor_grad(w), 0, NAN);
    t = tg_tape_new();
    tg_tape_set_anomaly(t, true);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_mul(t, w, w)), NULL, 0),
                     TG_ERR_NONFINITE);
    EXPECT_ANOMALY(t, "accumulated gradient of the parameter 'w'", "1 NaN");
    tg_tape_free(t);
    tg_store_free(st);
}
END_TEST

/* Errors about a leaf's gradient name the leaf, with no call site and no scope: not the scope
 * the caller of backward (or grad) happens to be in. */
START_TEST(test_leaf_errors_have_no_scope) {
    for (int use_grad = 0; use_grad < 2; use_grad++) {
        tg_tape *t = tg_tape_new();
        tg_tape_set_anomaly(t, true);
        tg_tensor *x = leaf(t, TG_F32, 1, (double[]){1e-30});
        tg_tape_push_scope(t, "outer");
        tg_tensor *a = tg_mul_scalar(t, x, 3e38), *b = tg_mul_scalar(t, x, 3e38);
        tg_tensor *loss = tg_add(t, tg_sum_all(t, a), tg_sum_all(t, b));
        ck_assert_int_eq(tg_tape_status(t), TG_OK);
        tg_tensor *g = NULL;
        tg_status st = use_grad ? tg_tape_grad(t, loss, NULL, 1, &x, &g, 0)
                                : tg_tape_backward(t, loss, NULL, 0);
        ck_assert_int_eq(st, TG_ERR_NONFINITE);
        EXPECT_ANOMALY(t, "sum of the gradients reaching");
        ck_assert_msg(strstr(tg_tape_error(t), "scope") == NULL, "%s", tg_tape_error(t));
        ck_assert_str_eq(tg_tape_scope(t), "outer"); /* the caller's scope is restored */
        tg_tape_pop_scope(t);
        tg_tape_free(t);
    }
}
END_TEST

/* With the mode off the same programs run as before: NaN values, an infinite gradient, no
 * error. With it on and nothing wrong, every value and gradient is the same bit for bit. */
START_TEST(test_off_changes_nothing) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = leaf(t, TG_F64, 3, (double[]){4, 0, -1});
    tg_tensor *l = tg_log(t, x);
    ck_assert_ptr_nonnull(l);
    ck_assert(isnan(tg_tensor_get(l, 2)));
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_sqrt(t, x)), NULL, 0), TG_OK);
    ck_assert(isinf(tg_tensor_get(tg_tensor_grad(x), 1)));
    tg_tape_free(t);

    double vals[2][6], grads[2][6];
    for (int on = 0; on < 2; on++) {
        tg_store *st = tg_store_new();
        tg_tensor *w = tg_store_param(st, "w", TG_F32, TG_SHAPE(2, 3));
        for (int i = 0; i < 6; i++) set(w, i, 0.3 * i - 0.7);
        t = tg_tape_new();
        tg_tape_set_anomaly(t, on);
        tg_tensor *in = from(t, TG_F32, 2, (int64_t[]){4, 2},
                                       (double[]){1, 2, -1, 0.5, 3, -2, 0, 1});
        tg_tensor *h = tg_tanh(t, tg_matmul(t, in, w));
        tg_tensor *p = tg_softmax(t, tg_relu(t, h), 1);
        tg_tensor *loss = tg_mean_all(t, tg_log(t, p));
        ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
        for (int i = 0; i < 6; i++) {
            vals[on][i] = tg_tensor_get(p, i);
            grads[on][i] = tg_tensor_get(tg_tensor_grad(w), i);
        }
        tg_tape_free(t);
        tg_store_free(st);
    }
    ck_assert(memcmp(vals[0], vals[1], sizeof vals[0]) == 0);
    ck_assert(memcmp(grads[0], grads[1], sizeof grads[0]) == 0);
}
END_TEST

/* An explicit output gradient holding NaN is reported as such. */
START_TEST(test_backward_seed) {
    tg_tape *t = tg_tape_new();
    tg_tape_set_anomaly(t, true);
    tg_tensor *x = leaf(t, TG_F64, 2, (double[]){1, 2});
    tg_tensor *y = tg_mul_scalar(t, x, 2.0);
    tg_tensor *g = from(t, TG_F64, 1, (int64_t[]){2}, (double[]){1, NAN});
    ck_assert_int_eq(tg_tape_backward(t, y, g, 0), TG_ERR_NONFINITE);
    EXPECT_ANOMALY(t, "output gradient given to the sweep", "1 NaN");
    tg_tape_free(t);
}
END_TEST

/* The scope of the node being checked ends the message: the forward op's scope in force, and
 * in the sweep the forward node's, not the scope open when backward is called. */
START_TEST(test_scope_named) {
    tg_tape *t = tg_tape_new();
    tg_tape_set_anomaly(t, true);
    tg_tensor *x = leaf(t, TG_F64, 2, (double[]){-1, 2});
    tg_tape_push_scope(t, "encoder");
    tg_tape_push_scope(t, "layer2");
    int line = __LINE__ + 1;
    ck_assert_ptr_null(tg_log(t, x));
    tg_tape_pop_scope(t);
    tg_tape_pop_scope(t);
    char where[96];
    snprintf(where, sizeof where, "%s in scope encoder/layer2]", site(line));
    EXPECT_ANOMALY(t, "anomaly in forward", "log made 1 NaN", where);
    tg_tape_reset(t);

    x = leaf(t, TG_F64, 2, (double[]){0, 2});
    tg_tape_push_scope(t, "head");
    line = __LINE__ + 1;
    tg_tensor *r = tg_sqrt(t, x);
    tg_tape_pop_scope(t);
    tg_tensor *loss = tg_sum_all(t, r);
    tg_tape_push_scope(t, "elsewhere");
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_ERR_NONFINITE);
    tg_tape_pop_scope(t);
    snprintf(where, sizeof where, "%s in scope head]", site(line));
    EXPECT_ANOMALY(t, "anomaly in backward", "rule of sqrt", where);
    tg_tape_free(t);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("anomaly");
    TCase *tc = tcase_create("anomaly");
    tcase_add_test(tc, test_switch);
    tcase_add_loop_test(tc, test_forward_log_of_negative, 0, 4);
    tcase_add_test(tc, test_forward_blames_the_maker);
    tcase_add_test(tc, test_forward_leaves);
    tcase_add_test(tc, test_forward_leaf_through_view);
    tcase_add_test(tc, test_forward_infinite_constant);
    tcase_add_loop_test(tc, test_backward_sqrt_at_zero, 0, 2);
    tcase_add_test(tc, test_backward_sum_overflows);
    tcase_add_test(tc, test_leaf_errors_have_no_scope);
    tcase_add_test(tc, test_off_changes_nothing);
    tcase_add_test(tc, test_backward_seed);
    tcase_add_test(tc, test_scope_named);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(suite()); }

/* test_errors.c: user errors never abort (CONTRIBUTING S4): failing calls give NULL or a status,
 * the tape keeps the FIRST error, and its message names the op, the shapes involved and the
 * file:line of the call (recorded by the op macros; checked here against __LINE__).
 *
 * Sites are matched as "test_errors.c:LINE" because __FILE__ carries the build's relative path. */
#include <string.h>

#include "test_util.h"

/* Asserts the tape's status and that its error message contains every string given. */
#define EXPECT_ERROR(t, status, ...)                                                               \
    do {                                                                                           \
        ck_assert_msg(tg_tape_status(t) == (status), "status %s, want %s: %s",                     \
                      tg_status_string(tg_tape_status(t)), tg_status_string(status),               \
                      tg_tape_error(t));                                                           \
        const char *parts_[] = {__VA_ARGS__};                                                      \
        for (size_t i_ = 0; i_ < sizeof parts_ / sizeof parts_[0]; i_++)                           \
            ck_assert_msg(strstr(tg_tape_error(t), parts_[i_]) != NULL,                            \
                          "error \"%s\" does not mention \"%s\"", tg_tape_error(t), parts_[i_]);   \
    } while (0)

/* "test_errors.c:LINE" for a line of this file. */
static const char *site(int line) {
    static char buf[4][64];
    static int next;
    char *b = buf[next++ % 4];
    snprintf(b, sizeof buf[0], "test_errors.c:%d", line);
    return b;
}

static tg_tensor *ones(tg_tape *t, tg_dtype dt, int ndim, const int64_t *shape) {
    tg_tensor *x = tg_ones(t, dt, ndim, shape);
    ck_assert_ptr_nonnull(x);
    return x;
}

START_TEST(test_broadcast_mismatch) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = ones(t, TG_F64, TG_SHAPE(2, 3)), *b = ones(t, TG_F64, TG_SHAPE(4));
    int line = __LINE__ + 1;
    tg_tensor *c = tg_add(t, a, b);
    ck_assert_ptr_null(c);
    EXPECT_ERROR(t, TG_ERR_SHAPE, "add", "(2, 3)", "(4,)", site(line));
    tg_tape_free(t);
}
END_TEST

START_TEST(test_matmul_inner_mismatch) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = ones(t, TG_F32, TG_SHAPE(2, 3)), *b = ones(t, TG_F32, TG_SHAPE(4, 5));
    int line = __LINE__ + 1;
    ck_assert_ptr_null(tg_matmul(t, a, b));
    EXPECT_ERROR(t, TG_ERR_SHAPE, "matmul", "(2, 3)", "(4, 5)", site(line));
    tg_tape_reset(t);
    /* Batch dimensions that cannot broadcast. */
    a = ones(t, TG_F32, TG_SHAPE(2, 2, 3));
    b = ones(t, TG_F32, TG_SHAPE(3, 3, 4));
    line = __LINE__ + 1;
    ck_assert_ptr_null(tg_matmul(t, a, b));
    EXPECT_ERROR(t, TG_ERR_SHAPE, "matmul", site(line));
    tg_tape_reset(t);
    /* A vector is not a matrix. */
    a = ones(t, TG_F32, TG_SHAPE(3));
    b = ones(t, TG_F32, TG_SHAPE(3, 1));
    line = __LINE__ + 1;
    ck_assert_ptr_null(tg_matmul(t, a, b));
    EXPECT_ERROR(t, TG_ERR_SHAPE, "matmul", "(3,)", "(3, 1)", site(line));
    tg_tape_free(t);
}
END_TEST

START_TEST(test_dtype_mismatch) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = ones(t, TG_F32, TG_SHAPE(2, 3)), *b = ones(t, TG_F64, TG_SHAPE(2, 3));
    int line = __LINE__ + 1;
    ck_assert_ptr_null(tg_add(t, a, b));
    EXPECT_ERROR(t, TG_ERR_DTYPE, "add", "f32", "f64", "(2, 3)", site(line));
    tg_tape_reset(t);
    a = ones(t, TG_F64, TG_SHAPE(2, 3));
    b = ones(t, TG_F32, TG_SHAPE(3, 4));
    line = __LINE__ + 1;
    ck_assert_ptr_null(tg_matmul(t, a, b));
    EXPECT_ERROR(t, TG_ERR_DTYPE, "matmul", "f32", "f64", "(2, 3)", "(3, 4)", site(line));
    tg_tape_free(t);
}
END_TEST

/* A NULL input gives NULL; a chain of ops after a failure returns NULL without crashing and
 * the error stays the first one, at the first one's line. */
START_TEST(test_null_input_and_chain) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = ones(t, TG_F64, TG_SHAPE(3));
    int line = __LINE__ + 1;
    ck_assert_ptr_null(tg_mul(t, NULL, x));
    EXPECT_ERROR(t, TG_ERR_NULL, "mul", "input 0", site(line));
    tg_tape_clear_error(t);

    tg_tensor *bad = ones(t, TG_F64, TG_SHAPE(2));
    int first = __LINE__ + 1;
    tg_tensor *a = tg_add(t, x, bad);
    tg_tensor *b = tg_tanh(t, tg_mul(t, a, x));
    tg_tensor *c = tg_matmul(t, tg_reshape(t, b, TG_SHAPE(3, 1)), NULL);
    tg_tensor *d = tg_sum_all(t, tg_transpose(t, tg_slice(t, c, 0, 0, 1, 1), 0, 1));
    int later = __LINE__;
    ck_assert(!a && !b && !c && !d);
    EXPECT_ERROR(t, TG_ERR_SHAPE, "add", "(3,)", "(2,)", site(first));
    ck_assert_ptr_null(strstr(tg_tape_error(t), site(later)));
    /* backward from the failed chain reports the same first error. */
    ck_assert_int_eq(tg_tape_backward(t, d, NULL, 0), TG_ERR_SHAPE);
    EXPECT_ERROR(t, TG_ERR_SHAPE, "add", site(first));
    /* Every op family accepts NULL. */
    ck_assert_ptr_null(tg_exp(t, NULL));
    ck_assert_ptr_null(tg_mul_scalar(t, NULL, 2.0));
    ck_assert_ptr_null(tg_sum(t, NULL, 0, NULL, false));
    ck_assert_ptr_null(tg_permute(t, NULL, NULL));
    ck_assert_ptr_null(tg_broadcast_to(t, NULL, TG_SHAPE(2)));
    ck_assert_ptr_null(tg_sum_to(t, NULL, TG_SHAPE(2)));
    ck_assert_ptr_null(tg_contiguous(t, NULL));
    ck_assert_ptr_null(tg_slice_embed(t, NULL, TG_SHAPE(4), 0, 0, 2, 1));
    EXPECT_ERROR(t, TG_ERR_SHAPE, "add", site(first));
    /* And a NULL tape is survivable too. */
    ck_assert_ptr_null(tg_add(NULL, x, x));
    ck_assert_int_eq(tg_tape_status(NULL), TG_ERR_NULL);
    tg_tape_free(t);
}
END_TEST

START_TEST(test_axis_out_of_range) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = ones(t, TG_F64, TG_SHAPE(2, 3));
    int line = __LINE__ + 1;
    ck_assert_ptr_null(tg_sum(t, x, 1, (const int[]){2}, false));
    EXPECT_ERROR(t, TG_ERR_AXIS, "sum", "axis 2", "(2, 3)", site(line));
    tg_tape_reset(t);

    x = ones(t, TG_F64, TG_SHAPE(2, 3));
    line = __LINE__ + 1;
    ck_assert_ptr_null(tg_mean(t, x, 2, (const int[]){-1, 1}, true));
    EXPECT_ERROR(t, TG_ERR_AXIS, "mean", "twice", "(2, 3)", site(line));
    tg_tape_reset(t);

    x = ones(t, TG_F64, TG_SHAPE(2, 3));
    line = __LINE__ + 1;
    ck_assert_ptr_null(tg_transpose(t, x, 0, 5));
    EXPECT_ERROR(t, TG_ERR_AXIS, "transpose", "axis 5", "(2, 3)", site(line));
    tg_tape_reset(t);

    x = ones(t, TG_F64, TG_SHAPE(2, 3));
    line = __LINE__ + 1;
    ck_assert_ptr_null(tg_slice(t, x, -3, 0, 1, 1));
    EXPECT_ERROR(t, TG_ERR_AXIS, "slice", "axis -3", "(2, 3)", site(line));
    tg_tape_reset(t);

    x = ones(t, TG_F64, TG_SHAPE(2, 3));
    line = __LINE__ + 1;
    ck_assert_ptr_null(tg_permute(t, x, (const int[]){1, 1}));
    EXPECT_ERROR(t, TG_ERR_AXIS, "permute", site(line));
    tg_tape_free(t);
}
END_TEST

START_TEST(test_other_shape_errors) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = ones(t, TG_F64, TG_SHAPE(2, 3));
    int line = __LINE__ + 1;
    ck_assert_ptr_null(tg_reshape(t, x, TG_SHAPE(4, 2)));
    EXPECT_ERROR(t, TG_ERR_SHAPE, "reshape", "(2, 3)", "(4, 2)", site(line));
    tg_tape_reset(t);
    x = ones(t, TG_F64, TG_SHAPE(2, 3));
    line = __LINE__ + 1;
    ck_assert_ptr_null(tg_broadcast_to(t, x, TG_SHAPE(4, 3, 2)));
    EXPECT_ERROR(t, TG_ERR_SHAPE, "broadcast_to", "(2, 3)", "(4, 3, 2)", site(line));
    tg_tape_reset(t);
    x = ones(t, TG_F64, TG_SHAPE(2, 3));
    line = __LINE__ + 1;
    ck_assert_ptr_null(tg_slice(t, x, 1, 0, 3, 0));
    EXPECT_ERROR(t, TG_ERR_ARG, "slice", "step", site(line));
    tg_tape_free(t);
}
END_TEST

START_TEST(test_backward_nonscalar) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = ones(t, TG_F64, TG_SHAPE(2, 3));
    tg_tensor_set_requires_grad(x, true);
    int line = __LINE__ + 1;
    tg_tensor *y = tg_mul_scalar(t, x, 2.0);
    tg_tensor *unrelated = tg_exp(t, x);
    ck_assert_ptr_nonnull(unrelated);
    ck_assert_int_eq(tg_tape_backward(t, y, NULL, 0), TG_ERR_NOGRAD);
    /* The message names the output's shape and where the output was made. */
    EXPECT_ERROR(t, TG_ERR_NOGRAD, "backward", "(2, 3)", site(line));
    ck_assert_ptr_null(tg_tensor_grad(x));
    tg_tape_free(t);
}
END_TEST

START_TEST(test_backward_released) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = ones(t, TG_F64, TG_SHAPE(3));
    tg_tensor_set_requires_grad(x, true);
    int line = __LINE__ + 1;
    tg_tensor *y = tg_tanh(t, x);
    tg_tensor *l = tg_sum_all(t, y);
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    tg_tensor *l2 = tg_sum_all(t, tg_mul_scalar(t, y, 3.0));
    ck_assert_int_eq(tg_tape_backward(t, l2, NULL, 0), TG_ERR_RELEASED);
    /* Names the released node's op and the line that recorded it. */
    EXPECT_ERROR(t, TG_ERR_RELEASED, "backward", "(tanh)", "released", "TG_RETAIN_GRAPH",
                 site(line));
    tg_tape_free(t);
}
END_TEST

/* Only the first error is kept; clear and reset forget it, and then new errors are kept. */
START_TEST(test_first_error_kept_and_cleared) {
    tg_tape *t = tg_tape_new();
    tg_tensor *a = ones(t, TG_F64, TG_SHAPE(2)), *b = ones(t, TG_F64, TG_SHAPE(3));
    int first = __LINE__ + 1;
    ck_assert_ptr_null(tg_sub(t, a, b));
    ck_assert_ptr_null(tg_transpose(t, a, 0, 4)); /* a second, different error */
    EXPECT_ERROR(t, TG_ERR_SHAPE, "sub", site(first));
    ck_assert_ptr_null(strstr(tg_tape_error(t), "transpose"));
    /* Ops on good inputs still work while an error is pending. */
    tg_tensor *ok = tg_add(t, a, a);
    ck_assert_ptr_nonnull(ok);
    ck_assert(tg_tensor_get(ok, 1) == 2.0);

    tg_tape_clear_error(t);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    ck_assert_str_eq(tg_tape_error(t), "");
    int second = __LINE__ + 1;
    ck_assert_ptr_null(tg_transpose(t, a, 0, 4));
    EXPECT_ERROR(t, TG_ERR_AXIS, "transpose", site(second));

    tg_tape_reset(t);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    ck_assert_str_eq(tg_tape_error(t), "");
    tg_tape_clear_error(NULL);
    ck_assert_str_eq(tg_tape_error(NULL), "no tape");
    tg_tape_free(t);
}
END_TEST

START_TEST(test_status_and_dtype_names) {
    const tg_status all[] = {TG_OK,           TG_ERR_NULL, TG_ERR_SHAPE, TG_ERR_DTYPE,
                             TG_ERR_AXIS,     TG_ERR_ARG,  TG_ERR_NOMEM, TG_ERR_NOGRAD,
                             TG_ERR_RELEASED, TG_ERR_IO,   TG_ERR_FORMAT, TG_ERR_STALE,
                             TG_ERR_NONFINITE};
    const int n = (int)(sizeof all / sizeof all[0]);
    ck_assert_int_eq(TG_OK, 0);
    for (int i = 0; i < n; i++) {
        const char *s = tg_status_string(all[i]);
        ck_assert_ptr_nonnull(s);
        ck_assert_str_ne(s, "unknown status");
        if (i) ck_assert_int_ne(all[i], TG_OK);
        for (int j = 0; j < i; j++) ck_assert_str_ne(s, tg_status_string(all[j]));
    }
    ck_assert_str_eq(tg_status_string((tg_status)99), "unknown status");
    ck_assert_str_eq(tg_dtype_name(TG_F32), "f32");
    ck_assert_str_eq(tg_dtype_name(TG_F64), "f64");
    ck_assert_str_eq(tg_dtype_name((tg_dtype)9), "?");
    ck_assert_uint_eq(tg_dtype_size(TG_F32), 4);
    ck_assert_uint_eq(tg_dtype_size(TG_F64), 8);
    ck_assert_uint_eq(tg_dtype_size((tg_dtype)9), 0);
}
END_TEST

static Suite *errors_suite(void) {
    Suite *s = suite_create("graph_errors");
    TCase *ops = tcase_create("ops");
    tcase_add_test(ops, test_broadcast_mismatch);
    tcase_add_test(ops, test_matmul_inner_mismatch);
    tcase_add_test(ops, test_dtype_mismatch);
    tcase_add_test(ops, test_null_input_and_chain);
    tcase_add_test(ops, test_axis_out_of_range);
    tcase_add_test(ops, test_other_shape_errors);
    suite_add_tcase(s, ops);
    TCase *bw = tcase_create("backward");
    tcase_add_test(bw, test_backward_nonscalar);
    tcase_add_test(bw, test_backward_released);
    suite_add_tcase(s, bw);
    TCase *life = tcase_create("lifetime");
    tcase_add_test(life, test_first_error_kept_and_cleared);
    tcase_add_test(life, test_status_and_dtype_names);
    suite_add_tcase(s, life);
    return s;
}

int main(void) { return tg_test_run(errors_suite()); }

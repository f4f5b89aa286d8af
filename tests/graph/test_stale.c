/* test_stale.c: a tensor used after tg_tape_reset is refused (TG_ERR_STALE, an error naming the
 * op), never read as whatever newer tensor now holds its memory; store tensors and tensors of
 * the current step are never refused. The per-op sweep over every registered op is in
 * tests/ops/test_bad_input.c. */
#include <string.h>

#include "test_util.h"

#define EXPECT_STALE(t, op)                                                                    \
    do {                                                                                       \
        ck_assert_msg(tg_tape_status(t) == TG_ERR_STALE, "status %s: %s",                     \
                      tg_status_string(tg_tape_status(t)), tg_tape_error(t));                  \
        ck_assert_msg(strstr(tg_tape_error(t), op) == tg_tape_error(t),                        \
                      "error \"%s\" does not start with the op \"%s\"", tg_tape_error(t), op); \
        ck_assert_msg(strstr(tg_tape_error(t), "before the last tg_tape_reset") != NULL,       \
                      "error \"%s\" does not say why", tg_tape_error(t));                      \
    } while (0)

/* The reproduction: a tensor that held 7, kept over a reset, read 1 (the value of the
 * tensor made in its place) and ops took it with status OK. */
START_TEST(test_stale_tensor_is_refused_not_read) {
    tg_tape *t = tg_tape_new();
    tg_tensor *seven = tg_full(t, TG_F64, TG_SHAPE(1), 7.0);
    ck_assert_ptr_nonnull(seven);
    tg_tape_reset(t);
    tg_tensor *one = tg_full(t, TG_F64, TG_SHAPE(1), 1.0);
    ck_assert_ptr_nonnull(one);
    ck_assert_int_eq(tg_tape_check_tensor(t, seven), TG_ERR_STALE);
    ck_assert_int_eq(tg_tape_check_tensor(t, one), TG_OK);
    ck_assert_ptr_null(tg_add(t, seven, one));
    EXPECT_STALE(t, "add");
    /* The second input position is checked too, and a reset forgets the error. */
    tg_tape_clear_error(t);
    ck_assert_ptr_null(tg_mul(t, one, seven));
    EXPECT_STALE(t, "mul");
    tg_tape_clear_error(t);
    tg_tensor *two = tg_add(t, one, one);
    ck_assert_ptr_nonnull(two);
    ck_assert_double_eq(tg_tensor_item(two), 2.0);
    tg_tape_free(t);
}
END_TEST

/* A training loop that repeats its ops: a tensor kept from any of the last four steps is caught
 * even though every step lays the arena out the same way. */
START_TEST(test_stale_in_a_repeating_loop) {
    tg_tape *t = tg_tape_new();
    tg_tensor *kept = NULL;
    for (int step = 0; step < 5; step++) {
        tg_tape_reset(t);
        tg_tensor *x = tg_full(t, TG_F64, TG_SHAPE(2, 3), (double)step);
        tg_tensor *y = tg_exp(t, tg_mul(t, x, x));
        ck_assert_ptr_nonnull(tg_sum_all(t, y));
        if (step == 0) {
            kept = x;
            continue;
        }
        ck_assert_int_eq(tg_tape_check_tensor(t, kept), TG_ERR_STALE);
        ck_assert_ptr_null(tg_sub(t, x, kept));
        EXPECT_STALE(t, "sub");
        tg_tape_clear_error(t);
        ck_assert_ptr_null(tg_reshape(t, kept, TG_SHAPE(3, 2)));
        EXPECT_STALE(t, "reshape");
        tg_tape_clear_error(t);
    }
    tg_tape_free(t);
}
END_TEST

/* A step that outgrew the arena makes the next reset replace its blocks with one larger block.
 * A tensor kept from before that reset is refused for the next five resets, not read from freed
 * memory (which crashed: the old blocks were freed at once). */
START_TEST(test_stale_after_the_arena_grew) {
    tg_tape *t = tg_tape_new();
    tg_tensor *kept = tg_full(t, TG_F64, TG_SHAPE(2, 3), 1.0);
    ck_assert_ptr_nonnull(kept);
    ck_assert_ptr_nonnull(tg_zeros(t, TG_F64, TG_SHAPE(300000))); /* past the first block */
    size_t spilled = tg_tape_bytes_reserved(t);
    for (int r = 0; r < 5; r++) {
        tg_tape_reset(t);
        if (r == 0) ck_assert_uint_ne(tg_tape_bytes_reserved(t), spilled); /* merged */
        tg_tensor *x = tg_full(t, TG_F64, TG_SHAPE(2, 3), 2.0);
        ck_assert_int_eq(tg_tape_check_tensor(t, kept), TG_ERR_STALE);
        ck_assert_ptr_null(tg_add(t, x, kept));
        EXPECT_STALE(t, "add");
        tg_tape_clear_error(t);
    }
    tg_tape_free(t);
}
END_TEST

/* Backward and tg_tape_grad refuse a stale output, output gradient or input before reading
 * its node. */
START_TEST(test_stale_backward) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(3));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *loss = tg_sum_all(t, tg_mul(t, x, x));
    ck_assert_ptr_nonnull(loss);
    tg_tape_reset(t);
    tg_tensor *x2 = tg_ones(t, TG_F64, TG_SHAPE(3));
    tg_tensor_set_requires_grad(x2, true);
    tg_tensor *loss2 = tg_sum_all(t, tg_mul(t, x2, x2));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_ERR_STALE);
    EXPECT_STALE(t, "backward");
    tg_tape_clear_error(t);
    tg_tensor *g = NULL;
    ck_assert_int_eq(tg_tape_grad(t, loss2, NULL, 1, &x, &g, 0), TG_ERR_STALE);
    EXPECT_STALE(t, "grad");
    ck_assert_ptr_null(g);
    tg_tape_clear_error(t);
    ck_assert_int_eq(tg_tape_backward(t, loss2, NULL, 0), TG_OK);
    ck_assert_double_eq(tg_tensor_get(tg_tensor_grad(x2), 0), 2.0);
    tg_tape_free(t);
}
END_TEST

/* Store tensors live across resets and are never stale. A tensor of another live tape is used
 * while that tape has not been reset (a long-lived tape of views, say), and refused after. */
START_TEST(test_store_never_stale_other_tape_checked) {
    tg_store *s = tg_store_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2));
    ck_assert_ptr_nonnull(w);
    tg_tape *t = tg_tape_new(), *u = tg_tape_new();
    for (int step = 0; step < 3; step++) {
        tg_tape_reset(t);
        ck_assert_int_eq(tg_tape_check_tensor(t, w), TG_OK);
        tg_tensor *loss = tg_sum_all(t, tg_mul(t, w, w));
        ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    }
    tg_tensor *other = tg_full(u, TG_F64, TG_SHAPE(2), 3.0);
    for (int step = 0; step < 3; step++) {
        tg_tape_reset(t);
        ck_assert_int_eq(tg_tape_check_tensor(t, other), TG_OK);
        tg_tensor *sum = tg_add(t, w, other);
        ck_assert_ptr_nonnull(sum);
        ck_assert_double_eq(tg_tensor_get(sum, 1), 3.0);
    }
    tg_tape_reset(u);
    tg_tensor *fresh = tg_full(u, TG_F64, TG_SHAPE(2), 5.0); /* takes other's memory */
    ck_assert_int_eq(tg_tape_check_tensor(t, other), TG_ERR_STALE);
    ck_assert_int_eq(tg_tape_check_tensor(t, fresh), TG_OK);
    ck_assert_ptr_null(tg_add(t, w, other));
    EXPECT_STALE(t, "add");
    tg_tape_clear_error(t);
    ck_assert_int_eq(tg_tape_check_tensor(NULL, w), TG_ERR_NULL);
    ck_assert_int_eq(tg_tape_check_tensor(t, NULL), TG_ERR_NULL);
    tg_tape_free(t);
    tg_tape_free(u);
    tg_store_free(s);
}
END_TEST

static Suite *stale_suite(void) {
    Suite *s = suite_create("graph_stale");
    TCase *c = tcase_create("stale");
    tcase_add_test(c, test_stale_tensor_is_refused_not_read);
    tcase_add_test(c, test_stale_in_a_repeating_loop);
    tcase_add_test(c, test_stale_after_the_arena_grew);
    tcase_add_test(c, test_stale_backward);
    tcase_add_test(c, test_store_never_stale_other_tape_checked);
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tg_test_run(stale_suite()); }

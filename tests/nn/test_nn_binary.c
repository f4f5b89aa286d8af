/* test_nn_binary.c: tapegrad/binary.h's training pieces. binarize gives +-1 (+1 at 0, NaN kept);
 * the binarised weight is +-1 or +-alpha with alpha the row's mean |w|, and its gradient is the
 * straight-through one plus alpha's term, computed here by hand; the binary Linear and Conv2d
 * layers equal the ordinary ones run on those weights; the clip keeps shadow weights in [-1, 1]
 * and refuses what it cannot clip without changing anything. */
#include <math.h>
#include <string.h>

#include "nn_fixture.h"

START_TEST(binarize_values) {
    tg_tape *t = tg_tape_new();
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? TG_F64 : TG_F32;
        const double in[6] = {-2.0, -0.5, 0.0, -0.0, 3.0, NAN};
        tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(6), in);
        tg_tensor *y = tg_binarize(t, tg_cast(t, x, dt));
        ck_assert_msg(y != NULL, "%s", tg_tape_error(t));
        const double want[5] = {-1, -1, 1, 1, 1};
        for (int i = 0; i < 5; i++) ck_assert_double_eq(tg_tensor_get(y, i), want[i]);
        ck_assert(isnan(tg_tensor_get(y, 5)));
    }
    tg_tape_free(t);
}
END_TEST

/* y = sum(c * binary_weight(w)): dy/dw[o,j] = c[o,j] alpha_o [|w[o,j]| <= 1] (the sign's
 * straight-through term) + sign(w[o,j]) / n * sum_k c[o,k] b[o,k] (alpha's term, scaled mode). */
START_TEST(weight_and_its_gradient) {
    enum { R = 3, C = 4 };
    const double wv[R * C] = {0.3, -0.2, 1.5, -0.7, -0.1, 0.0, 0.4, -2.0, 0.9, 0.8, -0.6, 0.05};
    const double cv[R * C] = {1, 2, -1, 0.5, -3, 1, 1, 2, 0.25, -0.5, 1.5, -2};
    for (int mode = 0; mode < 2; mode++) {
        tg_store *s = tg_store_new();
        tg_tape *t = tg_tape_new();
        tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(R, C));
        memcpy(tg_tensor_data(w), wv, sizeof wv);
        tg_tensor *c = tg_from_data(t, TG_F64, TG_SHAPE(R, C), cv);
        tg_tensor *b = tg_binary_weight(t, w, (tg_binary_mode)mode);
        tg_tensor *y = tg_sum(t, tg_mul(t, c, b), 2, (int[]){0, 1}, false);
        ck_assert_msg(y && tg_tape_backward(t, y, NULL, 0) == TG_OK, "%s", tg_tape_error(t));
        tg_tensor *g = tg_tensor_grad(w);
        for (int o = 0; o < R; o++) {
            double alpha = 0, cb = 0;
            for (int j = 0; j < C; j++) alpha += fabs(wv[o * C + j]) / C;
            if (!mode) alpha = 1;
            for (int j = 0; j < C; j++) {
                double sg = wv[o * C + j] < 0 ? -1 : 1;
                ck_assert_double_eq_tol(tg_tensor_get(b, o * C + j), sg * alpha, 1e-15);
                cb += cv[o * C + j] * sg;
            }
            for (int j = 0; j < C; j++) {
                double wj = wv[o * C + j];
                double want = cv[o * C + j] * alpha * (fabs(wj) <= 1);
                /* alpha's term: d|w|/dw is sign(w), which abs takes as 0 at 0 */
                if (mode) want += (wj > 0 ? 1 : wj < 0 ? -1 : 0) / (double)C * cb;
                ck_assert_msg(fabs(tg_tensor_get(g, o * C + j) - want) < 1e-12,
                              "mode %d, w[%d,%d]: gradient %g, want %g", mode, o, j,
                              tg_tensor_get(g, o * C + j), want);
            }
        }
        tg_tape_free(t);
        tg_store_free(s);
    }
}
END_TEST

/* Largest |a - b| over two tensors of the same numel. */
static double max_diff(const tg_tensor *a, const tg_tensor *b) {
    double m = 0;
    for (int64_t i = 0; i < tg_tensor_numel(a); i++)
        m = fmax(m, fabs(tg_tensor_get(a, i) - tg_tensor_get(b, i)));
    return m;
}

START_TEST(layers_use_the_binarised_weights) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    tg_error err = {0};
    tg_linear fc;
    tg_conv2d cv;
    ck_assert_int_eq(tg_linear_init(&fc, s, "fc", 5, 3, true, TG_F64, &rng, &err), TG_OK);
    ck_assert_int_eq(tg_conv2d_init(&cv, s, "cv", 2, 3, 3, 3, NULL, true, TG_F64, &rng, &err),
                     TG_OK);
    tg_tensor *x = tg_normal(t, &rng, TG_F64, TG_SHAPE(4, 5), 0.0, 1.0);
    tg_tensor *img = tg_normal(t, &rng, TG_F64, TG_SHAPE(2, 2, 5, 5), 0.0, 1.0);
    for (int mode = 0; mode < 2; mode++) {
        tg_tensor *y = tg_binary_linear_forward(t, &fc, x, (tg_binary_mode)mode);
        tg_tensor *want =
            tg_linear(t, x, tg_binary_weight(t, fc.weight, (tg_binary_mode)mode), fc.bias);
        tg_tensor *z = tg_binary_conv2d_forward(t, &cv, img, (tg_binary_mode)mode);
        tg_tensor *zwant =
            tg_conv2d(t, img, tg_binary_weight(t, cv.weight, (tg_binary_mode)mode), cv.bias, NULL);
        ck_assert_msg(y && want && z && zwant, "%s", tg_tape_error(t));
        ck_assert_double_eq(max_diff(y, want), 0.0);
        ck_assert_double_eq(max_diff(z, zwant), 0.0);
        /* and they differ from the real-valued layers: the weights really are binarised */
        ck_assert_double_gt(max_diff(y, tg_linear_forward(t, &fc, x)), 0.1);
    }
    /* plain mode: every weight of the product is exactly +-1 */
    tg_tensor *b = tg_binary_weight(t, fc.weight, TG_BINARY_PLAIN);
    for (int64_t i = 0; i < tg_tensor_numel(b); i++)
        ck_assert_double_eq(fabs(tg_tensor_get(b, i)), 1.0);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

START_TEST(clip_and_its_errors) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_error err = {0};
    tg_tensor *a = tg_store_param(s, "a", TG_F32, TG_SHAPE(5));
    tg_tensor *b = tg_store_param(s, "b", TG_F64, TG_SHAPE(2, 2));
    const float av[5] = {-3.0f, -1.0f, 0.5f, 1.25f, NAN};
    const double bv[4] = {2.0, -0.25, -1.5, 1.0};
    memcpy(tg_tensor_data(a), av, sizeof av);
    memcpy(tg_tensor_data(b), bv, sizeof bv);
    tg_tensor *both[2] = {a, b};
    ck_assert_int_eq(tg_binary_clip(2, both, &err), TG_OK);
    const float *ag = tg_tensor_data(a);
    const double *bg = tg_tensor_data(b);
    ck_assert(ag[0] == -1.0f && ag[1] == -1.0f && ag[2] == 0.5f && ag[3] == 1.0f && isnan(ag[4]));
    ck_assert(bg[0] == 1.0 && bg[1] == -0.25 && bg[2] == -1.0 && bg[3] == 1.0);

    /* errors: nothing is clipped, not even the tensors before the bad one */
    ag = tg_tensor_data(a);
    ((float *)tg_tensor_data(a))[2] = 4.0f;
    tg_tensor *view = tg_transpose(t, tg_from_data(t, TG_F64, TG_SHAPE(2, 2), bv), 0, 1);
    tg_tensor *bad[2] = {a, view};
    ck_assert_int_eq(tg_binary_clip(2, bad, &err), TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(err.message, "contiguous"));
    ck_assert_float_eq(ag[2], 4.0f);
    tg_tensor *null_one[2] = {a, NULL};
    ck_assert_int_eq(tg_binary_clip(2, null_one, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_binary_clip(1, NULL, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_binary_clip(0, NULL, &err), TG_OK);
    ck_assert_float_eq(ag[2], 4.0f);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

START_TEST(forward_errors) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    tg_error err = {0};
    tg_linear fc;
    ck_assert_int_eq(tg_linear_init(&fc, s, "fc", 5, 3, true, TG_F32, &rng, &err), TG_OK);
    tg_tensor *v = tg_zeros(t, TG_F32, TG_SHAPE(4));
    ck_assert_ptr_null(tg_binary_weight(t, v, TG_BINARY_SCALED));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(tg_tape_error(t), "at least 2-D"));
    tg_tape_clear_error(t);
    ck_assert_ptr_null(tg_binary_weight(t, fc.weight, (tg_binary_mode)7));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_ARG);
    tg_tape_clear_error(t);
    ck_assert_ptr_null(
        tg_binary_linear_forward(t, &fc, tg_zeros(t, TG_F32, TG_SHAPE(2, 4)), TG_BINARY_PLAIN));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(tg_tape_error(t), "binary_linear 'fc'"));
    tg_tape_clear_error(t);
    ck_assert_ptr_null(tg_binary_linear_forward(t, NULL, v, TG_BINARY_PLAIN));
    ck_assert_int_ne(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_binary");
    TCase *tc = tcase_create("binary");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, binarize_values);
    tcase_add_test(tc, weight_and_its_gradient);
    tcase_add_test(tc, layers_use_the_binarised_weights);
    tcase_add_test(tc, clip_and_its_errors);
    tcase_add_test(tc, forward_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(suite()); }

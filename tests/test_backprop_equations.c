/* test_backprop_equations.c: the reverse sweep reproduces the four equations of backpropagation
 * for a sigmoid multilayer perceptron, worked out by hand here in plain C loops.
 *
 * Network 4-5-3-2, every layer z^l = W^l a^{l-1} + b^l and a^l = sigma(z^l), on a batch of
 * column vectors x (4, B) with targets y (2, B) and the quadratic cost
 * C = 1/2 sum over the batch of ||a^L - y||^2. With sigma' = sigma (1 - sigma):
 *   (BP1) delta^L = (a^L - y) .* sigma'(z^L)
 *   (BP2) delta^l = ((W^{l+1})^T delta^{l+1}) .* sigma'(z^l)
 *   (BP3) dC/db^l = delta^l            (summed over the batch's columns)
 *   (BP4) dC/dW^l = delta^l (a^{l-1})^T (likewise summed)
 * Every parameter gradient from tg_tape_backward must equal these to 1e-12 (values are O(1)). */
#include <check.h>
#include <math.h>
#include <stdio.h>

#include "test_util.h"

enum { N_LAYERS = 3, MAX_WIDTH = 5, MAX_BATCH = 4 };
static const int width[N_LAYERS + 1] = {4, 5, 3, 2}; /* width[0] is the input */

#define TOL 1e-12

static double sigma(double z) { return 1.0 / (1.0 + exp(-z)); }

/* Everything the hand computation keeps, per layer l = 1..N_LAYERS (index 0 is the input).
 * Matrices are row-major: W[l][i * width[l-1] + j], activations a[l][i * B + b]. */
typedef struct mlp {
    int batch;
    double W[N_LAYERS + 1][MAX_WIDTH * MAX_WIDTH];
    double bias[N_LAYERS + 1][MAX_WIDTH];
    double z[N_LAYERS + 1][MAX_WIDTH * MAX_BATCH];
    double a[N_LAYERS + 1][MAX_WIDTH * MAX_BATCH];
    double delta[N_LAYERS + 1][MAX_WIDTH * MAX_BATCH];
    double dW[N_LAYERS + 1][MAX_WIDTH * MAX_WIDTH];
    double db[N_LAYERS + 1][MAX_WIDTH];
    double y[MAX_WIDTH * MAX_BATCH];
    double cost;
} mlp;

/* The forward pass and the four equations, by hand. */
static void hand_backprop(mlp *m) {
    int B = m->batch;
    for (int l = 1; l <= N_LAYERS; l++) {
        for (int i = 0; i < width[l]; i++) {
            for (int b = 0; b < B; b++) {
                double s = m->bias[l][i];
                for (int j = 0; j < width[l - 1]; j++)
                    s += m->W[l][i * width[l - 1] + j] * m->a[l - 1][j * B + b];
                m->z[l][i * B + b] = s;
                m->a[l][i * B + b] = sigma(s);
            }
        }
    }
    m->cost = 0;
    for (int k = 0; k < width[N_LAYERS] * B; k++) {
        double e = m->a[N_LAYERS][k] - m->y[k];
        m->cost += 0.5 * e * e;
    }
    /* BP1 */
    for (int k = 0; k < width[N_LAYERS] * B; k++) {
        double s = sigma(m->z[N_LAYERS][k]);
        m->delta[N_LAYERS][k] = (m->a[N_LAYERS][k] - m->y[k]) * s * (1 - s);
    }
    /* BP2 */
    for (int l = N_LAYERS - 1; l >= 1; l--) {
        for (int i = 0; i < width[l]; i++) {
            for (int b = 0; b < B; b++) {
                double s = 0;
                for (int k = 0; k < width[l + 1]; k++)
                    s += m->W[l + 1][k * width[l] + i] * m->delta[l + 1][k * B + b];
                double sz = sigma(m->z[l][i * B + b]);
                m->delta[l][i * B + b] = s * sz * (1 - sz);
            }
        }
    }
    /* BP3 and BP4 */
    for (int l = 1; l <= N_LAYERS; l++) {
        for (int i = 0; i < width[l]; i++) {
            m->db[l][i] = 0;
            for (int b = 0; b < B; b++) m->db[l][i] += m->delta[l][i * B + b];
            for (int j = 0; j < width[l - 1]; j++) {
                double s = 0;
                for (int b = 0; b < B; b++) s += m->delta[l][i * B + b] * m->a[l - 1][j * B + b];
                m->dW[l][i * width[l - 1] + j] = s;
            }
        }
    }
}

/* Asserts that tensor g holds the n values want to TOL, naming what it is. */
static void expect_close(const tg_tensor *g, const double *want, int n, const char *what) {
    ck_assert_msg(g != NULL, "%s: no gradient", what);
    ck_assert_int_eq(tg_tensor_numel(g), n);
    for (int k = 0; k < n; k++) {
        double got = tg_tensor_get(g, k);
        ck_assert_msg(fabs(got - want[k]) <= TOL, "%s[%d]: tape %.17g, backprop equations %.17g",
                      what, k, got, want[k]);
    }
}

/* Builds the network with ops (parameters in a store), runs tg_tape_backward and compares it
 * with the hand computation, for a batch of `B` columns. */
static void check_batch(int B, uint64_t seed) {
    mlp m = {0};
    m.batch = B;
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    ck_assert(s && t);

    tg_tensor *W[N_LAYERS + 1] = {NULL}, *b[N_LAYERS + 1] = {NULL};
    for (int l = 1; l <= N_LAYERS; l++) {
        char name[16];
        snprintf(name, sizeof name, "W%d", l);
        W[l] = tg_store_param(s, name, TG_F64, TG_SHAPE(width[l], width[l - 1]));
        snprintf(name, sizeof name, "b%d", l);
        b[l] = tg_store_param(s, name, TG_F64, TG_SHAPE(width[l], 1));
        ck_assert_msg(W[l] && b[l], "%s", tg_store_error(s));
        /* Weights large enough that the sigmoids are away from their linear middle. */
        ck_assert_int_eq(tg_tensor_fill_normal(W[l], &rng, 0.0, 1.0), TG_OK);
        ck_assert_int_eq(tg_tensor_fill_normal(b[l], &rng, 0.0, 0.5), TG_OK);
        ck_assert_int_eq(tg_tensor_copy_out(W[l], TG_F64, m.W[l]), TG_OK);
        ck_assert_int_eq(tg_tensor_copy_out(b[l], TG_F64, m.bias[l]), TG_OK);
    }
    tg_tensor *x = tg_uniform(t, &rng, TG_F64, TG_SHAPE(width[0], B), -1.0, 1.0);
    tg_tensor *y = tg_uniform(t, &rng, TG_F64, TG_SHAPE(width[N_LAYERS], B), 0.0, 1.0);
    ck_assert(x && y);
    ck_assert_int_eq(tg_tensor_copy_out(x, TG_F64, m.a[0]), TG_OK);
    ck_assert_int_eq(tg_tensor_copy_out(y, TG_F64, m.y), TG_OK);

    /* The network from ops: b (n, 1) broadcasts over the batch's columns. */
    tg_tensor *a = x;
    for (int l = 1; l <= N_LAYERS; l++) a = tg_sigmoid(t, tg_add(t, tg_matmul(t, W[l], a), b[l]));
    tg_tensor *err = tg_sub(t, a, y);
    tg_tensor *cost = tg_mul_scalar(t, tg_sum_all(t, tg_mul(t, err, err)), 0.5);
    ck_assert_msg(cost != NULL, "%s", tg_tape_error(t));
    tg_store_zero_grad(s);
    ck_assert_msg(tg_tape_backward(t, cost, NULL, 0) == TG_OK, "%s", tg_tape_error(t));

    hand_backprop(&m);
    ck_assert_msg(fabs(tg_tensor_item(cost) - m.cost) <= TOL, "cost: tape %.17g, hand %.17g",
                  tg_tensor_item(cost), m.cost);
    expect_close(a, m.a[N_LAYERS], width[N_LAYERS] * B, "a^L");
    double largest = 0;
    for (int l = 1; l <= N_LAYERS; l++) {
        char what[32];
        snprintf(what, sizeof what, "dC/dW^%d (B=%d)", l, B);
        expect_close(tg_tensor_grad(W[l]), m.dW[l], width[l] * width[l - 1], what);
        snprintf(what, sizeof what, "dC/db^%d (B=%d)", l, B);
        expect_close(tg_tensor_grad(b[l]), m.db[l], width[l], what);
        for (int k = 0; k < width[l]; k++) largest = fmax(largest, fabs(m.db[l][k]));
    }
    /* A comparison of zeros would prove nothing: the gradients must be of a useful size. */
    ck_assert_msg(largest > 1e-3, "gradients too small to be a test (%g)", largest);

    tg_tape_free(t);
    tg_store_free(s);
}

START_TEST(one_column) { check_batch(1, 8); }
END_TEST

START_TEST(batch_of_columns) { check_batch(MAX_BATCH, 9); }
END_TEST

/* Several seeds, so that no one lucky draw carries the test. */
START_TEST(batches_over_seeds) { check_batch(1 + _i % MAX_BATCH, 100 + (uint64_t)_i); }
END_TEST

static Suite *backprop_suite(void) {
    Suite *s = suite_create("backprop_equations");
    TCase *tc = tcase_create("mlp");
    tcase_add_test(tc, one_column);
    tcase_add_test(tc, batch_of_columns);
    tcase_add_loop_test(tc, batches_over_seeds, 0, 8);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(backprop_suite()); }

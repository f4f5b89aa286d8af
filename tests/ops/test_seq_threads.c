/* test_seq_threads.c: the tanh RNN's and the LSTM's unroll on several threads gives the same
 * bits as on one thread, forward and backward, at every CPU level, f32 and f64. From a size on,
 * the sequence ops run the whole unroll as one job whose threads each own a block of hidden
 * units and meet at a barrier every step; below it they run one product at a time. The cases
 * reach both, with hidden sizes that split evenly, unevenly (a last block shorter than the
 * others) and into fewer blocks than threads (a thread with nothing to do but the barriers),
 * and a recurrent weight that is a transposed view. The one-thread results are proven by the
 * op-case table's gradient checks, so equality here carries that proof to every thread count. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

typedef struct seq_case {
    bool lstm;
    int64_t T, B, I, H;
    bool w_hh_t; /* W_hh as the transpose of a (H, G H) leaf */
} seq_case;

/* The outputs and gradients compared: y, h_n, (c_n,) then the gradients of x, h0, (c0,) W_ih,
 * W_hh, b_ih, b_hh. */
enum { MAX_RESULTS = 10 };
typedef struct results {
    int n;
    size_t bytes[MAX_RESULTS];
    char *data[MAX_RESULTS];
} results;

static void results_free(results *r) {
    for (int i = 0; i < r->n; i++) free(r->data[i]);
    r->n = 0;
}

static void keep(results *r, const tg_tensor *x) {
    ck_assert_ptr_nonnull(x);
    ck_assert_int_lt(r->n, MAX_RESULTS);
    size_t bytes = (size_t)tg_tensor_numel(x) * tg_dtype_size(tg_tensor_dtype(x));
    r->bytes[r->n] = bytes;
    r->data[r->n] = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(r->data[r->n]);
    memcpy(r->data[r->n], tg_tensor_data(x), bytes);
    r->n++;
}

/* Runs the unroll and its backward on the current threads and level. */
static void run_case(const seq_case *c, tg_dtype dt, results *out) {
    tg_tape *t = tg_tape_new();
    ck_assert_ptr_nonnull(t);
    tg_rng rng;
    tg_rng_seed(&rng, 1234);
    int64_t G = c->lstm ? 4 : 1, GH = G * c->H;
    tg_tensor *x = tg_uniform(t, &rng, dt, 3, (int64_t[]){c->T, c->B, c->I}, -1.0, 1.0);
    tg_tensor *w_ih = tg_uniform(t, &rng, dt, 2, (int64_t[]){GH, c->I}, -0.3, 0.3);
    tg_tensor *w_hh_leaf = c->w_hh_t
                               ? tg_uniform(t, &rng, dt, 2, (int64_t[]){c->H, GH}, -0.3, 0.3)
                               : tg_uniform(t, &rng, dt, 2, (int64_t[]){GH, c->H}, -0.3, 0.3);
    tg_tensor *b_ih = tg_uniform(t, &rng, dt, 1, (int64_t[]){GH}, -0.5, 0.5);
    tg_tensor *b_hh = tg_uniform(t, &rng, dt, 1, (int64_t[]){GH}, -0.5, 0.5);
    tg_tensor *h0 = tg_uniform(t, &rng, dt, 2, (int64_t[]){c->B, c->H}, -1.0, 1.0);
    tg_tensor *c0 = tg_uniform(t, &rng, dt, 2, (int64_t[]){c->B, c->H}, -1.0, 1.0);
    tg_tensor *leaves[7] = {x, h0, c0, w_ih, w_hh_leaf, b_ih, b_hh};
    for (int i = 0; i < 7; i++) {
        ck_assert_ptr_nonnull(leaves[i]);
        tg_tensor_set_requires_grad(leaves[i], true);
    }
    tg_tensor *w_hh = c->w_hh_t ? tg_transpose(t, w_hh_leaf, 0, 1) : w_hh_leaf;
    tg_tensor *y, *hn = NULL, *cn = NULL;
    if (c->lstm) {
        tg_lstm_cell cell = {w_ih, w_hh, b_ih, b_hh, c->I, c->H};
        y = tg_lstm_cell_unroll(t, &cell, x, h0, c0, &hn, &cn);
    } else {
        tg_rnn_cell cell = {w_ih, w_hh, b_ih, b_hh, c->I, c->H};
        y = tg_rnn_cell_unroll(t, &cell, x, h0, &hn);
    }
    ck_assert_msg(y && hn && (!c->lstm || cn), "%s", tg_tape_error(t));
    /* A loss that weighs every output differently, through y, h_n and c_n. */
    tg_tensor *loss = tg_sum_all(t, tg_mul(t, y, tg_uniform(t, &rng, dt, 3, (int64_t[]){c->T, c->B,
                                                                                     c->H},
                                                         -1.0, 1.0)));
    loss = tg_add(t, loss, tg_sum_all(t, tg_mul(t, hn, hn)));
    if (c->lstm) loss = tg_add(t, loss, tg_sum_all(t, tg_mul(t, cn, cn)));
    keep(out, y);
    keep(out, hn);
    if (c->lstm) keep(out, cn);
    tg_tensor *used[7], *grads[7];
    int n_used = 0;
    for (int i = 0; i < 7; i++)
        if (c->lstm || i != 2) used[n_used++] = leaves[i];
    ck_assert_msg(tg_tape_grad(t, loss, NULL, n_used, used, grads, 0) == TG_OK, "%s",
                  tg_tape_error(t));
    for (int i = 0; i < n_used; i++) keep(out, grads[i]);
    tg_tape_free(t);
}

static const char *const result_names[2][MAX_RESULTS] = {
    {"y", "h_n", "dx", "dh0", "dW_ih", "dW_hh", "db_ih", "db_hh"},
    {"y", "h_n", "c_n", "dx", "dh0", "dc0", "dW_ih", "dW_hh", "db_ih", "db_hh"}};

/* Every level this machine has, f32 and f64, threads 2..max_threads against one thread. */
static void check_case(const seq_case *c, int max_threads) {
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? TG_F64 : TG_F32;
        for (int l = 0; l < TG_TEST_N_LEVELS; l++) {
            if (!tg_test_enter_level(tg_test_all_levels[l])) continue;
            results one = {0};
            tg_set_threads(1);
            run_case(c, dt, &one);
            for (int th = 2; th <= max_threads; th++) {
                results many = {0};
                tg_set_threads(th);
                run_case(c, dt, &many);
                ck_assert_int_eq(many.n, one.n);
                for (int i = 0; i < one.n; i++) {
                    ck_assert_uint_eq(many.bytes[i], one.bytes[i]);
                    ck_assert_msg(memcmp(many.data[i], one.data[i], one.bytes[i]) == 0,
                                  "%s T %lld B %lld H %lld%s %s level %s: %s differs on %d "
                                  "threads from one thread",
                                  c->lstm ? "lstm" : "rnn", (long long)c->T, (long long)c->B,
                                  (long long)c->H, c->w_hh_t ? " (W_hh transposed)" : "",
                                  d ? "f64" : "f32", tg_cpu_level_name(tg_test_all_levels[l]),
                                  result_names[c->lstm][i], th);
                }
                results_free(&many);
            }
            results_free(&one);
        }
    }
    tg_set_threads(1);
    tg_set_cpu_level(tg_cpu_best_level());
}

/* Hidden sizes in blocks of 16 units: 64 splits 2 + 2 on two threads; 72 is 5 blocks, the
 * last of 8 units; 40 is 3 blocks, so four threads leave one idle. Each batch puts a step's
 * product (B G H^2) at or above the size from which the threads share the unroll. */
START_TEST(lstm_threads) {
    check_case(&(seq_case){true, 5, 8, 12, 64, false}, 3);
    check_case(&(seq_case){true, 4, 7, 5, 72, true}, 2);
    check_case(&(seq_case){true, 3, 24, 6, 40, false}, tg_test_emulated() ? 2 : 4);
    check_case(&(seq_case){true, 3, 2, 3, 8, false}, 2); /* below the size: one product a time */
}
END_TEST

START_TEST(rnn_threads) {
    check_case(&(seq_case){false, 5, 32, 12, 64, false}, 3);
    check_case(&(seq_case){false, 4, 33, 5, 72, true}, 2);
    check_case(&(seq_case){false, 3, 90, 6, 40, false}, tg_test_emulated() ? 2 : 4);
    check_case(&(seq_case){false, 3, 2, 3, 8, false}, 2);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("seq_threads");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, lstm_threads);
    tcase_add_test(tc, rnn_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(suite()); }

/* test_grad_hook.c: the sweep's hook on a parameter's final deposit (tg_tape_set_grad_hook):
 * it fires once per parameter that received a gradient, at its oldest use, before the rest of
 * the sweep has run, with the parameter's gradient already whole and equal to what a sweep
 * without a hook gives. And the hook after each visited node (tg_tape_set_node_hook): once per
 * rule run, in order, after that node's deposits, and its failure stops the sweep. The private
 * header gives the sweep's visit counter. */
#include <string.h>

#include "graph/graph.h"
#include "test_util.h"

enum { MAX_SEEN = 8 };

typedef struct seen {
    int n;
    tg_tensor *params[MAX_SEEN];
    int64_t visits[MAX_SEEN]; /* the sweep's visit count when each was reported */
    double grad0[MAX_SEEN];   /* the first element of its gradient then */
    const tg_tape *t;
    tg_status answer;
} seen;

static tg_status note(void *ctx, tg_tensor *p) {
    seen *s = ctx;
    if (s->n < MAX_SEEN) {
        s->params[s->n] = p;
        s->visits[s->n] = s->t->last_sweep_visits;
        s->grad0[s->n] = ((double *)tg_tensor_data(tg_tensor_grad(p)))[0];
    }
    s->n++;
    return s->answer;
}

static tg_tensor *param(tg_store *st, const char *name, int64_t r, int64_t c, double v0) {
    tg_tensor *p = tg_store_param(st, name, TG_F64, TG_SHAPE(r, c));
    ck_assert_ptr_nonnull(p);
    double *d = tg_tensor_data(p);
    for (int64_t i = 0; i < r * c; i++) d[i] = v0 + 0.1 * (double)((i * 7) % 5) - 0.2;
    return p;
}

/* loss = sum(tanh(tanh(x w1) w2) w3): three layers, used in that order. */
static tg_tensor *three_layers(tg_tape *t, tg_tensor *w1, tg_tensor *w2, tg_tensor *w3) {
    const double xv[] = {0.5, -1.0, 2.0, 0.25, 1.5, -0.75};
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(2, 3), xv);
    tg_tensor *h = tg_tanh(t, tg_matmul(t, x, w1));
    h = tg_tanh(t, tg_matmul(t, h, w2));
    return tg_sum_all(t, tg_matmul(t, h, w3));
}

/* Reported newest use first (w3, w2, w1), each while older nodes were still unvisited, and
 * each gradient whole: equal bit for bit to a sweep without the hook. */
START_TEST(test_reverse_order_and_early) {
    tg_store *st = tg_store_new();
    tg_tensor *w1 = param(st, "w1", 3, 4, 0.3), *w2 = param(st, "w2", 4, 4, -0.1),
              *w3 = param(st, "w3", 4, 2, 0.2);
    tg_tape *t = tg_tape_new();
    ck_assert_int_eq(tg_tape_backward(t, three_layers(t, w1, w2, w3), NULL, 0), TG_OK);
    int64_t total = t->last_sweep_visits;
    double want[3][16];
    tg_tensor *ws[3] = {w1, w2, w3};
    for (int k = 0; k < 3; k++)
        memcpy(want[k], tg_tensor_data(tg_tensor_grad(ws[k])),
               (size_t)tg_tensor_numel(ws[k]) * sizeof(double));
    tg_store_zero_grad(st);
    tg_tape_reset(t);

    seen s = {.t = t, .answer = TG_OK};
    tg_tape_set_grad_hook(t, note, &s);
    ck_assert_int_eq(tg_tape_backward(t, three_layers(t, w1, w2, w3), NULL, 0), TG_OK);
    ck_assert_int_eq(s.n, 3);
    ck_assert_ptr_eq(s.params[0], w3);
    ck_assert_ptr_eq(s.params[1], w2);
    ck_assert_ptr_eq(s.params[2], w1);
    /* w3 is final after the sum and its matmul: 2 of 7 rules, long before the sweep ends. */
    ck_assert_int_lt(s.visits[0], s.visits[1]);
    ck_assert_int_lt(s.visits[1], s.visits[2]);
    ck_assert_int_lt(s.visits[0], total);
    ck_assert_int_eq(s.visits[2], total);
    for (int k = 0; k < 3; k++) {
        ck_assert(memcmp(want[k], tg_tensor_data(tg_tensor_grad(ws[k])),
                         (size_t)tg_tensor_numel(ws[k]) * sizeof(double)) == 0);
        ck_assert(s.grad0[2 - k] == want[k][0]);
    }
    tg_tape_free(t);
    tg_store_free(st);
}
END_TEST

/* A parameter used by two layers (shared weights) is reported once, after both gradients
 * reached it; one the loss does not use is not reported at all. */
START_TEST(test_shared_once_unused_never) {
    tg_store *st = tg_store_new();
    tg_tensor *w = param(st, "w", 3, 3, 0.1), *unused = param(st, "unused", 3, 3, 0.0);
    (void)unused;
    tg_tape *t = tg_tape_new();
    const double xv[] = {1, 2, 3};
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(1, 3), xv);
    tg_tensor *loss = tg_sum_all(t, tg_matmul(t, tg_tanh(t, tg_matmul(t, x, w)), w));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    double want[9];
    memcpy(want, tg_tensor_data(tg_tensor_grad(w)), sizeof want);
    tg_store_zero_grad(st);
    tg_tape_reset(t);
    seen s = {.t = t, .answer = TG_OK};
    tg_tape_set_grad_hook(t, note, &s);
    x = tg_from_data(t, TG_F64, TG_SHAPE(1, 3), xv);
    loss = tg_sum_all(t, tg_matmul(t, tg_tanh(t, tg_matmul(t, x, w)), w));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    ck_assert_int_eq(s.n, 1);
    ck_assert_ptr_eq(s.params[0], w);
    ck_assert(s.grad0[0] == want[0]);
    ck_assert(memcmp(want, tg_tensor_data(tg_tensor_grad(w)), sizeof want) == 0);
    /* tg_tape_grad leaves .grad alone, so it reports nothing. */
    tg_tape_reset(t);
    s.n = 0;
    x = tg_from_data(t, TG_F64, TG_SHAPE(1, 3), xv);
    loss = tg_sum_all(t, tg_matmul(t, x, w));
    tg_tensor *g = NULL;
    ck_assert_int_eq(tg_tape_grad(t, loss, NULL, 1, &w, &g, 0), TG_OK);
    ck_assert_int_eq(s.n, 0);
    /* Removed, it is called no more. */
    tg_tape_set_grad_hook(t, NULL, &s);
    tg_tape_reset(t);
    x = tg_from_data(t, TG_F64, TG_SHAPE(1, 3), xv);
    loss = tg_sum_all(t, tg_matmul(t, x, w));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    ck_assert_int_eq(s.n, 0);
    tg_tape_free(t);
    tg_store_free(st);
}
END_TEST

/* A hook that fails stops the sweep: its status, kept on the tape, naming the parameter; the
 * older layers never get theirs. */
START_TEST(test_failing_hook_stops) {
    tg_store *st = tg_store_new();
    tg_tensor *w1 = param(st, "w1", 3, 4, 0.3), *w2 = param(st, "w2", 4, 4, -0.1),
              *w3 = param(st, "w3", 4, 2, 0.2);
    tg_tape *t = tg_tape_new();
    seen s = {.t = t, .answer = TG_ERR_IO};
    tg_tape_set_grad_hook(t, note, &s);
    ck_assert_int_eq(tg_tape_backward(t, three_layers(t, w1, w2, w3), NULL, 0), TG_ERR_IO);
    ck_assert_int_eq(s.n, 1);
    ck_assert_ptr_nonnull(strstr(tg_tape_error(t), "'w3'"));
    ck_assert_ptr_nonnull(strstr(tg_tape_error(t), "hook"));
    ck_assert(((double *)tg_tensor_data(tg_tensor_grad(w1)))[0] == 0.0);
    tg_tape_free(t);
    tg_store_free(st);
}
END_TEST

/* What the node hook saw: the counts it was given and how many parameters the gradient hook
 * had reported by then. */
typedef struct nodes_seen {
    int n;
    int64_t counts[16];
    int deposits[16];
    const seen *params;
    int fail_at; /* answer TG_ERR_IO at this call (1-based), 0 never */
} nodes_seen;

static tg_status on_node(void *ctx, int64_t visited) {
    nodes_seen *s = ctx;
    if (s->n < 16) {
        s->counts[s->n] = visited;
        s->deposits[s->n] = s->params ? s->params->n : 0;
    }
    s->n++;
    return s->n == s->fail_at ? TG_ERR_IO : TG_OK;
}

/* Called once after every rule the sweep runs, counting 1, 2, ..., after the deposits that
 * node made final (w3 is reported by the second call, after the sum and w3's matmul); the
 * gradients are those of a sweep without it; tg_tape_grad does not call it. */
START_TEST(test_node_hook_each_visit) {
    tg_store *st = tg_store_new();
    tg_tensor *w1 = param(st, "w1", 3, 4, 0.3), *w2 = param(st, "w2", 4, 4, -0.1),
              *w3 = param(st, "w3", 4, 2, 0.2);
    tg_tape *t = tg_tape_new();
    ck_assert_int_eq(tg_tape_backward(t, three_layers(t, w1, w2, w3), NULL, 0), TG_OK);
    int64_t total = t->last_sweep_visits;
    double want[12];
    memcpy(want, tg_tensor_data(tg_tensor_grad(w1)), sizeof want);
    tg_store_zero_grad(st);
    tg_tape_reset(t);

    seen p = {.t = t, .answer = TG_OK};
    nodes_seen s = {.params = &p};
    tg_tape_set_grad_hook(t, note, &p);
    tg_tape_set_node_hook(t, on_node, &s);
    ck_assert_int_eq(tg_tape_backward(t, three_layers(t, w1, w2, w3), NULL, 0), TG_OK);
    ck_assert_int_eq(s.n, total);
    for (int k = 0; k < s.n && k < 16; k++) ck_assert_int_eq(s.counts[k], k + 1);
    ck_assert_int_eq(s.deposits[0], 0);
    ck_assert_int_eq(s.deposits[1], 1);
    ck_assert_int_eq(s.deposits[s.n - 1], 3);
    ck_assert(memcmp(want, tg_tensor_data(tg_tensor_grad(w1)), sizeof want) == 0);

    tg_tape_reset(t);
    s.n = 0;
    const double xv[] = {1, 2, 3};
    tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(1, 3), xv);
    tg_tensor *g = NULL;
    ck_assert_int_eq(tg_tape_grad(t, tg_sum_all(t, tg_matmul(t, x, w1)), NULL, 1, &w1, &g, 0),
                     TG_OK);
    ck_assert_int_eq(s.n, 0);
    /* Removed, it is called no more. */
    tg_tape_set_node_hook(t, NULL, &s);
    tg_tape_reset(t);
    ck_assert_int_eq(tg_tape_backward(t, three_layers(t, w1, w2, w3), NULL, 0), TG_OK);
    ck_assert_int_eq(s.n, 0);
    tg_tape_free(t);
    tg_store_free(st);
}
END_TEST

/* A node hook that fails stops the sweep with its status and says so; w1, made final only at
 * the last node, gets nothing. */
START_TEST(test_failing_node_hook_stops) {
    tg_store *st = tg_store_new();
    tg_tensor *w1 = param(st, "w1", 3, 4, 0.3), *w2 = param(st, "w2", 4, 4, -0.1),
              *w3 = param(st, "w3", 4, 2, 0.2);
    tg_tape *t = tg_tape_new();
    nodes_seen s = {.fail_at = 2};
    tg_tape_set_node_hook(t, on_node, &s);
    ck_assert_int_eq(tg_tape_backward(t, three_layers(t, w1, w2, w3), NULL, 0), TG_ERR_IO);
    ck_assert_int_eq(s.n, 2);
    ck_assert_ptr_nonnull(strstr(tg_tape_error(t), "node hook"));
    ck_assert(((double *)tg_tensor_data(tg_tensor_grad(w1)))[0] == 0.0);
    tg_tape_free(t);
    tg_store_free(st);
}
END_TEST

int main(void) {
    Suite *s = suite_create("graph_grad_hook");
    TCase *c = tcase_create("hook");
    tcase_add_test(c, test_reverse_order_and_early);
    tcase_add_test(c, test_shared_once_unused_never);
    tcase_add_test(c, test_failing_hook_stops);
    tcase_add_test(c, test_node_hook_each_visit);
    tcase_add_test(c, test_failing_node_hook_stops);
    suite_add_tcase(s, c);
    return tg_test_run(s);
}

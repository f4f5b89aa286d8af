/* test_backward.c: the generic reverse sweep (src/graph/backward.c): gradient sums over
 * several uses, which nodes are visited, accumulation into parameters, released graphs,
 * vector-Jacobian products, tg_tape_grad, and second derivatives through TG_CREATE_GRAPH.
 *
 * Expected gradients are derived by hand in the comments next to them. The private header
 * gives the sweep's visit counter (tg_tape.last_sweep_visits). */
#include <string.h>

#include "graph/graph.h"
#include "test_util.h"
#include "tapegrad/custom_op.h"

static tg_tensor *leaf(tg_tape *t, int ndim, const int64_t *shape, const double *v) {
    tg_tensor *x = tg_from_data(t, TG_F64, ndim, shape, v);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(tg_tensor_set_requires_grad(x, true), TG_OK);
    return x;
}

/* ---- sums over several uses ---- */

/* y = sum(x*x + 3x): x feeds mul twice and mul_scalar once, dy/dx = 2x + 3. */
START_TEST(test_multiple_uses_sum) {
    tg_tape *t = tg_tape_new();
    const double xv[] = {1.0, -2.0, 0.5, 4.0};
    tg_tensor *x = leaf(t, TG_SHAPE(4), xv);
    tg_tensor *y = tg_sum_all(t, tg_add(t, tg_mul(t, x, x), tg_mul_scalar(t, x, 3.0)));
    ck_assert_int_eq(tg_tape_backward(t, y, NULL, 0), TG_OK);
    const double want[] = {5.0, -1.0, 4.0, 11.0};
    ck_assert_tensor_near(tg_tensor_grad(x), want, 4, 0.0);
    ck_assert_int_eq(t->last_sweep_visits, 4); /* mul, mul_scalar, add, sum */
    tg_tape_free(t);
}
END_TEST

/* The same through a parameter, with x reaching the loss along paths of different lengths:
 * L = sum(w * exp(w) + w), dL/dw = exp(w) + w exp(w) + 1. In f32 as well. */
START_TEST(test_multiple_uses_param) {
    const tg_dtype dts[] = {TG_F64, TG_F32};
    for (int k = 0; k < 2; k++) {
        tg_store *s = tg_store_new();
        tg_tape *t = tg_tape_new();
        tg_tensor *w = tg_store_param(s, "w", dts[k], TG_SHAPE(3));
        const double wv[] = {0.0, 1.0, -0.5};
        tg_tensor_copy_in(w, TG_F64, wv);
        tg_tensor *l = tg_sum_all(t, tg_add(t, tg_mul(t, w, tg_exp(t, w)), w));
        ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
        double want[3];
        for (int i = 0; i < 3; i++) want[i] = exp(wv[i]) * (1 + wv[i]) + 1;
        ck_assert_tensor_near(tg_tensor_grad(w), want, 3, dts[k] == TG_F64 ? 1e-14 : 4e-6);
        tg_tape_free(t);
        tg_store_free(s);
    }
}
END_TEST

/* The sweep adds later contributions in place into a sum it made, but never into a rule's
 * result, which may be shared: add hands one gradient tensor to both inputs. Here a receives
 * that shared tensor first (y = a + b is a's last use), then exp's and mul_scalar's gradients,
 * so the second sum is in place. Expected: dL/da = c + exp(a) + 2, dL/db = c, dL/dy = c, for
 * L = sum(y c + 2a + exp(a)). */
START_TEST(test_shared_gradient_not_written) {
    tg_tape *t = tg_tape_new();
    const double av[] = {0.5, -1.0, 2.0, 0.0}, bv[] = {1, 2, 3, 4}, cv[] = {3, -1, 0.25, 7};
    tg_tensor *a = leaf(t, TG_SHAPE(4), av);
    tg_tensor *b = leaf(t, TG_SHAPE(4), bv);
    tg_tensor *c = tg_from_data(t, TG_F64, TG_SHAPE(4), cv);
    tg_tensor *p = tg_mul_scalar(t, a, 2.0);
    tg_tensor *q = tg_exp(t, a);
    tg_tensor *y = tg_add(t, a, b);
    tg_tensor *l = tg_sum_all(t, tg_add(t, tg_add(t, tg_mul(t, y, c), p), q));
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    double want_a[4];
    for (int i = 0; i < 4; i++) want_a[i] = cv[i] + exp(av[i]) + 2;
    ck_assert_tensor_near(tg_tensor_grad(a), want_a, 4, 1e-15);
    ck_assert_tensor_near(tg_tensor_grad(b), cv, 4, 0.0);
    ck_assert_tensor_near(tg_tensor_grad(y), cv, 4, 0.0);
    tg_tape_free(t);
}
END_TEST

/* A parameter used at every step of a loop, as an RNN's weight is: T contributions, of which
 * all but the first two are added in place. L = sum_k sum(w * x_k), dL/dw = sum_k x_k. */
START_TEST(test_many_contributions) {
    enum { T = 9 };
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2, 3));
    const double wv[] = {1, 2, 3, 4, 5, 6};
    tg_tensor_copy_in(w, TG_F64, wv);
    double want[6] = {0};
    tg_tensor *l = NULL;
    for (int k = 0; k < T; k++) {
        double xv[6];
        for (int i = 0; i < 6; i++) want[i] += xv[i] = (double)(k * 6 + i) - 20.0;
        tg_tensor *term = tg_sum_all(t, tg_mul(t, w, tg_from_data(t, TG_F64, TG_SHAPE(2, 3), xv)));
        l = l ? tg_add(t, l, term) : term;
    }
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    ck_assert_tensor_near(tg_tensor_grad(w), want, 6, 0.0);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* Broadcasting: b (3,) is added to every row of a (2, 3), so its gradient is summed over rows. */
START_TEST(test_broadcast_gradient_sums) {
    tg_tape *t = tg_tape_new();
    const double av[] = {1, 2, 3, 4, 5, 6}, bv[] = {10, 20, 30};
    tg_tensor *a = leaf(t, TG_SHAPE(2, 3), av);
    tg_tensor *b = leaf(t, TG_SHAPE(3), bv);
    /* L = sum((a + b) * a): dL/da = 2a + b, dL/db_j = sum_i a_ij */
    tg_tensor *l = tg_sum_all(t, tg_mul(t, tg_add(t, a, b), a));
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    const double ga[] = {12, 24, 36, 18, 30, 42}, gb[] = {5, 7, 9};
    ck_assert_tensor_near(tg_tensor_grad(a), ga, 6, 0.0);
    ck_assert_tensor_near(tg_tensor_grad(b), gb, 3, 0.0);
    tg_tape_free(t);
}
END_TEST

/* ---- which nodes are visited ---- */

START_TEST(test_only_path_nodes_visited) {
    tg_tape *t = tg_tape_new();
    const double xv[] = {0.5, -1.0, 2.0};
    tg_tensor *x = leaf(t, TG_SHAPE(3), xv);
    /* A side branch that requires a gradient but does not feed the loss: 2 nodes. */
    tg_tensor *side = tg_mul(t, tg_exp(t, x), x);
    /* A constant branch: not recorded at all. */
    tg_tensor *c = tg_exp(t, tg_ones(t, TG_F64, TG_SHAPE(3)));
    /* The loss: L = sum(2x * c), 2 nodes. */
    tg_tensor *l = tg_sum_all(t, tg_mul(t, tg_mul_scalar(t, x, 2.0), c));
    /* Recorded after the loss: cannot reach it. */
    tg_tensor *after = tg_tanh(t, x);
    ck_assert_ptr_nonnull(after);
    ck_assert_int_eq(tg_tape_n_nodes(t), 6);
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    ck_assert_int_eq(t->last_sweep_visits, 3); /* sum, mul, mul_scalar */
    const double e = exp(1.0), want[] = {2 * e, 2 * e, 2 * e};
    ck_assert_tensor_near(tg_tensor_grad(x), want, 3, 1e-15);
    /* Off-path tensors got no gradient. */
    ck_assert_ptr_null(tg_tensor_grad(side));
    ck_assert_ptr_null(tg_tensor_grad(after));
    ck_assert_ptr_null(tg_tensor_grad(c));
    /* The side branch's nodes were not released by that sweep: backward from it still works. */
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, side), NULL, 0), TG_OK);
    ck_assert_int_eq(t->last_sweep_visits, 3); /* sum, mul, exp */
    tg_tape_free(t);
}
END_TEST

/* The counter restarts with every sweep, and tg_tape_grad visits the same nodes. */
START_TEST(test_visit_count_per_sweep) {
    tg_tape *t = tg_tape_new();
    const double xv[] = {1, 2};
    tg_tensor *x = leaf(t, TG_SHAPE(2), xv);
    tg_tensor *a = tg_tanh(t, x);
    tg_tensor *b = tg_sum_all(t, a);
    tg_tensor *g[1];
    ck_assert_int_eq(tg_tape_grad(t, b, NULL, 1, &x, g, TG_RETAIN_GRAPH), TG_OK);
    ck_assert_int_eq(t->last_sweep_visits, 2);
    /* Starting at a: one node. */
    const double ones[] = {1, 1};
    tg_tensor *go = tg_from_data(t, TG_F64, TG_SHAPE(2), ones);
    ck_assert_int_eq(tg_tape_grad(t, a, go, 1, &x, g, TG_RETAIN_GRAPH), TG_OK);
    ck_assert_int_eq(t->last_sweep_visits, 1);
    tg_tape_free(t);
}
END_TEST

/* ---- accumulation ---- */

START_TEST(test_param_grads_accumulate) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2));
    const double wv[] = {1.5, -2.0};
    tg_tensor_copy_in(w, TG_F64, wv);
    const double once[] = {3.0, -4.0}, twice[] = {6.0, -8.0};
    for (int step = 0; step < 2; step++) { /* two separate graphs on the tape */
        tg_tensor *l = tg_sum_all(t, tg_mul(t, w, w));
        ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    }
    ck_assert_tensor_near(tg_tensor_grad(w), twice, 2, 0.0);
    /* Across a reset too: the gradient belongs to the store. */
    tg_tape_reset(t);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_mul(t, w, w)), NULL, 0), TG_OK);
    const double thrice[] = {9.0, -12.0};
    ck_assert_tensor_near(tg_tensor_grad(w), thrice, 2, 0.0);
    tg_store_zero_grad(s);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_mul(t, w, w)), NULL, 0), TG_OK);
    ck_assert_tensor_near(tg_tensor_grad(w), once, 2, 0.0);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* tg_store_zero_grad defers its zeros (the next deposit writes instead of adding): a
 * gradient the next sweep reaches holds exactly that sweep's values, one it does not reach
 * reads as zeros, to tg_tensor_grad and to an optimiser step, and a second sweep after the
 * first adds to it. */
START_TEST(test_zero_grad_deferred) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2));
    tg_tensor *v = tg_store_param(s, "v", TG_F64, TG_SHAPE(2));
    const double wv[] = {1.5, -2.0}, vv[] = {0.25, 4.0};
    tg_tensor_copy_in(w, TG_F64, wv);
    tg_tensor_copy_in(v, TG_F64, vv);
    /* Both gradients nonzero: sum(w*w) + 3 sum(v). */
    ck_assert_int_eq(tg_tape_backward(t, tg_add(t, tg_sum_all(t, tg_mul(t, w, w)),
                                                tg_mul_scalar(t, tg_sum_all(t, v), 3.0)),
                                      NULL, 0),
                     TG_OK);
    const double gw[] = {3.0, -4.0}, gv[] = {3.0, 3.0}, zero[] = {0.0, 0.0};
    const double gw2[] = {6.0, -8.0};
    ck_assert_tensor_near(tg_tensor_grad(v), gv, 2, 0.0);
    tg_store_zero_grad(s);
    /* Only w is reached: its gradient is this sweep's alone, v's reads as zeros. */
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_mul(t, w, w)), NULL, 0), TG_OK);
    ck_assert_tensor_near(tg_tensor_grad(w), gw, 2, 0.0);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_mul(t, w, w)), NULL, 0), TG_OK);
    ck_assert_tensor_near(tg_tensor_grad(w), gw2, 2, 0.0);
    ck_assert_tensor_near(tg_tensor_grad(v), zero, 2, 0.0);
    /* An SGD step after a zero_grad whose sweep never reached v leaves v where it was. */
    tg_error err = {0};
    tg_sgd_options o = tg_sgd_defaults(0.5);
    tg_optim *opt = tg_optim_sgd(s, &o, &err);
    ck_assert_ptr_nonnull(opt);
    tg_store_zero_grad(s);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_mul(t, w, w)), NULL, 0), TG_OK);
    ck_assert_int_eq(tg_optim_step(opt, &err), TG_OK);
    ck_assert_tensor_near(v, vv, 2, 0.0);
    const double w_after[] = {1.5 - 0.5 * 3.0, -2.0 + 0.5 * 4.0};
    ck_assert_tensor_near(w, w_after, 2, 0.0);
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* ---- gradients written in place (tg_sweep_grad_target) ---- */

/* A two-layer net whose weights and biases are parameters of s and whose input x is a leaf of t
 * (so linear's rule computes every gradient), loss sum(y^2): one graph for every test below. */
typedef struct small_net {
    tg_tensor *w1, *b1, *w2, *b2, *x, *loss;
} small_net;

static small_net small_net_make(tg_store *s, tg_tape *t, tg_dtype dt) {
    small_net n;
    n.w1 = tg_store_param(s, "w1", dt, TG_SHAPE(3, 4));
    n.b1 = tg_store_param(s, "b1", dt, TG_SHAPE(3));
    n.w2 = tg_store_param(s, "w2", dt, TG_SHAPE(2, 3));
    n.b2 = tg_store_param(s, "b2", dt, TG_SHAPE(2));
    tg_tensor *ps[4] = {n.w1, n.b1, n.w2, n.b2};
    double v[12];
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_nonnull(ps[i]);
        for (int64_t j = 0; j < tg_tensor_numel(ps[i]); j++)
            v[j] = 0.25 * (double)((j * 7 + i) % 9) - 1.0;
        tg_tensor_copy_in(ps[i], TG_F64, v);
    }
    double xv[20];
    float xf[20];
    for (int j = 0; j < 20; j++) xf[j] = (float)(xv[j] = 0.125 * (double)((j * 5) % 11) - 0.5);
    n.x = tg_from_data(t, dt, 2, (const int64_t[]){5, 4}, dt == TG_F32 ? (const void *)xf : xv);
    ck_assert_ptr_nonnull(n.x);
    ck_assert_int_eq(tg_tensor_set_requires_grad(n.x, true), TG_OK);
    tg_tensor *h = tg_relu(t, tg_linear(t, n.x, n.w1, n.b1));
    tg_tensor *y = tg_linear(t, h, n.w2, n.b2);
    n.loss = tg_sum_all(t, tg_mul(t, y, y));
    ck_assert_ptr_nonnull(n.loss);
    return n;
}

/* The gradients a tg_tape_backward after tg_store_zero_grad writes in place are the ones
 * tg_tape_grad (which never writes in place) computes, bit for bit, in f64 and f32; a second
 * sweep without zeroing adds to them (doubles them, exactly). */
START_TEST(test_grad_in_place_matches) {
    const tg_dtype dts[] = {TG_F64, TG_F32};
    for (int k = 0; k < 2; k++) {
        tg_store *s = tg_store_new();
        tg_tape *t = tg_tape_new();
        small_net n = small_net_make(s, t, dts[k]);
        tg_tensor *ins[5] = {n.w1, n.b1, n.w2, n.b2, n.x}, *ref[5];
        ck_assert_int_eq(tg_tape_grad(t, n.loss, NULL, 5, ins, ref, TG_RETAIN_GRAPH), TG_OK);
        tg_store_zero_grad(s);
        ck_assert_int_eq(tg_tape_backward(t, n.loss, NULL, TG_RETAIN_GRAPH), TG_OK);
        for (int i = 0; i < 5; i++) {
            tg_tensor *g = tg_tensor_grad(ins[i]);
            ck_assert_ptr_nonnull(g);
            ck_assert_int_eq(tg_tensor_numel(g), tg_tensor_numel(ref[i]));
            for (int64_t j = 0; j < tg_tensor_numel(g); j++)
                ck_assert_double_eq(tg_tensor_get(g, j), tg_tensor_get(ref[i], j));
        }
        ck_assert_int_eq(tg_tape_backward(t, n.loss, NULL, 0), TG_OK);
        for (int i = 0; i < 4; i++) {
            tg_tensor *g = tg_tensor_grad(ins[i]);
            for (int64_t j = 0; j < tg_tensor_numel(g); j++)
                ck_assert_double_eq(tg_tensor_get(g, j), 2 * tg_tensor_get(ref[i], j));
        }
        tg_tape_free(t);
        tg_store_free(s);
    }
}
END_TEST

/* A backward that hands the loss's gradient on unchanged but gives it the wrong shape for its
 * input: a sweep through it fails after the nodes recorded later have run. */
static tg_tensor *pass_fwd(tg_tape *t, tg_tensor *const *in, void *ctx) {
    (void)ctx;
    return tg_mul_scalar(t, in[0], 1.0);
}
static void wrong_shape_bwd(tg_tape *t, tg_tensor *const *in, tg_tensor *out, tg_tensor *g,
                            tg_tensor **grads, void *ctx) {
    (void)in, (void)out, (void)g, (void)ctx;
    grads[0] = tg_zeros(t, tg_tensor_dtype(g), TG_SHAPE(1));
}

/* A sweep that fails after the layers' rules wrote their gradients in place leaves those
 * gradients reading as the zeros tg_store_zero_grad promised, not as the partial sweep. */
START_TEST(test_grad_in_place_failed_sweep) {
    tg_custom_op_def def = {.name = "test_wrong_shape_grad", .n_inputs = 1, .forward = pass_fwd,
                            .backward = wrong_shape_bwd};
    tg_error err = {0};
    tg_custom_op *bad = tg_custom_op_new(&def, &err);
    ck_assert_ptr_nonnull(bad);
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2, 3));
    tg_tensor_fill(w, 0.5);
    const double xv[] = {1, 2, 3, 4, 5, 6};
    tg_tensor *x = leaf(t, TG_SHAPE(2, 3), xv);
    /* A good sweep first, so that w's gradient memory holds nonzero values. */
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_linear(t, x, w, NULL)), NULL, 0),
                     TG_OK);
    ck_assert_double_eq(tg_tensor_get(tg_tensor_grad(w), 0), 5.0); /* column sum of x */
    tg_tape_reset(t);
    x = leaf(t, TG_SHAPE(2, 3), xv);
    tg_tensor *xb = tg_custom(t, bad, &x, 1);
    tg_tensor *l = tg_sum_all(t, tg_linear(t, xb, w, NULL));
    tg_store_zero_grad(s);
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_ERR_SHAPE);
    tg_tensor *g = tg_tensor_grad(w);
    for (int64_t j = 0; j < 6; j++) ck_assert_double_eq(tg_tensor_get(g, j), 0.0);
    tg_tape_free(t);
    tg_store_free(s);
    tg_custom_op_free(bad);
}
END_TEST

/* A weight used by two layers and by a penalty recorded before them (so visited after them):
 * the first contribution goes in place and the others are summed onto it, in the order and
 * with the bits of tg_tape_grad's sum. */
START_TEST(test_grad_in_place_shared_weight) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(3, 3));
    const double wv[] = {-0.5, -0.2, 0.1, 0.4, -0.5, -0.2, 0.1, 0.4, -0.5};
    tg_tensor_copy_in(w, TG_F64, wv);
    const double xv[] = {1, -2, 3, 0.5, 0.25, -1};
    tg_tensor *x = leaf(t, TG_SHAPE(2, 3), xv);
    tg_tensor *penalty = tg_sum_all(t, tg_mul(t, w, w));
    tg_tensor *y = tg_linear(t, tg_tanh(t, tg_linear(t, x, w, NULL)), w, NULL);
    tg_tensor *l = tg_add(t, tg_sum_all(t, tg_mul(t, y, y)), penalty);
    tg_tensor *ref;
    ck_assert_int_eq(tg_tape_grad(t, l, NULL, 1, &w, &ref, TG_RETAIN_GRAPH), TG_OK);
    tg_store_zero_grad(s);
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    tg_tensor *g = tg_tensor_grad(w);
    for (int64_t j = 0; j < 9; j++) ck_assert_double_eq(tg_tensor_get(g, j), tg_tensor_get(ref, j));
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* When a rule is given the gradient buffer: a custom op's backward asks for its input's and
 * notes whether it got it. */
static int probe_got;
static void probe_bwd(tg_tape *t, tg_tensor *const *in, tg_tensor *out, tg_tensor *g,
                      tg_tensor **grads, void *ctx) {
    (void)out, (void)ctx;
    tg_tensor *target = tg_sweep_grad_target(t, in[0]);
    probe_got = target != NULL;
    if (target) ck_assert_ptr_eq(tg_tensor_data(target), in[0]->grad->data);
    grads[0] = g;
}

static tg_status noop_hook(void *ctx, tg_tensor *param) {
    (void)ctx, (void)param;
    return TG_OK;
}

START_TEST(test_grad_target_conditions) {
    tg_custom_op_def def = {.name = "test_probe_grad_target", .n_inputs = 1, .forward = pass_fwd,
                            .backward = probe_bwd};
    tg_error err = {0};
    tg_custom_op *probe = tg_custom_op_new(&def, &err);
    ck_assert_ptr_nonnull(probe);
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2));
    tg_tensor_fill(w, 1.5);
    enum { BACKWARD, GRAD, NO_ZERO, HOOK, ANOMALY, CREATE, SEEN_FIRST, N_CASES };
    for (int c = 0; c < N_CASES; c++) {
        tg_tape_reset(t);
        if (c != NO_ZERO) tg_store_zero_grad(s);
        else (void)tg_tensor_grad(w); /* no zeros pending */
        if (c == HOOK) tg_tape_set_grad_hook(t, noop_hook, NULL);
        if (c == ANOMALY) tg_tape_set_anomaly(t, true);
        tg_tensor *l = tg_sum_all(t, tg_custom(t, probe, &w, 1));
        if (c == SEEN_FIRST) l = tg_add(t, l, tg_sum_all(t, tg_mul(t, w, w))); /* visited first */
        probe_got = -1;
        if (c == GRAD) {
            tg_tensor *g;
            ck_assert_int_eq(tg_tape_grad(t, l, NULL, 1, &w, &g, 0), TG_OK);
        } else {
            ck_assert_int_eq(tg_tape_backward(t, l, NULL, c == CREATE ? TG_CREATE_GRAPH : 0),
                             TG_OK);
        }
        ck_assert_int_eq(probe_got, c == BACKWARD);
        tg_tape_set_grad_hook(t, NULL, NULL);
        tg_tape_set_anomaly(t, false);
    }
    tg_tape_free(t);
    tg_store_free(s);
    tg_custom_op_free(probe);
}
END_TEST

/* ---- released graphs ---- */

START_TEST(test_backward_twice_released) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2));
    tg_tensor_fill(w, 3.0);
    const double xv[] = {1.0, 2.0};
    tg_tensor *x = leaf(t, TG_SHAPE(2), xv);
    tg_tensor *l = tg_sum_all(t, tg_mul(t, w, x)); /* dL/dw = x, dL/dx = w */
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    ck_assert_tensor_near(tg_tensor_grad(w), xv, 2, 0.0);
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_ERR_RELEASED);
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_RELEASED);
    ck_assert_ptr_nonnull(strstr(tg_tape_error(t), "released"));
    ck_assert_ptr_nonnull(strstr(tg_tape_error(t), "TG_RETAIN_GRAPH"));
    /* The failed sweep changed no gradient. */
    ck_assert_tensor_near(tg_tensor_grad(w), xv, 2, 0.0);
    const double w3[] = {3.0, 3.0};
    ck_assert_tensor_near(tg_tensor_grad(x), w3, 2, 0.0);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* A new output whose graph runs into released nodes fails too, rather than stopping short. */
START_TEST(test_released_shared_subgraph) {
    tg_tape *t = tg_tape_new();
    const double xv[] = {1.0, 2.0};
    tg_tensor *x = leaf(t, TG_SHAPE(2), xv);
    tg_tensor *a = tg_mul(t, x, x);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, a), NULL, 0), TG_OK);
    tg_tensor *l2 = tg_sum_all(t, tg_mul_scalar(t, a, 2.0));
    ck_assert_int_eq(tg_tape_backward(t, l2, NULL, 0), TG_ERR_RELEASED);
    ck_assert_ptr_nonnull(strstr(tg_tape_error(t), "(mul)"));
    tg_tape_free(t);
}
END_TEST

START_TEST(test_retain_graph_doubles) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2));
    const double wv[] = {0.5, -1.0};
    tg_tensor_copy_in(w, TG_F64, wv);
    const double xv[] = {2.0, 3.0};
    tg_tensor *x = leaf(t, TG_SHAPE(2), xv);
    /* L = sum(tanh(w x)): dL/dw = x (1 - tanh^2(w x)), dL/dx = w (1 - tanh^2(w x)) */
    tg_tensor *l = tg_sum_all(t, tg_tanh(t, tg_mul(t, w, x)));
    double gw[2], gx[2];
    for (int i = 0; i < 2; i++) {
        double th = tanh(wv[i] * xv[i]);
        gw[i] = xv[i] * (1 - th * th);
        gx[i] = wv[i] * (1 - th * th);
    }
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, TG_RETAIN_GRAPH), TG_OK);
    ck_assert_tensor_near(tg_tensor_grad(w), gw, 2, 1e-15);
    ck_assert_tensor_near(tg_tensor_grad(x), gx, 2, 1e-15);
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, TG_RETAIN_GRAPH), TG_OK);
    for (int i = 0; i < 2; i++) {
        gw[i] *= 2;
        gx[i] *= 2;
    }
    ck_assert_tensor_near(tg_tensor_grad(w), gw, 2, 1e-15);
    ck_assert_tensor_near(tg_tensor_grad(x), gx, 2, 1e-15);
    /* A last sweep without the flag still works, and then the graph is gone. */
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_ERR_RELEASED);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* ---- non-scalar outputs ---- */

START_TEST(test_nonscalar_needs_grad_out) {
    tg_tape *t = tg_tape_new();
    const double xv[] = {1, 2, 3};
    tg_tensor *x = leaf(t, TG_SHAPE(3), xv);
    tg_tensor *y = tg_mul(t, x, x);
    ck_assert_int_eq(tg_tape_backward(t, y, NULL, 0), TG_ERR_NOGRAD);
    ck_assert_ptr_nonnull(strstr(tg_tape_error(t), "(3,)"));
    ck_assert_ptr_null(tg_tensor_grad(x));
    tg_tape_clear_error(t);
    /* With v: x.grad = 2 x v. */
    const double vv[] = {1.0, -1.0, 0.5};
    tg_tensor *v = tg_from_data(t, TG_F64, TG_SHAPE(3), vv);
    ck_assert_int_eq(tg_tape_backward(t, y, v, 0), TG_OK);
    const double want[] = {2.0, -4.0, 3.0};
    ck_assert_tensor_near(tg_tensor_grad(x), want, 3, 0.0);
    tg_tape_free(t);
}
END_TEST

/* Y = W X for W (2, 3), X (3, 2): with output weights V (2, 2), dW = V X^T and dX = W^T V,
 * computed here with plain loops. */
START_TEST(test_vjp_matmul) {
    tg_tape *t = tg_tape_new();
    const double wv[] = {1, -2, 0.5, 3, 0, -1}, xv[] = {2, 1, -1, 4, 0.5, -3};
    const double vv[] = {1, 2, -0.5, 0.25};
    tg_tensor *w = leaf(t, TG_SHAPE(2, 3), wv);
    tg_tensor *x = leaf(t, TG_SHAPE(3, 2), xv);
    tg_tensor *y = tg_matmul(t, w, x);
    tg_tensor *v = tg_from_data(t, TG_F64, TG_SHAPE(2, 2), vv);
    ck_assert_int_eq(tg_tape_backward(t, y, v, 0), TG_OK);
    double dw[6] = {0}, dx[6] = {0};
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 2; j++) {
                dw[i * 3 + k] += vv[i * 2 + j] * xv[k * 2 + j];
                dx[k * 2 + j] += wv[i * 3 + k] * vv[i * 2 + j];
            }
    ck_assert_tensor_near(tg_tensor_grad(w), dw, 6, 1e-15);
    ck_assert_tensor_near(tg_tensor_grad(x), dx, 6, 1e-15);
    /* A grad_out of the wrong shape or dtype is refused. */
    tg_tensor *bad = tg_ones(t, TG_F64, TG_SHAPE(4));
    ck_assert_int_eq(tg_tape_backward(t, y, bad, TG_RETAIN_GRAPH), TG_ERR_SHAPE);
    tg_tape_clear_error(t);
    tg_tensor *bad32 = tg_ones(t, TG_F32, TG_SHAPE(2, 2));
    ck_assert_int_eq(tg_tape_backward(t, y, bad32, TG_RETAIN_GRAPH), TG_ERR_DTYPE);
    ck_assert_ptr_nonnull(strstr(tg_tape_error(t), "f32 (2, 2)"));
    tg_tape_free(t);
}
END_TEST

/* A leaf as the output: its gradient is 1 (or grad_out). */
START_TEST(test_leaf_output) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_scalar(t, TG_F64, 4.0);
    tg_tensor_set_requires_grad(x, true);
    ck_assert_int_eq(tg_tape_backward(t, x, NULL, 0), TG_OK);
    ck_assert(tg_tensor_item(tg_tensor_grad(x)) == 1.0);
    ck_assert_int_eq(t->last_sweep_visits, 0);
    /* An output nothing requires a gradient for. */
    tg_tensor *c = tg_scalar(t, TG_F64, 1.0);
    ck_assert_int_eq(tg_tape_backward(t, c, NULL, 0), TG_ERR_NOGRAD);
    tg_tape_clear_error(t);
    ck_assert_int_eq(tg_tape_backward(t, NULL, NULL, 0), TG_ERR_NULL);
    ck_assert_int_eq(tg_tape_backward(NULL, x, NULL, 0), TG_ERR_NULL);
    tg_tape_free(t);
}
END_TEST

/* ---- tg_tape_grad ---- */

START_TEST(test_tape_grad_leaves_grad_alone) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2));
    const double wv[] = {2.0, -3.0};
    tg_tensor_copy_in(w, TG_F64, wv);
    const double xv[] = {1.0, 5.0}, zv[] = {7.0, 8.0, 9.0};
    tg_tensor *x = leaf(t, TG_SHAPE(2), xv);
    tg_tensor *z = leaf(t, TG_SHAPE(3), zv);           /* requires a gradient, unused */
    tg_tensor *c = tg_ones(t, TG_F64, TG_SHAPE(2, 2)); /* requires nothing, unused */
    tg_tensor *h = tg_mul(t, w, x);
    tg_tensor *l = tg_sum_all(t, tg_mul(t, h, h)); /* L = sum(w^2 x^2) */
    tg_tensor *ins[4] = {w, x, z, c}, *g[4];
    ck_assert_int_eq(tg_tape_grad(t, l, NULL, 4, ins, g, 0), TG_OK);
    const double gw[] = {2 * 2.0 * 1.0, 2 * -3.0 * 25.0}; /* 2 w x^2 */
    const double gx[] = {2 * 4.0 * 1.0, 2 * 9.0 * 5.0};   /* 2 w^2 x */
    const double zero[] = {0, 0, 0, 0};
    ck_assert_tensor_near(g[0], gw, 2, 0.0);
    ck_assert_tensor_near(g[1], gx, 2, 0.0);
    ck_assert_tensor_near(g[2], zero, 3, 0.0);
    ck_assert_tensor_near(g[3], zero, 4, 0.0);
    ck_assert_int_eq(tg_tensor_ndim(g[3]), 2);
    /* Nothing's accumulated gradient moved. */
    ck_assert_tensor_near(tg_tensor_grad(w), zero, 2, 0.0);
    ck_assert_ptr_null(tg_tensor_grad(x));
    ck_assert_ptr_null(tg_tensor_grad(z));
    ck_assert_ptr_null(tg_tensor_grad(h));
    /* Without TG_RETAIN_GRAPH the graph is now released. */
    ck_assert_int_eq(tg_tape_grad(t, l, NULL, 1, ins, g, 0), TG_ERR_RELEASED);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* ---- second derivatives ---- */

/* y = sum(x^3): dy/dx = 3x^2, d/dx sum(3x^2) = 6x, and once more 6. */
START_TEST(test_second_derivative_cube) {
    tg_tape *t = tg_tape_new();
    const double xv[] = {1.0, 2.0, -0.5};
    tg_tensor *x = leaf(t, TG_SHAPE(3), xv);
    tg_tensor *y = tg_sum_all(t, tg_mul(t, tg_mul(t, x, x), x));
    tg_tensor *g1, *g2, *g3;
    ck_assert_int_eq(tg_tape_grad(t, y, NULL, 1, &x, &g1, TG_CREATE_GRAPH), TG_OK);
    const double w1[] = {3.0, 12.0, 0.75};
    ck_assert_tensor_near(g1, w1, 3, 1e-15);
    ck_assert(tg_tensor_requires_grad(g1));
    ck_assert_int_eq(tg_tape_grad(t, tg_sum_all(t, g1), NULL, 1, &x, &g2, TG_CREATE_GRAPH), TG_OK);
    const double w2[] = {6.0, 12.0, -3.0};
    ck_assert_tensor_near(g2, w2, 3, 1e-15);
    ck_assert_int_eq(tg_tape_grad(t, tg_sum_all(t, g2), NULL, 1, &x, &g3, 0), TG_OK);
    const double w3[] = {6.0, 6.0, 6.0};
    ck_assert_tensor_near(g3, w3, 3, 1e-15);
    tg_tape_free(t);
}
END_TEST

/* f(x) = x^T A x with A not symmetric: grad = (A + A^T) x, and the Hessian-vector product
 * d/dx <grad f(x), v> = (A + A^T) v. */
START_TEST(test_hessian_vector_product) {
    tg_tape *t = tg_tape_new();
    const double av[] = {1, 2, 0, -1, 3, 4, 0.5, 0, -2}, xv[] = {1, -1, 2}, vv[] = {0.5, 2, -1};
    tg_tensor *a = tg_from_data(t, TG_F64, TG_SHAPE(3, 3), av);
    tg_tensor *x = leaf(t, TG_SHAPE(3, 1), xv);
    tg_tensor *v = tg_from_data(t, TG_F64, TG_SHAPE(3, 1), vv);
    tg_tensor *f = tg_sum_all(t, tg_mul(t, x, tg_matmul(t, a, x)));
    tg_tensor *g, *hv;
    ck_assert_int_eq(tg_tape_grad(t, f, NULL, 1, &x, &g, TG_CREATE_GRAPH), TG_OK);
    double want_g[3] = {0}, want_hv[3] = {0};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double s = av[i * 3 + j] + av[j * 3 + i];
            want_g[i] += s * xv[j];
            want_hv[i] += s * vv[j];
        }
    ck_assert_tensor_near(g, want_g, 3, 1e-14);
    ck_assert_int_eq(tg_tape_grad(t, tg_sum_all(t, tg_mul(t, g, v)), NULL, 1, &x, &hv, 0), TG_OK);
    ck_assert_tensor_near(hv, want_hv, 3, 1e-14);
    tg_tape_free(t);
}
END_TEST

/* backward with TG_CREATE_GRAPH leaves a differentiable gradient on the leaf; a later plain
 * backward through it adds its own gradient on top: 3x^2 + 6x. */
START_TEST(test_create_graph_backward_accumulates) {
    tg_tape *t = tg_tape_new();
    const double xv[] = {1.0, -2.0};
    tg_tensor *x = leaf(t, TG_SHAPE(2), xv);
    tg_tensor *y = tg_sum_all(t, tg_mul(t, tg_mul(t, x, x), x));
    ck_assert_int_eq(tg_tape_backward(t, y, NULL, TG_CREATE_GRAPH), TG_OK);
    tg_tensor *g = tg_tensor_grad(x);
    const double w1[] = {3.0, 12.0};
    ck_assert_tensor_near(g, w1, 2, 1e-15);
    ck_assert(tg_tensor_requires_grad(g));
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, g), NULL, 0), TG_OK);
    const double w2[] = {3.0 + 6.0, 12.0 - 12.0};
    ck_assert_tensor_near(tg_tensor_grad(x), w2, 2, 1e-15);
    tg_tape_free(t);
}
END_TEST

/* ---- intermediates ---- */

/* a = 2x, b = a*a, L = sum(b): dL/db = 1, dL/da = 2a, dL/dx = 4a = 8x. */
START_TEST(test_intermediate_grads) {
    tg_tape *t = tg_tape_new();
    const double xv[] = {1.0, -3.0};
    tg_tensor *x = leaf(t, TG_SHAPE(2), xv);
    tg_tensor *a = tg_mul_scalar(t, x, 2.0);
    tg_tensor *b = tg_mul(t, a, a);
    tg_tensor *l = tg_sum_all(t, b);
    ck_assert_int_eq(tg_tape_backward(t, l, NULL, 0), TG_OK);
    const double gl[] = {1.0}, gb[] = {1.0, 1.0}, ga[] = {4.0, -12.0}, gx[] = {8.0, -24.0};
    ck_assert_tensor_near(tg_tensor_grad(l), gl, 1, 0.0);
    ck_assert_tensor_near(tg_tensor_grad(b), gb, 2, 0.0);
    ck_assert_tensor_near(tg_tensor_grad(a), ga, 2, 0.0);
    ck_assert_tensor_near(tg_tensor_grad(x), gx, 2, 0.0);
    /* A view on the path holds its gradient too: reshape of a transposed matrix. */
    const double mv[] = {1, 2, 3, 4, 5, 6};
    tg_tensor *m = leaf(t, TG_SHAPE(2, 3), mv);
    tg_tensor *mt = tg_transpose(t, m, 0, 1);
    tg_tensor *r = tg_reshape(t, mt, TG_SHAPE(6));
    const double wv[] = {1, 10, 100, 1000, 1e4, 1e5};
    tg_tensor *wts = tg_from_data(t, TG_F64, TG_SHAPE(6), wv);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, tg_mul(t, r, wts)), NULL, 0), TG_OK);
    /* r = (m00, m10, m01, m11, m02, m12): dL/dm row-major = (1, 100, 1e4, 10, 1000, 1e5) */
    const double gm[] = {1, 100, 1e4, 10, 1000, 1e5}, gmt[] = {1, 10, 100, 1000, 1e4, 1e5};
    ck_assert_tensor_near(tg_tensor_grad(r), wv, 6, 0.0);
    ck_assert_tensor_near(tg_tensor_grad(mt), gmt, 6, 0.0);
    ck_assert_tensor_near(tg_tensor_grad(m), gm, 6, 0.0);
    tg_tape_free(t);
}
END_TEST

static Suite *backward_suite(void) {
    Suite *s = suite_create("graph_backward");
    TCase *sums = tcase_create("sums");
    tcase_add_test(sums, test_multiple_uses_sum);
    tcase_add_test(sums, test_multiple_uses_param);
    tcase_add_test(sums, test_broadcast_gradient_sums);
    tcase_add_test(sums, test_shared_gradient_not_written);
    tcase_add_test(sums, test_many_contributions);
    tcase_add_test(sums, test_intermediate_grads);
    suite_add_tcase(s, sums);
    TCase *visits = tcase_create("visits");
    tcase_add_test(visits, test_only_path_nodes_visited);
    tcase_add_test(visits, test_visit_count_per_sweep);
    suite_add_tcase(s, visits);
    TCase *life = tcase_create("lifetime");
    tcase_add_test(life, test_param_grads_accumulate);
    tcase_add_test(life, test_zero_grad_deferred);
    tcase_add_test(life, test_backward_twice_released);
    tcase_add_test(life, test_released_shared_subgraph);
    tcase_add_test(life, test_retain_graph_doubles);
    suite_add_tcase(s, life);
    TCase *in_place = tcase_create("grad_in_place");
    tcase_add_test(in_place, test_grad_in_place_matches);
    tcase_add_test(in_place, test_grad_in_place_failed_sweep);
    tcase_add_test(in_place, test_grad_in_place_shared_weight);
    tcase_add_test(in_place, test_grad_target_conditions);
    suite_add_tcase(s, in_place);
    TCase *vjp = tcase_create("vjp");
    tcase_add_test(vjp, test_nonscalar_needs_grad_out);
    tcase_add_test(vjp, test_vjp_matmul);
    tcase_add_test(vjp, test_leaf_output);
    tcase_add_test(vjp, test_tape_grad_leaves_grad_alone);
    suite_add_tcase(s, vjp);
    TCase *second = tcase_create("second_order");
    tcase_add_test(second, test_second_derivative_cube);
    tcase_add_test(second, test_hessian_vector_product);
    tcase_add_test(second, test_create_graph_backward_accumulates);
    suite_add_tcase(s, second);
    return s;
}

int main(void) { return tg_test_run(backward_suite()); }

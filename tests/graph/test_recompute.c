/* test_recompute.c: recomputed segments (src/graph/recompute.c, the sweep's part in backward.c).
 *
 * The promise is the plain graph's gradients, bit for bit, for less tape: every test builds the
 * same model twice, plainly and with segments, and compares the gradients byte for byte (f64
 * and f32), including a weight shared by every segment (the order of its sums matters), a
 * segment with dropout (its masks must be drawn again identically) and one with two outputs.
 * Then the refusals: nesting, a failing or changing segment, a second-order sweep. */
#include <string.h>

#include "test_util.h"

enum { N_LAYERS = 8, WIDTH = 6, BATCH = 3 };

typedef struct model {
    tg_store *s;
    tg_tensor *w[N_LAYERS], *shared, *x0;
    tg_rng rng;    /* dropout's */
    double p_drop; /* 0: none */
    int calls;     /* segment function calls, to see replays happen */
} model;

static void model_init(model *m, tg_dtype dt, double p_drop) {
    memset(m, 0, sizeof *m);
    m->s = tg_store_new();
    tg_rng init;
    tg_rng_seed(&init, 11);
    for (int i = 0; i < N_LAYERS; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i);
        m->w[i] = tg_store_param(m->s, name, dt, TG_SHAPE(WIDTH, WIDTH));
        tg_tensor_fill_uniform(m->w[i], &init, -0.6, 0.6);
    }
    m->shared = tg_store_param(m->s, "shared", dt, TG_SHAPE(WIDTH));
    tg_tensor_fill_uniform(m->shared, &init, 0.5, 1.5);
    m->x0 = tg_store_buffer(m->s, "x0", dt, TG_SHAPE(BATCH, WIDTH));
    tg_tensor_fill_uniform(m->x0, &init, -1, 1);
    m->p_drop = p_drop;
    tg_rng_seed(&m->rng, 5);
}

/* Layer i: h = tanh(h @ w_i) * shared, with dropout when asked. */
static tg_tensor *layer(tg_tape *t, model *m, int i, tg_tensor *h) {
    h = tg_mul(t, tg_tanh(t, tg_matmul(t, h, m->w[i])), m->shared);
    if (m->p_drop > 0) h = tg_dropout(t, h, m->p_drop, &m->rng, true);
    return h;
}

typedef struct span {
    model *m;
    int first, n;
} span;

static int layers_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    span *sp = ctx;
    sp->m->calls++;
    tg_tensor *h = in[0];
    for (int i = sp->first; i < sp->first + sp->n; i++) h = layer(t, sp->m, i, h);
    out[0] = h;
    return h ? 1 : -1;
}

/* The loss sum((h_L)^2) with segments of `seg` layers (0: plain), x a tape leaf with a gradient.
 * Returns the tape's peak bytes; the gradients are left in the store and *gx. */
static size_t run_model(model *m, int seg, double *gx) {
    tg_tape *t = tg_tape_new();
    tg_store_zero_grad(m->s);
    tg_rng_seed(&m->rng, 5);
    tg_tensor *x = tg_contiguous(t, m->x0);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *h = tg_mul_scalar(t, x, 1.0); /* a recorded op before the first segment */
    span sp[N_LAYERS];
    for (int i = 0; i < N_LAYERS;) {
        int n = seg ? (seg < N_LAYERS - i ? seg : N_LAYERS - i) : 1;
        if (seg) {
            sp[i] = (span){m, i, n};
            tg_tensor *out;
            tg_rng *rngs[1] = {&m->rng};
            ck_assert_int_eq(tg_recompute(t, layers_fn, &sp[i], 1, &h, &out, 1, rngs,
                                          m->p_drop > 0),
                             1);
            h = out;
        } else {
            h = layer(t, m, i, h);
        }
        i += n;
    }
    tg_tensor *loss = tg_sum_all(t, tg_mul(t, h, h));
    ck_assert_msg(tg_tape_backward(t, loss, NULL, 0) == TG_OK, "%s", tg_tape_error(t));
    ck_assert_int_eq(tg_tensor_copy_out(tg_tensor_grad(x), TG_F64, gx), TG_OK);
    size_t peak = tg_tape_bytes_peak(t);
    tg_tape_free(t);
    return peak;
}

/* The bytes of every parameter's gradient, in order. */
static size_t grad_bytes(const model *m, unsigned char *buf) {
    size_t n = 0;
    for (int i = 0; i < tg_store_n_params(m->s); i++) {
        tg_tensor *g = tg_tensor_grad(tg_store_get_param(m->s, i));
        size_t b = (size_t)tg_tensor_numel(g) * tg_dtype_size(tg_tensor_dtype(g));
        memcpy(buf + n, tg_tensor_data(g), b);
        n += b;
    }
    return n;
}

static void check_same_as_plain(tg_dtype dt, double p_drop, int seg) {
    model m;
    model_init(&m, dt, p_drop);
    static unsigned char plain[1 << 16], segd[1 << 16];
    double gx_plain[BATCH * WIDTH], gx_seg[BATCH * WIDTH];
    size_t peak_plain = run_model(&m, 0, gx_plain);
    size_t n = grad_bytes(&m, plain);
    tg_rng after_plain = m.rng;
    m.calls = 0;
    size_t peak_seg = run_model(&m, seg, gx_seg);
    ck_assert_uint_eq(grad_bytes(&m, segd), n);
    int n_segments = (N_LAYERS + seg - 1) / seg;
    ck_assert_int_eq(m.calls, 2 * n_segments); /* each run once forward, once in the sweep */
    ck_assert_msg(memcmp(plain, segd, n) == 0, "%s, dropout %g, %d per segment: parameter "
                  "gradients differ from the plain graph's", tg_dtype_name(dt), p_drop, seg);
    ck_assert_msg(memcmp(gx_plain, gx_seg, sizeof gx_plain) == 0, "input gradient differs");
    /* The generator ends where the plain run leaves it: replays draw nothing for good. */
    ck_assert_mem_eq(&after_plain, &m.rng, sizeof m.rng);
    double norm = 0;
    for (int i = 0; i < BATCH * WIDTH; i++) norm += fabs(gx_plain[i]);
    ck_assert_double_gt(norm, 0); /* a gradient that is there to compare */
    if (seg >= 2) ck_assert_uint_lt(peak_seg, peak_plain);
    tg_store_free(m.s);
}

START_TEST(test_bitwise_f64) {
    check_same_as_plain(TG_F64, 0, 2);
    check_same_as_plain(TG_F64, 0, 3); /* a last segment shorter than the others */
    check_same_as_plain(TG_F64, 0, 1);
}
END_TEST

START_TEST(test_bitwise_f32) {
    check_same_as_plain(TG_F32, 0, 2);
    check_same_as_plain(TG_F32, 0, 4);
}
END_TEST

START_TEST(test_bitwise_with_dropout) {
    check_same_as_plain(TG_F64, 0.3, 2);
    check_same_as_plain(TG_F32, 0.3, 3);
}
END_TEST

/* ---- two outputs, both used later and one also inside (an LSTM-like state pair) ---- */

static int pair_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    tg_tensor *w = ctx;
    tg_tensor *c = tg_add(t, tg_mul(t, in[1], tg_sigmoid(t, in[0])), tg_tanh(t, in[0]));
    tg_tensor *h = tg_mul(t, tg_tanh(t, c), w);
    out[0] = h;
    out[1] = c;
    out[2] = in[1]; /* an input passed through */
    return 3;
}

static void pair_model(tg_tape *t, tg_tensor *w, tg_tensor *h, tg_tensor *c, bool seg,
                       tg_tensor **loss) {
    for (int step = 0; step < 4; step++) {
        tg_tensor *o[3];
        if (seg) {
            tg_tensor *in[2] = {h, c};
            ck_assert_int_eq(tg_recompute(t, pair_fn, w, 2, in, o, 3, NULL, 0), 3);
        } else {
            tg_tensor *in[2] = {h, c};
            pair_fn(t, in, o, w);
        }
        h = o[0];
        c = tg_add(t, o[1], tg_mul_scalar(t, o[2], 0.5));
    }
    *loss = tg_sum_all(t, tg_add(t, tg_mul(t, h, h), c));
}

START_TEST(test_two_outputs_bitwise) {
    unsigned char want[3][64], got[3][64];
    for (int seg = 0; seg < 2; seg++) {
        tg_store *s = tg_store_new();
        tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2, 4));
        tg_rng r;
        tg_rng_seed(&r, 3);
        tg_tensor_fill_uniform(w, &r, -1, 1);
        tg_tape *t = tg_tape_new();
        tg_tensor *h = tg_uniform(t, &r, TG_F64, TG_SHAPE(2, 4), -1, 1);
        tg_tensor *c = tg_uniform(t, &r, TG_F64, TG_SHAPE(2, 4), -1, 1);
        tg_tensor_set_requires_grad(h, true);
        tg_tensor_set_requires_grad(c, true);
        tg_tensor *loss;
        pair_model(t, w, h, c, seg, &loss);
        ck_assert_msg(tg_tape_backward(t, loss, NULL, 0) == TG_OK, "%s", tg_tape_error(t));
        unsigned char(*dst)[64] = seg ? got : want;
        memcpy(dst[0], tg_tensor_data(tg_tensor_grad(w)), 64);
        memcpy(dst[1], tg_tensor_data(tg_tensor_grad(h)), 64);
        memcpy(dst[2], tg_tensor_data(tg_tensor_grad(c)), 64);
        tg_tape_free(t);
        tg_store_free(s);
    }
    ck_assert_mem_eq(want[0], got[0], 64);
    ck_assert_mem_eq(want[1], got[1], 64);
    ck_assert_mem_eq(want[2], got[2], 64);
}
END_TEST

/* ---- finite differences through a segment, and a second sweep with TG_RETAIN_GRAPH ---- */

static int seg_inner(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    out[0] = tg_tanh(t, tg_matmul(t, in[0], in[1]));
    return out[0] ? 1 : -1;
}

static int seg_outer(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    tg_tensor *y;
    if (tg_recompute(t, seg_inner, NULL, 2, in, &y, 1, NULL, 0) != 1) return -1;
    out[0] = tg_mul(t, y, y);
    return 1;
}

START_TEST(test_gradcheck_through_a_segment) {
    tg_tape *t = tg_tape_new();
    tg_rng r;
    tg_rng_seed(&r, 8);
    tg_tensor *in[2] = {tg_uniform(t, &r, TG_F64, TG_SHAPE(2, 3), -1, 1),
                        tg_uniform(t, &r, TG_F64, TG_SHAPE(3, 2), -1, 1)};
    tg_gradcheck_report rep;
    ck_assert_gradcheck(tg_gradcheck(seg_outer, NULL, 2, in, NULL, &rep), rep);
    tg_tape_free(t);
}
END_TEST

START_TEST(test_retained_graph_replays_again) {
    tg_store *s = tg_store_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(3, 2));
    tg_rng r;
    tg_rng_seed(&r, 9);
    tg_tensor_fill_uniform(w, &r, -1, 1);
    tg_tape *t = tg_tape_new();
    tg_tensor *in[2] = {tg_uniform(t, &r, TG_F64, TG_SHAPE(2, 3), -1, 1), w};
    tg_tensor *y;
    ck_assert_int_eq(tg_recompute(t, seg_inner, NULL, 2, in, &y, 1, NULL, 0), 1);
    tg_tensor *loss = tg_sum_all(t, y);
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, TG_RETAIN_GRAPH), TG_OK);
    double once[6], twice[6];
    tg_tensor_copy_out(tg_tensor_grad(w), TG_F64, once);
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    tg_tensor_copy_out(tg_tensor_grad(w), TG_F64, twice);
    for (int i = 0; i < 6; i++) ck_assert_double_eq(twice[i], 2 * once[i]);
    /* released now, as any graph swept without TG_RETAIN_GRAPH */
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_ERR_RELEASED);
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

/* ---- refusals ---- */

static int nested_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    return tg_recompute(t, seg_inner, NULL, 2, in, out, 1, NULL, 0);
}

static int failing_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)ctx;
    out[0] = tg_matmul(t, in[0], in[0]); /* (2, 3) @ (2, 3): does not fit */
    return out[0] ? 1 : -1;
}

static int no_output_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    (void)t, (void)in, (void)out, (void)ctx;
    return 0;
}

/* Computes something else the second time it runs: the replay must notice. */
static int changing_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    int *calls = ctx;
    tg_tensor *y = tg_tanh(t, in[0]);
    if ((*calls)++ > 0) y = tg_sum(t, y, 1, (int[]){0}, false);
    out[0] = y;
    return 1;
}

static void expect_error(tg_tape *t, tg_status st, const char *a, const char *b) {
    ck_assert_int_eq(tg_tape_status(t), st);
    ck_assert_msg(strstr(tg_tape_error(t), a) && (!b || strstr(tg_tape_error(t), b)), "%s",
                  tg_tape_error(t));
    tg_tape_clear_error(t);
}

START_TEST(test_refusals) {
    tg_tape *t = tg_tape_new();
    tg_rng r;
    tg_rng_seed(&r, 1);
    tg_tensor *a = tg_uniform(t, &r, TG_F64, TG_SHAPE(2, 3), -1, 1);
    tg_tensor *b = tg_uniform(t, &r, TG_F64, TG_SHAPE(3, 2), -1, 1);
    tg_tensor_set_requires_grad(a, true);
    tg_tensor *in[2] = {a, b}, *out[2] = {NULL, NULL};
    ck_assert_int_eq(tg_recompute(t, nested_fn, NULL, 2, in, out, 1, NULL, 0), -1);
    expect_error(t, TG_ERR_ARG, "cannot be nested", "segment failed");
    ck_assert_int_eq(tg_recompute(t, failing_fn, NULL, 1, in, out, 1, NULL, 0), -1);
    expect_error(t, TG_ERR_SHAPE, "recompute: the segment failed", "matmul");
    ck_assert_int_eq(tg_recompute(t, no_output_fn, NULL, 1, in, out, 1, NULL, 0), -1);
    expect_error(t, TG_ERR_ARG, "returned 0 outputs", NULL);
    ck_assert_int_eq(tg_recompute(t, NULL, NULL, 1, in, out, 1, NULL, 0), -1);
    expect_error(t, TG_ERR_NULL, "recompute", NULL);
    ck_assert_int_eq(tg_recompute(t, seg_inner, NULL, 2, in, out, 9, NULL, 0), -1);
    expect_error(t, TG_ERR_ARG, "at most", NULL);
    tg_tensor *with_null[2] = {a, NULL};
    ck_assert_int_eq(tg_recompute(t, seg_inner, NULL, 2, with_null, out, 1, NULL, 0), -1);
    expect_error(t, TG_ERR_NULL, "input 1 is NULL", NULL);
    ck_assert_ptr_null(out[0]); /* outputs untouched on failure */

    /* A segment that changes between the forward pass and the sweep. */
    int calls = 0;
    ck_assert_int_eq(tg_recompute(t, changing_fn, &calls, 1, in, out, 1, NULL, 0), 1);
    ck_assert_int_eq(tg_tape_backward(t, tg_sum_all(t, out[0]), NULL, 0), TG_ERR_SHAPE);
    expect_error(t, TG_ERR_SHAPE, "computed something else when replayed", "(2, 3)");

    /* Second order through a segment: refused, not wrong. */
    ck_assert_int_eq(tg_recompute(t, seg_inner, NULL, 2, in, out, 1, NULL, 0), 1);
    tg_tensor *g;
    ck_assert_int_eq(tg_tape_grad(t, tg_sum_all(t, out[0]), NULL, 1, &a, &g, TG_CREATE_GRAPH),
                     TG_ERR_NOGRAD);
    expect_error(t, TG_ERR_NOGRAD, "second-order", "TG_CREATE_GRAPH");

    /* A stale input. */
    tg_tape_reset(t);
    ck_assert_int_eq(tg_recompute(t, seg_inner, NULL, 2, in, out, 1, NULL, 0), -1);
    expect_error(t, TG_ERR_STALE, "stale", NULL);
    tg_tape_free(t);
}
END_TEST

/* With recording off there is nothing to save: the function runs on the tape itself. */
START_TEST(test_recording_off_runs_plainly) {
    tg_tape *t = tg_tape_new();
    tg_rng r;
    tg_rng_seed(&r, 2);
    tg_tensor *in[2] = {tg_uniform(t, &r, TG_F64, TG_SHAPE(2, 3), -1, 1),
                        tg_uniform(t, &r, TG_F64, TG_SHAPE(3, 2), -1, 1)};
    tg_tensor_set_requires_grad(in[0], true);
    tg_tape_set_grad_enabled(t, false);
    tg_tensor *y;
    ck_assert_int_eq(tg_recompute(t, seg_inner, NULL, 2, in, &y, 1, NULL, 0), 1);
    ck_assert(!tg_tensor_requires_grad(y));
    ck_assert_uint_eq(tg_tape_bytes_peak(t), tg_tape_bytes_used(t)); /* no scratch tape */
    ck_assert_uint_eq(tg_tape_bytes_peak(NULL), 0);
    tg_tape_free(t);
}
END_TEST

int main(void) {
    Suite *s = suite_create("graph_recompute");
    TCase *same = tcase_create("same_gradients");
    tcase_add_test(same, test_bitwise_f64);
    tcase_add_test(same, test_bitwise_f32);
    tcase_add_test(same, test_bitwise_with_dropout);
    tcase_add_test(same, test_two_outputs_bitwise);
    tcase_add_test(same, test_gradcheck_through_a_segment);
    tcase_add_test(same, test_retained_graph_replays_again);
    tcase_set_timeout(same, 60);
    suite_add_tcase(s, same);
    TCase *bad = tcase_create("refusals");
    tcase_add_test(bad, test_refusals);
    tcase_add_test(bad, test_recording_off_runs_plainly);
    suite_add_tcase(s, bad);
    return tg_test_run(s);
}

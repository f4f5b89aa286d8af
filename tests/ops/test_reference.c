/* test_reference.c: forward values and gradients against PyTorch, through the committed
 * fixtures in tests/fixtures/ (tools/make_fixtures.py made them with torch in float64).
 *
 * Each test rebuilds the computation from ops in f64, back-propagates the fixture's upstream
 * gradient gy, and requires every output and gradient element to match PyTorch to 1e-10. */
#include "fixture.h"
#include "test_util.h"

#define REF_TOL 1e-10

/* Loads fixture `name` or fails the test with the reason. */
#define LOAD(f, name) ck_assert_msg(fixture_load(&(f), name), "fixture %s: %s", name, (f).error)

#define CHECK_CLOSE(f, name, x)                                                                    \
    do {                                                                                           \
        double d_ = fixture_max_diff(&(f), name, x);                                               \
        ck_assert_msg(d_ <= REF_TOL, "%s differs from PyTorch by %g", name, d_);                   \
    } while (0)

/* Back-propagates gy through y: the gradients of sum(y * gy). */
static void backward_with(tg_tape *t, const fixture *f, tg_tensor *y, const char *gy_name) {
    tg_tensor *gy = fixture_tensor_on(f, t, gy_name, false);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(tg_tape_backward(t, y, gy, 0), TG_OK);
}

static void check_conv(const char *name) {
    fixture f;
    LOAD(f, name);
    const fixture_tensor *p = fixture_get(&f, "params");
    ck_assert_ptr_nonnull(p);
    tg_conv2d_params q = {{(int)p->values[0], (int)p->values[1]},
                          {(int)p->values[2], (int)p->values[3]},
                          {(int)p->values[4], (int)p->values[5]},
                          (int)p->values[6]};
    tg_tape *t = tg_tape_new();
    tg_tensor *x = fixture_tensor_on(&f, t, "x", true), *w = fixture_tensor_on(&f, t, "w", true);
    tg_tensor *b = fixture_tensor_on(&f, t, "b", true);
    tg_tensor *y = tg_conv2d(t, x, w, b, &q);
    CHECK_CLOSE(f, "y", y);
    backward_with(t, &f, y, "gy");
    CHECK_CLOSE(f, "dx", tg_tensor_grad(x));
    CHECK_CLOSE(f, "dw", tg_tensor_grad(w));
    CHECK_CLOSE(f, "db", tg_tensor_grad(b));
    tg_tape_free(t);
    fixture_free(&f);
}

static void check_conv_transpose(const char *name) {
    fixture f;
    LOAD(f, name);
    const fixture_tensor *p = fixture_get(&f, "params");
    ck_assert_ptr_nonnull(p);
    const double *v = p->values;
    tg_conv_transpose2d_params q = {{(int)v[0], (int)v[1]}, {(int)v[2], (int)v[3]},
                                    {(int)v[4], (int)v[5]}, {(int)v[6], (int)v[7]}, (int)v[8]};
    tg_tape *t = tg_tape_new();
    tg_tensor *x = fixture_tensor_on(&f, t, "x", true), *w = fixture_tensor_on(&f, t, "w", true);
    tg_tensor *b = fixture_tensor_on(&f, t, "b", true);
    tg_tensor *y = tg_conv_transpose2d(t, x, w, b, &q);
    CHECK_CLOSE(f, "y", y);
    backward_with(t, &f, y, "gy");
    CHECK_CLOSE(f, "dx", tg_tensor_grad(x));
    CHECK_CLOSE(f, "dw", tg_tensor_grad(w));
    CHECK_CLOSE(f, "db", tg_tensor_grad(b));
    tg_tape_free(t);
    fixture_free(&f);
}

START_TEST(conv_transpose2d_k4s2) { check_conv_transpose("conv_transpose2d_k4s2"); }
END_TEST

START_TEST(conv_transpose2d_groups_outpad) {
    check_conv_transpose("conv_transpose2d_groups_outpad");
}
END_TEST

START_TEST(conv2d_basic) { check_conv("conv2d_basic"); }
END_TEST

START_TEST(conv2d_groups_dilation) { check_conv("conv2d_groups_dilation"); }
END_TEST

static void check_pool(const char *name, bool max) {
    fixture f;
    LOAD(f, name);
    const fixture_tensor *p = fixture_get(&f, "params");
    ck_assert_ptr_nonnull(p);
    tg_pool2d_params q = {{(int)p->values[0], (int)p->values[1]},
                          {(int)p->values[2], (int)p->values[3]},
                          {(int)p->values[4], (int)p->values[5]},
                          {(int)p->values[6], (int)p->values[7]}};
    tg_tape *t = tg_tape_new();
    tg_tensor *x = fixture_tensor_on(&f, t, "x", true);
    tg_tensor *y = max ? tg_max_pool2d(t, x, &q) : tg_avg_pool2d(t, x, &q);
    CHECK_CLOSE(f, "y", y);
    backward_with(t, &f, y, "gy");
    CHECK_CLOSE(f, "dx", tg_tensor_grad(x));
    tg_tape_free(t);
    fixture_free(&f);
}

START_TEST(max_pool2d_ref) { check_pool("max_pool2d", true); }
END_TEST

START_TEST(avg_pool2d_ref) { check_pool("avg_pool2d", false); }
END_TEST

/* One step of an LSTM cell from ops, gates in PyTorch's order (i, f, g, o):
 *   z = x W_ih^T + b_ih + h W_hh^T + b_hh;  c' = f c + i g;  h' = o tanh(c'). */
static void lstm_step(tg_tape *t, tg_tensor *x, tg_tensor **h, tg_tensor **c, tg_tensor *w_ih,
                      tg_tensor *w_hh, tg_tensor *b_ih, tg_tensor *b_hh, int64_t hidden) {
    tg_tensor *z = tg_add(t, tg_add(t, tg_matmul(t, x, tg_transpose(t, w_ih, 0, 1)), b_ih),
                          tg_add(t, tg_matmul(t, *h, tg_transpose(t, w_hh, 0, 1)), b_hh));
    tg_tensor *i = tg_sigmoid(t, tg_slice(t, z, 1, 0, hidden, 1));
    tg_tensor *fg = tg_sigmoid(t, tg_slice(t, z, 1, hidden, 2 * hidden, 1));
    tg_tensor *g = tg_tanh(t, tg_slice(t, z, 1, 2 * hidden, 3 * hidden, 1));
    tg_tensor *o = tg_sigmoid(t, tg_slice(t, z, 1, 3 * hidden, 4 * hidden, 1));
    *c = tg_add(t, tg_mul(t, fg, *c), tg_mul(t, i, g));
    *h = tg_mul(t, o, tg_tanh(t, *c));
}

START_TEST(lstm_cell_ref) {
    fixture f;
    LOAD(f, "lstm_cell");
    tg_tape *t = tg_tape_new();
    const char *names[] = {"w_ih", "w_hh", "b_ih", "b_hh", "xs", "h0", "c0"};
    const char *grads[] = {"dw_ih", "dw_hh", "db_ih", "db_hh", "dxs", "dh0", "dc0"};
    tg_tensor *in[7];
    for (int k = 0; k < 7; k++) in[k] = fixture_tensor_on(&f, t, names[k], true);
    int64_t steps = tg_tensor_dim(in[4], 0), batch = tg_tensor_dim(in[4], 1);
    int64_t n_in = tg_tensor_dim(in[4], 2), hidden = tg_tensor_dim(in[5], 1);
    tg_tensor *h = in[5], *c = in[6];
    for (int64_t s = 0; s < steps; s++) {
        tg_tensor *x = tg_reshape(t, tg_slice(t, in[4], 0, s, s + 1, 1), TG_SHAPE(batch, n_in));
        lstm_step(t, x, &h, &c, in[0], in[1], in[2], in[3], hidden);
    }
    CHECK_CLOSE(f, "h", h);
    CHECK_CLOSE(f, "c", c);
    tg_tensor *gh = fixture_tensor_on(&f, t, "gh", false),
              *gc = fixture_tensor_on(&f, t, "gc", false);
    tg_tensor *loss = tg_add(t, tg_sum_all(t, tg_mul(t, h, gh)), tg_sum_all(t, tg_mul(t, c, gc)));
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    for (int k = 0; k < 7; k++) CHECK_CLOSE(f, grads[k], tg_tensor_grad(in[k]));
    tg_tape_free(t);
    fixture_free(&f);
}
END_TEST

static void check_batch_norm(const char *name) {
    fixture f;
    LOAD(f, name);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = fixture_tensor_on(&f, t, "x", true);
    tg_tensor *gamma = fixture_tensor_on(&f, t, "gamma", true);
    tg_tensor *beta = fixture_tensor_on(&f, t, "beta", true);
    tg_tensor *rm = fixture_tensor_on(&f, t, "running_mean0", false);
    tg_tensor *rv = fixture_tensor_on(&f, t, "running_var0", false);
    tg_tensor *y = tg_batch_norm(t, x, gamma, beta, rm, rv, true, 0.1, 1e-5);
    CHECK_CLOSE(f, "y", y);
    CHECK_CLOSE(f, "running_mean", rm);
    CHECK_CLOSE(f, "running_var", rv);
    backward_with(t, &f, y, "gy");
    CHECK_CLOSE(f, "dx", tg_tensor_grad(x));
    CHECK_CLOSE(f, "dgamma", tg_tensor_grad(gamma));
    CHECK_CLOSE(f, "dbeta", tg_tensor_grad(beta));
    /* Eval mode uses the updated running estimates and leaves them alone. */
    tg_tensor *y_eval = tg_batch_norm(t, x, gamma, beta, rm, rv, false, 0.1, 1e-5);
    CHECK_CLOSE(f, "y_eval", y_eval);
    CHECK_CLOSE(f, "running_mean", rm);
    tg_tape_free(t);
    fixture_free(&f);
}

START_TEST(batch_norm_2d_ref) { check_batch_norm("batch_norm_2d"); }
END_TEST

START_TEST(batch_norm_1d_ref) { check_batch_norm("batch_norm_1d"); }
END_TEST

START_TEST(layer_norm_ref) {
    fixture f;
    LOAD(f, "layer_norm");
    tg_tape *t = tg_tape_new();
    tg_tensor *x = fixture_tensor_on(&f, t, "x", true);
    tg_tensor *gamma = fixture_tensor_on(&f, t, "gamma", true);
    tg_tensor *beta = fixture_tensor_on(&f, t, "beta", true);
    tg_tensor *y = tg_layer_norm(t, x, 2, gamma, beta, 1e-5);
    CHECK_CLOSE(f, "y", y);
    backward_with(t, &f, y, "gy");
    CHECK_CLOSE(f, "dx", tg_tensor_grad(x));
    CHECK_CLOSE(f, "dgamma", tg_tensor_grad(gamma));
    CHECK_CLOSE(f, "dbeta", tg_tensor_grad(beta));
    tg_tape_free(t);
    fixture_free(&f);
}
END_TEST

/* The fixture's labels are stored as whole numbers in f64. */
static void labels_of(const fixture *f, int64_t *labels, int64_t n) {
    const fixture_tensor *l = fixture_get(f, "labels");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(l->numel, n);
    for (int64_t i = 0; i < n; i++) labels[i] = (int64_t)l->values[i];
}

START_TEST(softmax_cross_entropy_ref) {
    fixture f;
    LOAD(f, "softmax_cross_entropy");
    tg_tape *t = tg_tape_new();
    tg_tensor *logits = fixture_tensor_on(&f, t, "logits", true);
    tg_tensor *y = tg_softmax(t, logits, 1);
    CHECK_CLOSE(f, "softmax", y);
    backward_with(t, &f, y, "gy");
    CHECK_CLOSE(f, "dsoftmax", tg_tensor_grad(logits));

    tg_tensor *big = fixture_tensor_on(&f, t, "big", true);
    tg_tensor *ly = tg_log_softmax(t, big, 1);
    CHECK_CLOSE(f, "log_softmax_big", ly);
    backward_with(t, &f, ly, "gbig");
    CHECK_CLOSE(f, "dlog_softmax_big", tg_tensor_grad(big));

    int64_t labels[5];
    labels_of(&f, labels, 5);
    const char *names[][2] = {
        {"ce", "dce"}, {"ce_smooth", "dce_smooth"}, {"ce_probs", "dce_probs"}};
    for (int k = 0; k < 3; k++) {
        tg_tape_reset(t);
        tg_tensor *z = fixture_tensor_on(&f, t, "logits", true);
        tg_tensor *loss =
            k == 2 ? tg_cross_entropy_probs(t, z, fixture_tensor_on(&f, t, "probs", false), 0.0,
                                            TG_REDUCE_MEAN)
                   : tg_cross_entropy(t, z, labels, k == 1 ? 0.1 : 0.0, TG_REDUCE_MEAN);
        CHECK_CLOSE(f, names[k][0], loss);
        ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
        CHECK_CLOSE(f, names[k][1], tg_tensor_grad(z));
    }
    /* In f32 (the vectorised rows) the loss and its gradient agree with PyTorch's f64 values
     * to float precision, with and without smoothing. */
    for (int k = 0; k < 2; k++) {
        tg_tape_reset(t);
        const tg_tensor *z64 = fixture_tensor_on(&f, t, "logits", false);
        tg_tensor *z = tg_zeros(t, TG_F32, TG_SHAPE(tg_tensor_dim(z64, 0), tg_tensor_dim(z64, 1)));
        ck_assert_int_eq(tg_tensor_copy_in(z, TG_F64, tg_tensor_data(z64)), TG_OK);
        ck_assert_int_eq(tg_tensor_set_requires_grad(z, true), TG_OK);
        tg_tensor *loss = tg_cross_entropy(t, z, labels, k == 1 ? 0.1 : 0.0, TG_REDUCE_MEAN);
        double d = fixture_max_diff(&f, names[k][0], loss);
        ck_assert_msg(d <= 2e-6, "f32 %s differs from PyTorch by %g", names[k][0], d);
        ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
        d = fixture_max_diff(&f, names[k][1], tg_tensor_grad(z));
        ck_assert_msg(d <= 2e-7, "f32 %s differs from PyTorch by %g", names[k][1], d);
    }
    tg_tape_free(t);
    fixture_free(&f);
}
END_TEST

/* gather, scatter_add, masked_fill, where_scalar (values and the gradients of one loss summing
 * all four), argmax/argmin, the scalar comparisons and the f32 cast, against PyTorch. */
START_TEST(basic_ops_ref) {
    fixture f;
    LOAD(f, "basic_ops");
    tg_tape *t = tg_tape_new();
    tg_tensor *x = fixture_tensor_on(&f, t, "x", true), *src = fixture_tensor_on(&f, t, "src", true);
    tg_tensor *idx = fixture_tensor_on(&f, t, "idx", false);
    tg_tensor *mask = tg_gt_scalar(t, x, 0.3);
    tg_tensor *y[4] = {tg_gather(t, x, 1, idx), tg_scatter_add(t, src, 1, idx, 5),
                       tg_masked_fill(t, x, mask, -2.5), tg_where_scalar(t, mask, x, 1.5)};
    static const char *const out[4] = {"gather", "scatter_add", "masked_fill", "where"};
    static const char *const gys[4] = {"g_gather", "g_scatter", "g_fill", "g_where"};
    tg_tensor *loss = NULL;
    for (int k = 0; k < 4; k++) {
        CHECK_CLOSE(f, out[k], y[k]);
        tg_tensor *term = tg_sum_all(t, tg_mul(t, y[k], fixture_tensor_on(&f, t, gys[k], false)));
        loss = loss ? tg_add(t, loss, term) : term;
    }
    ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
    CHECK_CLOSE(f, "dx", tg_tensor_grad(x));
    CHECK_CLOSE(f, "dsrc", tg_tensor_grad(src));
    CHECK_CLOSE(f, "argmax1", tg_argmax(t, x, 1, false));
    CHECK_CLOSE(f, "argmin0", tg_argmin(t, x, 0, false));
    CHECK_CLOSE(f, "gt", mask);
    CHECK_CLOSE(f, "ge", tg_ge_scalar(t, x, -0.2));
    CHECK_CLOSE(f, "lt", tg_lt_scalar(t, x, 0.1));
    CHECK_CLOSE(f, "le", tg_le_scalar(t, x, 0.0));
    /* exact: both round to nearest, ties to even */
    ck_assert(fixture_max_diff(&f, "cast_f32", tg_cast(t, tg_cast(t, x, TG_F32), TG_F64)) == 0.0);
    tg_tape_free(t);
    fixture_free(&f);
}
END_TEST

/* The reader itself must notice a damaged fixture instead of comparing garbage. */
START_TEST(fixture_reader_rejects_missing_file) {
    fixture f;
    ck_assert(!fixture_load(&f, "no_such_fixture"));
    ck_assert_str_ne(f.error, "");
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("reference");
    TCase *tc = tcase_create("pytorch");
    tcase_add_test(tc, conv2d_basic);
    tcase_add_test(tc, conv2d_groups_dilation);
    tcase_add_test(tc, conv_transpose2d_k4s2);
    tcase_add_test(tc, conv_transpose2d_groups_outpad);
    tcase_add_test(tc, max_pool2d_ref);
    tcase_add_test(tc, avg_pool2d_ref);
    tcase_add_test(tc, lstm_cell_ref);
    tcase_add_test(tc, batch_norm_2d_ref);
    tcase_add_test(tc, batch_norm_1d_ref);
    tcase_add_test(tc, layer_norm_ref);
    tcase_add_test(tc, softmax_cross_entropy_ref);
    tcase_add_test(tc, basic_ops_ref);
    tcase_add_test(tc, fixture_reader_rejects_missing_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(suite()); }

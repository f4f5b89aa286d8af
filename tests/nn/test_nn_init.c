/* test_nn_init.c: the initialisers and the layers' default initialisation.
 *
 * Fans and gains must equal torch's (fixture nn_init). Random initialisers are judged by their
 * statistics on large tensors: every value inside the bounds, and mean and standard deviation
 * within five standard errors of the distribution's (so a wrong formula fails and a correct one
 * passes except with negligible probability for the fixed seeds used). Orthogonal matrices must
 * satisfy Q^T Q = I (or Q Q^T = I) to 1e-12. A seed fixes every value. */
#include <string.h>

#include "nn_fixture.h"

typedef struct stats {
    double mean, std, min, max;
} stats;

static stats stats_of(const tg_tensor *x) {
    int64_t n = tg_tensor_numel(x);
    double sum = 0, sum2 = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double v = tg_tensor_get(x, i);
        sum += v;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    double mean = sum / (double)n;
    for (int64_t i = 0; i < n; i++)
        sum2 += (tg_tensor_get(x, i) - mean) * (tg_tensor_get(x, i) - mean);
    return (stats){mean, sqrt(sum2 / (double)(n - 1)), lo, hi};
}

/* Asserts x's values look drawn from a distribution with this mean and std (five standard
 * errors; the std's standard error uses the kurtosis excess k: 0 normal, -1.2 uniform). */
static void assert_distribution(const char *what, const tg_tensor *x, double mean, double std,
                                double kurtosis_excess) {
    int64_t n = tg_tensor_numel(x);
    stats s = stats_of(x);
    double se_mean = std / sqrt((double)n);
    double se_std = std * sqrt((2.0 + kurtosis_excess) / (4.0 * (double)n));
    ck_assert_msg(fabs(s.mean - mean) < 5 * se_mean, "%s: mean %g, expected %g (+- %g)", what,
                  s.mean, mean, 5 * se_mean);
    ck_assert_msg(fabs(s.std - std) < 5 * se_std, "%s: std %g, expected %g (+- %g)", what, s.std,
                  std, 5 * se_std);
}

static void assert_uniform(const char *what, const tg_tensor *x, double bound) {
    stats s = stats_of(x);
    ck_assert_msg(s.min >= -bound && s.max < bound, "%s: values in [%g, %g], bound %g", what, s.min,
                  s.max, bound);
    /* With tens of thousands of draws both ends are reached to within a percent. */
    ck_assert_msg(s.min < -0.99 * bound && s.max > 0.99 * bound, "%s: [%g, %g] does not fill +-%g",
                  what, s.min, s.max, bound);
    assert_distribution(what, x, 0.0, bound / sqrt(3.0), -1.2);
}

typedef struct env {
    tg_store *s;
    tg_rng rng;
    tg_error err;
} env;

static void env_open(env *e, uint64_t seed) {
    e->s = tg_store_new();
    ck_assert_ptr_nonnull(e->s);
    tg_rng_seed(&e->rng, seed);
    memset(&e->err, 0, sizeof e->err);
}

#define OK(call, e) ck_assert_msg((call) == TG_OK, "%s: %s", #call, (e).err.message)

/* ---- fans and gains against torch ---- */

START_TEST(fans_match_torch) {
    fixture f;
    NN_LOAD(f, "nn_init");
    env e;
    env_open(&e, 1);
    int k = 0;
    for (;; k++) {
        char sname[16], fname[16];
        snprintf(sname, sizeof sname, "shape%d", k);
        snprintf(fname, sizeof fname, "fans%d", k);
        if (!fixture_get(&f, sname)) break;
        int64_t ndim;
        int64_t *shape = nn_ints(&f, sname, &ndim);
        int64_t *fans = nn_ints(&f, fname, NULL);
        tg_tensor *w = tg_store_param(e.s, sname, TG_F32, (int)ndim, shape);
        int64_t fan_in = -1, fan_out = -1;
        OK(tg_init_fans(w, &fan_in, &fan_out, &e.err), e);
        ck_assert_int_eq(fan_in, fans[0]);
        ck_assert_int_eq(fan_out, fans[1]);
        free(shape);
        free(fans);
    }
    ck_assert_int_ge(k, 5);
    tg_store_free(e.s);
    fixture_free(&f);
}
END_TEST

START_TEST(gains_match_torch) {
    fixture f;
    NN_LOAD(f, "nn_init");
    const fixture_tensor *g = fixture_get(&f, "gains");
    ck_assert_ptr_nonnull(g);
    ck_assert_int_eq(g->numel, 8);
    /* linear, conv2d (identity), sigmoid, tanh, relu, leaky_relu 0.01, leaky_relu 0.2, selu */
    const double ours[] = {
        tg_init_gain(TG_NONLIN_LINEAR, 0),       tg_init_gain(TG_NONLIN_LINEAR, 0),
        tg_init_gain(TG_NONLIN_SIGMOID, 0),      tg_init_gain(TG_NONLIN_TANH, 0),
        tg_init_gain(TG_NONLIN_RELU, 0),         tg_init_gain(TG_NONLIN_LEAKY_RELU, 0.01),
        tg_init_gain(TG_NONLIN_LEAKY_RELU, 0.2), tg_init_gain(TG_NONLIN_SELU, 0)};
    for (int i = 0; i < 8; i++) ck_assert_double_eq_tol(ours[i], g->values[i], 1e-15);
    ck_assert(isnan(tg_init_gain((tg_nonlinearity)99, 0)));
    fixture_free(&f);
}
END_TEST

/* ---- distributions ---- */

START_TEST(constant_and_zeros) {
    env e;
    env_open(&e, 2);
    tg_tensor *x = tg_store_param(e.s, "x", TG_F32, TG_SHAPE(7, 3));
    OK(tg_init_constant(x, 2.5, &e.err), e);
    for (int64_t i = 0; i < 21; i++) ck_assert_double_eq(tg_tensor_get(x, i), 2.5);
    OK(tg_init_zeros(x, &e.err), e);
    for (int64_t i = 0; i < 21; i++) ck_assert_double_eq(tg_tensor_get(x, i), 0.0);
    tg_store_free(e.s);
}
END_TEST

START_TEST(uniform_and_normal) {
    env e;
    env_open(&e, 3);
    tg_tensor *x = tg_store_param(e.s, "x", TG_F64, TG_SHAPE(200, 250));
    OK(tg_init_uniform(x, &e.rng, -1.0, 3.0, &e.err), e);
    stats s = stats_of(x);
    ck_assert(s.min >= -1.0 && s.max < 3.0);
    assert_distribution("uniform(-1, 3)", x, 1.0, 4.0 / sqrt(12.0), -1.2);
    OK(tg_init_normal(x, &e.rng, -2.0, 0.5, &e.err), e);
    assert_distribution("normal(-2, 0.5)", x, -2.0, 0.5, 0.0);
    tg_store_free(e.s);
}
END_TEST

START_TEST(xavier) {
    env e;
    env_open(&e, 4);
    /* A conv-shaped weight: fan_in = 40 * 9, fan_out = 30 * 9. */
    tg_tensor *w = tg_store_param(e.s, "w", TG_F64, TG_SHAPE(30, 40, 3, 3));
    double gain = tg_init_gain(TG_NONLIN_TANH, 0);
    OK(tg_init_xavier_uniform(w, &e.rng, gain, &e.err), e);
    assert_uniform("xavier_uniform", w, gain * sqrt(6.0 / (360 + 270)));
    OK(tg_init_xavier_normal(w, &e.rng, 2.0, &e.err), e);
    assert_distribution("xavier_normal", w, 0.0, 2.0 * sqrt(2.0 / (360 + 270)), 0.0);
    tg_store_free(e.s);
}
END_TEST

START_TEST(kaiming) {
    env e;
    env_open(&e, 5);
    tg_tensor *w = tg_store_param(e.s, "w", TG_F64, TG_SHAPE(120, 50, 2, 2)); /* in 200, out 480 */
    OK(tg_init_kaiming_uniform(w, &e.rng, 0.0, TG_FAN_IN, TG_NONLIN_RELU, &e.err), e);
    assert_uniform("kaiming_uniform relu fan_in", w, sqrt(2.0) * sqrt(3.0 / 200));
    OK(tg_init_kaiming_uniform(w, &e.rng, 0.2, TG_FAN_OUT, TG_NONLIN_LEAKY_RELU, &e.err), e);
    assert_uniform("kaiming_uniform leaky 0.2 fan_out", w, sqrt(2.0 / 1.04) * sqrt(3.0 / 480));
    OK(tg_init_kaiming_normal(w, &e.rng, 0.0, TG_FAN_OUT, TG_NONLIN_RELU, &e.err), e);
    assert_distribution("kaiming_normal relu fan_out", w, 0.0, sqrt(2.0 / 480), 0.0);
    OK(tg_init_kaiming_normal(w, &e.rng, 0.0, TG_FAN_IN, TG_NONLIN_TANH, &e.err), e);
    assert_distribution("kaiming_normal tanh fan_in", w, 0.0, 5.0 / 3.0 / sqrt(200), 0.0);
    /* torch's defaults for Linear: a = sqrt(5) makes the bound exactly 1 / sqrt(fan_in). */
    OK(tg_init_kaiming_uniform(w, &e.rng, sqrt(5.0), TG_FAN_IN, TG_NONLIN_LEAKY_RELU, &e.err), e);
    assert_uniform("kaiming_uniform a=sqrt(5)", w, 1.0 / sqrt(200));
    tg_store_free(e.s);
}
END_TEST

/* ---- orthogonal ---- */

/* Max |(Q Q^T or Q^T Q) - gain^2 I| over the smaller Gram matrix of the (rows, cols) view. */
static double orthogonality_error(const tg_tensor *q, double gain) {
    int64_t rows = tg_tensor_dim(q, 0), cols = tg_tensor_numel(q) / rows;
    bool by_rows = rows <= cols;
    int64_t n = by_rows ? rows : cols, len = by_rows ? cols : rows;
    double worst = 0;
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < n; b++) {
            double dot = 0;
            for (int64_t k = 0; k < len; k++) {
                double u = tg_tensor_get(q, by_rows ? a * cols + k : k * cols + a);
                double v = tg_tensor_get(q, by_rows ? b * cols + k : k * cols + b);
                dot += u * v;
            }
            double err = fabs(dot - (a == b ? gain * gain : 0.0));
            worst = err > worst ? err : worst;
        }
    return worst;
}

START_TEST(orthogonal_shapes) {
    env e;
    env_open(&e, 6);
    struct {
        int ndim;
        int64_t shape[4];
        double gain;
    } cases[] = {
        {2, {64, 64}, 1.0},     {2, {50, 20}, 1.0}, {2, {20, 50}, 2.0},
        {4, {8, 3, 2, 2}, 1.0}, {2, {1, 9}, 1.0},   {2, {9, 1}, 0.5},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char name[16];
        snprintf(name, sizeof name, "q%zu", k);
        tg_tensor *q = tg_store_param(e.s, name, TG_F64, cases[k].ndim, cases[k].shape);
        OK(tg_init_orthogonal(q, &e.rng, cases[k].gain, &e.err), e);
        double err = orthogonality_error(q, cases[k].gain);
        ck_assert_msg(err < 1e-12, "case %zu: Q^T Q differs from gain^2 I by %g", k, err);
    }
    /* f32 storage rounds the orthonormal double result. */
    tg_tensor *q32 = tg_store_param(e.s, "q32", TG_F32, TG_SHAPE(32, 48));
    OK(tg_init_orthogonal(q32, &e.rng, 1.0, &e.err), e);
    ck_assert_double_lt(orthogonality_error(q32, 1.0), 1e-5);
    tg_store_free(e.s);
}
END_TEST

/* The factor is not just any orthonormal matrix (the identity is one): its entries are spread
 * like a random rotation's, centred on zero with variance 1/n. */
START_TEST(orthogonal_is_haar_like) {
    env e;
    env_open(&e, 8);
    tg_tensor *q = tg_store_param(e.s, "q", TG_F64, TG_SHAPE(200, 200));
    OK(tg_init_orthogonal(q, &e.rng, 1.0, &e.err), e);
    /* Entries of a Haar-random 200x200 rotation are close to N(0, 1/200). */
    assert_distribution("orthogonal entries", q, 0.0, sqrt(1.0 / 200), 0.0);
    tg_store_free(e.s);
}
END_TEST

/* ---- reproducibility ---- */

START_TEST(same_seed_same_values) {
    tg_tensor *w[3];
    tg_store *s = tg_store_new();
    uint64_t seeds[3] = {42, 42, 43};
    for (int r = 0; r < 3; r++) {
        tg_rng rng;
        tg_rng_seed(&rng, seeds[r]);
        char name[8];
        snprintf(name, sizeof name, "w%d", r);
        w[r] = tg_store_param(s, name, TG_F32, TG_SHAPE(16, 12));
        ck_assert_int_eq(tg_init_orthogonal(w[r], &rng, 1.0, NULL), TG_OK);
        ck_assert_int_eq(tg_init_kaiming_normal(w[r], &rng, 0, TG_FAN_IN, TG_NONLIN_RELU, NULL),
                         TG_OK);
    }
    int same = 0, differ = 0;
    for (int64_t i = 0; i < 192; i++) {
        same += tg_tensor_get(w[0], i) == tg_tensor_get(w[1], i);
        differ += tg_tensor_get(w[0], i) != tg_tensor_get(w[2], i);
    }
    ck_assert_int_eq(same, 192);
    ck_assert_int_gt(differ, 180);
    tg_store_free(s);
}
END_TEST

/* ---- errors: reported, never a crash, and the tensor left alone ---- */

START_TEST(init_errors) {
    env e;
    env_open(&e, 9);
    tg_tensor *v = tg_store_param(e.s, "v", TG_F64, TG_SHAPE(5));
    tg_tensor_fill(v, 7.0);
    ck_assert_int_eq(tg_init_xavier_uniform(v, &e.rng, 1.0, &e.err), TG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(e.err.message, "'v' (5,)"));
    ck_assert_int_eq(tg_init_kaiming_normal(v, &e.rng, 0, TG_FAN_IN, TG_NONLIN_RELU, &e.err),
                     TG_ERR_SHAPE);
    ck_assert_int_eq(tg_init_orthogonal(v, &e.rng, 1.0, &e.err), TG_ERR_SHAPE);
    ck_assert_int_eq(tg_init_fans(v, NULL, NULL, &e.err), TG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(e.err.message, "at least 2 dimensions"));
    for (int64_t i = 0; i < 5; i++) ck_assert_double_eq(tg_tensor_get(v, i), 7.0);

    tg_tensor *w = tg_store_param(e.s, "w", TG_F64, TG_SHAPE(3, 4));
    ck_assert_int_eq(tg_init_uniform(w, NULL, 0, 1, &e.err), TG_ERR_NULL);
    ck_assert_ptr_nonnull(strstr(e.err.message, "rng is NULL"));
    ck_assert_int_eq(tg_init_uniform(w, &e.rng, 1, 0, &e.err), TG_ERR_ARG);
    ck_assert_int_eq(tg_init_normal(w, &e.rng, 0, -1, &e.err), TG_ERR_ARG);
    ck_assert_int_eq(tg_init_normal(w, &e.rng, NAN, 1, &e.err), TG_ERR_ARG);
    ck_assert_int_eq(tg_init_kaiming_uniform(w, &e.rng, 0, (tg_fan_mode)5, TG_NONLIN_RELU, &e.err),
                     TG_ERR_ARG);
    ck_assert_int_eq(tg_init_kaiming_uniform(w, &e.rng, 0, TG_FAN_IN, (tg_nonlinearity)42, &e.err),
                     TG_ERR_ARG);
    ck_assert_int_eq(tg_init_xavier_normal(w, &e.rng, INFINITY, &e.err), TG_ERR_ARG);
    ck_assert_int_eq(tg_init_orthogonal(w, &e.rng, NAN, &e.err), TG_ERR_ARG);
    for (int64_t i = 0; i < 12; i++) ck_assert_double_eq(tg_tensor_get(w, i), 0.0);
    ck_assert_int_eq(tg_init_constant(NULL, 1.0, &e.err), TG_ERR_NULL);
    ck_assert_int_eq(tg_init_fans(NULL, NULL, NULL, NULL), TG_ERR_NULL);
    /* err may be NULL. */
    ck_assert_int_eq(tg_init_orthogonal(v, &e.rng, 1.0, NULL), TG_ERR_SHAPE);
    /* A tensor without elements is left as it is, as torch does. */
    tg_tensor *empty = tg_store_param(e.s, "empty", TG_F64, TG_SHAPE(0, 4));
    ck_assert_int_eq(tg_init_kaiming_uniform(empty, &e.rng, 0, TG_FAN_IN, TG_NONLIN_RELU, NULL),
                     TG_OK);
    ck_assert_int_eq(tg_init_orthogonal(empty, &e.rng, 1.0, NULL), TG_OK);
    tg_store_free(e.s);
}
END_TEST

/* ---- the layers' defaults (nn.h): PyTorch's initialisation ---- */

START_TEST(layer_defaults) {
    env e;
    env_open(&e, 10);
    tg_linear fc;
    OK(tg_linear_init(&fc, e.s, "fc", 400, 300, true, TG_F64, &e.rng, &e.err), e);
    assert_uniform("Linear weight", fc.weight, 1.0 / sqrt(400));
    stats b = stats_of(fc.bias);
    ck_assert(b.min >= -1.0 / sqrt(400) && b.max < 1.0 / sqrt(400));
    assert_distribution("Linear bias", fc.bias, 0.0, 1.0 / sqrt(400) / sqrt(3.0), -1.2);

    tg_conv2d conv;
    OK(tg_conv2d_init(&conv, e.s, "conv", 32, 64, 5, 3, &(tg_conv2d_params){.groups = 4}, true,
                      TG_F64, &e.rng, &e.err),
       e);
    ck_assert_int_eq(tg_tensor_dim(conv.weight, 1), 8);
    assert_uniform("Conv2d weight", conv.weight, 1.0 / sqrt(8 * 5 * 3)); /* fan_in = 8 x 15 */
    b = stats_of(conv.bias);
    ck_assert(b.min >= -1.0 / sqrt(120) && b.max < 1.0 / sqrt(120) && b.max > b.min);

    tg_embedding emb;
    OK(tg_embedding_init(&emb, e.s, "emb", 1000, 50, TG_F64, &e.rng, &e.err), e);
    assert_distribution("Embedding weight", emb.weight, 0.0, 1.0, 0.0);

    tg_lstm_cell lstm;
    OK(tg_lstm_cell_init(&lstm, e.s, "lstm", 100, 64, true, TG_F64, &e.rng, &e.err), e);
    assert_uniform("LSTM weight_ih", lstm.weight_ih, 1.0 / 8.0);
    assert_uniform("LSTM weight_hh", lstm.weight_hh, 1.0 / 8.0);
    stats bh = stats_of(lstm.bias_hh);
    ck_assert(bh.min >= -1.0 / 8.0 && bh.max < 1.0 / 8.0 && bh.max > bh.min);

    tg_batchnorm bn;
    tg_layernorm ln;
    OK(tg_batchnorm2d_init(&bn, e.s, "bn", 6, 0.1, 1e-5, true, TG_F32, &e.err), e);
    OK(tg_layernorm_init(&ln, e.s, "ln", TG_SHAPE(3, 2), 1e-5, true, TG_F32, &e.err), e);
    for (int64_t i = 0; i < 6; i++) {
        ck_assert_double_eq(tg_tensor_get(bn.weight, i), 1.0);
        ck_assert_double_eq(tg_tensor_get(bn.bias, i), 0.0);
        ck_assert_double_eq(tg_tensor_get(bn.running_mean, i), 0.0);
        ck_assert_double_eq(tg_tensor_get(bn.running_var, i), 1.0);
        ck_assert_double_eq(tg_tensor_get(ln.weight, i), 1.0);
        ck_assert_double_eq(tg_tensor_get(ln.bias, i), 0.0);
    }
    /* The store is the parameter list: names in creation order, buffers not counted. */
    const char *names[] = {"fc.weight",    "fc.bias",        "conv.weight",    "conv.bias",
                           "emb.weight",   "lstm.weight_ih", "lstm.weight_hh", "lstm.bias_ih",
                           "lstm.bias_hh", "bn.weight",      "bn.bias",        "ln.weight",
                           "ln.bias"};
    ck_assert_int_eq(tg_store_n_params(e.s), 13);
    for (int i = 0; i < 13; i++)
        ck_assert_str_eq(tg_tensor_name(tg_store_get_param(e.s, i)), names[i]);
    ck_assert_ptr_eq(tg_store_find(e.s, "bn.running_mean"), bn.running_mean);
    ck_assert(!tg_tensor_requires_grad(bn.running_mean));
    tg_store_free(e.s);
}
END_TEST

/* A model is fixed by its seed: two stores built from the same seed hold identical values. */
START_TEST(layers_follow_the_seed) {
    double first[3];
    for (int r = 0; r < 2; r++) {
        tg_store *s = tg_store_new();
        tg_rng rng;
        tg_rng_seed(&rng, 2024);
        tg_linear fc;
        tg_gru_cell gru;
        tg_embedding emb;
        ck_assert_int_eq(tg_linear_init(&fc, s, "fc", 5, 4, true, TG_F32, &rng, NULL), TG_OK);
        ck_assert_int_eq(tg_gru_cell_init(&gru, s, "gru", 4, 3, true, TG_F32, &rng, NULL), TG_OK);
        ck_assert_int_eq(tg_embedding_init(&emb, s, "emb", 7, 2, TG_F32, &rng, NULL), TG_OK);
        double now[3] = {tg_tensor_get(fc.bias, 3), tg_tensor_get(gru.bias_hh, 8),
                         tg_tensor_get(emb.weight, 13)};
        for (int k = 0; k < 3; k++) {
            if (r == 0)
                first[k] = now[k];
            else
                ck_assert_double_eq(now[k], first[k]);
        }
        tg_store_free(s);
    }
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_init");
    TCase *tc = tcase_create("init");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fans_match_torch);
    tcase_add_test(tc, gains_match_torch);
    tcase_add_test(tc, constant_and_zeros);
    tcase_add_test(tc, uniform_and_normal);
    tcase_add_test(tc, xavier);
    tcase_add_test(tc, kaiming);
    tcase_add_test(tc, orthogonal_shapes);
    tcase_add_test(tc, orthogonal_is_haar_like);
    tcase_add_test(tc, same_seed_same_values);
    tcase_add_test(tc, init_errors);
    tcase_add_test(tc, layer_defaults);
    tcase_add_test(tc, layers_follow_the_seed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(suite()); }

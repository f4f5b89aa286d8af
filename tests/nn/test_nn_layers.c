/* test_nn_layers.c: every feed-forward layer against PyTorch, through the fixtures that
 * tools/make_fixtures_nn.py wrote: the fixture's parameters are loaded into the layer's store
 * tensors, the layer runs forward, the fixture's upstream gradient is back-propagated, and the
 * output and every gradient must match (1e-10 in f64; each test also runs in f32 at 1e-4
 * relative). Dropout, whose masks no fixture can share, is checked by its defining properties. */
#include <math.h>
#include <string.h>

#include "nn_fixture.h"

#define DTYPE_OF(i) ((i) == 0 ? TG_F64 : TG_F32)

typedef struct env {
    tg_store *s;
    tg_tape *t;
    tg_rng rng;
    tg_error err;
} env;

static void env_open(env *e) {
    e->s = tg_store_new();
    e->t = tg_tape_new();
    ck_assert_ptr_nonnull(e->s);
    ck_assert_ptr_nonnull(e->t);
    tg_rng_seed(&e->rng, 99);
    memset(&e->err, 0, sizeof e->err);
}

static void env_close(env *e) {
    tg_tape_free(e->t);
    tg_store_free(e->s);
}

#define OK(call, e) ck_assert_msg((call) == TG_OK, "%s: %s", #call, (e).err.message)

/* ---- Linear ---- */

static void check_linear(const char *name, tg_dtype dt) {
    fixture f;
    NN_LOAD(f, name);
    env e;
    env_open(&e);
    int64_t n;
    int64_t *sizes = nn_ints(&f, "sizes", &n);
    bool bias = sizes[2] != 0;
    tg_linear l;
    OK(tg_linear_init(&l, e.s, "fc", sizes[0], sizes[1], bias, dt, &e.rng, &e.err), e);
    ck_assert_int_eq(tg_store_n_params(e.s), bias ? 2 : 1);
    ck_assert_ptr_eq(tg_store_find(e.s, "fc.weight"), l.weight);
    nn_fill_from(&f, "weight", l.weight);
    if (bias) nn_fill_from(&f, "bias", l.bias);
    tg_tensor *x = nn_input(&f, e.t, "x", dt, true);
    tg_tensor *y = tg_linear_forward(e.t, &l, x);
    NN_CHECK(f, "y", y);
    nn_backward_with(&f, e.t, y, "gy");
    NN_CHECK(f, "dx", tg_tensor_grad(x));
    NN_CHECK(f, "dweight", tg_tensor_grad(l.weight));
    if (bias) NN_CHECK(f, "dbias", tg_tensor_grad(l.bias));
    free(sizes);
    env_close(&e);
    fixture_free(&f);
}

START_TEST(linear_ref) { check_linear("nn_linear", DTYPE_OF(_i)); }
END_TEST

START_TEST(linear_nobias_ref) { check_linear("nn_linear_nobias", DTYPE_OF(_i)); }
END_TEST

/* ---- Conv2d ---- */

static void check_conv(const char *name, tg_dtype dt) {
    fixture f;
    NN_LOAD(f, name);
    env e;
    env_open(&e);
    int64_t *z = nn_ints(&f, "sizes", NULL);
    tg_conv2d_params p = {
        {(int)z[4], (int)z[5]}, {(int)z[6], (int)z[7]}, {(int)z[8], (int)z[9]}, (int)z[10]};
    bool bias = z[11] != 0;
    tg_conv2d c;
    OK(tg_conv2d_init(&c, e.s, "conv1", z[0], z[1], (int)z[2], (int)z[3], &p, bias, dt, &e.rng,
                      &e.err),
       e);
    nn_fill_from(&f, "weight", c.weight);
    if (bias) nn_fill_from(&f, "bias", c.bias);
    tg_tensor *x = nn_input(&f, e.t, "x", dt, true);
    tg_tensor *y = tg_conv2d_forward(e.t, &c, x);
    NN_CHECK(f, "y", y);
    nn_backward_with(&f, e.t, y, "gy");
    NN_CHECK(f, "dx", tg_tensor_grad(x));
    NN_CHECK(f, "dweight", tg_tensor_grad(c.weight));
    if (bias) NN_CHECK(f, "dbias", tg_tensor_grad(c.bias));
    free(z);
    env_close(&e);
    fixture_free(&f);
}

START_TEST(conv2d_ref) { check_conv("nn_conv2d", DTYPE_OF(_i)); }
END_TEST

START_TEST(conv2d_nobias_ref) { check_conv("nn_conv2d_nobias", DTYPE_OF(_i)); }
END_TEST

/* ---- ConvTranspose2d ---- */

static void check_conv_transpose(const char *name, tg_dtype dt) {
    fixture f;
    NN_LOAD(f, name);
    env e;
    env_open(&e);
    int64_t *z = nn_ints(&f, "sizes", NULL);
    tg_conv_transpose2d_params p = {{(int)z[4], (int)z[5]}, {(int)z[6], (int)z[7]},
                                    {(int)z[8], (int)z[9]}, {(int)z[10], (int)z[11]},
                                    (int)z[12]};
    bool bias = z[13] != 0;
    tg_conv_transpose2d c;
    OK(tg_conv_transpose2d_init(&c, e.s, "up", z[0], z[1], (int)z[2], (int)z[3], &p, bias, dt,
                                &e.rng, &e.err),
       e);
    /* The store names are PyTorch's state_dict keys under the layer's name. */
    ck_assert_str_eq(tg_tensor_name(c.weight), "up.weight");
    if (bias) ck_assert_str_eq(tg_tensor_name(c.bias), "up.bias");
    /* PyTorch's init: every weight within 1/sqrt(fan_in), fan_in = out / groups x kernel area. */
    double bound = 1.0 / sqrt((double)(z[1] / z[12] * z[2] * z[3])), wmax = 0.0;
    for (int64_t i = 0; i < tg_tensor_numel(c.weight); i++) {
        double v = fabs(tg_tensor_get(c.weight, i));
        wmax = v > wmax ? v : wmax;
    }
    ck_assert_msg(wmax <= bound && wmax > 0.5 * bound, "weights reach %g, bound %g", wmax, bound);
    nn_fill_from(&f, "weight", c.weight);
    if (bias) nn_fill_from(&f, "bias", c.bias);
    tg_tensor *x = nn_input(&f, e.t, "x", dt, true);
    tg_tensor *y = tg_conv_transpose2d_forward(e.t, &c, x);
    NN_CHECK(f, "y", y);
    nn_backward_with(&f, e.t, y, "gy");
    NN_CHECK(f, "dx", tg_tensor_grad(x));
    NN_CHECK(f, "dweight", tg_tensor_grad(c.weight));
    if (bias) NN_CHECK(f, "dbias", tg_tensor_grad(c.bias));
    /* An input with the wrong channel count names the layer. */
    ck_assert_ptr_null(tg_conv_transpose2d_forward(e.t, &c, tg_ones(e.t, dt, TG_SHAPE(1, 7, 2, 2))));
    ck_assert_ptr_nonnull(strstr(tg_tape_error(e.t), "conv_transpose2d 'up'"));
    free(z);
    env_close(&e);
    fixture_free(&f);
}

START_TEST(conv_transpose2d_ref) { check_conv_transpose("nn_conv_transpose2d", DTYPE_OF(_i)); }
END_TEST

START_TEST(conv_transpose2d_nobias_ref) {
    check_conv_transpose("nn_conv_transpose2d_nobias", DTYPE_OF(_i));
}
END_TEST

/* Bad geometry at init is refused with a status, and leaves the layer zeroed. */
START_TEST(conv_transpose2d_bad_init) {
    env e;
    env_open(&e);
    tg_conv_transpose2d c;
    tg_conv_transpose2d_params outpad = {.stride = {2, 2}, .output_padding = {2, 0}};
    ck_assert_int_eq(tg_conv_transpose2d_init(&c, e.s, "u", 4, 2, 4, 4, &outpad, true, TG_F32,
                                              &e.rng, &e.err),
                     TG_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(e.err.message, "output_padding"));
    ck_assert_ptr_null(c.weight);
    tg_conv_transpose2d_params groups = {.groups = 3};
    ck_assert_int_eq(tg_conv_transpose2d_init(&c, e.s, "u", 4, 2, 4, 4, &groups, true, TG_F32,
                                              &e.rng, &e.err),
                     TG_ERR_ARG);
    ck_assert_int_eq(tg_conv_transpose2d_init(NULL, e.s, "u", 4, 2, 4, 4, NULL, true, TG_F32,
                                              &e.rng, &e.err),
                     TG_ERR_NULL);
    ck_assert_int_eq(tg_conv_transpose2d_init(&c, e.s, "u", 4, 2, 0, 4, NULL, true, TG_F32,
                                              &e.rng, &e.err),
                     TG_ERR_ARG);
    env_close(&e);
}
END_TEST

/* ---- pooling ---- */

START_TEST(pool_ref) {
    tg_dtype dt = DTYPE_OF(_i);
    fixture f;
    NN_LOAD(f, "nn_pool");
    env e;
    env_open(&e);
    tg_pool2d mp, ap;
    OK(tg_pool2d_init(&mp, TG_POOL_MAX,
                      &(tg_pool2d_params){.kernel = {3, 2}, .stride = {2, 2}, .padding = {1, 1}},
                      &e.err),
       e);
    /* AvgPool2d(2): stride left 0 means the kernel, as PyTorch's default. */
    OK(tg_pool2d_init(&ap, TG_POOL_AVG, &(tg_pool2d_params){.kernel = {2, 2}}, &e.err), e);
    tg_tensor *x = nn_input(&f, e.t, "x", dt, true);
    tg_tensor *ym = tg_pool2d_forward(e.t, &mp, x);
    NN_CHECK(f, "y_max", ym);
    nn_backward_with(&f, e.t, ym, "gy_max");
    NN_CHECK(f, "dx_max", tg_tensor_grad(x));
    tg_tape_reset(e.t);
    x = nn_input(&f, e.t, "x", dt, true);
    tg_tensor *ya = tg_pool2d_forward(e.t, &ap, x);
    NN_CHECK(f, "y_avg", ya);
    nn_backward_with(&f, e.t, ya, "gy_avg");
    NN_CHECK(f, "dx_avg", tg_tensor_grad(x));
    env_close(&e);
    fixture_free(&f);
}
END_TEST

/* ---- Embedding ---- */

START_TEST(embedding_ref) {
    tg_dtype dt = DTYPE_OF(_i);
    fixture f;
    NN_LOAD(f, "nn_embedding");
    env e;
    env_open(&e);
    tg_embedding emb;
    OK(tg_embedding_init(&emb, e.s, "emb", 10, 4, dt, &e.rng, &e.err), e);
    nn_fill_from(&f, "weight", emb.weight);
    int64_t n;
    int64_t *ids = nn_ints(&f, "ids", &n);
    const fixture_tensor *shape = fixture_get(&f, "ids");
    tg_tensor *y = tg_embedding_forward(e.t, &emb, shape->ndim, shape->shape, ids);
    NN_CHECK(f, "y", y);
    nn_backward_with(&f, e.t, y, "gy");
    NN_CHECK(f, "dweight", tg_tensor_grad(emb.weight));
    free(ids);
    env_close(&e);
    fixture_free(&f);
}
END_TEST

/* ---- BatchNorm ---- */

static void check_batchnorm(const char *name, int spatial, tg_dtype dt) {
    fixture f;
    NN_LOAD(f, name);
    env e;
    env_open(&e);
    int64_t *z = nn_ints(&f, "sizes", NULL);
    const fixture_tensor *hyper = fixture_get(&f, "hyper");
    bool affine = z[1] != 0;
    tg_batchnorm b;
    tg_status st = spatial == 1 ? tg_batchnorm1d_init(&b, e.s, "bn", z[0], hyper->values[0],
                                                      hyper->values[1], affine, dt, &e.err)
                                : tg_batchnorm2d_init(&b, e.s, "bn", z[0], hyper->values[0],
                                                      hyper->values[1], affine, dt, &e.err);
    OK(st, e);
    /* Buffers are in the store but are not parameters. */
    ck_assert_int_eq(tg_store_n_params(e.s), affine ? 2 : 0);
    ck_assert_ptr_eq(tg_store_find(e.s, "bn.running_var"), b.running_var);
    if (affine) {
        nn_fill_from(&f, "weight", b.weight);
        nn_fill_from(&f, "bias", b.bias);
    }
    tg_tensor *x1 = nn_input(&f, e.t, "x1", dt, true);
    tg_tensor *y1 = tg_batchnorm_forward(e.t, &b, x1, true);
    NN_CHECK(f, "y1", y1);
    NN_CHECK(f, "running_mean1", b.running_mean);
    NN_CHECK(f, "running_var1", b.running_var);
    nn_backward_with(&f, e.t, y1, "gy");
    NN_CHECK(f, "dx", tg_tensor_grad(x1));
    if (affine) {
        NN_CHECK(f, "dweight", tg_tensor_grad(b.weight));
        NN_CHECK(f, "dbias", tg_tensor_grad(b.bias));
    }
    /* A second training batch, run without recording, still moves the running estimates. */
    tg_tape_reset(e.t);
    bool was = tg_tape_set_grad_enabled(e.t, false);
    ck_assert_ptr_nonnull(tg_batchnorm_forward(e.t, &b, nn_input(&f, e.t, "x2", dt, false), true));
    tg_tape_set_grad_enabled(e.t, was);
    NN_CHECK(f, "running_mean2", b.running_mean);
    NN_CHECK(f, "running_var2", b.running_var);
    /* Eval normalises by the running estimates and leaves them alone. */
    tg_tensor *y_eval = tg_batchnorm_forward(e.t, &b, nn_input(&f, e.t, "x1", dt, false), false);
    NN_CHECK(f, "y_eval", y_eval);
    NN_CHECK(f, "running_mean2", b.running_mean);
    NN_CHECK(f, "running_var2", b.running_var);
    free(z);
    env_close(&e);
    fixture_free(&f);
}

START_TEST(batchnorm1d_ref) { check_batchnorm("nn_batchnorm1d", 1, DTYPE_OF(_i)); }
END_TEST

START_TEST(batchnorm1d_3d_noaffine_ref) { check_batchnorm("nn_batchnorm1d_3d", 1, DTYPE_OF(_i)); }
END_TEST

START_TEST(batchnorm2d_ref) { check_batchnorm("nn_batchnorm2d", 2, DTYPE_OF(_i)); }
END_TEST

/* ---- LayerNorm ---- */

START_TEST(layernorm_ref) {
    tg_dtype dt = DTYPE_OF(_i);
    fixture f;
    NN_LOAD(f, "nn_layernorm");
    env e;
    env_open(&e);
    tg_layernorm ln, plain;
    OK(tg_layernorm_init(&ln, e.s, "ln", TG_SHAPE(4, 5), 1e-5, true, dt, &e.err), e);
    OK(tg_layernorm_init(&plain, e.s, "plain", TG_SHAPE(5), 1e-6, false, dt, &e.err), e);
    ck_assert_int_eq(tg_store_n_params(e.s), 2);
    ck_assert_ptr_null(plain.weight);
    nn_fill_from(&f, "weight", ln.weight);
    nn_fill_from(&f, "bias", ln.bias);
    tg_tensor *x = nn_input(&f, e.t, "x", dt, true);
    tg_tensor *y = tg_layernorm_forward(e.t, &ln, x);
    NN_CHECK(f, "y", y);
    nn_backward_with(&f, e.t, y, "gy");
    NN_CHECK(f, "dx", tg_tensor_grad(x));
    NN_CHECK(f, "dweight", tg_tensor_grad(ln.weight));
    NN_CHECK(f, "dbias", tg_tensor_grad(ln.bias));
    tg_tape_reset(e.t);
    x = nn_input(&f, e.t, "x", dt, true);
    tg_tensor *y2 = tg_layernorm_forward(e.t, &plain, x);
    NN_CHECK(f, "y_plain", y2);
    nn_backward_with(&f, e.t, y2, "gy_plain");
    NN_CHECK(f, "dx_plain", tg_tensor_grad(x));
    env_close(&e);
    fixture_free(&f);
}
END_TEST

/* ---- a small CNN: Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten, Linear, cross entropy ---- */

START_TEST(sequential_ref) {
    tg_dtype dt = DTYPE_OF(_i);
    fixture f;
    NN_LOAD(f, "nn_sequential");
    env e;
    env_open(&e);
    tg_conv2d conv;
    tg_batchnorm bn;
    tg_pool2d pool;
    tg_linear fc;
    /* The names are nn.Sequential's, so the store's keys are its state_dict keys. */
    OK(tg_conv2d_init(&conv, e.s, "0", 1, 3, 3, 3, &(tg_conv2d_params){.padding = {1, 1}}, true, dt,
                      &e.rng, &e.err),
       e);
    OK(tg_batchnorm2d_init(&bn, e.s, "1", 3, 0.1, 1e-5, true, dt, &e.err), e);
    OK(tg_pool2d_init(&pool, TG_POOL_MAX, &(tg_pool2d_params){.kernel = {2, 2}}, &e.err), e);
    OK(tg_linear_init(&fc, e.s, "5", 27, 4, true, dt, &e.rng, &e.err), e);
    ck_assert_int_eq(tg_store_n_params(e.s), 6);
    for (int i = 0; i < tg_store_n_params(e.s); i++) {
        tg_tensor *p = tg_store_get_param(e.s, i);
        nn_fill_from(&f, tg_tensor_name(p), p);
    }
    tg_tensor *x = nn_input(&f, e.t, "x", dt, true);
    int64_t *labels = nn_ints(&f, "labels", NULL);
    tg_tensor *h = tg_conv2d_forward(e.t, &conv, x);
    h = tg_relu(e.t, tg_batchnorm_forward(e.t, &bn, h, true));
    h = tg_flatten(e.t, tg_pool2d_forward(e.t, &pool, h), 1, -1);
    ck_assert_int_eq(tg_tensor_ndim(h), 2);
    ck_assert_int_eq(tg_tensor_dim(h, 1), 27);
    tg_tensor *logits = tg_linear_forward(e.t, &fc, h);
    tg_tensor *loss = tg_cross_entropy(e.t, logits, labels, 0.0, TG_REDUCE_MEAN);
    NN_CHECK(f, "logits", logits);
    NN_CHECK(f, "loss", loss);
    NN_CHECK(f, "1.running_mean", bn.running_mean);
    NN_CHECK(f, "1.running_var", bn.running_var);
    ck_assert_msg(tg_tape_backward(e.t, loss, NULL, 0) == TG_OK, "%s", tg_tape_error(e.t));
    NN_CHECK(f, "dx", tg_tensor_grad(x));
    for (int i = 0; i < tg_store_n_params(e.s); i++) {
        tg_tensor *p = tg_store_get_param(e.s, i);
        char gname[80];
        snprintf(gname, sizeof gname, "d%s", tg_tensor_name(p));
        NN_CHECK(f, gname, tg_tensor_grad(p));
    }
    free(labels);
    env_close(&e);
    fixture_free(&f);
}
END_TEST

/* ---- Flatten ---- */

START_TEST(flatten_ranges) {
    env e;
    env_open(&e);
    tg_tensor *x = tg_zeros(e.t, TG_F64, TG_SHAPE(2, 3, 4, 5));
    for (int64_t i = 0; i < 120; i++) ((double *)tg_tensor_data(x))[i] = (double)i;
    struct {
        int s, e, ndim;
        int64_t shape[4];
    } cases[] = {
        {1, -1, 2, {2, 60}},     {0, -1, 1, {120}},       {1, 2, 3, {2, 12, 5}},
        {-2, -1, 3, {2, 3, 20}}, {2, 2, 4, {2, 3, 4, 5}}, {0, 1, 3, {6, 4, 5}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg_tensor *y = tg_flatten(e.t, x, cases[k].s, cases[k].e);
        ck_assert_msg(y != NULL, "flatten(%d, %d): %s", cases[k].s, cases[k].e, tg_tape_error(e.t));
        ck_assert_int_eq(tg_tensor_ndim(y), cases[k].ndim);
        for (int d = 0; d < cases[k].ndim; d++)
            ck_assert_int_eq(tg_tensor_dim(y, d), cases[k].shape[d]);
        /* Row-major order is kept: flattening only regroups the dimensions. */
        for (int64_t i = 0; i < 120; i += 7) ck_assert_double_eq(tg_tensor_get(y, i), (double)i);
    }
    /* A non-contiguous input (a transpose) is flattened in its logical order. */
    tg_tensor *xt = tg_transpose(e.t, x, 2, 3); /* (2, 3, 5, 4) */
    tg_tensor *yt = tg_flatten(e.t, xt, 2, 3);
    ck_assert_ptr_nonnull(yt);
    ck_assert_double_eq(tg_tensor_get(yt, 1), tg_tensor_get(x, 5)); /* xt[0,0,0,1] = x[0,0,1,0] */
    ck_assert_int_eq(tg_tape_status(e.t), TG_OK);
    /* The reverse range is refused, with the shape in the message. */
    ck_assert_ptr_null(tg_flatten(e.t, x, 2, 1));
    ck_assert_int_eq(tg_tape_status(e.t), TG_ERR_AXIS);
    ck_assert_ptr_nonnull(strstr(tg_tape_error(e.t), "(2, 3, 4, 5)"));
    env_close(&e);
}
END_TEST

START_TEST(flatten_gradient_is_reshaped) {
    env e;
    env_open(&e);
    tg_tensor *x = tg_uniform(e.t, &e.rng, TG_F64, TG_SHAPE(2, 3, 2), -1.0, 1.0);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *w = tg_uniform(e.t, &e.rng, TG_F64, TG_SHAPE(2, 6), -1.0, 1.0);
    tg_tensor *loss = tg_sum_all(e.t, tg_mul(e.t, tg_flatten(e.t, x, 1, -1), w));
    ck_assert_int_eq(tg_tape_backward(e.t, loss, NULL, 0), TG_OK);
    /* d sum(flat(x) * w) / dx = w read back in x's shape. */
    for (int64_t i = 0; i < 12; i++)
        ck_assert_double_eq(tg_tensor_get(tg_tensor_grad(x), i), tg_tensor_get(w, i));
    env_close(&e);
}
END_TEST

/* ---- Dropout ---- */

START_TEST(dropout_eval_is_identity) {
    env e;
    env_open(&e);
    tg_dropout d;
    ck_assert_int_eq(tg_dropout_init(&d, 0.5, 7, &e.err), TG_OK);
    tg_rng before = d.rng;
    tg_tensor *x = tg_ones(e.t, TG_F64, TG_SHAPE(10));
    ck_assert_ptr_eq(tg_dropout_forward(e.t, &d, x, false), x);
    /* Eval draws nothing, so the training masks that follow do not depend on eval calls. */
    ck_assert_uint_eq(d.rng.state, before.state);
    env_close(&e);
}
END_TEST

START_TEST(dropout_training_mask) {
    env e;
    env_open(&e);
    const double p = 0.3;
    const int64_t n = 20000;
    tg_dropout d;
    ck_assert_int_eq(tg_dropout_init(&d, p, 11, &e.err), TG_OK);
    tg_tensor *x = tg_uniform(e.t, &e.rng, TG_F64, TG_SHAPE(n), 1.0, 2.0);
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = tg_dropout_forward(e.t, &d, x, true);
    ck_assert_ptr_nonnull(y);
    ck_assert_int_eq(tg_tape_backward(e.t, tg_sum_all(e.t, y), NULL, 0), TG_OK);
    int64_t dropped = 0;
    for (int64_t i = 0; i < n; i++) {
        double yi = tg_tensor_get(y, i), xi = tg_tensor_get(x, i);
        double gi = tg_tensor_get(tg_tensor_grad(x), i);
        if (yi == 0.0) {
            dropped++;
            ck_assert_double_eq(gi, 0.0);
        } else {
            ck_assert_double_eq_tol(yi, xi / (1 - p), 1e-12);
            ck_assert_double_eq_tol(gi, 1 / (1 - p), 1e-12);
        }
    }
    /* The dropped count is Binomial(n, p): 5 standard deviations either way. */
    double sd = sqrt(n * p * (1 - p));
    ck_assert_msg(fabs((double)dropped - n * p) < 5 * sd, "dropped %lld of %lld",
                  (long long)dropped, (long long)n);
    env_close(&e);
}
END_TEST

START_TEST(dropout_masks_follow_the_seed) {
    env e;
    env_open(&e);
    tg_dropout a, b, c;
    tg_dropout_init(&a, 0.5, 123, NULL);
    tg_dropout_init(&b, 0.5, 123, NULL);
    tg_dropout_init(&c, 0.5, 124, NULL);
    tg_tensor *x = tg_ones(e.t, TG_F32, TG_SHAPE(64));
    tg_tensor *ya1 = tg_dropout_forward(e.t, &a, x, true),
              *yb1 = tg_dropout_forward(e.t, &b, x, true);
    tg_tensor *ya2 = tg_dropout_forward(e.t, &a, x, true),
              *yc = tg_dropout_forward(e.t, &c, x, true);
    int same_seed_diff = 0, next_diff = 0, other_seed_diff = 0;
    for (int64_t i = 0; i < 64; i++) {
        same_seed_diff += tg_tensor_get(ya1, i) != tg_tensor_get(yb1, i);
        next_diff += tg_tensor_get(ya1, i) != tg_tensor_get(ya2, i);
        other_seed_diff += tg_tensor_get(ya1, i) != tg_tensor_get(yc, i);
    }
    ck_assert_int_eq(same_seed_diff, 0);
    ck_assert_int_gt(next_diff, 0);       /* each training forward draws a new mask */
    ck_assert_int_gt(other_seed_diff, 0); /* and another seed another sequence */
    env_close(&e);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_layers");
    TCase *tc = tcase_create("reference");
    tcase_add_loop_test(tc, linear_ref, 0, 2);
    tcase_add_loop_test(tc, linear_nobias_ref, 0, 2);
    tcase_add_loop_test(tc, conv2d_ref, 0, 2);
    tcase_add_loop_test(tc, conv2d_nobias_ref, 0, 2);
    tcase_add_loop_test(tc, conv_transpose2d_ref, 0, 2);
    tcase_add_loop_test(tc, conv_transpose2d_nobias_ref, 0, 2);
    tcase_add_test(tc, conv_transpose2d_bad_init);
    tcase_add_loop_test(tc, pool_ref, 0, 2);
    tcase_add_loop_test(tc, embedding_ref, 0, 2);
    tcase_add_loop_test(tc, batchnorm1d_ref, 0, 2);
    tcase_add_loop_test(tc, batchnorm1d_3d_noaffine_ref, 0, 2);
    tcase_add_loop_test(tc, batchnorm2d_ref, 0, 2);
    tcase_add_loop_test(tc, layernorm_ref, 0, 2);
    tcase_add_loop_test(tc, sequential_ref, 0, 2);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("properties");
    tcase_add_test(tp, flatten_ranges);
    tcase_add_test(tp, flatten_gradient_is_reshaped);
    tcase_add_test(tp, dropout_eval_is_identity);
    tcase_add_test(tp, dropout_training_mask);
    tcase_add_test(tp, dropout_masks_follow_the_seed);
    suite_add_tcase(s, tp);
    return s;
}

int main(void) { return tg_test_run(suite()); }

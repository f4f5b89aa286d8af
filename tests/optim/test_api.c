/* test_api.c: the optimisers' contracts beyond the numbers: errors are returned with a message
 * and leave the store as it was, state buffers have the documented names, two optimisers share
 * a store through prefixes and parameter filters, out-of-memory is survived, and each optimiser
 * trains a small least-squares problem to a stated loss. */
#include <string.h>

#include "../test_util.h"

/* A store with parameters "w" (3, 1) and "b" (1); the caller frees it. */
static tg_store *small_store(tg_dtype dt) {
    tg_store *s = tg_store_new();
    ck_assert_ptr_nonnull(tg_store_param(s, "w", dt, TG_SHAPE(3, 1)));
    ck_assert_ptr_nonnull(tg_store_param(s, "b", dt, TG_SHAPE(1)));
    return s;
}

static void expect_error(tg_optim *o, const tg_error *err, tg_status want, const char *words) {
    ck_assert_ptr_null(o);
    ck_assert_msg(err->status == want, "status %s, want %s (%s)", tg_status_string(err->status),
                  tg_status_string(want), err->message);
    ck_assert_msg(strstr(err->message, words) != NULL, "message '%s' does not mention '%s'",
                  err->message, words);
}

START_TEST(test_null_arguments) {
    tg_error err = {0};
    tg_sgd_options so = tg_sgd_defaults(0.1);
    tg_adagrad_options ago = tg_adagrad_defaults(0.1);
    tg_rmsprop_options ro = tg_rmsprop_defaults(0.1);
    tg_adam_options ao = tg_adam_defaults(0.1);
    expect_error(tg_optim_sgd(NULL, &so, &err), &err, TG_ERR_NULL, "store");
    expect_error(tg_optim_adagrad(NULL, &ago, &err), &err, TG_ERR_NULL, "store");
    expect_error(tg_optim_rmsprop(NULL, &ro, &err), &err, TG_ERR_NULL, "store");
    expect_error(tg_optim_adam(NULL, &ao, &err), &err, TG_ERR_NULL, "store");
    expect_error(tg_optim_adamw(NULL, &ao, &err), &err, TG_ERR_NULL, "store");
    tg_store *s = small_store(TG_F64);
    expect_error(tg_optim_sgd(s, NULL, &err), &err, TG_ERR_NULL, "options");
    expect_error(tg_optim_adam(s, NULL, &err), &err, TG_ERR_NULL, "tg_adam_defaults");
    expect_error(tg_optim_adamw(s, NULL, &err), &err, TG_ERR_NULL, "tg_adamw_defaults");
    /* A NULL error pointer is allowed everywhere. */
    ck_assert_ptr_null(tg_optim_rmsprop(s, NULL, NULL));
    ck_assert_int_eq(tg_optim_step(NULL, NULL), TG_ERR_NULL);
    ck_assert_int_eq(tg_optim_step(NULL, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_optim_set_lr(NULL, 0.1, &err), TG_ERR_NULL);
    ck_assert(isnan(tg_optim_lr(NULL)));
    ck_assert_int_eq(tg_optim_steps(NULL), 0);
    ck_assert_int_eq(tg_optim_n_params(NULL), 0);
    ck_assert_ptr_null(tg_optim_param(NULL, 0));
    tg_optim_zero_grad(NULL);
    tg_optim_free(NULL);
    ck_assert_int_eq(tg_store_n_tensors(s), 2);
    tg_store_free(s);
}
END_TEST

/* Each bad option: which constructor, the option's name in the message. */
typedef struct bad_option {
    const char *what;
    int algo; /* 0 sgd, 1 adagrad, 2 rmsprop, 3 adam, 4 adamw */
    void (*spoil)(void *options);
} bad_option;

static void sgd_lr_negative(void *o) { ((tg_sgd_options *)o)->lr = -0.1; }
static void sgd_lr_nan(void *o) { ((tg_sgd_options *)o)->lr = NAN; }
static void sgd_momentum_negative(void *o) { ((tg_sgd_options *)o)->momentum = -0.5; }
static void sgd_decay_negative(void *o) { ((tg_sgd_options *)o)->weight_decay = -1; }
static void sgd_nesterov_alone(void *o) { ((tg_sgd_options *)o)->nesterov = true; }
static void sgd_nesterov_damped(void *o) {
    tg_sgd_options *p = o;
    p->nesterov = true;
    p->momentum = 0.9;
    p->dampening = 0.1;
}
static void adagrad_lr_inf(void *o) { ((tg_adagrad_options *)o)->lr = INFINITY; }
static void adagrad_decay_negative(void *o) { ((tg_adagrad_options *)o)->lr_decay = -1; }
static void adagrad_init_negative(void *o) {
    ((tg_adagrad_options *)o)->initial_accumulator_value = -1;
}
static void adagrad_eps_negative(void *o) { ((tg_adagrad_options *)o)->eps = -1e-10; }
static void rmsprop_alpha_big(void *o) { ((tg_rmsprop_options *)o)->alpha = 1.5; }
static void rmsprop_momentum_negative(void *o) { ((tg_rmsprop_options *)o)->momentum = -0.1; }
static void rmsprop_lr_negative(void *o) { ((tg_rmsprop_options *)o)->lr = -1; }
static void adam_beta1_one(void *o) { ((tg_adam_options *)o)->beta1 = 1.0; }
static void adam_beta2_negative(void *o) { ((tg_adam_options *)o)->beta2 = -0.1; }
static void adam_beta1_nan(void *o) { ((tg_adam_options *)o)->beta1 = NAN; }
static void adam_lr_negative(void *o) { ((tg_adam_options *)o)->lr = -1e-3; }
static void adam_eps_negative(void *o) { ((tg_adam_options *)o)->eps = -1; }
static void adamw_decay_negative(void *o) { ((tg_adam_options *)o)->weight_decay = -0.01; }

static const bad_option bad_options[] = {
    {"lr", 0, sgd_lr_negative},
    {"lr", 0, sgd_lr_nan},
    {"momentum", 0, sgd_momentum_negative},
    {"weight_decay", 0, sgd_decay_negative},
    {"Nesterov", 0, sgd_nesterov_alone},
    {"Nesterov", 0, sgd_nesterov_damped},
    {"lr", 1, adagrad_lr_inf},
    {"lr_decay", 1, adagrad_decay_negative},
    {"initial_accumulator_value", 1, adagrad_init_negative},
    {"eps", 1, adagrad_eps_negative},
    {"alpha", 2, rmsprop_alpha_big},
    {"momentum", 2, rmsprop_momentum_negative},
    {"lr", 2, rmsprop_lr_negative},
    {"betas", 3, adam_beta1_one},
    {"betas", 3, adam_beta2_negative},
    {"betas", 3, adam_beta1_nan},
    {"lr", 3, adam_lr_negative},
    {"eps", 4, adam_eps_negative},
    {"weight_decay", 4, adamw_decay_negative},
};

START_TEST(test_bad_options) {
    const bad_option *b = &bad_options[_i];
    tg_store *s = small_store(TG_F64);
    tg_error err = {0};
    tg_optim *o = NULL;
    switch (b->algo) {
    case 0: {
        tg_sgd_options so = tg_sgd_defaults(0.1);
        b->spoil(&so);
        o = tg_optim_sgd(s, &so, &err);
        break;
    }
    case 1: {
        tg_adagrad_options ago = tg_adagrad_defaults(0.1);
        b->spoil(&ago);
        o = tg_optim_adagrad(s, &ago, &err);
        break;
    }
    case 2: {
        tg_rmsprop_options ro = tg_rmsprop_defaults(0.1);
        b->spoil(&ro);
        o = tg_optim_rmsprop(s, &ro, &err);
        break;
    }
    default: {
        tg_adam_options ao = b->algo == 3 ? tg_adam_defaults(0.1) : tg_adamw_defaults(0.1);
        b->spoil(&ao);
        o = b->algo == 3 ? tg_optim_adam(s, &ao, &err) : tg_optim_adamw(s, &ao, &err);
        break;
    }
    }
    expect_error(o, &err, TG_ERR_ARG, b->what);
    ck_assert_int_eq(tg_store_n_tensors(s), 2); /* nothing was made */
    ck_assert_int_eq(tg_store_status(s), TG_OK);
    tg_store_free(s);
}
END_TEST

/* The names of the state are part of the checkpoint format: pin them down. */
START_TEST(test_state_names) {
    tg_store *s = tg_store_new();
    tg_store_param(s, "w", TG_F32, TG_SHAPE(2, 2));
    tg_error err = {0};
    tg_adam_options ao = tg_adam_defaults(0.01);
    ao.amsgrad = true;
    tg_optim *o = tg_optim_adam(s, &ao, &err);
    ck_assert_msg(o != NULL, "%s", err.message);
    static const char *const want[] = {
        "w",          "optim.exp_avg/w", "optim.exp_avg_sq/w", "optim.max_exp_avg_sq/w",
        "optim.step", "optim.lr"};
    ck_assert_int_eq(tg_store_n_tensors(s), 6);
    for (int i = 0; i < 6; i++)
        ck_assert_str_eq(tg_tensor_name(tg_store_get_tensor(s, i)), want[i]);
    ck_assert_int_eq(tg_store_n_params(s), 1); /* state is buffers, not parameters */
    const tg_tensor *m = tg_store_find(s, "optim.exp_avg/w");
    ck_assert_int_eq(tg_tensor_dtype(m), TG_F32);
    ck_assert_int_eq(tg_tensor_ndim(m), 2);
    ck_assert(!tg_tensor_requires_grad(m));
    const tg_tensor *step = tg_store_find(s, "optim.step");
    ck_assert_int_eq(tg_tensor_dtype(step), TG_F64);
    ck_assert_int_eq(tg_tensor_ndim(step), 0);
    ck_assert_double_eq(tg_tensor_item(step), 0);
    ck_assert_double_eq(tg_tensor_item(tg_store_find(s, "optim.lr")), 0.01);
    ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
    ck_assert_double_eq(tg_tensor_item(step), 1);
    tg_optim_free(o);

    /* Adagrad's sum starts at the initial accumulator value; plain SGD keeps no buffer. */
    tg_adagrad_options ago = tg_adagrad_defaults(0.1);
    ago.initial_accumulator_value = 0.25;
    ago.prefix = "ada";
    o = tg_optim_adagrad(s, &ago, &err);
    ck_assert_ptr_nonnull(o);
    const tg_tensor *sum = tg_store_find(s, "ada.sum/w");
    for (int i = 0; i < 4; i++) ck_assert_double_eq(tg_tensor_get(sum, i), 0.25);
    tg_optim_free(o);
    int before = tg_store_n_tensors(s);
    tg_sgd_options so = tg_sgd_defaults(0.1);
    so.prefix = "sgd";
    o = tg_optim_sgd(s, &so, &err);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(tg_store_n_tensors(s), before + 2); /* sgd.step, sgd.lr */
    tg_optim_free(o);
    tg_store_free(s);
}
END_TEST

START_TEST(test_name_too_long) {
    char name[49];
    memset(name, 'x', 48);
    name[48] = '\0';
    tg_store *s = tg_store_new();
    tg_store_param(s, name, TG_F64, TG_SHAPE(2)); /* 48 bytes: a legal parameter name */
    tg_error err = {0};
    tg_adam_options ao = tg_adam_defaults(0.01);
    /* "optim.exp_avg_sq/" + 48 bytes = 65 > 63 */
    expect_error(tg_optim_adam(s, &ao, &err), &err, TG_ERR_ARG, "shorter prefix");
    ck_assert_msg(strstr(err.message, "optim.exp_avg") != NULL, "%s", err.message);
    ck_assert_int_eq(tg_store_n_tensors(s), 1);
    ck_assert_int_eq(tg_store_status(s), TG_OK);
    /* "o.exp_avg_sq/" + 48 = 61 fits. */
    ao.prefix = "o";
    tg_optim *o = tg_optim_adam(s, &ao, &err);
    ck_assert_msg(o != NULL, "%s", err.message);
    tg_optim_free(o);

    char prefix[65];
    memset(prefix, 'p', 64);
    prefix[64] = '\0';
    ao.prefix = prefix;
    expect_error(tg_optim_adam(s, &ao, &err), &err, TG_ERR_ARG, "prefix");
    ao.prefix = "";
    expect_error(tg_optim_adam(s, &ao, &err), &err, TG_ERR_ARG, "prefix");
    tg_store_free(s);
}
END_TEST

START_TEST(test_second_optimiser_needs_its_own_prefix) {
    tg_store *s = small_store(TG_F64);
    tg_error err = {0};
    tg_adam_options ao = tg_adam_defaults(0.01);
    tg_optim *a = tg_optim_adam(s, &ao, &err);
    ck_assert_ptr_nonnull(a);
    int n = tg_store_n_tensors(s);
    tg_sgd_options so = tg_sgd_defaults(0.1);
    so.momentum = 0.9;
    expect_error(tg_optim_sgd(s, &so, &err), &err, TG_ERR_ARG, "already in the store");
    ck_assert_int_eq(tg_store_n_tensors(s), n);
    ck_assert_int_eq(tg_store_status(s), TG_OK);
    /* Same prefix as a state name the first one made, even with no per-parameter state. */
    so.momentum = 0;
    expect_error(tg_optim_sgd(s, &so, &err), &err, TG_ERR_ARG, "optim.step");
    so.momentum = 0.9;
    so.prefix = "sgd";
    tg_optim *b = tg_optim_sgd(s, &so, &err);
    ck_assert_msg(b != NULL, "%s", err.message);
    ck_assert_ptr_nonnull(tg_store_find(s, "sgd.momentum_buffer/w"));
    ck_assert_int_eq(tg_optim_step(a, &err), TG_OK);
    ck_assert_int_eq(tg_optim_steps(a), 1);
    ck_assert_int_eq(tg_optim_steps(b), 0);
    tg_optim_free(a);
    tg_optim_free(b);
    tg_store_free(s);
}
END_TEST

/* A GAN-style split: two optimisers, each over its own part of one store. */
START_TEST(test_params_filter) {
    tg_store *s = tg_store_new();
    tg_tensor *gw = tg_store_param(s, "gen.w", TG_F64, TG_SHAPE(2));
    tg_tensor *gb = tg_store_param(s, "gen.b", TG_F64, TG_SHAPE(1));
    tg_tensor *dw = tg_store_param(s, "disc.w", TG_F64, TG_SHAPE(3));
    tg_error err = {0};
    tg_adam_options ao = tg_adam_defaults(0.1);
    ao.prefix = "opt_g";
    ao.params = "gen.";
    tg_optim *g = tg_optim_adam(s, &ao, &err);
    tg_sgd_options so = tg_sgd_defaults(0.5);
    so.prefix = "opt_d";
    so.params = "disc.";
    tg_optim *d = tg_optim_sgd(s, &so, &err);
    ck_assert_ptr_nonnull(g);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(tg_optim_n_params(g), 2);
    ck_assert_ptr_eq(tg_optim_param(g, 0), gw);
    ck_assert_ptr_eq(tg_optim_param(g, 1), gb);
    ck_assert_ptr_null(tg_optim_param(g, 2));
    ck_assert_ptr_null(tg_optim_param(g, -1));
    ck_assert_int_eq(tg_optim_n_params(d), 1);
    ck_assert_ptr_null(tg_store_find(s, "opt_g.exp_avg/disc.w"));
    tg_tensor_fill(tg_tensor_grad(gw), 1);
    tg_tensor_fill(tg_tensor_grad(gb), 1);
    tg_tensor_fill(tg_tensor_grad(dw), 1);
    ck_assert_int_eq(tg_optim_step(g, &err), TG_OK);
    /* Adam's first step moves by lr * sign(g) (up to eps): -0.1. */
    ck_assert_double_eq_tol(tg_tensor_get(gw, 0), -0.1, 1e-6);
    ck_assert_double_eq_tol(tg_tensor_get(gb, 0), -0.1, 1e-6);
    ck_assert_double_eq(tg_tensor_get(dw, 0), 0);
    ck_assert_int_eq(tg_optim_step(d, &err), TG_OK);
    ck_assert_double_eq(tg_tensor_get(dw, 2), -0.5);
    tg_optim_zero_grad(g);
    ck_assert_double_eq(tg_tensor_get(tg_tensor_grad(gw), 1), 0);
    ck_assert_double_eq(tg_tensor_get(tg_tensor_grad(dw), 1), 1);
    tg_optim_free(g);
    tg_optim_free(d);

    so.params = "enc.";
    so.prefix = "opt_e";
    expect_error(tg_optim_sgd(s, &so, &err), &err, TG_ERR_ARG, "'enc.'");
    tg_store_free(s);
}
END_TEST

START_TEST(test_empty_store) {
    tg_store *s = tg_store_new();
    tg_store_buffer(s, "running_mean", TG_F64, TG_SHAPE(3)); /* buffers are not parameters */
    tg_error err = {0};
    tg_adam_options ao = tg_adam_defaults(0.01);
    expect_error(tg_optim_adam(s, &ao, &err), &err, TG_ERR_ARG, "no parameter");
    tg_store_free(s);
}
END_TEST

START_TEST(test_learning_rate) {
    tg_store *s = small_store(TG_F64);
    tg_tensor *w = tg_store_find(s, "w");
    tg_error err = {0};
    tg_sgd_options so = tg_sgd_defaults(0.1);
    tg_optim *o = tg_optim_sgd(s, &so, &err);
    ck_assert_double_eq(tg_optim_lr(o), 0.1);
    ck_assert_int_eq(tg_optim_set_lr(o, -1, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.message, "lr") != NULL, "%s", err.message);
    ck_assert_int_eq(tg_optim_set_lr(o, NAN, &err), TG_ERR_ARG);
    ck_assert_int_eq(tg_optim_set_lr(o, INFINITY, NULL), TG_ERR_ARG);
    ck_assert_double_eq(tg_optim_lr(o), 0.1);
    tg_tensor_fill(tg_tensor_grad(w), 2);
    ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
    ck_assert_double_eq(tg_tensor_get(w, 0), -0.2);
    ck_assert_int_eq(tg_optim_set_lr(o, 0, &err), TG_OK);
    ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
    ck_assert_double_eq(tg_tensor_get(w, 0), -0.2);
    ck_assert_int_eq(tg_optim_steps(o), 2);
    /* A lr buffer spoiled from outside (a bad checkpoint) stops the step before any change. */
    const double spoiled[] = {NAN, -5};
    for (int k = 0; k < 2; k++) {
        tg_tensor_fill(tg_store_find(s, "optim.lr"), spoiled[k]);
        err = (tg_error){0};
        ck_assert_int_eq(tg_optim_step(o, &err), TG_ERR_ARG);
        ck_assert_msg(strstr(err.message, "learning rate") != NULL, "%s", err.message);
    }
    ck_assert_double_eq(tg_tensor_get(w, 0), -0.2);
    ck_assert_int_eq(tg_optim_steps(o), 2);
    tg_optim_free(o);
    tg_store_free(s);
}
END_TEST

/* The allocator hook fails the n-th allocation; every failure must be reported, not crash. */
static int alloc_countdown;
static void *failing_malloc(size_t size, void *user) {
    (void)user;
    if (alloc_countdown-- == 0) return NULL;
    return malloc(size);
}
static void plain_free(void *p, void *user) {
    (void)user;
    free(p);
}

START_TEST(test_out_of_memory) {
    bool made = false;
    int failures = 0;
    for (int n = 0; n < 200 && !made; n++) {
        tg_store *s = small_store(TG_F64);
        tg_error err = {0};
        tg_adam_options ao = tg_adam_defaults(0.01);
        ao.amsgrad = true;
        alloc_countdown = n;
        tg_set_allocator(&(tg_allocator){failing_malloc, plain_free, NULL});
        tg_optim *o = tg_optim_adam(s, &ao, &err);
        tg_set_allocator(NULL);
        if (o) {
            made = true;
            tg_tensor_fill(tg_tensor_grad(tg_store_find(s, "w")), 1);
            ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
        } else {
            failures++;
            ck_assert_msg(err.status == TG_ERR_NOMEM, "allocation %d: %s", n, err.message);
        }
        tg_optim_free(o);
        tg_store_free(s);
    }
    ck_assert(made);
    ck_assert_int_ge(failures, 3); /* the object, its two arrays at least */
}
END_TEST

START_TEST(test_zero_size_parameter) {
    tg_store *s = tg_store_new();
    tg_store_param(s, "empty", TG_F64, TG_SHAPE(0, 4));
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(1));
    tg_error err = {0};
    tg_adam_options ao = tg_adam_defaults(0.5);
    tg_optim *o = tg_optim_adam(s, &ao, &err);
    ck_assert_ptr_nonnull(o);
    tg_tensor_fill(tg_tensor_grad(w), -3);
    ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
    ck_assert_double_eq_tol(tg_tensor_get(w, 0), 0.5, 1e-6);
    tg_optim_free(o);
    tg_store_free(s);
}
END_TEST

/* A step cuts large parameters into chunks that threads share; every element must still get
 * exactly its own update, across chunk and parameter boundaries. SGD with momentum 0.9 from
 * p0 with a constant gradient g makes p0 - lr g, then p0 - lr g - lr 1.9 g. */
START_TEST(test_large_parameters_in_chunks) {
    static const int64_t sizes[] = {40001, 16384, 3, 0, 70000};
    const int n = (int)(sizeof sizes / sizeof sizes[0]);
    for (int threads = 1; threads <= 2; threads++) {
        tg_set_threads(threads);
        tg_store *s = tg_store_new();
        tg_tensor *w[5];
        for (int k = 0; k < n; k++) {
            char name[16];
            snprintf(name, sizeof name, "w%d", k);
            w[k] = tg_store_param(s, name, TG_F64, TG_SHAPE(sizes[k]));
            double *p = tg_tensor_data(w[k]), *g = tg_tensor_data(tg_tensor_grad(w[k]));
            for (int64_t i = 0; i < sizes[k]; i++) {
                p[i] = cos(0.001 * (double)i + k);
                g[i] = sin(0.01 * (double)i - k);
            }
        }
        tg_error err = {0};
        tg_sgd_options so = tg_sgd_defaults(0.25);
        so.momentum = 0.9;
        tg_optim *o = tg_optim_sgd(s, &so, &err);
        ck_assert_ptr_nonnull(o);
        ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
        ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
        for (int k = 0; k < n; k++) {
            const double *p = tg_tensor_data(w[k]);
            for (int64_t i = 0; i < sizes[k]; i++) {
                double g = sin(0.01 * (double)i - k), p0 = cos(0.001 * (double)i + k);
                double want = p0 - 0.25 * g - 0.25 * (0.9 * g + g);
                ck_assert_msg(fabs(p[i] - want) <= 1e-15 * (1 + fabs(want)),
                              "threads %d, w%d[%lld] = %.17g, want %.17g", threads, k,
                              (long long)i, p[i], want);
            }
        }
        tg_optim_free(o);
        tg_store_free(s);
    }
    tg_set_threads(1);
}
END_TEST

/* ---- steps over parts (tg_optim_step_parts), what a sharded data-parallel step runs ---- */

static tg_optim *trainer(int which, tg_store *s, tg_error *err);

static void set_elem(tg_tensor *x, int64_t i, double v) {
    if (tg_tensor_dtype(x) == TG_F32)
        ((float *)tg_tensor_data(x))[i] = (float)v;
    else
        ((double *)tg_tensor_data(x))[i] = v;
}

/* A store of three parameters of dtype dt, values and gradients from the seed. */
static tg_store *parts_store(tg_dtype dt, unsigned seed) {
    static const int64_t sizes[] = {40001, 7, 1000};
    tg_store *s = tg_store_new();
    for (int k = 0; k < 3; k++) {
        char name[8];
        snprintf(name, sizeof name, "p%d", k);
        tg_tensor *x = tg_store_param(s, name, dt, TG_SHAPE(sizes[k]));
        for (int64_t i = 0; i < sizes[k]; i++) {
            set_elem(x, i, cos(0.37 * (double)i + k + seed));
            set_elem(tg_tensor_grad(x), i, sin(0.011 * (double)i * (k + 1) + seed));
        }
    }
    return s;
}

static void new_gradients(tg_store *s, int step) {
    for (int k = 0; k < tg_store_n_params(s); k++) {
        tg_tensor *g = tg_tensor_grad(tg_store_get_param(s, k));
        for (int64_t i = 0; i < tg_tensor_numel(g); i++)
            set_elem(g, i, sin(0.013 * (double)i + 0.7 * step + k) * (1 + step));
    }
}

static void assert_same_bits(const tg_store *a, const tg_store *b, int which) {
    ck_assert_int_eq(tg_store_n_tensors(a), tg_store_n_tensors(b));
    for (int i = 0; i < tg_store_n_tensors(a); i++) {
        const tg_tensor *x = tg_store_get_tensor(a, i), *y = tg_store_get_tensor(b, i);
        size_t bytes = (size_t)tg_tensor_numel(x) * tg_dtype_size(tg_tensor_dtype(x));
        ck_assert_msg(memcmp(tg_tensor_data(x), tg_tensor_data(y), bytes) == 0,
                      "optimiser %d: '%s' differs between whole steps and steps over parts",
                      which, tg_tensor_name(x));
    }
}

/* Parts that cover every element once, cut unevenly across chunk (16384) and parameter
 * boundaries and given out of order, give the bits of whole steps, state and step count
 * included, for every optimiser in f32 and f64. */
START_TEST(test_step_parts_match_step) {
    const int which = _i % 6;
    const tg_dtype dt = _i < 6 ? TG_F64 : TG_F32;
    tg_store *whole = parts_store(dt, 3), *cut = parts_store(dt, 3);
    tg_error err = {0};
    tg_optim *ow = trainer(which, whole, &err), *oc = trainer(which, cut, &err);
    ck_assert_msg(ow && oc, "%s", err.message);
    tg_tensor *p0 = tg_store_get_param(cut, 0), *p1 = tg_store_get_param(cut, 1),
              *p2 = tg_store_get_param(cut, 2);
    const tg_optim_part parts[] = {{p2, 500, 500}, {p0, 20000, 20001}, {p1, 0, 7},
                                   {p0, 0, 3},     {p2, 0, 500},       {p0, 3, 19997}};
    for (int step = 0; step < 3; step++) {
        new_gradients(whole, step);
        new_gradients(cut, step);
        ck_assert_int_eq(tg_optim_step(ow, &err), TG_OK);
        ck_assert_msg(tg_optim_step_parts(oc, 6, parts, &err) == TG_OK, "%s", err.message);
    }
    ck_assert_int_eq(tg_optim_steps(oc), 3);
    assert_same_bits(whole, cut, which);
    tg_optim_free(ow);
    tg_optim_free(oc);
    tg_store_free(whole);
    tg_store_free(cut);
}
END_TEST

/* Elements outside the parts and their state stay as they were; bad parts are refused with
 * nothing changed; the state accessors name the store's buffers. */
START_TEST(test_step_parts_touch_only_parts) {
    tg_store *s = parts_store(TG_F64, 5), *before = parts_store(TG_F64, 5);
    tg_error err = {0};
    tg_optim *o = trainer(4, s, &err), *ob = trainer(4, before, &err); /* Adam: 2 states */
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(tg_optim_n_state(o), 2);
    ck_assert_ptr_eq(tg_optim_state(o, 1, 1), tg_store_find(s, "optim.exp_avg_sq/p1"));
    ck_assert_ptr_null(tg_optim_state(o, 3, 0));
    ck_assert_ptr_null(tg_optim_state(o, 0, 2));
    ck_assert_int_eq(tg_optim_n_state(NULL), 0);
    tg_tensor *p0 = tg_store_get_param(s, 0);
    const tg_optim_part half = {p0, 100, 900};
    ck_assert_int_eq(tg_optim_step_parts(o, 1, &half, &err), TG_OK);
    const double *a = tg_tensor_data(p0), *b = tg_tensor_data(tg_store_get_param(before, 0));
    const double *m = tg_tensor_data(tg_optim_state(o, 0, 0));
    for (int64_t i = 0; i < tg_tensor_numel(p0); i++) {
        bool inside = i >= 100 && i < 1000;
        ck_assert_msg((a[i] != b[i]) == inside, "p0[%lld] %s", (long long)i,
                      inside ? "not updated" : "updated outside the part");
        ck_assert_msg((m[i] != 0) == inside, "exp_avg[%lld] wrong", (long long)i);
    }
    /* refusals: another store's parameter, outside the parameter, NULL */
    int64_t steps = tg_optim_steps(o);
    const tg_optim_part foreign = {tg_store_get_param(before, 0), 0, 1};
    ck_assert_int_eq(tg_optim_step_parts(o, 1, &foreign, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.message, "does not cover"), "%s", err.message);
    const tg_optim_part beyond[] = {{p0, 0, 5}, {p0, 40000, 2}};
    ck_assert_int_eq(tg_optim_step_parts(o, 2, beyond, &err), TG_ERR_ARG);
    ck_assert_msg(strstr(err.message, "outside"), "%s", err.message);
    ck_assert_double_eq(a[0], b[0]); /* the good first part was not applied either */
    ck_assert_int_eq(tg_optim_step_parts(o, 1, NULL, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_optim_step_parts(NULL, 0, NULL, &err), TG_ERR_NULL);
    ck_assert_int_eq(tg_optim_steps(o), steps);
    /* skip_nonfinite scans the parts only */
    tg_optim_set_skip_nonfinite(o, true);
    set_elem(tg_tensor_grad(p0), 5, NAN);
    const tg_optim_part clean = {p0, 6, 10}, dirty = {p0, 0, 10};
    ck_assert_int_eq(tg_optim_step_parts(o, 1, &clean, &err), TG_OK);
    ck_assert_int_eq(tg_optim_step_parts(o, 1, &dirty, &err), TG_ERR_NONFINITE);
    ck_assert_int_eq(tg_optim_n_refused(o), 1);
    tg_optim_free(o);
    tg_optim_free(ob);
    tg_store_free(s);
    tg_store_free(before);
}
END_TEST

/* ---- training: fit y = X (1, -2, 0.5) + 0.3 on 16 points from w = 0, b = 0 (loss 3.1) ---- */

static tg_optim *trainer(int which, tg_store *s, tg_error *err) {
    switch (which) {
    case 0: {
        tg_sgd_options o = tg_sgd_defaults(0.1);
        o.momentum = 0.9;
        return tg_optim_sgd(s, &o, err);
    }
    case 1: {
        tg_sgd_options o = tg_sgd_defaults(0.1);
        o.momentum = 0.9;
        o.nesterov = true;
        return tg_optim_sgd(s, &o, err);
    }
    case 2: {
        tg_adagrad_options o = tg_adagrad_defaults(0.5);
        return tg_optim_adagrad(s, &o, err);
    }
    case 3: {
        tg_rmsprop_options o = tg_rmsprop_defaults(0.01);
        return tg_optim_rmsprop(s, &o, err);
    }
    case 4: {
        tg_adam_options o = tg_adam_defaults(0.05);
        return tg_optim_adam(s, &o, err);
    }
    default: {
        tg_adam_options o = tg_adamw_defaults(0.05);
        o.weight_decay = 0; /* decay would pull the exact solution away from zero loss */
        o.amsgrad = true;
        return tg_optim_adamw(s, &o, err);
    }
    }
}

START_TEST(test_least_squares) {
    double xs[48], ys[16];
    for (int i = 0; i < 16; i++) {
        xs[3 * i] = sin(i);
        xs[3 * i + 1] = cos(1.3 * i);
        xs[3 * i + 2] = (i - 7.5) / 8;
        ys[i] = xs[3 * i] - 2 * xs[3 * i + 1] + 0.5 * xs[3 * i + 2] + 0.3;
    }
    tg_store *s = small_store(TG_F64);
    tg_tensor *w = tg_store_find(s, "w"), *b = tg_store_find(s, "b");
    tg_error err = {0};
    tg_optim *o = trainer(_i, s, &err);
    ck_assert_msg(o != NULL, "%s", err.message);
    tg_tape *t = tg_tape_new();
    double first = 0, last = 0;
    for (int step = 0; step <= 400; step++) {
        tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(16, 3), xs);
        tg_tensor *y = tg_from_data(t, TG_F64, TG_SHAPE(16, 1), ys);
        tg_tensor *e = tg_sub(t, tg_add(t, tg_matmul(t, x, w), b), y);
        tg_tensor *loss = tg_mean_all(t, tg_mul(t, e, e));
        ck_assert_msg(loss != NULL, "%s", tg_tape_error(t));
        last = tg_tensor_item(loss);
        if (step == 0) first = last;
        if (step == 400) break;
        tg_store_zero_grad(s);
        ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);
        ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
        tg_tape_reset(t);
    }
    ck_assert_msg(first > 3 && last < 1e-6, "optimiser %d: loss %g -> %g, want < 1e-6", _i, first,
                  last);
    const double want[] = {1, -2, 0.5};
    for (int i = 0; i < 3; i++) ck_assert_double_eq_tol(tg_tensor_get(w, i), want[i], 1e-2);
    ck_assert_double_eq_tol(tg_tensor_get(b, 0), 0.3, 1e-2);
    tg_tape_free(t);
    tg_optim_free(o);
    tg_store_free(s);
}
END_TEST

int main(void) {
    Suite *s = suite_create("optim_api");
    TCase *tc = tcase_create("api");
    tcase_add_test(tc, test_null_arguments);
    tcase_add_loop_test(tc, test_bad_options, 0, (int)(sizeof bad_options / sizeof bad_options[0]));
    tcase_add_test(tc, test_state_names);
    tcase_add_test(tc, test_name_too_long);
    tcase_add_test(tc, test_second_optimiser_needs_its_own_prefix);
    tcase_add_test(tc, test_params_filter);
    tcase_add_test(tc, test_empty_store);
    tcase_add_test(tc, test_learning_rate);
    tcase_add_test(tc, test_out_of_memory);
    tcase_add_test(tc, test_zero_size_parameter);
    tcase_add_test(tc, test_large_parameters_in_chunks);
    tcase_add_loop_test(tc, test_step_parts_match_step, 0, 12);
    tcase_add_test(tc, test_step_parts_touch_only_parts);
    suite_add_tcase(s, tc);
    TCase *train = tcase_create("train");
    tcase_set_timeout(train, 60);
    tcase_add_loop_test(train, test_least_squares, 0, 6);
    suite_add_tcase(s, train);
    return tg_test_run(s);
}

/* test_nn_errors.c: what a user can get wrong with layers, and what they are told.
 *
 * Every init refuses a NULL store, layer, name or rng, bad sizes and dtypes, names already in
 * the store and names too long, with a message naming the layer; a failed init leaves the layer
 * zeroed and the store as it was. Every forward refuses the wrong input shape or dtype, an
 * uninitialised layer and a NULL layer with a message naming the layer, the shapes and the
 * caller's line, keeps the first error when inputs are NULL after an earlier failure, and none
 * of it crashes (the suite also runs under AddressSanitizer and UBSan). */
#include <string.h>

#include "nn_fixture.h"

typedef struct env {
    tg_store *s;
    tg_tape *t;
    tg_rng rng;
    tg_error err;
} env;

static void env_open(env *e) {
    e->s = tg_store_new();
    e->t = tg_tape_new();
    tg_rng_seed(&e->rng, 1);
    memset(&e->err, 0, sizeof e->err);
}

static void env_close(env *e) {
    tg_tape_free(e->t);
    tg_store_free(e->s);
}

/* Asserts that status is `want` and the error message contains `text`. */
#define FAILS_WITH(call, want, e, text)                                                            \
    do {                                                                                           \
        memset(&(e).err, 0, sizeof(e).err);                                                        \
        tg_status st_ = (call);                                                                    \
        ck_assert_msg(st_ == (want), "%s returned %s, want %s", #call, tg_status_string(st_),      \
                      tg_status_string(want));                                                     \
        ck_assert_int_eq((e).err.status, (want));                                                  \
        ck_assert_msg(strstr((e).err.message, text) != NULL, "%s: message '%s' lacks '%s'", #call, \
                      (e).err.message, text);                                                      \
    } while (0)

/* Asserts that the tape holds error `want` whose message contains `text`, then clears it. */
#define TAPE_FAILED(e, want, text)                                                                 \
    do {                                                                                           \
        ck_assert_msg(tg_tape_status((e).t) == (want), "tape status %s, want %s: %s",              \
                      tg_status_string(tg_tape_status((e).t)), tg_status_string(want),             \
                      tg_tape_error((e).t));                                                       \
        ck_assert_msg(strstr(tg_tape_error((e).t), text) != NULL, "message '%s' lacks '%s'",       \
                      tg_tape_error((e).t), text);                                                 \
        tg_tape_clear_error((e).t);                                                                \
    } while (0)

static bool all_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return false;
    return true;
}

START_TEST(init_refuses_bad_arguments) {
    env e;
    env_open(&e);
    tg_linear l;
    memset(&l, 0xAB, sizeof l);
    FAILS_WITH(tg_linear_init(&l, NULL, "fc", 3, 2, true, TG_F64, &e.rng, &e.err), TG_ERR_NULL, e,
               "linear 'fc': the store is NULL");
    ck_assert(all_zero(&l, sizeof l));
    FAILS_WITH(tg_linear_init(NULL, e.s, "fc", 3, 2, true, TG_F64, &e.rng, &e.err), TG_ERR_NULL, e,
               "the layer is NULL");
    FAILS_WITH(tg_linear_init(&l, e.s, NULL, 3, 2, true, TG_F64, &e.rng, &e.err), TG_ERR_NULL, e,
               "the name is NULL");
    FAILS_WITH(tg_linear_init(&l, e.s, "fc", 3, 2, true, TG_F64, NULL, &e.err), TG_ERR_NULL, e,
               "the rng is NULL");
    FAILS_WITH(tg_linear_init(&l, e.s, "fc", 0, 2, true, TG_F64, &e.rng, &e.err), TG_ERR_ARG, e,
               "in must be positive, got 0");
    FAILS_WITH(tg_linear_init(&l, e.s, "fc", 3, -4, true, TG_F64, &e.rng, &e.err), TG_ERR_ARG, e,
               "out must be positive, got -4");
    FAILS_WITH(tg_linear_init(&l, e.s, "fc", 3, 2, true, (tg_dtype)7, &e.rng, &e.err), TG_ERR_DTYPE,
               e, "dtype 7");
    char long_name[80];
    memset(long_name, 'n', 60);
    long_name[60] = 0;
    FAILS_WITH(tg_linear_init(&l, e.s, long_name, 3, 2, true, TG_F64, &e.rng, &e.err), TG_ERR_ARG,
               e, "longer than 63 bytes");
    ck_assert_int_eq(tg_store_n_params(e.s), 0); /* nothing was made by the failures */

    FAILS_WITH(tg_conv2d_init(&(tg_conv2d){0}, e.s, "c", 6, 4, 3, 3,
                              &(tg_conv2d_params){.groups = 4}, true, TG_F32, &e.rng, &e.err),
               TG_ERR_ARG, e, "divide by groups 4");
    FAILS_WITH(
        tg_conv2d_init(&(tg_conv2d){0}, e.s, "c", 6, 4, 0, 3, NULL, true, TG_F32, &e.rng, &e.err),
        TG_ERR_ARG, e, "kernel_h must be positive");
    FAILS_WITH(tg_conv2d_init(&(tg_conv2d){0}, e.s, "c", 6, 4, 3, 3,
                              &(tg_conv2d_params){.padding = {-1, 0}}, true, TG_F32, &e.rng,
                              &e.err),
               TG_ERR_ARG, e, "must be >= 0");
    FAILS_WITH(tg_pool2d_init(&(tg_pool2d){0}, TG_POOL_MAX, NULL, &e.err), TG_ERR_NULL, e,
               "kernel is required");
    FAILS_WITH(tg_pool2d_init(&(tg_pool2d){0}, TG_POOL_MAX,
                              &(tg_pool2d_params){.kernel = {2, 2}, .padding = {2, 0}}, &e.err),
               TG_ERR_ARG, e, "at most half the kernel");
    FAILS_WITH(tg_pool2d_init(&(tg_pool2d){0}, TG_POOL_AVG,
                              &(tg_pool2d_params){.kernel = {2, 2}, .dilation = {2, 2}}, &e.err),
               TG_ERR_ARG, e, "dilation 2");
    FAILS_WITH(tg_pool2d_init(&(tg_pool2d){0}, (tg_pool_kind)3,
                              &(tg_pool2d_params){.kernel = {2, 2}}, &e.err),
               TG_ERR_ARG, e, "kind 3");
    FAILS_WITH(tg_embedding_init(&(tg_embedding){0}, e.s, "emb", 10, 0, TG_F32, &e.rng, &e.err),
               TG_ERR_ARG, e, "dim must be positive");
    FAILS_WITH(tg_dropout_init(&(tg_dropout){0}, 1.0, 1, &e.err), TG_ERR_ARG, e, "outside [0, 1)");
    FAILS_WITH(tg_dropout_init(&(tg_dropout){0}, NAN, 1, &e.err), TG_ERR_ARG, e, "outside [0, 1)");
    FAILS_WITH(
        tg_batchnorm1d_init(&(tg_batchnorm){0}, e.s, "bn", 4, 1.5, 1e-5, true, TG_F32, &e.err),
        TG_ERR_ARG, e, "momentum 1.5");
    FAILS_WITH(
        tg_batchnorm2d_init(&(tg_batchnorm){0}, e.s, "bn", 4, 0.1, 0.0, true, TG_F32, &e.err),
        TG_ERR_ARG, e, "eps must be positive");
    FAILS_WITH(
        tg_layernorm_init(&(tg_layernorm){0}, e.s, "ln", 0, NULL, 1e-5, true, TG_F32, &e.err),
        TG_ERR_ARG, e, "1 to 8 sizes, got 0");
    FAILS_WITH(tg_layernorm_init(&(tg_layernorm){0}, e.s, "ln", TG_SHAPE(4, 0), 1e-5, true, TG_F32,
                                 &e.err),
               TG_ERR_ARG, e, "each size must be positive");
    FAILS_WITH(
        tg_lstm_cell_init(&(tg_lstm_cell){0}, e.s, "lstm", 3, 0, true, TG_F32, &e.rng, &e.err),
        TG_ERR_ARG, e, "lstm_cell 'lstm': hidden_size");
    FAILS_WITH(tg_gru_cell_init(NULL, e.s, "gru", 3, 2, true, TG_F32, &e.rng, &e.err), TG_ERR_NULL,
               e, "gru_cell 'gru': the layer is NULL");
    ck_assert_int_eq(tg_store_n_params(e.s), 0);
    ck_assert_ptr_null(tg_store_find(e.s, "bn.running_mean"));
    /* err may be NULL: the status still says what went wrong. */
    ck_assert_int_eq(
        tg_rnn_cell_init(&(tg_rnn_cell){0}, NULL, "r", 1, 1, true, TG_F64, &e.rng, NULL),
        TG_ERR_NULL);
    env_close(&e);
}
END_TEST

START_TEST(duplicate_names_are_refused_whole) {
    env e;
    env_open(&e);
    tg_linear a, b;
    ck_assert_int_eq(tg_linear_init(&a, e.s, "fc", 3, 2, true, TG_F64, &e.rng, &e.err), TG_OK);
    FAILS_WITH(tg_linear_init(&b, e.s, "fc", 5, 5, true, TG_F64, &e.rng, &e.err), TG_ERR_ARG, e,
               "already holds a tensor named 'fc.weight'");
    /* A BatchNorm whose second buffer clashes makes none of its tensors. */
    tg_tensor *clash = tg_store_buffer(e.s, "bn.running_var", TG_F64, TG_SHAPE(4));
    ck_assert_ptr_nonnull(clash);
    FAILS_WITH(
        tg_batchnorm1d_init(&(tg_batchnorm){0}, e.s, "bn", 4, 0.1, 1e-5, true, TG_F64, &e.err),
        TG_ERR_ARG, e, "'bn.running_var'");
    ck_assert_ptr_null(tg_store_find(e.s, "bn.weight"));
    ck_assert_ptr_null(tg_store_find(e.s, "bn.running_mean"));
    ck_assert_int_eq(tg_store_n_params(e.s), 2);
    ck_assert_ptr_eq(tg_store_get_param(e.s, 0), a.weight);
    /* The first layer still works. */
    tg_tensor *y = tg_linear_forward(e.t, &a, tg_ones(e.t, TG_F64, TG_SHAPE(4, 3)));
    ck_assert_ptr_nonnull(y);
    /* An empty name gives the bare keys, which must be new too. */
    tg_linear bare;
    ck_assert_int_eq(tg_linear_init(&bare, e.s, "", 2, 2, false, TG_F64, &e.rng, NULL), TG_OK);
    ck_assert_str_eq(tg_tensor_name(bare.weight), "weight");
    FAILS_WITH(tg_embedding_init(&(tg_embedding){0}, e.s, "", 2, 2, TG_F64, &e.rng, &e.err),
               TG_ERR_ARG, e, "named 'weight'");
    env_close(&e);
}
END_TEST

START_TEST(forward_refuses_wrong_inputs) {
    env e;
    env_open(&e);
    tg_linear fc;
    tg_conv2d conv;
    tg_batchnorm bn1, bn2;
    tg_layernorm ln;
    tg_embedding emb;
    ck_assert_int_eq(tg_linear_init(&fc, e.s, "fc1", 4, 3, true, TG_F64, &e.rng, NULL), TG_OK);
    ck_assert_int_eq(
        tg_conv2d_init(&conv, e.s, "conv1", 3, 8, 3, 3, NULL, true, TG_F64, &e.rng, NULL), TG_OK);
    ck_assert_int_eq(tg_batchnorm1d_init(&bn1, e.s, "bn1", 5, 0.1, 1e-5, true, TG_F64, NULL),
                     TG_OK);
    ck_assert_int_eq(tg_batchnorm2d_init(&bn2, e.s, "bn2", 5, 0.1, 1e-5, true, TG_F64, NULL),
                     TG_OK);
    ck_assert_int_eq(tg_layernorm_init(&ln, e.s, "ln", TG_SHAPE(4, 5), 1e-5, true, TG_F64, NULL),
                     TG_OK);
    ck_assert_int_eq(tg_embedding_init(&emb, e.s, "emb", 10, 4, TG_F64, &e.rng, NULL), TG_OK);

    ck_assert_ptr_null(tg_linear_forward(e.t, &fc, tg_ones(e.t, TG_F64, TG_SHAPE(2, 5))));
    TAPE_FAILED(e, TG_ERR_SHAPE, "linear 'fc1' (4 -> 3): x (2, 5) must end in 4 features");
    int bad_line = __LINE__ + 1;
    ck_assert_ptr_null(tg_conv2d_forward(e.t, &conv, tg_ones(e.t, TG_F64, TG_SHAPE(2, 4, 8, 8))));
    char site[64];
    snprintf(site, sizeof site, "test_nn_errors.c:%d]", bad_line);
    ck_assert_msg(strstr(tg_tape_error(e.t), site) != NULL, "'%s' does not name %s",
                  tg_tape_error(e.t), site);
    TAPE_FAILED(e, TG_ERR_SHAPE,
                "conv2d 'conv1' (3 -> 8 channels): x must be (N, 3, H, W), got "
                "(2, 4, 8, 8)");
    ck_assert_ptr_null(tg_conv2d_forward(e.t, &conv, tg_ones(e.t, TG_F64, TG_SHAPE(3, 8, 8))));
    TAPE_FAILED(e, TG_ERR_SHAPE, "got (3, 8, 8)");
    ck_assert_ptr_null(
        tg_batchnorm_forward(e.t, &bn1, tg_ones(e.t, TG_F64, TG_SHAPE(2, 5, 3, 3)), true));
    TAPE_FAILED(e, TG_ERR_SHAPE, "batchnorm1d 'bn1': x must be (N, C) or (N, C, L) with C = 5");
    ck_assert_ptr_null(
        tg_batchnorm_forward(e.t, &bn2, tg_ones(e.t, TG_F64, TG_SHAPE(2, 4, 3, 3)), false));
    TAPE_FAILED(e, TG_ERR_SHAPE, "batchnorm2d 'bn2': x must be (N, C, H, W) with C = 5");
    /* One value per channel cannot be normalised in training (PyTorch refuses it too). */
    ck_assert_ptr_null(tg_batchnorm_forward(e.t, &bn1, tg_ones(e.t, TG_F64, TG_SHAPE(1, 5)), true));
    TAPE_FAILED(e, TG_ERR_SHAPE, "more than one value per channel");
    ck_assert_ptr_null(tg_layernorm_forward(e.t, &ln, tg_ones(e.t, TG_F64, TG_SHAPE(3, 5, 4))));
    TAPE_FAILED(e, TG_ERR_SHAPE, "x (3, 5, 4) must end in the normalised shape (4, 5)");
    /* A dtype the layer was not made in is named. */
    ck_assert_ptr_null(tg_linear_forward(e.t, &fc, tg_ones(e.t, TG_F32, TG_SHAPE(2, 4))));
    TAPE_FAILED(e, TG_ERR_DTYPE, "f32");
    const int64_t ids[] = {1, 10, 2};
    ck_assert_ptr_null(tg_embedding_forward(e.t, &emb, TG_SHAPE(3), ids));
    TAPE_FAILED(e, TG_ERR_ARG, "embedding");
    ck_assert_ptr_null(tg_embedding_forward(e.t, &emb, 1, NULL, ids));
    TAPE_FAILED(e, TG_ERR_ARG, "embedding 'emb': the ids' shape is missing");
    ck_assert_ptr_null(tg_flatten(e.t, tg_ones(e.t, TG_F64, TG_SHAPE(2, 3)), 0, 5));
    TAPE_FAILED(e, TG_ERR_AXIS, "flatten");
    env_close(&e);
}
END_TEST

START_TEST(recurrent_refuses_wrong_inputs) {
    env e;
    env_open(&e);
    tg_rnn_cell rnn;
    tg_lstm_cell lstm;
    tg_gru_cell gru;
    ck_assert_int_eq(tg_rnn_cell_init(&rnn, e.s, "rnn", 3, 4, true, TG_F64, &e.rng, NULL), TG_OK);
    ck_assert_int_eq(tg_lstm_cell_init(&lstm, e.s, "lstm", 3, 4, true, TG_F64, &e.rng, NULL),
                     TG_OK);
    ck_assert_int_eq(tg_gru_cell_init(&gru, e.s, "gru", 3, 4, false, TG_F64, &e.rng, NULL), TG_OK);
    tg_tensor *seq = tg_ones(e.t, TG_F64, TG_SHAPE(5, 2, 3));
    tg_tensor *hn = (tg_tensor *)&e; /* must be overwritten with NULL on failure */
    ck_assert_ptr_null(
        tg_rnn_cell_unroll(e.t, &rnn, tg_ones(e.t, TG_F64, TG_SHAPE(5, 2, 4)), NULL, &hn));
    ck_assert_ptr_null(hn);
    TAPE_FAILED(e, TG_ERR_SHAPE,
                "rnn_cell 'rnn' (input 3, hidden 4): x must be f64 (T, B, I), "
                "T >= 1, with I = 3, got f64 (5, 2, 4)");
    ck_assert_ptr_null(
        tg_gru_cell_unroll(e.t, &gru, tg_ones(e.t, TG_F64, TG_SHAPE(0, 2, 3)), NULL, NULL));
    TAPE_FAILED(e, TG_ERR_SHAPE, "got f64 (0, 2, 3)");
    ck_assert_ptr_null(
        tg_gru_cell_unroll(e.t, &gru, seq, tg_ones(e.t, TG_F64, TG_SHAPE(3, 4)), NULL));
    TAPE_FAILED(e, TG_ERR_SHAPE, "gru_cell 'gru': the state h0 must be f64 (2, 4), got f64 (3, 4)");
    tg_tensor *cn = NULL;
    ck_assert_ptr_null(tg_lstm_cell_unroll(e.t, &lstm, seq, NULL,
                                           tg_ones(e.t, TG_F32, TG_SHAPE(2, 4)), NULL, &cn));
    TAPE_FAILED(e, TG_ERR_DTYPE, "the state c0 must be f64 (2, 4), got f32 (2, 4)");
    ck_assert_ptr_null(
        tg_lstm_cell_step(e.t, &lstm, tg_ones(e.t, TG_F64, TG_SHAPE(2, 3)), NULL, NULL, NULL));
    TAPE_FAILED(e, TG_ERR_NULL, "c_out is NULL");
    ck_assert_ptr_null(tg_rnn_cell_step(e.t, &rnn, seq, NULL));
    TAPE_FAILED(e, TG_ERR_SHAPE, "x must be f64 (B, I)");
    ck_assert_ptr_null(tg_rnn_cell_step(e.t, &rnn, tg_ones(e.t, TG_F32, TG_SHAPE(2, 3)), NULL));
    TAPE_FAILED(e, TG_ERR_DTYPE, "got f32 (2, 3)");
    /* The same cell works once given the right shapes. */
    tg_tensor *out = tg_lstm_cell_unroll(e.t, &lstm, seq, NULL, NULL, &hn, &cn);
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(hn);
    ck_assert_ptr_nonnull(cn);
    env_close(&e);
}
END_TEST

START_TEST(uninitialised_and_null_layers) {
    env e;
    env_open(&e);
    tg_tensor *x = tg_ones(e.t, TG_F64, TG_SHAPE(2, 3));
    tg_linear zero = {0};
    ck_assert_ptr_null(tg_linear_forward(e.t, &zero, x));
    TAPE_FAILED(e, TG_ERR_ARG, "linear: the layer is not initialised");
    ck_assert_ptr_null(tg_linear_forward(e.t, NULL, x));
    TAPE_FAILED(e, TG_ERR_NULL, "linear: the layer is NULL");
    /* A layer whose init failed is zeroed, so it is refused in the same way. */
    tg_lstm_cell failed;
    ck_assert_int_ne(tg_lstm_cell_init(&failed, e.s, "l", 0, 2, true, TG_F64, &e.rng, NULL), TG_OK);
    ck_assert_ptr_null(tg_lstm_cell_unroll(e.t, &failed, tg_ones(e.t, TG_F64, TG_SHAPE(2, 1, 1)),
                                           NULL, NULL, NULL, NULL));
    TAPE_FAILED(e, TG_ERR_ARG, "lstm_cell: the layer is not initialised");
    ck_assert_ptr_null(tg_conv2d_forward(e.t, &(tg_conv2d){0}, x));
    TAPE_FAILED(e, TG_ERR_ARG, "conv2d");
    ck_assert_ptr_null(tg_batchnorm_forward(e.t, &(tg_batchnorm){0}, x, true));
    TAPE_FAILED(e, TG_ERR_ARG, "batchnorm");
    ck_assert_ptr_null(tg_layernorm_forward(e.t, &(tg_layernorm){0}, x));
    TAPE_FAILED(e, TG_ERR_ARG, "layernorm");
    ck_assert_ptr_null(tg_pool2d_forward(e.t, &(tg_pool2d){0}, x));
    TAPE_FAILED(e, TG_ERR_ARG, "pool2d");
    ck_assert_ptr_null(tg_embedding_forward(e.t, &(tg_embedding){0}, TG_SHAPE(1), (int64_t[]){0}));
    TAPE_FAILED(e, TG_ERR_ARG, "embedding");
    ck_assert_ptr_null(tg_dropout_forward(e.t, NULL, x, true));
    TAPE_FAILED(e, TG_ERR_NULL, "dropout");
    ck_assert_ptr_null(tg_gru_cell_step(e.t, NULL, x, NULL));
    TAPE_FAILED(e, TG_ERR_NULL, "gru_cell: the layer is NULL");
    /* No tape: nothing to report on, and no crash. */
    tg_linear fc;
    ck_assert_int_eq(tg_linear_init(&fc, e.s, "fc", 3, 2, true, TG_F64, &e.rng, NULL), TG_OK);
    ck_assert_ptr_null(tg_linear_forward(NULL, &fc, x));
    env_close(&e);
}
END_TEST

/* After a failure, the NULL it returned flows through later layers without replacing the first
 * error, and a NULL initial state is not mistaken for zeros. */
START_TEST(first_error_is_kept) {
    env e;
    env_open(&e);
    tg_linear fc;
    tg_gru_cell gru;
    tg_batchnorm bn;
    ck_assert_int_eq(tg_linear_init(&fc, e.s, "fc", 3, 3, true, TG_F64, &e.rng, NULL), TG_OK);
    ck_assert_int_eq(tg_gru_cell_init(&gru, e.s, "gru", 3, 3, true, TG_F64, &e.rng, NULL), TG_OK);
    ck_assert_int_eq(tg_batchnorm1d_init(&bn, e.s, "bn", 3, 0.1, 1e-5, true, TG_F64, NULL), TG_OK);
    tg_tensor *bad = tg_reshape(e.t, tg_ones(e.t, TG_F64, TG_SHAPE(2, 3)), TG_SHAPE(4, 2));
    ck_assert_ptr_null(bad);
    char first[512];
    snprintf(first, sizeof first, "%s", tg_tape_error(e.t));
    tg_tensor *h = tg_linear_forward(e.t, &fc, bad);
    h = tg_batchnorm_forward(e.t, &bn, h, true);
    tg_tensor *hn = NULL;
    tg_tensor *out = tg_gru_cell_step(e.t, &gru, tg_ones(e.t, TG_F64, TG_SHAPE(2, 3)), h);
    ck_assert_ptr_null(out);
    ck_assert_ptr_null(tg_gru_cell_unroll(e.t, &gru, NULL, NULL, &hn));
    ck_assert_str_eq(tg_tape_error(e.t), first);
    ck_assert_ptr_nonnull(strstr(first, "reshape"));
    /* Running means stay untouched by the failed chain. */
    for (int64_t i = 0; i < 3; i++) ck_assert_double_eq(tg_tensor_get(bn.running_mean, i), 0.0);
    env_close(&e);
}
END_TEST

/* Failing allocations part-way through an init or an unroll are reported, never a crash. */
typedef struct countdown {
    int left;
} countdown;

static void *failing_malloc(size_t size, void *user) {
    countdown *c = user;
    if (c->left-- <= 0) return NULL;
    return malloc(size);
}

static void plain_free(void *p, void *user) {
    (void)user;
    free(p);
}

START_TEST(out_of_memory_is_reported) {
    /* The whole sequence needs under a dozen allocations (arenas grow in chunks): every budget
     * below that fails somewhere, and the last one must let everything through. */
    const int budgets = 16;
    for (int budget = 0; budget < budgets; budget++) {
        countdown c = {budget};
        tg_allocator a = {failing_malloc, plain_free, &c};
        tg_set_allocator(&a);
        tg_store *s = tg_store_new();
        tg_tape *t = tg_tape_new();
        tg_rng rng;
        tg_rng_seed(&rng, 1);
        tg_lstm_cell cell;
        tg_error err = {0};
        bool all_ok = false;
        tg_status st = tg_lstm_cell_init(&cell, s, "l", 3, 4, true, TG_F64, &rng, &err);
        if (st != TG_OK) {
            ck_assert(st == TG_ERR_NOMEM || (st == TG_ERR_NULL && !s));
            ck_assert_int_eq(err.status, st);
        } else if (t) {
            tg_tensor *x = tg_ones(t, TG_F64, TG_SHAPE(6, 2, 3));
            tg_tensor *out = tg_lstm_cell_unroll(t, &cell, x, NULL, NULL, NULL, NULL);
            if (!out) ck_assert_int_eq(tg_tape_status(t), TG_ERR_NOMEM);
            tg_tensor *w = tg_store_param(s, "q", TG_F64, TG_SHAPE(40, 40));
            tg_status ost = w ? tg_init_orthogonal(w, &rng, 1.0, &err) : TG_ERR_NOMEM;
            if (ost != TG_OK) ck_assert_int_eq(ost, TG_ERR_NOMEM);
            all_ok = out && ost == TG_OK;
        }
        tg_tape_free(t);
        tg_store_free(s);
        tg_set_allocator(NULL);
        if (budget == budgets - 1) ck_assert_msg(all_ok, "%d allocations were not enough", budget);
    }
}
END_TEST

/* A hidden size of INT64_MAX / 2: 4 H gate rows overflowed (UBSan) before the store saw the
 * shape. Refused whole for every cell kind, naming the size; the store keeps nothing. */
START_TEST(recurrent_hidden_size_overflow) {
    env e;
    env_open(&e);
    const int64_t h = INT64_MAX / 2;
    FAILS_WITH(tg_lstm_cell_init(&(tg_lstm_cell){0}, e.s, "lstm", 3, h, true, TG_F32, &e.rng,
                                 &e.err),
               TG_ERR_SHAPE, e, "hidden_size");
    FAILS_WITH(tg_gru_cell_init(&(tg_gru_cell){0}, e.s, "gru", 3, h, true, TG_F32, &e.rng, &e.err),
               TG_ERR_SHAPE, e, "hidden_size");
    /* One gate: the rows fit in 64 bits, the (H, H) weight does not fit 2^40 elements. */
    FAILS_WITH(tg_rnn_cell_init(&(tg_rnn_cell){0}, e.s, "rnn", 3, h, true, TG_F32, &e.rng, &e.err),
               TG_ERR_SHAPE, e, "2^40");
    ck_assert_int_eq(tg_store_n_tensors(e.s), 0);
    env_close(&e);
}
END_TEST

/* Layers read their input's shape before any op sees it: a tensor kept over tg_tape_reset is
 * refused there (TG_ERR_STALE naming the layer), as the ops refuse it, and so is a stale
 * recurrent state. A fresh input right after works. */
START_TEST(stale_inputs_are_refused) {
    env e;
    env_open(&e);
    tg_linear l;
    tg_rnn_cell r;
    ck_assert_int_eq(tg_linear_init(&l, e.s, "fc", 4, 3, true, TG_F64, &e.rng, NULL), TG_OK);
    ck_assert_int_eq(tg_rnn_cell_init(&r, e.s, "rnn", 4, 5, true, TG_F64, &e.rng, NULL), TG_OK);
    tg_tensor *old_x = tg_ones(e.t, TG_F64, TG_SHAPE(2, 4));
    tg_tensor *old_h = tg_zeros(e.t, TG_F64, TG_SHAPE(2, 5));
    tg_tape_reset(e.t);
    tg_tensor *x = tg_ones(e.t, TG_F64, TG_SHAPE(2, 4));
    tg_tensor *h = tg_zeros(e.t, TG_F64, TG_SHAPE(2, 5));
    ck_assert_ptr_null(tg_linear_forward(e.t, &l, old_x));
    TAPE_FAILED(e, TG_ERR_STALE, "linear: the input is a stale tensor");
    ck_assert_ptr_null(tg_flatten(e.t, old_x, 0, -1));
    TAPE_FAILED(e, TG_ERR_STALE, "flatten");
    ck_assert_ptr_null(tg_rnn_cell_step(e.t, &r, old_x, h));
    TAPE_FAILED(e, TG_ERR_STALE, "rnn_cell: the input is a stale tensor");
    ck_assert_ptr_null(tg_rnn_cell_step(e.t, &r, x, old_h));
    TAPE_FAILED(e, TG_ERR_STALE, "rnn_cell: h is a stale tensor");
    ck_assert_ptr_nonnull(tg_linear_forward(e.t, &l, x));
    ck_assert_ptr_nonnull(tg_rnn_cell_step(e.t, &r, x, h));
    ck_assert_int_eq(tg_tape_status(e.t), TG_OK);
    env_close(&e);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_errors");
    TCase *tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, init_refuses_bad_arguments);
    tcase_add_test(tc, duplicate_names_are_refused_whole);
    tcase_add_test(tc, forward_refuses_wrong_inputs);
    tcase_add_test(tc, recurrent_refuses_wrong_inputs);
    tcase_add_test(tc, recurrent_hidden_size_overflow);
    tcase_add_test(tc, stale_inputs_are_refused);
    tcase_add_test(tc, uninitialised_and_null_layers);
    tcase_add_test(tc, first_error_is_kept);
    tcase_add_test(tc, out_of_memory_is_reported);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(suite()); }

/* test_nn_attention.c: causal attention, multi-head attention and the pre-norm transformer block
 * against PyTorch (fixtures from tools/make_fixtures_nn.py attention): outputs and every
 * gradient to 1e-10 in f64 and 1e-4 relative in f32, the fused op at every CPU level and thread
 * count, the parameters' names and starting values, and the errors a user can provoke. */
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
    tg_rng_seed(&e->rng, 7);
    memset(&e->err, 0, sizeof e->err);
}

static void env_close(env *e) {
    tg_tape_free(e->t);
    tg_store_free(e->s);
}

#define OK(call, e) ck_assert_msg((call) == TG_OK, "%s: %s", #call, (e).err.message)

/* The fused op (fused = true) or tg_attention with tg_causal_mask, against the fixture. */
static void check_causal(tg_dtype dt, bool fused) {
    fixture f;
    NN_LOAD(f, "nn_causal_attention");
    env e;
    env_open(&e);
    tg_tensor *q = nn_input(&f, e.t, "q", dt, true), *k = nn_input(&f, e.t, "k", dt, true),
              *v = nn_input(&f, e.t, "v", dt, true);
    tg_tensor *y = fused ? tg_causal_attention(e.t, q, k, v, 0.6)
                         : tg_attention(e.t, q, k, v, tg_causal_mask(e.t, dt, 5), 0.6);
    ck_assert_msg(y != NULL, "%s", tg_tape_error(e.t));
    NN_CHECK(f, "y", y);
    nn_backward_with(&f, e.t, y, "gy");
    NN_CHECK(f, "dq", tg_tensor_grad(q));
    NN_CHECK(f, "dk", tg_tensor_grad(k));
    NN_CHECK(f, "dv", tg_tensor_grad(v));
    env_close(&e);
    fixture_free(&f);
}

START_TEST(causal_attention_ref) { check_causal(DTYPE_OF(_i), true); }
END_TEST

START_TEST(composed_attention_ref) { check_causal(DTYPE_OF(_i), false); }
END_TEST

/* Every CPU level (the f32 softmax rows have SIMD forms) and one or two threads (items are
 * shared between threads) give the fixture's values; each level's results do not depend on the
 * thread count, bit for bit. */
START_TEST(causal_attention_levels_and_threads) {
    tg_cpu_level best = tg_get_cpu_level();
    int threads = tg_get_threads();
    for (int lv = TG_CPU_PORTABLE; lv < TG_TEST_N_LEVELS; lv++) {
        if (!tg_test_enter_level((tg_cpu_level)lv)) continue;
        float first[120];
        for (int n = 1; n <= 2; n++) {
            tg_set_cpu_level((tg_cpu_level)lv);
            tg_set_threads(n);
            check_causal(TG_F32, true);
            fixture f;
            NN_LOAD(f, "nn_causal_attention");
            env e;
            env_open(&e);
            tg_tensor *y = tg_causal_attention(e.t, nn_input(&f, e.t, "q", TG_F32, false),
                                               nn_input(&f, e.t, "k", TG_F32, false),
                                               nn_input(&f, e.t, "v", TG_F32, false), 0.6);
            ck_assert_int_eq(tg_tensor_numel(y), 120);
            float now[120];
            ck_assert_int_eq(tg_tensor_copy_out(y, TG_F32, now), TG_OK);
            if (n == 1)
                memcpy(first, now, sizeof now);
            else
                ck_assert_msg(memcmp(first, now, sizeof now) == 0,
                              "level %d: 2 threads differ from 1", lv);
            env_close(&e);
            fixture_free(&f);
        }
    }
    tg_set_cpu_level(best);
    tg_set_threads(threads);
}
END_TEST

static const char *const mha_keys[] = {"in_proj_weight", "in_proj_bias", "out_proj.weight",
                                       "out_proj.bias"};

static void check_mha(const char *name, tg_dtype dt) {
    fixture f;
    NN_LOAD(f, name);
    env e;
    env_open(&e);
    int64_t n;
    int64_t *sizes = nn_ints(&f, "sizes", &n);
    tg_mha m;
    OK(tg_mha_init(&m, e.s, "attn", sizes[0], sizes[1], true, dt, &e.rng, &e.err), e);
    ck_assert_int_eq(tg_store_n_params(e.s), 4);
    tg_tensor *p[4] = {m.in_proj_weight, m.in_proj_bias, m.out_proj.weight, m.out_proj.bias};
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "attn.%s", mha_keys[i]);
        ck_assert_ptr_eq(tg_store_find(e.s, key), p[i]);
        nn_fill_from(&f, mha_keys[i], p[i]);
    }
    tg_tensor *x = nn_input(&f, e.t, "x", dt, true);
    tg_tensor *y = tg_mha_forward(e.t, &m, x, sizes[4] != 0);
    ck_assert_msg(y != NULL, "%s", tg_tape_error(e.t));
    NN_CHECK(f, "y", y);
    nn_backward_with(&f, e.t, y, "gy");
    NN_CHECK(f, "dx", tg_tensor_grad(x));
    for (int i = 0; i < 4; i++) {
        char key[64];
        snprintf(key, sizeof key, "d%s", mha_keys[i]);
        NN_CHECK(f, key, tg_tensor_grad(p[i]));
    }
    free(sizes);
    env_close(&e);
    fixture_free(&f);
}

START_TEST(mha_causal_ref) { check_mha("nn_mha_causal", DTYPE_OF(_i)); }
END_TEST

START_TEST(mha_ref) { check_mha("nn_mha", DTYPE_OF(_i)); }
END_TEST

START_TEST(transformer_block_ref) {
    tg_dtype dt = DTYPE_OF(_i);
    fixture f;
    NN_LOAD(f, "nn_transformer_block");
    env e;
    env_open(&e);
    int64_t n;
    int64_t *sizes = nn_ints(&f, "sizes", &n);
    tg_transformer_block b;
    OK(tg_transformer_block_init(&b, e.s, "h", sizes[0], sizes[1], sizes[2], dt, &e.rng, &e.err),
       e);
    static const char *const keys[] = {
        "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
        "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
        "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"};
    enum { N_KEYS = sizeof keys / sizeof keys[0] };
    ck_assert_int_eq(tg_store_n_params(e.s), N_KEYS);
    tg_tensor *p[N_KEYS];
    for (int i = 0; i < N_KEYS; i++) {
        char key[80];
        snprintf(key, sizeof key, "h.%s", keys[i]);
        p[i] = tg_store_find(e.s, key);
        ck_assert_msg(p[i] != NULL, "no parameter %s", key);
        nn_fill_from(&f, keys[i], p[i]);
    }
    tg_tensor *x = nn_input(&f, e.t, "x", dt, true);
    tg_tensor *y = tg_transformer_block_forward(e.t, &b, x, true);
    ck_assert_msg(y != NULL, "%s", tg_tape_error(e.t));
    NN_CHECK(f, "y", y);
    nn_backward_with(&f, e.t, y, "gy");
    NN_CHECK(f, "dx", tg_tensor_grad(x));
    for (int i = 0; i < N_KEYS; i++) {
        char key[80];
        snprintf(key, sizeof key, "d%s", keys[i]);
        NN_CHECK(f, key, tg_tensor_grad(p[i]));
    }
    free(sizes);
    env_close(&e);
    fixture_free(&f);
}
END_TEST

/* PyTorch's starting values: zero biases, in_proj_weight within xavier_uniform's bound
 * sqrt(6 / (E + 3E)), out_proj.weight within a Linear's 1/sqrt(E). */
START_TEST(mha_init_values) {
    env e;
    env_open(&e);
    tg_mha m;
    OK(tg_mha_init(&m, e.s, "", 16, 4, true, TG_F64, &e.rng, &e.err), e);
    ck_assert_ptr_eq(tg_store_find(e.s, "in_proj_weight"), m.in_proj_weight);
    ck_assert_ptr_eq(tg_store_find(e.s, "out_proj.bias"), m.out_proj.bias);
    double w[48 * 16], ob[16], ib[48], ow[256];
    ck_assert_int_eq(tg_tensor_copy_out(m.in_proj_weight, TG_F64, w), TG_OK);
    ck_assert_int_eq(tg_tensor_copy_out(m.in_proj_bias, TG_F64, ib), TG_OK);
    ck_assert_int_eq(tg_tensor_copy_out(m.out_proj.weight, TG_F64, ow), TG_OK);
    ck_assert_int_eq(tg_tensor_copy_out(m.out_proj.bias, TG_F64, ob), TG_OK);
    double bound = sqrt(6.0 / 64.0), wmax = 0, owmax = 0;
    for (int i = 0; i < 48 * 16; i++) wmax = fabs(w[i]) > wmax ? fabs(w[i]) : wmax;
    for (int i = 0; i < 256; i++) owmax = fabs(ow[i]) > owmax ? fabs(ow[i]) : owmax;
    ck_assert(wmax <= bound && wmax > 0.9 * bound);
    ck_assert(owmax <= 0.25 && owmax > 0.2);
    for (int i = 0; i < 48; i++) ck_assert(ib[i] == 0.0);
    for (int i = 0; i < 16; i++) ck_assert(ob[i] == 0.0);
    tg_mha nob;
    OK(tg_mha_init(&nob, e.s, "nb", 8, 2, false, TG_F32, &e.rng, &e.err), e);
    ck_assert_ptr_null(nob.in_proj_bias);
    ck_assert_ptr_null(nob.out_proj.bias);
    env_close(&e);
}
END_TEST

START_TEST(errors) {
    env e;
    env_open(&e);
    tg_mha m;
    ck_assert_int_eq(tg_mha_init(&m, e.s, "a", 10, 4, true, TG_F32, &e.rng, &e.err), TG_ERR_ARG);
    ck_assert_msg(strstr(e.err.message, "does not divide") != NULL, "%s", e.err.message);
    ck_assert_int_eq(tg_store_n_params(e.s), 0);
    ck_assert_int_eq(tg_mha_init(&m, e.s, "a", 8, 0, true, TG_F32, &e.rng, &e.err), TG_ERR_ARG);
    ck_assert_int_eq(tg_mha_init(NULL, e.s, "a", 8, 2, true, TG_F32, &e.rng, &e.err), TG_ERR_NULL);
    OK(tg_mha_init(&m, e.s, "a", 8, 2, true, TG_F32, &e.rng, &e.err), e);
    tg_tensor *x = tg_zeros(e.t, TG_F32, TG_SHAPE(2, 3, 6));
    ck_assert_ptr_null(tg_mha_forward(e.t, &m, x, true));
    ck_assert_msg(strstr(tg_tape_error(e.t), "must be (B, T, 8)") != NULL, "%s", tg_tape_error(e.t));
    tg_tape_clear_error(e.t);
    tg_tape_reset(e.t);

    tg_tensor *q = tg_zeros(e.t, TG_F32, TG_SHAPE(2, 3, 4)), *k = tg_zeros(e.t, TG_F32, TG_SHAPE(2, 4, 4));
    ck_assert_ptr_null(tg_causal_attention(e.t, q, k, q, 0.5));
    ck_assert_int_eq(tg_tape_status(e.t), TG_ERR_SHAPE);
    ck_assert_msg(strstr(tg_tape_error(e.t), "share one shape") != NULL, "%s", tg_tape_error(e.t));
    tg_tape_clear_error(e.t);
    ck_assert_ptr_null(tg_causal_attention(e.t, q, q, q, NAN));
    ck_assert_int_eq(tg_tape_status(e.t), TG_ERR_ARG);
    tg_tape_clear_error(e.t);
    tg_tensor *q64 = tg_zeros(e.t, TG_F64, TG_SHAPE(2, 3, 4));
    ck_assert_ptr_null(tg_causal_attention(e.t, q, q64, q, 0.5));
    ck_assert_int_eq(tg_tape_status(e.t), TG_ERR_DTYPE);
    tg_tape_clear_error(e.t);
    ck_assert_ptr_null(tg_causal_attention(e.t, q, NULL, q, 0.5));
    ck_assert_int_eq(tg_tape_status(e.t), TG_ERR_NULL);
    tg_tape_clear_error(e.t);
    /* Empty sequences (T = 0) or heads (D = 0): empty results and empty gradients, no crash,
     * by the fused rule and by the recorded (create-graph) one. */
    for (int shape = 0; shape < 2; shape++) {
        for (int create = 0; create < 2; create++) {
            tg_tensor *qe = shape ? tg_zeros(e.t, TG_F64, TG_SHAPE(2, 3, 0))
                                  : tg_zeros(e.t, TG_F64, TG_SHAPE(2, 0, 4));
            tg_tensor_set_requires_grad(qe, true);
            tg_tensor *ye = tg_causal_attention(e.t, qe, qe, qe, 0.5);
            ck_assert_msg(ye != NULL, "%s", tg_tape_error(e.t));
            ck_assert_msg(tg_tape_backward(e.t, tg_sum_all(e.t, ye), NULL,
                                           create ? TG_CREATE_GRAPH : 0) == TG_OK,
                          "shape %d create %d: %s", shape, create, tg_tape_error(e.t));
            ck_assert_ptr_nonnull(tg_tensor_grad(qe));
            ck_assert_int_eq(tg_tensor_numel(tg_tensor_grad(qe)), 0);
            tg_tape_reset(e.t);
        }
    }
    q = tg_zeros(e.t, TG_F32, TG_SHAPE(2, 3, 4));
    ck_assert_ptr_null(tg_causal_mask(e.t, TG_F32, 0));
    ck_assert_int_eq(tg_tape_status(e.t), TG_ERR_ARG);
    tg_tape_clear_error(e.t);
    tg_tensor *v1 = tg_zeros(e.t, TG_F32, TG_SHAPE(4));
    ck_assert_ptr_null(tg_attention(e.t, q, q, v1, NULL, 0.5));
    ck_assert_int_eq(tg_tape_status(e.t), TG_ERR_SHAPE);
    tg_tape_clear_error(e.t);
    env_close(&e);
}
END_TEST

/* A transformer block is made of sublayers, so a name clash can surface only when a later one is
 * made: the block then takes back the sublayers it made, the store is as before, and the same
 * name can be used once the clash is gone. */
START_TEST(block_init_clash_leaves_the_store_as_it_was) {
    env e;
    env_open(&e);
    static const char *const clashes[] = {"b.linear1.weight", "b.norm2.bias"};
    for (int c = 0; c < 2; c++) {
        tg_store *s = tg_store_new();
        ck_assert_ptr_nonnull(tg_store_param(s, clashes[c], TG_F32, TG_SHAPE(3)));
        tg_transformer_block b;
        ck_assert_int_eq(tg_transformer_block_init(&b, s, "b", 8, 2, 16, TG_F32, &e.rng, &e.err),
                         TG_ERR_ARG);
        ck_assert_msg(strstr(e.err.message, clashes[c]) != NULL, "%s", e.err.message);
        ck_assert_int_eq(tg_store_n_tensors(s), 1); /* only the clashing tensor */
        ck_assert_ptr_null(tg_store_find(s, "b.self_attn.in_proj_weight"));
        ck_assert_ptr_null(b.linear1.weight);
        /* Under another name the block is made whole, next to the old tensor. */
        OK(tg_transformer_block_init(&b, s, "c", 8, 2, 16, TG_F32, &e.rng, &e.err), e);
        ck_assert_int_eq(tg_store_n_tensors(s), 1 + 12);
        ck_assert_ptr_eq(tg_store_find(s, "c.norm2.bias"), b.norm2.bias);
        tg_store_free(s);
    }
    env_close(&e);
}
END_TEST

/* The causal mask's values. */
START_TEST(causal_mask_values) {
    env e;
    env_open(&e);
    tg_tensor *m = tg_causal_mask(e.t, TG_F64, 3);
    double v[9];
    ck_assert_int_eq(tg_tensor_copy_out(m, TG_F64, v), TG_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            ck_assert(j <= i ? v[i * 3 + j] == 0.0 : isinf(v[i * 3 + j]) && v[i * 3 + j] < 0);
    ck_assert(!tg_tensor_requires_grad(m));
    env_close(&e);
}
END_TEST

/* Allocations from 5 MB up fail; smaller ones are malloc's. */
static void *small_malloc(size_t size, void *user) {
    (void)user;
    return size >= ((size_t)5 << 20) ? NULL : malloc(size);
}
static void plain_free(void *p, void *user) {
    (void)user;
    free(p);
}

/* A thread's scratch block that cannot be had (T = 1024, D = 1: about 6 MB for the scores'
 * rows, where the tape's own tensors stay under 5 MB) is TG_ERR_NOMEM on the tape, not a
 * crash. */
START_TEST(scratch_failure_is_reported) {
    int threads = tg_get_threads();
    tg_set_threads(1);
    tg_set_allocator(&(tg_allocator){small_malloc, plain_free, NULL});
    tg_tape *t = tg_tape_new();
    ck_assert_ptr_nonnull(t);
    tg_tensor *q = tg_zeros(t, TG_F32, TG_SHAPE(1, 1024, 1));
    ck_assert_msg(q != NULL, "%s", tg_tape_error(t));
    ck_assert_ptr_null(tg_causal_attention(t, q, q, q, 0.5));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_NOMEM);
    ck_assert_msg(strstr(tg_tape_error(t), "scratch") != NULL, "%s", tg_tape_error(t));
    tg_tape_free(t);
    tg_set_allocator(NULL);
    tg_set_threads(threads);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("nn_attention");
    TCase *tc = tcase_create("reference");
    tcase_add_loop_test(tc, causal_attention_ref, 0, 2);
    tcase_add_loop_test(tc, composed_attention_ref, 0, 2);
    tcase_add_test(tc, causal_attention_levels_and_threads);
    tcase_add_loop_test(tc, mha_causal_ref, 0, 2);
    tcase_add_loop_test(tc, mha_ref, 0, 2);
    tcase_add_loop_test(tc, transformer_block_ref, 0, 2);
    suite_add_tcase(s, tc);
    TCase *tp = tcase_create("properties");
    tcase_add_test(tp, mha_init_values);
    tcase_add_test(tp, errors);
    tcase_add_test(tp, block_init_clash_leaves_the_store_as_it_was);
    tcase_add_test(tp, causal_mask_values);
    tcase_add_test(tp, scratch_failure_is_reported);
    suite_add_tcase(s, tp);
    return s;
}

int main(void) { return tg_test_run(suite()); }

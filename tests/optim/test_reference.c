/* test_reference.c: every optimiser against torch.optim, step by step.
 *
 * For each case of optim_cases.h the fixture gives three parameters' initial values, a gradient
 * and a learning rate per step, and what PyTorch's parameters and state held after each step.
 * The f64 run must match to 1e-12 (parameters and every state buffer, read from the store under
 * its documented name); the f32 run, whose rounding differs from torch's f32 arithmetic, to 1e-6
 * of max(|value|, 1). A run interrupted half-way and continued from a copy of the store must
 * give bit-identical results, which proves all of the optimiser's state lives in the store. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../fixture.h"
#include "../test_util.h"
#include "optim_cases.h"

#define N_PARAMS      3
#define N_STEPS_OF(g) ((g)->shape[0])
static const char *const param_names[N_PARAMS] = {"fc1.weight", "fc1.bias", "scale"};

/* A store holding the fixture's initial parameters in dtype dt. */
static tg_store *store_from(const fixture *f, tg_dtype dt) {
    tg_store *s = tg_store_new();
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < N_PARAMS; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        const fixture_tensor *p = fixture_get(f, name);
        ck_assert_msg(p != NULL, "fixture has no %s", name);
        tg_tensor *x = tg_store_param(s, param_names[i], dt, p->ndim, p->shape);
        ck_assert_ptr_nonnull(x);
        ck_assert_int_eq(tg_tensor_copy_in(x, TG_F64, p->values), TG_OK);
    }
    return s;
}

/* Sets each parameter's gradient to the fixture's gradient for `step` and the lr for it. */
static void feed(const fixture *f, tg_store *s, tg_optim *o, int step) {
    for (int i = 0; i < N_PARAMS; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        const fixture_tensor *g = fixture_get(f, name);
        ck_assert_ptr_nonnull(g);
        tg_tensor *p = tg_store_find(s, param_names[i]);
        ck_assert_int_eq(g->numel, (int64_t)(N_STEPS_OF(g)) * tg_tensor_numel(p));
        ck_assert_int_eq(
            tg_tensor_copy_in(tg_tensor_grad(p), TG_F64, g->values + step * tg_tensor_numel(p)),
            TG_OK);
    }
    const fixture_tensor *lr = fixture_get(f, "lr");
    ck_assert_ptr_nonnull(lr);
    tg_error err = {0};
    ck_assert_int_eq(tg_optim_set_lr(o, lr->values[step], &err), TG_OK);
}

/* Asserts tensor x equals row `step` of the fixture tensor `name` (shape (S, ...)) within
 * tol * max(|want|, floor). */
static void expect_row(const fixture *f, const char *name, int step, const tg_tensor *x, double tol,
                       double floor, const char *what) {
    const fixture_tensor *e = fixture_get(f, name);
    ck_assert_msg(e != NULL, "fixture has no %s", name);
    ck_assert_ptr_nonnull(x);
    int64_t n = tg_tensor_numel(x);
    ck_assert_int_eq(e->numel, e->shape[0] * n);
    for (int64_t i = 0; i < n; i++) {
        double want = e->values[step * n + i], got = tg_tensor_get(x, i);
        double bound = tol * (fabs(want) > floor ? fabs(want) : floor);
        ck_assert_msg(fabs(got - want) <= bound,
                      "%s: %s after step %d, element %lld: got %.17g, want %.17g (diff %.3g)", what,
                      name, step + 1, (long long)i, got, want, fabs(got - want));
    }
}

static fixture load(const optim_case *c) {
    fixture f;
    char name[64];
    snprintf(name, sizeof name, "optim_%s", c->fixture);
    ck_assert_msg(fixture_load(&f, name), "%s: %s", name, f.error);
    const fixture_tensor *h = fixture_get(&f, "hyper");
    ck_assert_msg(h && h->numel == c->n_hyper, "%s: hyper has the wrong size", name);
    for (int i = 0; i < c->n_hyper; i++)
        ck_assert_msg(h->values[i] == c->hyper[i], "%s: hyper[%d] is %g in the fixture, %g here",
                      name, i, h->values[i], c->hyper[i]);
    return f;
}

static int n_steps(const fixture *f) {
    const fixture_tensor *lr = fixture_get(f, "lr");
    ck_assert_ptr_nonnull(lr);
    return (int)lr->numel;
}
START_TEST(test_f64_matches_torch) {
    const optim_case *c = &optim_cases[_i];
    fixture f = load(c);
    tg_store *s = store_from(&f, TG_F64);
    tg_error err = {0};
    tg_optim *o = optim_case_make(c, s, NULL, &err);
    ck_assert_msg(o != NULL, "%s: %s", c->fixture, err.message);
    ck_assert_int_eq(tg_optim_n_params(o), N_PARAMS);
    for (int step = 0; step < n_steps(&f); step++) {
        feed(&f, s, o, step);
        ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
        ck_assert_int_eq(tg_optim_steps(o), step + 1);
        for (int i = 0; i < N_PARAMS; i++) {
            char name[64];
            snprintf(name, sizeof name, "after%d", i);
            expect_row(&f, name, step, tg_store_find(s, param_names[i]), 1e-12, 1.0, c->fixture);
            for (int k = 0; k < 3 && c->state[k]; k++) {
                char buffer[64];
                snprintf(name, sizeof name, "%s%d", c->state[k], i);
                snprintf(buffer, sizeof buffer, "optim.%s/%s", c->state[k], param_names[i]);
                tg_tensor *st = tg_store_find(s, buffer);
                ck_assert_msg(st != NULL, "%s: no buffer %s in the store", c->fixture, buffer);
                expect_row(&f, name, step, st, 1e-12, 1.0, c->fixture);
            }
        }
    }
    tg_optim_free(o);
    tg_store_free(s);
    fixture_free(&f);
}
END_TEST

START_TEST(test_f32_matches_torch) {
    const optim_case *c = &optim_cases[_i];
    fixture f = load(c);
    tg_store *s = store_from(&f, TG_F32);
    tg_error err = {0};
    tg_optim *o = optim_case_make(c, s, NULL, &err);
    ck_assert_msg(o != NULL, "%s: %s", c->fixture, err.message);
    for (int step = 0; step < n_steps(&f); step++) {
        feed(&f, s, o, step);
        ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
        for (int i = 0; i < N_PARAMS; i++) {
            char name[64];
            snprintf(name, sizeof name, "after%d_f32", i);
            expect_row(&f, name, step, tg_store_find(s, param_names[i]), 1e-6, 1.0, c->fixture);
        }
    }
    /* State buffers take the parameter's dtype. */
    if (c->state[0]) {
        char buffer[64];
        snprintf(buffer, sizeof buffer, "optim.%s/%s", c->state[0], param_names[0]);
        ck_assert_int_eq(tg_tensor_dtype(tg_store_find(s, buffer)), TG_F32);
    }
    tg_optim_free(o);
    tg_store_free(s);
    fixture_free(&f);
}
END_TEST

/* Runs steps [from, to) of the fixture on (s, o). */
static void run_steps(const fixture *f, tg_store *s, tg_optim *o, int from, int to) {
    tg_error err = {0};
    for (int step = from; step < to; step++) {
        feed(f, s, o, step);
        ck_assert_msg(tg_optim_step(o, &err) == TG_OK, "%s", err.message);
    }
}

/* Copies every tensor of `from` into the same-named tensor of `to`, as loading a checkpoint
 * does; both stores must hold the same names. */
static void copy_store(const tg_store *from, tg_store *to) {
    ck_assert_int_eq(tg_store_n_tensors(from), tg_store_n_tensors(to));
    for (int i = 0; i < tg_store_n_tensors(from); i++) {
        const tg_tensor *x = tg_store_get_tensor(from, i);
        tg_tensor *y = tg_store_find(to, tg_tensor_name(x));
        ck_assert_msg(y != NULL, "'%s' is missing from the resumed store", tg_tensor_name(x));
        ck_assert_int_eq(tg_tensor_numel(x), tg_tensor_numel(y));
        ck_assert_int_eq(tg_tensor_dtype(x), tg_tensor_dtype(y));
        memcpy(tg_tensor_data(y), tg_tensor_data(x),
               (size_t)tg_tensor_numel(x) * tg_dtype_size(tg_tensor_dtype(x)));
    }
}

START_TEST(test_resume_is_bit_identical) {
    const optim_case *c = &optim_cases[_i];
    fixture f = load(c);
    int steps = n_steps(&f), half = steps / 2;
    tg_error err = {0};
    for (int d = 0; d < 2; d++) {
        tg_dtype dt = d ? TG_F32 : TG_F64;
        tg_store *whole = store_from(&f, dt);
        tg_optim *ow = optim_case_make(c, whole, NULL, &err);
        ck_assert_ptr_nonnull(ow);
        run_steps(&f, whole, ow, 0, steps);

        tg_store *first = store_from(&f, dt);
        tg_optim *o1 = optim_case_make(c, first, NULL, &err);
        ck_assert_ptr_nonnull(o1);
        run_steps(&f, first, o1, 0, half);
        /* A fresh model and optimiser, as a resumed program builds them, then the "checkpoint". */
        tg_store *second = store_from(&f, dt);
        tg_optim *o2 = optim_case_make(c, second, NULL, &err);
        ck_assert_ptr_nonnull(o2);
        ck_assert_int_eq(tg_optim_steps(o2), 0);
        copy_store(first, second);
        ck_assert_int_eq(tg_optim_steps(o2), half);
        tg_optim_free(o1);
        tg_store_free(first);
        run_steps(&f, second, o2, half, steps);

        for (int i = 0; i < tg_store_n_tensors(whole); i++) {
            const tg_tensor *x = tg_store_get_tensor(whole, i);
            const tg_tensor *y = tg_store_find(second, tg_tensor_name(x));
            ck_assert_ptr_nonnull(y);
            ck_assert_msg(memcmp(tg_tensor_data(x), tg_tensor_data(y),
                                 (size_t)tg_tensor_numel(x) * tg_dtype_size(dt)) == 0,
                          "%s (%s): '%s' differs after resuming", c->fixture, tg_dtype_name(dt),
                          tg_tensor_name(x));
        }
        tg_optim_free(o2);
        tg_store_free(second);
        tg_optim_free(ow);
        tg_store_free(whole);
    }
    fixture_free(&f);
}
END_TEST

/* The learning rate is state too: a resumed optimiser made with another lr takes the stored one. */
START_TEST(test_lr_lives_in_the_store) {
    tg_store *a = tg_store_new(), *b = tg_store_new();
    tg_store_param(a, "w", TG_F64, TG_SHAPE(2));
    tg_store_param(b, "w", TG_F64, TG_SHAPE(2));
    tg_error err = {0};
    tg_adam_options o = tg_adam_defaults(0.01);
    tg_optim *oa = tg_optim_adam(a, &o, &err);
    o.lr = 0.5;
    tg_optim *ob = tg_optim_adam(b, &o, &err);
    ck_assert_ptr_nonnull(oa);
    ck_assert_ptr_nonnull(ob);
    ck_assert_int_eq(tg_optim_set_lr(oa, 0.125, &err), TG_OK);
    ck_assert_double_eq(tg_tensor_item(tg_store_find(a, "optim.lr")), 0.125);
    copy_store(a, b);
    ck_assert_double_eq(tg_optim_lr(ob), 0.125);
    tg_optim_free(oa);
    tg_optim_free(ob);
    tg_store_free(a);
    tg_store_free(b);
}
END_TEST

/* Gradients are inputs: no optimiser changes them, weight decay included. */
START_TEST(test_gradients_untouched) {
    const optim_case *c = &optim_cases[_i];
    fixture f = load(c);
    tg_store *s = store_from(&f, TG_F64);
    tg_error err = {0};
    tg_optim *o = optim_case_make(c, s, NULL, &err);
    ck_assert_ptr_nonnull(o);
    feed(&f, s, o, 0);
    const fixture_tensor *g = fixture_get(&f, "g1");
    ck_assert_int_eq(tg_optim_step(o, &err), TG_OK);
    const tg_tensor *grad = tg_tensor_grad(tg_store_find(s, param_names[1]));
    for (int64_t i = 0; i < tg_tensor_numel(grad); i++)
        ck_assert_double_eq(tg_tensor_get(grad, i), g->values[i]);
    tg_optim_free(o);
    tg_store_free(s);
    fixture_free(&f);
}
END_TEST

/* The updates run vector loops chosen by the CPU level (f32 and f64), each finishing its tail
 * with the one-lane loop that the fixtures above check against torch. Every level must give the
 * same bits as the portable path, on lengths that leave tails of every size and on values (tiny
 * and large gradients, zeros) that exercise the divides and square roots. */
static float wobble(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    float u = (float)(*state >> 8) / 16777216.0f - 0.5f; /* [-0.5, 0.5) */
    int k = (int)(*state & 7u);
    return k == 0 ? 0.0f : u * (k == 1 ? 1e-6f : k == 2 ? 40.0f : 1.0f);
}

/* Element i of a contiguous f32 or f64 tensor := v (rounded for f32). */
static void put(tg_tensor *x, int64_t i, double v) {
    if (tg_tensor_dtype(x) == TG_F32)
        ((float *)tg_tensor_data(x))[i] = (float)v;
    else
        ((double *)tg_tensor_data(x))[i] = v;
}

/* Runs 5 steps of case c on dt parameters of the given lengths at CPU level `level` and returns
 * the store (parameters and state). */
static tg_store *run_at(const optim_case *c, tg_dtype dt, tg_cpu_level level,
                        const int64_t *lengths, int n_lengths) {
    tg_set_cpu_level(level);
    tg_store *s = tg_store_new();
    ck_assert_ptr_nonnull(s);
    uint32_t seed = 12345u;
    for (int k = 0; k < n_lengths; k++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", k);
        tg_tensor *w = tg_store_param(s, name, dt, TG_SHAPE(lengths[k]));
        ck_assert_ptr_nonnull(w);
        for (int64_t i = 0; i < lengths[k]; i++) put(w, i, wobble(&seed) * 3.0f);
    }
    tg_error err = {0};
    tg_optim *o = optim_case_make(c, s, NULL, &err);
    ck_assert_msg(o != NULL, "%s", err.message);
    for (int step = 0; step < 5; step++) {
        for (int k = 0; k < n_lengths; k++) {
            tg_tensor *g = tg_tensor_grad(tg_optim_param(o, k));
            for (int64_t i = 0; i < lengths[k]; i++) put(g, i, wobble(&seed));
        }
        ck_assert_msg(tg_optim_step(o, &err) == TG_OK, "%s", err.message);
    }
    tg_optim_free(o);
    tg_set_cpu_level(TG_CPU_AVX512); /* back to the best the machine has */
    return s;
}

/* _i: case index * 2 + (0: f32, 1: f64) */
START_TEST(test_same_bits_at_every_level) {
    const optim_case *c = &optim_cases[_i / 2];
    tg_dtype dt = _i % 2 ? TG_F64 : TG_F32;
    static const int64_t lengths[] = {1, 7, 15, 16, 17, 33, 1000, 40013};
    const int n_lengths = (int)(sizeof lengths / sizeof lengths[0]);
    tg_store *want = run_at(c, dt, TG_CPU_PORTABLE, lengths, n_lengths);
    for (tg_cpu_level level = TG_CPU_AVX2; level <= TG_CPU_NEON; level++) {
        if (tg_set_cpu_level(level) != level) continue; /* the machine lacks it */
        tg_store *got = run_at(c, dt, level, lengths, n_lengths);
        ck_assert_int_eq(tg_store_n_tensors(got), tg_store_n_tensors(want));
        for (int t = 0; t < tg_store_n_tensors(want); t++) {
            const tg_tensor *x = tg_store_get_tensor(want, t);
            const tg_tensor *y = tg_store_find(got, tg_tensor_name(x));
            ck_assert_ptr_nonnull(y);
            ck_assert_int_eq(tg_tensor_numel(x), tg_tensor_numel(y));
            size_t bytes = (size_t)tg_tensor_numel(x) * tg_dtype_size(tg_tensor_dtype(x));
            if (memcmp(tg_tensor_data(x), tg_tensor_data(y), bytes) == 0) continue;
            for (int64_t i = 0; i < tg_tensor_numel(x); i++)
                ck_assert_msg(tg_tensor_get(x, i) == tg_tensor_get(y, i) ||
                                  (isnan(tg_tensor_get(x, i)) && isnan(tg_tensor_get(y, i))),
                              "%s (%s): '%s'[%lld] is %.17g at level %d, %.17g on the portable "
                              "path",
                              c->fixture, tg_dtype_name(dt), tg_tensor_name(x), (long long)i,
                              tg_tensor_get(y, i), (int)level, tg_tensor_get(x, i));
        }
        tg_store_free(got);
    }
    tg_set_cpu_level(TG_CPU_AVX512);
    tg_store_free(want);
}
END_TEST

int main(void) {
    Suite *s = suite_create("optim_reference");
    TCase *tc = tcase_create("torch");
    tcase_add_loop_test(tc, test_f64_matches_torch, 0, N_OPTIM_CASES);
    tcase_add_loop_test(tc, test_f32_matches_torch, 0, N_OPTIM_CASES);
    tcase_add_loop_test(tc, test_resume_is_bit_identical, 0, N_OPTIM_CASES);
    tcase_add_loop_test(tc, test_gradients_untouched, 0, N_OPTIM_CASES);
    tcase_add_test(tc, test_lr_lives_in_the_store);
    suite_add_tcase(s, tc);
    TCase *levels = tcase_create("cpu_levels");
    tcase_add_loop_test(levels, test_same_bits_at_every_level, 0, 2 * N_OPTIM_CASES);
    suite_add_tcase(s, levels);
    return tg_test_run(s);
}

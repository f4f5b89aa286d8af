/* test_rng.c: the seeded generator (src/graph/rng.c) gives one fixed sequence per seed.
 *
 * The golden numbers below were computed once by an independent Python implementation of
 * PCG32 (O'Neill's pcg32_srandom_r seeding with initstate = 0x853c49e6748fea9b ^ seed and
 * initseq = seed, itself checked against the reference demo's output for (42, 54)), with the
 * polar method on Python's own math.log, never by printing tapegrad's output. */
#include <stdint.h>
#include <string.h>

#include "test_util.h"

/* The raw 32-bit outputs: any change to the seeding or the output function shows here. */
START_TEST(test_golden_u32_seed_42) {
    static const uint32_t want[] = {0xcb738720u, 0xd1221c21u, 0xd30a4869u,
                                    0x9025c65eu, 0xcf64fe89u, 0x757ea6a5u};
    tg_rng r;
    tg_rng_seed(&r, 42);
    for (int i = 0; i < 6; i++) {
        uint32_t got = tg_rng_next_u32(&r);
        ck_assert_msg(got == want[i], "draw %d: got 0x%08x, want 0x%08x", i, got, want[i]);
    }
}
END_TEST

START_TEST(test_golden_u32_seed_0) {
    static const uint32_t want[] = {0x69c87837u, 0x6694bd1cu, 0xa37b7ac6u};
    tg_rng r;
    tg_rng_seed(&r, 0);
    for (int i = 0; i < 3; i++) {
        uint32_t got = tg_rng_next_u32(&r);
        ck_assert_msg(got == want[i], "draw %d: got 0x%08x, want 0x%08x", i, got, want[i]);
    }
}
END_TEST

/* Uniform doubles are built from two draws with integer arithmetic only: exactly equal. */
START_TEST(test_golden_uniform) {
    static const double want[] = {0.7947315709063911, 0.8243756559720367, 0.810134801707892,
                                  0.3146457155225535};
    tg_rng r;
    tg_rng_seed(&r, 42);
    for (int i = 0; i < 4; i++) {
        double got = tg_rng_uniform(&r);
        ck_assert_msg(got == want[i], "draw %d: got %.17g, want %.17g", i, got, want[i]);
    }
}
END_TEST

/* The reference used libm's log while tapegrad uses its own series: allow a few ulps. */
START_TEST(test_golden_normal) {
    static const double want[] = {0.4881994472497754,  0.5373025205946731, 0.9785389010410043,
                                  -0.5848307795093436, 2.342451273913755,  0.9433118967902128};
    tg_rng r;
    tg_rng_seed(&r, 42);
    for (int i = 0; i < 6; i++) {
        double got = tg_rng_normal(&r);
        ck_assert_msg(fabs(got - want[i]) <= 1e-14 * fabs(want[i]),
                      "normal %d: got %.17g, want %.17g", i, got, want[i]);
    }
}
END_TEST

/* tg_rng_below takes 64 bits as (first draw << 32) | second draw, then rejects and reduces. */
START_TEST(test_golden_below) {
    static const uint64_t want10[] = {9, 6, 7, 5, 7, 7};
    static const uint64_t want3e9[] = {2038473249, 2997061726, 1857357477};
    tg_rng r;
    tg_rng_seed(&r, 42);
    for (int i = 0; i < 6; i++) {
        uint64_t got = tg_rng_below(&r, 10);
        ck_assert_msg(got == want10[i], "below(10) %d: got %llu, want %llu", i,
                      (unsigned long long)got, (unsigned long long)want10[i]);
    }
    tg_rng_seed(&r, 42);
    for (int i = 0; i < 3; i++) {
        uint64_t got = tg_rng_below(&r, 3000000000u);
        ck_assert_msg(got == want3e9[i], "below(3e9) %d: got %llu, want %llu", i,
                      (unsigned long long)got, (unsigned long long)want3e9[i]);
    }
}
END_TEST

START_TEST(test_same_seed_same_sequence) {
    tg_rng a, b;
    tg_rng_seed(&a, 123456789);
    tg_rng_seed(&b, 123456789);
    for (int i = 0; i < 1000; i++) ck_assert_uint_eq(tg_rng_next_u32(&a), tg_rng_next_u32(&b));
    for (int i = 0; i < 101; i++) ck_assert(tg_rng_normal(&a) == tg_rng_normal(&b));
    /* Re-seeding restarts the sequence and drops a pending spare normal. */
    tg_rng_seed(&a, 7);
    uint32_t first = tg_rng_next_u32(&a);
    (void)tg_rng_normal(&a); /* leaves a spare behind */
    tg_rng_seed(&a, 7);
    ck_assert_uint_eq(tg_rng_next_u32(&a), first);
    tg_rng_seed(&a, 7);
    tg_rng_seed(&b, 7);
    (void)tg_rng_normal(&b);
    tg_rng_seed(&b, 7);
    ck_assert(tg_rng_normal(&a) == tg_rng_normal(&b));
}
END_TEST

/* A copy of the state continues the same sequence, spare normal included. */
START_TEST(test_copy_continues) {
    tg_rng a;
    tg_rng_seed(&a, 99);
    (void)tg_rng_normal(&a); /* a spare is pending now */
    tg_rng b = a;
    for (int i = 0; i < 10; i++) ck_assert(tg_rng_normal(&a) == tg_rng_normal(&b));
    for (int i = 0; i < 10; i++) ck_assert_uint_eq(tg_rng_next_u32(&a), tg_rng_next_u32(&b));
}
END_TEST

START_TEST(test_different_seeds_differ) {
    const uint64_t seeds[] = {0, 1, 2, 42, 43, UINT64_C(1) << 63, UINT64_MAX};
    enum { N_SEEDS = sizeof seeds / sizeof seeds[0], N_DRAWS = 4 };
    uint32_t draws[N_SEEDS][N_DRAWS];
    for (int s = 0; s < N_SEEDS; s++) {
        tg_rng r;
        tg_rng_seed(&r, seeds[s]);
        for (int i = 0; i < N_DRAWS; i++) draws[s][i] = tg_rng_next_u32(&r);
    }
    for (int s = 0; s < N_SEEDS; s++)
        for (int u = s + 1; u < N_SEEDS; u++)
            ck_assert_msg(memcmp(draws[s], draws[u], sizeof draws[s]) != 0,
                          "seeds %llu and %llu start the same sequence",
                          (unsigned long long)seeds[s], (unsigned long long)seeds[u]);
}
END_TEST

START_TEST(test_uniform_range_and_moments) {
    enum { N = 100000 };
    tg_rng r;
    tg_rng_seed(&r, 2024);
    double sum = 0, sum2 = 0, lo = 1, hi = 0;
    int below_quarter = 0;
    for (int i = 0; i < N; i++) {
        double u = tg_rng_uniform(&r);
        ck_assert_msg(u >= 0.0 && u < 1.0, "draw %d = %.17g is outside [0, 1)", i, u);
        sum += u;
        sum2 += u * u;
        if (u < lo) lo = u;
        if (u > hi) hi = u;
        below_quarter += u < 0.25;
    }
    double mean = sum / N, var = sum2 / N - mean * mean;
    /* Standard errors: mean 0.0009, variance 0.0003, quarter count 137: bounds at ~5 sigma. */
    ck_assert_msg(fabs(mean - 0.5) < 0.005, "mean %g", mean);
    ck_assert_msg(fabs(var - 1.0 / 12.0) < 0.002, "variance %g", var);
    ck_assert_msg(abs(below_quarter - N / 4) < 700, "%d draws below 0.25", below_quarter);
    ck_assert_msg(lo < 1e-3 && hi > 1.0 - 1e-3, "range [%g, %g]", lo, hi);
}
END_TEST

START_TEST(test_normal_moments) {
    enum { N = 100000 };
    tg_rng r;
    tg_rng_seed(&r, 31337);
    double sum = 0, sum2 = 0, sum4 = 0;
    int within_one = 0;
    for (int i = 0; i < N; i++) {
        double z = tg_rng_normal(&r);
        ck_assert(isfinite(z));
        sum += z;
        sum2 += z * z;
        sum4 += z * z * z * z;
        within_one += fabs(z) < 1.0;
    }
    double mean = sum / N, sd = sqrt(sum2 / N - mean * mean), kurt = sum4 / N;
    ck_assert_msg(fabs(mean) < 0.02, "mean %g", mean);
    ck_assert_msg(fabs(sd - 1.0) < 0.02, "std %g", sd);
    ck_assert_msg(fabs(kurt - 3.0) < 0.15, "fourth moment %g", kurt);
    /* P(|z| < 1) = 0.6827; standard error of the fraction 0.0015. */
    ck_assert_msg(fabs((double)within_one / N - 0.6827) < 0.008, "%d within one sigma", within_one);
}
END_TEST

START_TEST(test_below_range_and_balance) {
    enum { N = 60000, K = 6 };
    tg_rng r;
    tg_rng_seed(&r, 5);
    int count[K] = {0};
    for (int i = 0; i < N; i++) {
        uint64_t v = tg_rng_below(&r, K);
        ck_assert_msg(v < K, "below(%d) gave %llu", K, (unsigned long long)v);
        count[v]++;
    }
    /* Each count is binomial(60000, 1/6): mean 10000, sd 91. */
    for (int k = 0; k < K; k++)
        ck_assert_msg(abs(count[k] - N / K) < 500, "value %d: %d", k, count[k]);
    /* Edge cases: n = 1 is always 0, n = 0 returns 0, a huge n stays below it. */
    for (int i = 0; i < 100; i++) ck_assert_uint_eq(tg_rng_below(&r, 1), 0);
    ck_assert_uint_eq(tg_rng_below(&r, 0), 0);
    /* n = 2/3 of 2^64: plain v % n would fold the top third of the 64-bit range onto the
     * bottom half of [0, n), leaving only a third of the draws in the upper half. */
    const uint64_t big = UINT64_C(0xAAAAAAAAAAAAAAAA);
    int upper_half = 0;
    for (int i = 0; i < 3000; i++) {
        uint64_t v = tg_rng_below(&r, big);
        ck_assert(v < big);
        upper_half += v >= big / 2;
    }
    /* Unbiased: 1500 expected, sd 27; biased: about 1000. */
    ck_assert_msg(abs(upper_half - 1500) < 150, "%d of 3000 in the upper half", upper_half);
}
END_TEST

/* Tensors filled from the generator: reproducible, and exactly lo + (hi - lo) u / mean + std z
 * in row-major order. */
START_TEST(test_tensor_fills_reproducible) {
    tg_tape *t = tg_tape_new();
    tg_rng r1, r2, ref;
    tg_rng_seed(&r1, 77);
    tg_rng_seed(&r2, 77);
    tg_rng_seed(&ref, 77);
    tg_tensor *a = tg_uniform(t, &r1, TG_F64, TG_SHAPE(3, 4), -2.0, 3.0);
    tg_tensor *b = tg_uniform(t, &r2, TG_F64, TG_SHAPE(3, 4), -2.0, 3.0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    for (int64_t i = 0; i < 12; i++) {
        double want = -2.0 + 5.0 * tg_rng_uniform(&ref);
        ck_assert(tg_tensor_get(a, i) == want);
        ck_assert(tg_tensor_get(b, i) == want);
        ck_assert(want >= -2.0 && want < 3.0);
    }
    tg_tensor *n1 = tg_normal(t, &r1, TG_F32, TG_SHAPE(5), 1.0, 0.5);
    tg_tensor *n2 = tg_normal(t, &r2, TG_F32, TG_SHAPE(5), 1.0, 0.5);
    for (int64_t i = 0; i < 5; i++) {
        double want = (double)(float)(1.0 + 0.5 * tg_rng_normal(&ref));
        ck_assert(tg_tensor_get(n1, i) == want);
        ck_assert(tg_tensor_get(n2, i) == want);
    }
    /* A different seed gives a different tensor. */
    tg_rng r3;
    tg_rng_seed(&r3, 78);
    tg_tensor *c = tg_uniform(t, &r3, TG_F64, TG_SHAPE(3, 4), -2.0, 3.0);
    int same = 0;
    for (int64_t i = 0; i < 12; i++) same += tg_tensor_get(c, i) == tg_tensor_get(a, i);
    ck_assert_int_lt(same, 12);
    /* Bad arguments are errors, not aborts. */
    ck_assert_ptr_null(tg_uniform(t, NULL, TG_F64, TG_SHAPE(2), 0.0, 1.0));
    ck_assert_int_eq(tg_tape_status(t), TG_ERR_NULL);
    ck_assert_int_eq(tg_tensor_fill_uniform(a, &r1, 1.0, 0.0), TG_ERR_ARG);
    ck_assert_int_eq(tg_tensor_fill_normal(a, &r1, 0.0, -1.0), TG_ERR_ARG);
    tg_tape_free(t);
}
END_TEST

/* Filling a strided view writes only the view's elements, in its logical order. */
START_TEST(test_fill_uniform_view) {
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_zeros(t, TG_F64, TG_SHAPE(4, 3));
    tg_tensor *col = tg_slice(t, x, 1, 1, 2, 1); /* column 1: (4, 1), stride 3 */
    tg_rng r, ref;
    tg_rng_seed(&r, 3);
    tg_rng_seed(&ref, 3);
    ck_assert_int_eq(tg_tensor_fill_uniform(col, &r, 10.0, 11.0), TG_OK);
    for (int i = 0; i < 4; i++) {
        double want = 10.0 + tg_rng_uniform(&ref);
        ck_assert(tg_tensor_get(x, 3 * i + 1) == want);
        ck_assert(tg_tensor_get(x, 3 * i) == 0.0);
        ck_assert(tg_tensor_get(x, 3 * i + 2) == 0.0);
    }
    tg_tape_free(t);
}
END_TEST

static Suite *rng_suite(void) {
    Suite *s = suite_create("graph_rng");
    TCase *golden = tcase_create("golden");
    tcase_add_test(golden, test_golden_u32_seed_42);
    tcase_add_test(golden, test_golden_u32_seed_0);
    tcase_add_test(golden, test_golden_uniform);
    tcase_add_test(golden, test_golden_normal);
    tcase_add_test(golden, test_golden_below);
    suite_add_tcase(s, golden);
    TCase *seq = tcase_create("sequences");
    tcase_add_test(seq, test_same_seed_same_sequence);
    tcase_add_test(seq, test_copy_continues);
    tcase_add_test(seq, test_different_seeds_differ);
    suite_add_tcase(s, seq);
    TCase *stats = tcase_create("statistics");
    tcase_set_timeout(stats, 60);
    tcase_add_test(stats, test_uniform_range_and_moments);
    tcase_add_test(stats, test_normal_moments);
    tcase_add_test(stats, test_below_range_and_balance);
    suite_add_tcase(s, stats);
    TCase *tensors = tcase_create("tensors");
    tcase_add_test(tensors, test_tensor_fills_reproducible);
    tcase_add_test(tensors, test_fill_uniform_view);
    suite_add_tcase(s, tensors);
    return s;
}

int main(void) { return tg_test_run(rng_suite()); }

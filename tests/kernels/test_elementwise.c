/* test_elementwise.c: the elementwise kernels (src/ops/kernels/elementwise.c) at every CPU level
 * the machine has: the f32 SIMD maps (exp, tanh, sigmoid and the arithmetic ones) against
 * double-precision libm over every float exponent and the special values, any length and
 * in place; the two-input maps against a plain loop written here, through broadcasts,
 * transposed views and in-place outputs; the select (where); softmax and layer norm rows;
 * threads; the dimension merging they rely on; and the transposing store of copy.c. */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "ops/kernels/cell.h"
#include "ops/kernels/coalesce.h"
#include "ops/kernels/kernels.h"
#include "ops/kernels/vec.h"
#include "test_util.h"

/* The levels this machine can run, lowest first; returns how many. */
static int levels(tg_cpu_level *out) {
    int n = 0;
    for (int l = 0; l < TG_TEST_N_LEVELS; l++)
        if (tg_test_enter_level(tg_test_all_levels[l])) out[n++] = tg_test_all_levels[l];
    return n;
}

/* Distance from y to the exact value r in units of the last place of r's float neighbourhood
 * (denormal spacing below FLT_MIN). */
static double ulps(float y, double r) {
    double ar = fabs(r);
    int e;
    frexp(ar < FLT_MIN ? FLT_MIN : ar, &e);
    double ulp = ldexp(1.0, e - 24);
    return fabs((double)y - r) / ulp;
}

static double ref_of(kern_unary_kind k, double x) {
    switch (k) {
    case KERN_EXP:
        return exp(x);
    case KERN_TANH:
        return tanh(x);
    case KERN_SIGMOID:
        return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
    case KERN_GELU:
        return x * 0.5 * erfc(-x / sqrt(2.0));
    case KERN_GELU_GRAD:
        return 0.5 * erfc(-x / sqrt(2.0)) + x * exp(-0.5 * x * x) / 2.5066282746310002;
    default:
        return NAN;
    }
}

/* Inputs over every exponent from 2^-40 to 2^8, both signs, many mantissas, plus edges. */
static int64_t make_inputs(float *x, int64_t cap) {
    static const float edges[] = {0.0f,        -0.0f,   0.5f,   -0.5f,   0.49999997f, -0.49999997f,
                                  0.50000006f, 88.72f,  88.73f, -87.33f, -87.34f,     -103.9f,
                                  -104.0f,     -110.0f, 100.0f, 9.0f,    -9.0f,       1e-30f,
                                  -1e-30f,     1e-45f,  20.0f,  -20.0f,  16.63553f,   -88.0f};
    int64_t n = 0;
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) x[n++] = edges[i];
    for (int e = -40; e <= 7; e++)
        for (int m = 0; m < 200 && n + 2 <= cap; m++) {
            float v = ldexpf(1.0f + (float)m / 200.0f, e);
            x[n++] = v;
            x[n++] = -v;
        }
    return n;
}

/* Runs kind over x into y at the level in effect and returns the largest error in ulps, its
 * index in *at. Results beyond float's range must be inf. The GELU derivative is a sum of two
 * terms of opposite sign near x = -0.75, so its error is counted in ulps of the larger term,
 * Phi(x). */
static double worst_ulps(kern_unary_kind kind, int64_t n, const float *x, float *y, int64_t *at) {
    kern_unary(kind, TG_F32, n, x, y, 0.0);
    double worst = 0;
    *at = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = ref_of(kind, x[i]);
        double u = fabs(r) > FLT_MAX ? (isinf(y[i]) ? 0.0 : INFINITY) : ulps(y[i], r);
        if (kind == KERN_GELU_GRAD) {
            double big = fmax(fabs(r), 0.5 * erfc(-x[i] / sqrt(2.0)));
            u = fabs((double)y[i] - r) / (ldexp(1.0, ilogb(big < FLT_MIN ? FLT_MIN : big) - 23));
        }
        if (!(u <= worst)) worst = u, *at = i;
    }
    return worst;
}

START_TEST(transcendental_maps_are_accurate) {
    enum { CAP = 20000 };
    static float x[CAP], y[CAP];
    int64_t n = make_inputs(x, CAP);
    static const kern_unary_kind kinds[] = {KERN_EXP, KERN_TANH, KERN_SIGMOID, KERN_GELU,
                                            KERN_GELU_GRAD};
    /* exp is nearly correctly rounded; sigmoid and tanh add a division and (tanh) a
     * subtraction. The plain loop's libm is no better: glibc's tanhf reaches 2.05 ulp and
     * expf(x) / (1 + expf(x)) 2.25 ulp on these inputs. GELU's erfc is a polynomial fit
     * (vec_f32.h: relative error 1.3e-7 for |x| <= 3.1, 1.5e-9 past it) before float
     * rounding. Measured: GELU 3.76 ulp (x = -5.36), its derivative 3.10 (x = -1.63), the plain
     * loop (double inside) 0.5; on gelu_tail_is_accurate's dense grid 3.74 (x = -10.51) and
     * 2.90 (x = -2.98). */
    static const double bound[] = {1.0, 3.0, 2.5, 5.0, 5.0};
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    for (int li = 0; li < n_lv; li++) {
        tg_set_cpu_level(lv[li]);
        for (int ki = 0; ki < 5; ki++) {
            int64_t at;
            double worst = worst_ulps(kinds[ki], n, x, y, &at);
            ck_assert_msg(worst <= bound[ki],
                          "%s kind %d: %.2f ulp at x = %.9g (got %.9g, want %.9g)",
                          tg_cpu_level_name(lv[li]), (int)kinds[ki], worst, x[at], y[at],
                          ref_of(kinds[ki], x[at]));
        }
    }
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

/* GELU's tail, |x| from 2.9 to 14.6 (where its erfc form takes over past 3.1, and where it
 * caps |x| at 14.5), on a grid 100 times denser than make_inputs': a fit's error peaks
 * between the points a sparse grid samples. */
START_TEST(gelu_tail_is_accurate) {
    enum { HALF = 40000 };
    static float x[2 * HALF], y[2 * HALF];
    for (int64_t i = 0; i < HALF; i++) {
        x[2 * i] = 2.9f + (float)i * (11.7f / HALF);
        x[2 * i + 1] = -x[2 * i];
    }
    static const kern_unary_kind kinds[] = {KERN_GELU, KERN_GELU_GRAD};
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    for (int li = 0; li < n_lv; li++) {
        tg_set_cpu_level(lv[li]);
        for (int ki = 0; ki < 2; ki++) {
            int64_t at;
            double worst = worst_ulps(kinds[ki], 2 * HALF, x, y, &at);
            ck_assert_msg(worst <= 5.0, "%s kind %d: %.2f ulp at x = %.9g (got %.9g, want %.9g)",
                          tg_cpu_level_name(lv[li]), (int)kinds[ki], worst, x[at], y[at],
                          ref_of(kinds[ki], x[at]));
        }
    }
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

START_TEST(special_values) {
    const float in[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1000.0f, -1000.0f};
    enum { N = sizeof in / sizeof *in };
    float y[N];
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    for (int li = 0; li < n_lv; li++) {
        tg_set_cpu_level(lv[li]);
        const char *l = tg_cpu_level_name(lv[li]);
        kern_unary(KERN_EXP, TG_F32, N, in, y, 0.0);
        ck_assert_msg(isnan(y[0]) && isinf(y[1]) && y[1] > 0 && y[2] == 0 && y[3] == 1 &&
                          y[4] == 1 && isinf(y[5]) && y[6] == 0,
                      "%s: exp of NaN, inf, -inf, 0, -0, 1000, -1000 = %g %g %g %g %g %g %g", l,
                      y[0], y[1], y[2], y[3], y[4], y[5], y[6]);
        kern_unary(KERN_TANH, TG_F32, N, in, y, 0.0);
        ck_assert_msg(isnan(y[0]) && y[1] == 1 && y[2] == -1 && y[3] == 0 && !signbit(y[3]) &&
                          y[4] == 0 && signbit(y[4]) && y[5] == 1 && y[6] == -1,
                      "%s: tanh of NaN, inf, -inf, 0, -0, 1000, -1000 = %g %g %g %g %g %g %g", l,
                      y[0], y[1], y[2], y[3], y[4], y[5], y[6]);
        kern_unary(KERN_SIGMOID, TG_F32, N, in, y, 0.0);
        ck_assert_msg(isnan(y[0]) && y[1] == 1 && y[2] == 0 && y[3] == 0.5f && y[4] == 0.5f &&
                          y[5] == 1 && y[6] == 0,
                      "%s: sigmoid of NaN, inf, -inf, 0, -0, 1000, -1000 = %g %g %g %g %g %g %g", l,
                      y[0], y[1], y[2], y[3], y[4], y[5], y[6]);
        kern_unary(KERN_GELU, TG_F32, N, in, y, 0.0);
        ck_assert_msg(isnan(y[0]) && isinf(y[1]) && y[1] > 0 && isnan(y[2]) && y[3] == 0 &&
                          y[4] == 0 && y[5] == 1000 && y[6] == 0,
                      "%s: gelu of NaN, inf, -inf, 0, -0, 1000, -1000 = %g %g %g %g %g %g %g", l,
                      y[0], y[1], y[2], y[3], y[4], y[5], y[6]);
        kern_unary(KERN_RELU, TG_F32, N, in, y, 0.0);
        ck_assert_msg(isnan(y[0]) && isinf(y[1]) && y[2] == 0 && y[6] == 0,
                      "%s: relu of NaN, inf, -inf, -1000 = %g %g %g %g", l, y[0], y[1], y[2], y[6]);
    }
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

/* Every map, at every length from 1 to 40 and in place, gives each element exactly what the
 * same map gives it inside a long array; the arithmetic ones equal the plain loop exactly. */
START_TEST(maps_any_length_and_in_place) {
    static const kern_unary_kind kinds[] = {
        KERN_NEG,        KERN_EXP,         KERN_TANH,       KERN_SIGMOID,    KERN_RELU,
        KERN_STEP,       KERN_ADD_SCALAR,  KERN_MUL_SCALAR, KERN_SUB_SCALAR, KERN_RSUB_SCALAR,
        KERN_DIV_SCALAR, KERN_RDIV_SCALAR, KERN_SQUARE,     KERN_GELU,       KERN_GELU_GRAD};
    enum { NK = sizeof kinds / sizeof *kinds, LONG = 64 };
    float x[LONG], full[LONG], part[LONG], plain[LONG];
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    for (int i = 0; i < LONG; i++) x[i] = (float)(6 * tg_rng_uniform(&rng) - 3);
    x[5] = 0.0f;
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    for (int li = 0; li < n_lv; li++)
        for (int ki = 0; ki < NK; ki++) {
            tg_set_cpu_level(lv[li]);
            kern_unary(kinds[ki], TG_F32, LONG, x, full, 1.75);
            for (int n = 1; n <= 40; n++)
                for (int off = 0; off + n <= LONG; off += 13) {
                    memset(part, 0, sizeof part);
                    kern_unary(kinds[ki], TG_F32, n, x + off, part, 1.75);
                    for (int i = 0; i < n; i++)
                        ck_assert_msg(memcmp(&part[i], &full[off + i], sizeof(float)) == 0,
                                      "%s kind %d, n %d at %d: element %d is %.9g, %.9g in the "
                                      "long run",
                                      tg_cpu_level_name(lv[li]), (int)kinds[ki], n, off, i, part[i],
                                      full[off + i]);
                    /* Nothing written past the end. */
                    for (int i = n; i < LONG; i++) ck_assert(part[i] == 0.0f);
                    memcpy(part, x + off, (size_t)n * sizeof(float));
                    kern_unary(kinds[ki], TG_F32, n, part, part, 1.75);
                    ck_assert(memcmp(part, full + off, (size_t)n * sizeof(float)) == 0);
                }
            bool exact = kinds[ki] != KERN_EXP && kinds[ki] != KERN_TANH &&
                         kinds[ki] != KERN_SIGMOID && kinds[ki] != KERN_GELU &&
                         kinds[ki] != KERN_GELU_GRAD;
            if (!exact) continue;
            tg_set_cpu_level(TG_CPU_PORTABLE);
            kern_unary(kinds[ki], TG_F32, LONG, x, plain, 1.75);
            for (int i = 0; i < LONG; i++)
                ck_assert_msg(memcmp(&plain[i], &full[i], sizeof(float)) == 0,
                              "%s kind %d: element %d is %.9g, the plain loop gives %.9g",
                              tg_cpu_level_name(lv[li]), (int)kinds[ki], i, full[i], plain[i]);
        }
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

static float apply(kern_binary_kind k, float u, float v) {
    switch (k) {
    case KERN_ADD:
        return u + v;
    case KERN_SUB:
        return u - v;
    case KERN_MUL:
        return u * v;
    case KERN_DIV:
        return u / v;
    case KERN_MAXIMUM:
        return (u > v || u != u) ? u : v;
    case KERN_GT:
        return u > v ? 1.0f : 0.0f;
    case KERN_PASS_IF_POSITIVE:
        return v <= 0 ? 0.0f : u;
    default:
        return NAN;
    }
}

/* One layout case of a two-input map: out (rows, cols) from a and b read through the given
 * strides (0 broadcasts), compared element by element with the loop above. */
static void check_binary(kern_binary_kind k, int64_t rows, int64_t cols, const float *a,
                         const int64_t *as, const float *b, const int64_t *bs, const char *what) {
    float *out = malloc((size_t)(rows * cols) * sizeof *out);
    ck_assert_ptr_nonnull(out);
    int64_t shape[2] = {rows, cols};
    kern_binary(k, TG_F32, 2, shape, out, a, as, b, bs);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            float want = apply(k, a[i * as[0] + j * as[1]], b[i * bs[0] + j * bs[1]]);
            float got = out[i * cols + j];
            ck_assert_msg(memcmp(&got, &want, sizeof got) == 0,
                          "%s, kind %d, %s, (%lld, %lld): [%lld, %lld] is %.9g, want %.9g",
                          tg_cpu_level_name(tg_get_cpu_level()), (int)k, what, (long long)rows,
                          (long long)cols, (long long)i, (long long)j, got, want);
        }
    free(out);
}

START_TEST(binary_layouts) {
    enum { R = 37, C = 70 };
    static float a[R * C], b_pos[R * C], signed_b[R * C];
    tg_rng rng;
    tg_rng_seed(&rng, 12);
    for (int i = 0; i < R * C; i++) {
        a[i] = (float)(4 * tg_rng_uniform(&rng) - 2);
        b_pos[i] = (float)(4 * tg_rng_uniform(&rng) + 0.5);
        /* For pass-if-positive: both signs, zeros of both signs and NaN (none pass); a gets
         * infinities, which pass or give 0 but never NaN. */
        signed_b[i] = i % 7 == 0 ? 0.0f : i % 11 == 0 ? -0.0f : i % 13 == 0 ? NAN : b_pos[i] - 2.5f;
    }
    for (int i = 5; i < R * C; i += 17) a[i] = i % 2 ? INFINITY : -INFINITY;
    static const kern_binary_kind kinds[] = {
        KERN_ADD, KERN_SUB, KERN_MUL, KERN_DIV, KERN_MAXIMUM, KERN_GT, KERN_PASS_IF_POSITIVE};
    static const int64_t sizes[][2] = {{1, 1}, {1, 17}, {3, 5}, {R, C}, {C / 2, R}, {2, 64}};
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    for (int li = 0; li < n_lv; li++) {
        tg_set_cpu_level(lv[li]);
        for (size_t ki = 0; ki < sizeof kinds / sizeof *kinds; ki++)
            for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
                int64_t r = sizes[si][0], c = sizes[si][1];
                kern_binary_kind k = kinds[ki];
                const float *b = k == KERN_PASS_IF_POSITIVE ? signed_b : b_pos;
                check_binary(k, r, c, a, (int64_t[]){c, 1}, b, (int64_t[]){c, 1}, "contiguous");
                check_binary(k, r, c, a, (int64_t[]){c, 1}, b, (int64_t[]){0, 1}, "row of b");
                check_binary(k, r, c, a, (int64_t[]){0, 1}, b, (int64_t[]){c, 1}, "row of a");
                check_binary(k, r, c, a, (int64_t[]){c, 1}, b, (int64_t[]){1, 0}, "column of b");
                check_binary(k, r, c, a, (int64_t[]){0, 0}, b, (int64_t[]){c, 1}, "scalar a");
                check_binary(k, r, c, a, (int64_t[]){c, 1}, b, (int64_t[]){1, r}, "b transposed");
                check_binary(k, r, c, a, (int64_t[]){1, r}, b, (int64_t[]){1, r},
                             "both transposed");
                if (2 * r * c <= R * C) /* every other element of a twice-as-large a */
                    check_binary(k, r, c, a, (int64_t[]){2 * c, 2}, b, (int64_t[]){c, 1},
                                 "a strided");
            }
    }
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

/* GELU's backward in one pass, g * gelu_grad(x), gives at every level the same bits as its two
 * kernels one after the other (the composition the recorded rule uses), vector tails included,
 * with NaN, infinities and both tails of x. */
START_TEST(mul_gelu_grad_is_the_composition) {
    enum { N = 1031 };
    static float x[N], g[N], d[N], fused[N];
    tg_rng rng;
    tg_rng_seed(&rng, 16);
    for (int i = 0; i < N; i++) {
        x[i] = (float)(32 * tg_rng_uniform(&rng) - 16);
        g[i] = (float)(4 * tg_rng_uniform(&rng) - 2);
    }
    x[3] = NAN, x[4] = INFINITY, x[5] = -INFINITY, x[6] = 0.0f, x[7] = -0.0f, x[8] = -14.7f;
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    for (int li = 0; li < n_lv; li++) {
        tg_set_cpu_level(lv[li]);
        for (int64_t n = 1; n <= N; n += n < 40 ? 1 : 330) {
            const int64_t shape[1] = {n}, unit[1] = {1};
            kern_unary(KERN_GELU_GRAD, TG_F32, n, x, d, 0.0);
            kern_binary(KERN_MUL, TG_F32, 1, shape, d, g, unit, d, unit);
            kern_binary(KERN_MUL_GELU_GRAD, TG_F32, 1, shape, fused, g, unit, x, unit);
            for (int64_t i = 0; i < n; i++)
                ck_assert_msg(memcmp(&d[i], &fused[i], sizeof d[i]) == 0,
                              "%s, n %lld: x = %.9g: fused %.9g, composed %.9g",
                              tg_cpu_level_name(lv[li]), (long long)n, x[i], fused[i], d[i]);
        }
    }
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

/* The same bits, or both NaN (a NaN's sign is whichever operand the compiler put first). */
static bool same_f32(float a, float b) {
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}
static bool same_f64(double a, double b) {
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* GELU with its derivative kept gives at every level the bits of the plain kernels (KERN_GELU,
 * KERN_GELU_GRAD) in f32 and f64, with vector tails, NaN, infinities, both tails of x and the
 * edges of its pieces (0.75, 3.1, 14.5). A derivative that drifted from gelu_grad's, or a y
 * changed by sharing, fails here. */
START_TEST(gelu_with_grad_is_the_plain_gelu) {
    enum { N = 1031 };
    static float x[N], y[N], d[N], ref[N], refd[N];
    static double xd[N], yd[N], dd[N], ry[N], rd[N];
    tg_rng rng;
    tg_rng_seed(&rng, 17);
    for (int i = 0; i < N; i++) {
        x[i] = (float)(32 * tg_rng_uniform(&rng) - 16);
        xd[i] = 32 * tg_rng_uniform(&rng) - 16;
    }
    x[3] = NAN, x[4] = INFINITY, x[5] = -INFINITY, x[6] = 0.0f, x[7] = -0.0f, x[8] = -14.7f;
    x[9] = 0.7f, x[10] = -0.75f, x[11] = 14.6f, x[12] = -3.1f, x[13] = -3.1000001f, x[14] = 3.1f;
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    for (int li = 0; li < n_lv; li++) {
        tg_set_cpu_level(lv[li]);
        const char *l = tg_cpu_level_name(lv[li]);
        for (int64_t n = 1; n <= N; n += n < 40 ? 1 : 330) {
            kern_gelu_and_grad(TG_F32, n, x, y, d);
            kern_unary(KERN_GELU, TG_F32, n, x, ref, 0.0);
            kern_unary(KERN_GELU_GRAD, TG_F32, n, x, refd, 0.0);
            for (int64_t i = 0; i < n; i++)
                ck_assert_msg(same_f32(y[i], ref[i]) && same_f32(d[i], refd[i]),
                              "%s, n %lld: x = %.9g: gelu %.9g and %.9g, gelu_grad %.9g and %.9g",
                              l, (long long)n, x[i], y[i], ref[i], d[i], refd[i]);
            kern_gelu_and_grad(TG_F64, n, xd, yd, dd);
            kern_unary(KERN_GELU, TG_F64, n, xd, ry, 0.0);
            kern_unary(KERN_GELU_GRAD, TG_F64, n, xd, rd, 0.0);
            for (int64_t i = 0; i < n; i++)
                ck_assert_msg(same_f64(yd[i], ry[i]) && same_f64(dd[i], rd[i]),
                              "%s f64: x = %.17g: gelu %.17g and %.17g, gelu_grad %.17g and %.17g",
                              l, xd[i], yd[i], ry[i], dd[i], rd[i]);
        }
    }
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

/* Layer norm's f32 rows at every SIMD level (and none at the portable one, whose plain loops
 * live in layer_norm.c), against the formulas evaluated here in double: rows 1 to 3 of 5 only
 * (rows 0 and 4 stay untouched), widths with and without a partial vector, with and without
 * dx. A wrong mean, a lane left out of a sum, or a tail element skipped fails here. */
START_TEST(layer_norm_rows) {
    enum { R = 5, CMAX = 77 };
    static const int64_t widths[] = {1, 7, 16, 64, 77};
    static float x[R * CMAX], gy[R * CMAX], y[R * CMAX], dx[R * CMAX], g[CMAX], b[CMAX];
    static double st[2 * R], ag[CMAX], ab[CMAX];
    tg_rng rng;
    tg_rng_seed(&rng, 18);
    for (int i = 0; i < R * CMAX; i++) {
        x[i] = (float)(6 * tg_rng_uniform(&rng) - 2);
        gy[i] = (float)(2 * tg_rng_uniform(&rng) - 1);
    }
    for (int j = 0; j < CMAX; j++) {
        g[j] = (float)(tg_rng_uniform(&rng) + 0.5);
        b[j] = (float)(tg_rng_uniform(&rng) - 0.5);
    }
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    for (int li = 0; li < n_lv; li++) {
        tg_set_cpu_level(lv[li]);
        const char *l = tg_cpu_level_name(lv[li]);
        bool simd = lv[li] != TG_CPU_PORTABLE;
        for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
            int64_t C = widths[wi];
            for (int i = 0; i < R * CMAX; i++) y[i] = dx[i] = -7.0f;
            ck_assert_int_eq(kern_vec_layer_norm_forward_f32(1, 4, C, x, g, b, 1e-5, y, st), simd);
            if (!simd) continue;
            for (int j = 0; j < C; j++) ag[j] = 0.5, ab[j] = -0.25;
            ck_assert(kern_vec_layer_norm_backward_f32(1, 4, C, x, g, gy, st, dx, ag, ab));
            ck_assert(y[0] == -7.0f && y[4 * C + C - 1] == -7.0f && dx[0] == -7.0f &&
                      dx[4 * C + C - 1] == -7.0f);
            double sg[CMAX] = {0}, sb[CMAX] = {0};
            for (int64_t i = 1; i < 4; i++) {
                const float *xr = x + i * C, *gr = gy + i * C;
                double mu = 0, var = 0, a = 0, bb = 0;
                for (int64_t j = 0; j < C; j++) mu += xr[j];
                mu /= (double)C;
                for (int64_t j = 0; j < C; j++) var += (xr[j] - mu) * (xr[j] - mu);
                double r = 1.0 / sqrt(var / (double)C + 1e-5);
                ck_assert_msg(fabs(st[2 * i] - mu) <= 1e-13 && fabs(st[2 * i + 1] - r) <= 1e-12 * r,
                              "%s, C %lld, row %lld: mu %.17g r %.17g, want %.17g %.17g", l,
                              (long long)C, (long long)i, st[2 * i], st[2 * i + 1], mu, r);
                for (int64_t j = 0; j < C; j++) {
                    double xh = (xr[j] - mu) * r, gg = (double)gr[j] * g[j];
                    double want = xh * g[j] + b[j];
                    ck_assert_msg(fabs(y[i * C + j] - want) <=
                                      2e-6 * (fabs(xh * g[j]) + fabs(b[j])),
                                  "%s, C %lld: y[%lld][%lld] = %.9g, want %.9g", l, (long long)C,
                                  (long long)i, (long long)j, y[i * C + j], want);
                    a += gg, bb += gg * xh;
                    sg[j] += gr[j] * xh, sb[j] += gr[j];
                }
                a /= (double)C, bb /= (double)C;
                for (int64_t j = 0; j < C; j++) {
                    double xh = (xr[j] - mu) * r, gg = (double)gr[j] * g[j];
                    double want = r * (gg - a - xh * bb);
                    double scale = r * (fabs(gg) + fabs(a) + fabs(xh * bb));
                    ck_assert_msg(fabs(dx[i * C + j] - want) <= 4e-6 * scale + 1e-30,
                                  "%s, C %lld: dx[%lld][%lld] = %.9g, want %.9g", l, (long long)C,
                                  (long long)i, (long long)j, dx[i * C + j], want);
                }
            }
            for (int64_t j = 0; j < C; j++) {
                ck_assert_msg(fabs(ag[j] - 0.5 - sg[j]) <= 1e-5 &&
                                  fabs(ab[j] + 0.25 - sb[j]) <= 1e-12,
                              "%s, C %lld: column %lld sums %.17g %.17g, want %.17g %.17g", l,
                              (long long)C, (long long)j, ag[j] - 0.5, ab[j] + 0.25, sg[j], sb[j]);
            }
            /* Without dx: the same sums again, dx left alone. */
            for (int j = 0; j < C; j++) ag[j] = ab[j] = 0;
            for (int i = 0; i < R * CMAX; i++) dx[i] = -7.0f;
            ck_assert(kern_vec_layer_norm_backward_f32(1, 4, C, x, g, gy, st, NULL, ag, ab));
            for (int64_t j = 0; j < C; j++) ck_assert(fabs(ab[j] - sb[j]) <= 1e-12);
            for (int i = 0; i < R * CMAX; i++) ck_assert(dx[i] == -7.0f);
        }
    }
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

/* where: mask (with zeros, ones, other numbers and NaN, which counts as nonzero), a and b in
 * every mix of contiguous rows, broadcast rows and scalars, against the loop written here. */
START_TEST(where_layouts) {
    enum { R = 9, C = 37 };
    static float m[R * C], a[R * C], b[R * C], out[R * C];
    tg_rng rng;
    tg_rng_seed(&rng, 15);
    for (int i = 0; i < R * C; i++) {
        int k = (int)tg_rng_below(&rng, 4);
        m[i] = k == 0 ? 0.0f : k == 1 ? 1.0f : k == 2 ? -0.0f : NAN;
        a[i] = (float)i;
        b[i] = (float)-i;
    }
    const int64_t shape[2] = {R, C}, full[2] = {C, 1}, row[2] = {0, 1}, scal[2] = {0, 0};
    const int64_t *lay[3] = {full, row, scal};
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    for (int li = 0; li < n_lv; li++) {
        tg_set_cpu_level(lv[li]);
        for (int lm = 0; lm < 3; lm++)
            for (int la = 0; la < 3; la++)
                for (int lb = 0; lb < 3; lb++) {
                    kern_where(TG_F32, 2, shape, out, m, lay[lm], a, lay[la], b, lay[lb]);
                    for (int i = 0; i < R; i++)
                        for (int j = 0; j < C; j++) {
                            float mv = m[i * lay[lm][0] + j * lay[lm][1]];
                            float want = mv != 0 ? a[i * lay[la][0] + j * lay[la][1]]
                                                 : b[i * lay[lb][0] + j * lay[lb][1]];
                            ck_assert_msg(memcmp(&out[i * C + j], &want, sizeof want) == 0,
                                          "%s, layouts %d %d %d: [%d, %d] is %g, want %g",
                                          tg_cpu_level_name(lv[li]), lm, la, lb, i, j,
                                          out[i * C + j], want);
                        }
                }
    }
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

/* out may be one of the inputs, as when a gradient is added into its accumulator. */
START_TEST(binary_in_place) {
    enum { N = 1000 };
    static float acc[N], g[N], want[N];
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    int64_t shape[1] = {N}, one[1] = {1};
    for (int li = 0; li < n_lv; li++) {
        tg_set_cpu_level(lv[li]);
        for (int i = 0; i < N; i++) {
            acc[i] = (float)i * 0.25f;
            g[i] = 1.0f / (float)(i + 1);
            want[i] = acc[i] + g[i];
        }
        kern_binary(KERN_ADD, TG_F32, 1, shape, acc, acc, one, g, one);
        ck_assert(memcmp(acc, want, sizeof acc) == 0);
        for (int i = 0; i < N; i++) want[i] = g[i] * acc[i];
        kern_binary(KERN_MUL, TG_F32, 1, shape, acc, g, one, acc, one);
        ck_assert(memcmp(acc, want, sizeof acc) == 0);
    }
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

/* Softmax and log-softmax of f32 rows of every length from 1 to 70 (full vectors, tails),
 * with spreads up to 2000, -inf entries, and rows holding NaN or only -inf, against double
 * precision; both layouts (contiguous rows, and a column axis that takes the plain loop). */
START_TEST(softmax_rows) {
    enum { MAXN = 70 };
    static float x[MAXN], y[MAXN];
    double ref[MAXN];
    tg_rng rng;
    tg_rng_seed(&rng, 13);
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    for (int li = 0; li < n_lv; li++) {
        tg_set_cpu_level(lv[li]);
        for (int n = 1; n <= MAXN; n++)
            for (int kind = 0; kind < 4; kind++)
                for (int lf = 0; lf < 2; lf++) {
                    double scale = kind == 0 ? 3 : kind == 1 ? 30 : kind == 2 ? 1000 : 5;
                    for (int i = 0; i < n; i++)
                        x[i] = (float)(scale * (2 * tg_rng_uniform(&rng) - 1));
                    if (kind == 3 && n > 2) x[n / 2] = -INFINITY;
                    double m = -INFINITY, sum = 0;
                    for (int i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
                    for (int i = 0; i < n; i++) sum += exp((double)x[i] - m);
                    for (int i = 0; i < n; i++)
                        ref[i] = lf ? ((double)x[i] - m) - log(sum) : exp((double)x[i] - m) / sum;
                    int64_t shape[1] = {n}, st[1] = {1};
                    kern_softmax(TG_F32, 1, shape, x, st, 0, lf, y);
                    if (!lf) {
                        /* The row form gives the same softmax, bit for bit, and the row's
                         * maximum and ln s, good to the float exponentials' 1 ulp of s. */
                        static float y2[MAXN];
                        double stats[2];
                        kern_softmax_rows(TG_F32, 1, n, x, n, 1, y2, stats);
                        ck_assert_mem_eq(y2, y, (size_t)n * sizeof *y);
                        ck_assert_double_eq(stats[0], m);
                        ck_assert_msg(fabs(stats[1] - log(sum)) <= 4e-7 * (1 + fabs(log(sum))),
                                      "n %d: ln s is %.17g, want %.17g", n, stats[1], log(sum));
                    }
                    for (int i = 0; i < n; i++) {
                        double u =
                            isinf(ref[i]) ? (y[i] == ref[i] ? 0 : INFINITY) : ulps(y[i], ref[i]);
                        /* Log-softmax adds ln s, whose float-exp terms are good to 1 ulp of s:
                         * an absolute error up to 2^-24 ln s on top of the rounding, and s
                         * itself is a double near 1 (2^-52 apart, for reference and kernel
                         * alike). */
                        if (lf && !isinf(ref[i]))
                            u = fabs(y[i] - ref[i]) /
                                (ldexp(fabs(ref[i]), -23) + ldexp(log(sum), -24) + ldexp(1.0, -52));
                        ck_assert_msg(u <= 3.0,
                                      "%s, %s, n %d, kind %d: element %d is %.9g, want %.9g",
                                      tg_cpu_level_name(lv[li]), lf ? "log_softmax" : "softmax", n,
                                      kind, i, y[i], ref[i]);
                    }
                }
        /* A NaN makes the whole row NaN; a row of -inf has no distribution (NaN). */
        float bad[5] = {1, 2, NAN, 3, 4}, ninf[3] = {-INFINITY, -INFINITY, -INFINITY};
        int64_t s5[1] = {5}, s3[1] = {3}, st[1] = {1};
        for (int lf = 0; lf < 2; lf++) {
            kern_softmax(TG_F32, 1, s5, bad, st, 0, lf, y);
            for (int i = 0; i < 5; i++) ck_assert(isnan(y[i]));
            kern_softmax(TG_F32, 1, s3, ninf, st, 0, lf, y);
            for (int i = 0; i < 3; i++) ck_assert(isnan(y[i]));
        }
        /* ... wherever the NaN sits: in a full vector or in the tail, first or last. */
        for (int n = 1; n <= MAXN; n++)
            for (int at = 0; at < 3; at++)
                for (int lf = 0; lf < 2; lf++) {
                    for (int i = 0; i < n; i++) x[i] = (float)(i % 7) - 3.0f;
                    x[at == 0 ? 0 : at == 1 ? n / 2 : n - 1] = NAN;
                    int64_t sn[1] = {n};
                    kern_softmax(TG_F32, 1, sn, x, st, 0, lf, y);
                    for (int i = 0; i < n; i++)
                        ck_assert_msg(isnan(y[i]), "%s, n %d, NaN at %d: element %d is %g",
                                      tg_cpu_level_name(lv[li]), n, at, i, y[i]);
                }
    }
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

/* Large maps are cut between threads: every element must be what one thread computes. */
/* The LSTM cell's f32 rows (kern_lstm_forward / kern_lstm_backward, one SIMD pass a row at the
 * SIMD levels) against the plain formulas written here with the level's own sigmoid and tanh
 * maps, bit for bit: widths around whole vectors (tails), gate strides wider than the width
 * (a thread's block of units), the input projection added or not, the gradient from the next
 * step added or not, dz or dc alone, NaN and infinite pre-activations. Rows 0 and 2 of 3 are
 * computed; row 1 and the entries past each block must stay untouched. */
enum { CELL_MAX_H = 37, CELL_GS = 41, CELL_B = 3 };

static float sig_of(float x) {
    float y;
    kern_unary(KERN_SIGMOID, TG_F32, 1, &x, &y, 0.0);
    return y;
}
static float tanh_of(float x) {
    float y;
    kern_unary(KERN_TANH, TG_F32, 1, &x, &y, 0.0);
    return y;
}

START_TEST(lstm_rows_are_the_plain_formulas) {
    enum { RS = 5 * CELL_GS, N = CELL_B * RS };
    static float z[N], gx[N], c[N], h[N], cn[N], act[N], gh[N], dh[N], gc[N], dz[N], dc[N];
    static float eh[N], ecn[N], eact[N], edz[N], edc[N];
    tg_rng rng;
    tg_rng_seed(&rng, 31);
    for (int i = 0; i < N; i++) {
        z[i] = (float)(12 * tg_rng_uniform(&rng) - 6);
        gx[i] = (float)(4 * tg_rng_uniform(&rng) - 2);
        c[i] = (float)(4 * tg_rng_uniform(&rng) - 2);
        gh[i] = (float)(2 * tg_rng_uniform(&rng) - 1);
        dh[i] = (float)(2 * tg_rng_uniform(&rng) - 1);
        gc[i] = (float)(2 * tg_rng_uniform(&rng) - 1);
    }
    z[2] = NAN, z[CELL_GS + 1] = INFINITY, z[3 * CELL_GS] = -INFINITY, z[2 * RS + 5] = 0.0f;
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    for (int li = 0; li < n_lv; li++) {
        tg_set_cpu_level(lv[li]);
        const char *l = tg_cpu_level_name(lv[li]);
        for (int64_t H = 1; H <= CELL_MAX_H; H += H < 18 ? 1 : 19)
            for (int v = 0; v < 8; v++) {
                bool with_gx = v & 1, with_dh = v & 2, wide = v & 4;
                int64_t gs = wide ? CELL_GS : H;
                for (int i = 0; i < N; i++) h[i] = cn[i] = act[i] = eh[i] = ecn[i] = eact[i] = -7;
                kern_lstm_fwd f = {.B = 2, .H = H, .z = z, .z_rs = 2 * RS, .z_gs = gs,
                                   .gx = with_gx ? gx : NULL, .gx_rs = 2 * RS, .gx_gs = gs,
                                   .c = c, .c_rs = 2 * RS, .h = h, .h_rs = 2 * RS, .cn = cn,
                                   .cn_rs = 2 * RS, .act = act, .act_rs = 2 * RS, .act_gs = gs};
                kern_lstm_forward(TG_F32, &f);
                for (int64_t b = 0; b < 4 * RS; b += 2 * RS)
                    for (int64_t j = 0; j < H; j++) {
                        float p[4];
                        for (int g = 0; g < 4; g++) {
                            float zz = z[b + g * gs + j];
                            p[g] = with_gx ? gx[b + g * gs + j] + zz : zz;
                        }
                        float si = sig_of(p[0]), sf = sig_of(p[1]), tg = tanh_of(p[2]);
                        float so = sig_of(p[3]), cv = sf * c[b + j] + si * tg, tc = tanh_of(cv);
                        float *a = eact + b + j;
                        a[0] = si, a[gs] = sf, a[2 * gs] = tg, a[3 * gs] = so, a[4 * gs] = tc;
                        ecn[b + j] = cv;
                        eh[b + j] = so * tc;
                    }
                for (int i = 0; i < N; i++)
                    ck_assert_msg(same_f32(h[i], eh[i]) && same_f32(cn[i], ecn[i]) &&
                                      same_f32(act[i], eact[i]),
                                  "%s forward H %lld variant %d, entry %d: h %.9g / %.9g, c' %.9g "
                                  "/ %.9g, act %.9g / %.9g",
                                  l, (long long)H, v, i, h[i], eh[i], cn[i], ecn[i], act[i],
                                  eact[i]);
                /* The backward from these activations: dz and dc, dz alone, dc alone. */
                for (int want = 1; want <= 3; want++) {
                    for (int i = 0; i < N; i++) dz[i] = dc[i] = edz[i] = edc[i] = -7;
                    kern_lstm_bwd bw = {.B = 2, .H = H, .act = act, .act_rs = 2 * RS,
                                        .act_gs = gs, .c = c, .c_rs = 2 * RS, .gh = gh,
                                        .gh_rs = 2 * RS, .dh = with_dh ? dh : NULL,
                                        .dh_rs = 2 * RS, .gc = gc, .gc_rs = 2 * RS,
                                        .dz = want & 1 ? dz : NULL, .dz_rs = 2 * RS, .dz_gs = gs,
                                        .dc = want & 2 ? dc : NULL, .dc_rs = 2 * RS};
                    kern_lstm_backward(TG_F32, &bw);
                    for (int64_t b = 0; b < 4 * RS; b += 2 * RS)
                        for (int64_t j = 0; j < H; j++) {
                            const float *a = act + b + j;
                            float si = a[0], sf = a[gs], tg = a[2 * gs], so = a[3 * gs];
                            float tc = a[4 * gs];
                            float g = with_dh ? gh[b + j] + dh[b + j] : gh[b + j];
                            float d = gc[b + j] + g * so * (1.0f - tc * tc);
                            if (want & 1) {
                                float *e = edz + b + j;
                                e[0] = d * tg * si * (1.0f - si);
                                e[gs] = d * c[b + j] * sf * (1.0f - sf);
                                e[2 * gs] = d * si * (1.0f - tg * tg);
                                e[3 * gs] = g * tc * so * (1.0f - so);
                            }
                            if (want & 2) edc[b + j] = d * sf;
                        }
                    for (int i = 0; i < N; i++)
                        ck_assert_msg(same_f32(dz[i], edz[i]) && same_f32(dc[i], edc[i]),
                                      "%s backward H %lld variant %d want %d, entry %d: dz %.9g "
                                      "/ %.9g, dc %.9g / %.9g",
                                      l, (long long)H, v, want, i, dz[i], edz[i], dc[i], edc[i]);
                }
            }
    }
    tg_set_cpu_level(TG_CPU_AVX512);
}
END_TEST

START_TEST(threads_give_the_same_bits) {
    enum { N = 300001, R = 600, C = 500 }; /* R C <= N */
    static float x[N], y1[N], y2[N], b[N];
    tg_rng rng;
    tg_rng_seed(&rng, 14);
    for (int i = 0; i < N; i++) {
        x[i] = (float)(8 * tg_rng_uniform(&rng) - 4);
        b[i] = (float)(tg_rng_uniform(&rng) + 0.5);
    }
    static const kern_unary_kind kinds[] = {KERN_EXP, KERN_ADD_SCALAR, KERN_LOG, KERN_POW_SCALAR};
    static const int counts[] = {2, 3};
    for (size_t ti = 0; ti < 2; ti++)
        for (size_t ki = 0; ki < sizeof kinds / sizeof *kinds; ki++)
            for (int64_t n = 20000; n <= N; n += 140000) {
                tg_set_threads(1);
                kern_unary(kinds[ki], TG_F32, n, x, y1, 1.5);
                tg_set_threads(counts[ti]);
                kern_unary(kinds[ki], TG_F32, n, x, y2, 1.5);
                ck_assert_msg(memcmp(y1, y2, (size_t)n * sizeof(float)) == 0,
                              "kind %d, n %lld, %d threads", (int)kinds[ki], (long long)n,
                              counts[ti]);
            }
    /* Two-input maps: contiguous, a broadcast row, a transposed operand, pow. */
    const int64_t shape[2] = {R, C};
    const int64_t cont[2] = {C, 1}, row[2] = {0, 1}, trans[2] = {1, R};
    const int64_t *bstr[3] = {cont, row, trans};
    for (size_t ti = 0; ti < 2; ti++)
        for (int bi = 0; bi < 3; bi++)
            for (int k = 0; k < 2; k++) {
                kern_binary_kind kind = k ? KERN_POW : KERN_SUB;
                tg_set_threads(1);
                kern_binary(kind, TG_F32, 2, shape, y1, x, cont, b, bstr[bi]);
                tg_set_threads(counts[ti]);
                kern_binary(kind, TG_F32, 2, shape, y2, x, cont, b, bstr[bi]);
                ck_assert_msg(memcmp(y1, y2, (size_t)(R * C) * sizeof(float)) == 0,
                              "binary kind %d, layout %d, %d threads", (int)kind, bi, counts[ti]);
            }
    tg_set_threads(1);
}
END_TEST

START_TEST(coalesce_merges_runs_only) {
    int64_t shape[TG_MAX_DIMS], st[2][TG_MAX_DIMS];
    /* Contiguous (2, 3, 4) with a broadcast scalar: one loop of 24. */
    memcpy(shape, (int64_t[]){2, 3, 4}, 3 * sizeof(int64_t));
    memcpy(st[0], (int64_t[]){12, 4, 1}, 3 * sizeof(int64_t));
    memcpy(st[1], (int64_t[]){0, 0, 0}, 3 * sizeof(int64_t));
    ck_assert_int_eq(kern_coalesce(3, shape, 2, st), 1);
    ck_assert(shape[0] == 24 && st[0][0] == 1 && st[1][0] == 0);
    /* A row broadcast (64, 256) stays two loops; a size-1 dimension disappears. */
    memcpy(shape, (int64_t[]){64, 1, 256}, 3 * sizeof(int64_t));
    memcpy(st[0], (int64_t[]){256, 256, 1}, 3 * sizeof(int64_t));
    memcpy(st[1], (int64_t[]){0, 7, 1}, 3 * sizeof(int64_t));
    ck_assert_int_eq(kern_coalesce(3, shape, 2, st), 2);
    ck_assert(shape[0] == 64 && shape[1] == 256 && st[0][0] == 256 && st[1][0] == 0 &&
              st[1][1] == 1);
    /* A transposed operand merges nothing; an all-ones shape is a single element. */
    memcpy(shape, (int64_t[]){5, 6}, 2 * sizeof(int64_t));
    memcpy(st[0], (int64_t[]){6, 1}, 2 * sizeof(int64_t));
    memcpy(st[1], (int64_t[]){1, 5}, 2 * sizeof(int64_t));
    ck_assert_int_eq(kern_coalesce(2, shape, 2, st), 2);
    ck_assert(shape[0] == 5 && shape[1] == 6 && st[1][0] == 1 && st[1][1] == 5);
    memcpy(shape, (int64_t[]){1, 1}, 2 * sizeof(int64_t));
    ck_assert_int_eq(kern_coalesce(2, shape, 2, st), 0);
}
END_TEST

/* kern_transpose_bias (copy.c), the store of a product computed transposed: at every level,
 * f32 and f64, with a bias and without, sizes with whole register blocks, edges on either side
 * or both, and a single row or column, it gives exactly src^T (+ bias), -0 kept without one. */
START_TEST(transpose_bias_every_level) {
    static const int64_t sizes[][2] = {{64, 256}, {8, 8}, {4, 12}, {19, 17}, {1, 9},
                                       {9, 1},    {16, 5}, {5, 16}, {64, 10}};
    enum { MAX = 64 * 256 };
    float *sf = malloc(MAX * sizeof *sf), *df = malloc(MAX * sizeof *df);
    double *sd = malloc(MAX * sizeof *sd), *dd = malloc(MAX * sizeof *dd);
    float bf[256];
    double bd[256];
    ck_assert(sf && df && sd && dd);
    for (int i = 0; i < MAX; i++)
        sd[i] = sf[i] = i % 5 == 3 ? -0.0f : (float)(i % 97) * 0.375f - 9.0f;
    for (int j = 0; j < 256; j++) bd[j] = bf[j] = (float)(j % 11) - 5.5f;
    tg_cpu_level lv[3];
    int n_lv = levels(lv);
    for (int li = 0; li < n_lv; li++) {
        tg_set_cpu_level(lv[li]);
        for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++)
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                int64_t rows = sizes[c][0], cols = sizes[c][1];
                kern_transpose_bias(TG_F32, rows, cols, sf, with_bias ? bf : NULL, df);
                kern_transpose_bias(TG_F64, rows, cols, sd, with_bias ? bd : NULL, dd);
                for (int64_t i = 0; i < rows; i++)
                    for (int64_t j = 0; j < cols; j++) {
                        float wf = with_bias ? sf[j * rows + i] + bf[j] : sf[j * rows + i];
                        double wd = with_bias ? sd[j * rows + i] + bd[j] : sd[j * rows + i];
                        ck_assert_msg(memcmp(&df[i * cols + j], &wf, sizeof wf) == 0 &&
                                          memcmp(&dd[i * cols + j], &wd, sizeof wd) == 0,
                                      "%s %lldx%lld bias %d at (%lld, %lld): %g %g, want %g",
                                      tg_cpu_level_name(lv[li]), (long long)rows,
                                      (long long)cols, with_bias, (long long)i, (long long)j,
                                      (double)df[i * cols + j], dd[i * cols + j], wd);
                    }
            }
    }
    tg_set_cpu_level(TG_CPU_AVX512);
    free(sf);
    free(df);
    free(sd);
    free(dd);
}
END_TEST

int main(void) {
    Suite *s = suite_create("kernels_elementwise");
    TCase *tc = tcase_create("elementwise");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, transcendental_maps_are_accurate);
    tcase_add_test(tc, gelu_tail_is_accurate);
    tcase_add_test(tc, special_values);
    tcase_add_test(tc, maps_any_length_and_in_place);
    tcase_add_test(tc, binary_layouts);
    tcase_add_test(tc, mul_gelu_grad_is_the_composition);
    tcase_add_test(tc, gelu_with_grad_is_the_plain_gelu);
    tcase_add_test(tc, binary_in_place);
    tcase_add_test(tc, where_layouts);
    tcase_add_test(tc, softmax_rows);
    tcase_add_test(tc, layer_norm_rows);
    tcase_add_test(tc, lstm_rows_are_the_plain_formulas);
    tcase_add_test(tc, threads_give_the_same_bits);
    tcase_add_test(tc, coalesce_merges_runs_only);
    tcase_add_test(tc, transpose_bias_every_level);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}

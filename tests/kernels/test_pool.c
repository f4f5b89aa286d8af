/* test_pool.c: the max-pooling kernels (src/ops/kernels/pool.c) against a plain scan written
 * here, on every instruction-set level this CPU runs, both dtypes, 1 and 2 threads: the forward
 * (selected values), the gather from another source, the scatter into a fresh buffer (every
 * element written) and the accumulating scatter, and for 2x2 windows at stride 2 the forward
 * that records its choices and the scatter from those choices alone (at every level). Planes
 * are odd, even, tiny and wide, hold ties and NaNs, and the 2x2 stride-2 fast path is checked
 * next to windows it must not take.
 *
 * Selections are exact (no arithmetic), so results must match bit for bit (NaN where NaN). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/kernels/conv.h"
#include "test_util.h"

static const tg_cpu_level levels[] = {TG_CPU_PORTABLE, TG_CPU_AVX2, TG_CPU_AVX512, TG_CPU_NEON};

/* The reference selection: the first maximum in row-major scan, NaN beating numbers, padding
 * never selected; -1 for a window of padding only. */
static int64_t ref_argmax(const kern_window *g, const double *p, int64_t oy, int64_t ox) {
    int64_t best = -1;
    for (int64_t i = 0; i < g->kh; i++)
        for (int64_t j = 0; j < g->kw; j++) {
            int64_t y = oy * g->sh - g->ph + i * g->dh, x = ox * g->sw - g->pw + j * g->dw;
            if (y < 0 || y >= g->H || x < 0 || x >= g->W) continue;
            double v = p[y * g->W + x];
            if (best < 0 || v > p[best] || (isnan(v) && !isnan(p[best]))) best = y * g->W + x;
        }
    return best;
}

static kern_window make_window(int64_t C, int64_t H, int64_t W, int64_t k, int64_t s,
                               int64_t pad, int64_t dil) {
    kern_window g = {C, H, W, k, k, s, s, pad, pad, dil, dil, 0, 0};
    g.oh = (H + 2 * pad - dil * (k - 1) - 1) / s + 1;
    g.ow = (W + 2 * pad - dil * (k - 1) - 1) / s + 1;
    return g;
}

/* Values with many ties (a few distinct levels), signed zeros and, when asked, NaNs. */
static double value_at(uint32_t *state, bool nans) {
    *state = *state * 1664525u + 1013904223u;
    uint32_t r = *state >> 8;
    if (nans && r % 23 == 0) return NAN;
    if (r % 17 == 0) return r % 2 ? 0.0 : -0.0;
    return (double)(int)(r % 7) - 3.0 + (r % 5 == 0 ? 0.25 : 0.0);
}

static void *to_dtype(const double *v, int64_t n, tg_dtype dt) {
    size_t es = dt == TG_F32 ? sizeof(float) : sizeof(double);
    char *buf = malloc((size_t)(n > 0 ? n : 1) * es);
    ck_assert_ptr_nonnull(buf);
    for (int64_t i = 0; i < n; i++) {
        if (dt == TG_F32)
            ((float *)(void *)buf)[i] = (float)v[i];
        else
            ((double *)(void *)buf)[i] = v[i];
    }
    return buf;
}

static double get(const void *buf, tg_dtype dt, int64_t i) {
    return dt == TG_F32 ? (double)((const float *)buf)[i] : ((const double *)buf)[i];
}

/* Equal as the kernels must be: same value, same sign of zero, NaN where NaN. */
static bool same(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return a == b && signbit(a) == signbit(b);
}

/* Runs every max-pool kernel on window g and compares with the reference scan. */
static void check_window(const kern_window *g, tg_dtype dt, bool nans, uint32_t seed) {
    int64_t n_in = g->C * g->H * g->W, n_out = g->C * g->oh * g->ow;
    double *x = malloc((size_t)(n_in + 1) * sizeof *x);
    double *src = malloc((size_t)(n_in + 1) * sizeof *src);
    double *gr = malloc((size_t)(n_out + 1) * sizeof *gr);
    double *want_in = calloc((size_t)(n_in + 1), sizeof *want_in);
    double *want_out = calloc((size_t)(n_out + 1), sizeof *want_out);
    int64_t *sel = malloc((size_t)(n_out + 1) * sizeof *sel);
    ck_assert(x && src && gr && want_in && want_out && sel);
    uint32_t st = seed;
    for (int64_t i = 0; i < n_in; i++) x[i] = value_at(&st, nans);
    for (int64_t i = 0; i < n_in; i++) src[i] = 1000.0 + (double)i;
    for (int64_t i = 0; i < n_out; i++) gr[i] = 0.5 + (double)(i % 97);
    for (int64_t c = 0; c < g->C; c++)
        for (int64_t oy = 0; oy < g->oh; oy++)
            for (int64_t ox = 0; ox < g->ow; ox++) {
                int64_t k = ref_argmax(g, x + c * g->H * g->W, oy, ox);
                sel[(c * g->oh + oy) * g->ow + ox] = k < 0 ? -1 : c * g->H * g->W + k;
            }
    char what[160];
    snprintf(what, sizeof what, "%s C=%lld H=%lld W=%lld k=%lld s=%lld p=%lld d=%lld nans=%d",
             tg_dtype_name(dt), (long long)g->C, (long long)g->H, (long long)g->W,
             (long long)g->kh, (long long)g->sh, (long long)g->ph, (long long)g->dh, nans);

    void *xd = to_dtype(x, n_in, dt), *sd = to_dtype(src, n_in, dt), *gd = to_dtype(gr, n_out, dt);
    void *out = to_dtype(want_out, n_out, dt), *img = to_dtype(want_in, n_in, dt);

    /* forward: the selected values of x */
    kern_max_pool(dt, g, xd, out);
#define SELECTED(i) (sel[i] < 0 ? -INFINITY : get(xd, dt, sel[i]))
    tg_ck_assert_each(i, n_out, same(get(out, dt, i), SELECTED(i)),
                      "forward %s: out[%lld] = %g, want %g", what, (long long)i, get(out, dt, i),
                      SELECTED(i));
#undef SELECTED
    /* gather: src read at x's selections */
    kern_max_pool_gather(dt, g, xd, sd, out);
#define GATHERED(i) (sel[i] < 0 ? -INFINITY : src[sel[i]])
    tg_ck_assert_each(i, n_out, same(get(out, dt, i), GATHERED(i)),
                      "gather %s: out[%lld] = %g, want %g", what, (long long)i, get(out, dt, i),
                      GATHERED(i));
#undef GATHERED
    /* scatter into a buffer full of garbage: every element must be written */
    memset(want_in, 0, (size_t)n_in * sizeof *want_in);
    for (int64_t i = 0; i < n_out; i++)
        if (sel[i] >= 0) want_in[sel[i]] += gr[i];
    for (int64_t i = 0; i < n_in; i++) {
        if (dt == TG_F32)
            ((float *)img)[i] = NAN;
        else
            ((double *)img)[i] = NAN;
    }
    kern_max_pool_scatter(dt, g, xd, gd, img);
    tg_ck_assert_each(i, n_in, same(get(img, dt, i), want_in[i]),
                      "scatter %s: in[%lld] = %g, want %g", what, (long long)i, get(img, dt, i),
                      want_in[i]);
    /* the accumulating scatter adds onto what is there */
    kern_max_pool_scatter_add(dt, g, xd, gd, img);
    tg_ck_assert_each(i, n_in, same(get(img, dt, i), 2 * want_in[i]),
                      "scatter_add %s: in[%lld] = %g, want %g", what, (long long)i,
                      get(img, dt, i), 2 * want_in[i]);
    /* The 2x2 path's recorded choices, and the scatter from them alone. */
    if (kern_max_pool2_fast(g)) {
        int64_t n_ch = kern_max_pool2_choice_elems(g);
        uint16_t *choice = malloc((size_t)(n_ch + 1) * sizeof *choice);
        ck_assert_ptr_nonnull(choice);
        memset(choice, 0xff, (size_t)(n_ch + 1) * sizeof *choice); /* stale bits must not stay */
        kern_max_pool2_select(dt, g, xd, out, choice);
        tg_ck_assert_each(i, n_out, same(get(out, dt, i), get(xd, dt, sel[i])),
                          "select %s: out[%lld]", what, (long long)i);
        for (int64_t i = 0; i < n_in; i++) {
            if (dt == TG_F32)
                ((float *)img)[i] = NAN;
            else
                ((double *)img)[i] = NAN;
        }
        kern_max_pool2_scatter_sel(dt, g, choice, gd, img);
        tg_ck_assert_each(i, n_in, same(get(img, dt, i), want_in[i]),
                          "scatter_sel %s: in[%lld] = %g, want %g", what, (long long)i,
                          get(img, dt, i), want_in[i]);
        /* Choices recorded at this level mean the same at every other (this one was just
         * checked above). */
        tg_cpu_level was = tg_get_cpu_level();
        for (int l = 0; l < (int)(sizeof levels / sizeof *levels); l++) {
            if (levels[l] == was || !tg_test_enter_level(levels[l])) continue;
            memset(img, 0xff, (size_t)n_in * (dt == TG_F32 ? sizeof(float) : sizeof(double)));
            kern_max_pool2_scatter_sel(dt, g, choice, gd, img);
            tg_ck_assert_each(i, n_in, same(get(img, dt, i), want_in[i]),
                              "scatter_sel %s at level %d: in[%lld]", what, l, (long long)i);
        }
        tg_set_cpu_level(was);
        free(choice);
    } else {
        ck_assert(g->kh != 2 || g->kw != 2 || g->sh != 2 || g->sw != 2 || g->ph || g->pw ||
                  g->dh != 1 || g->dw != 1);
    }
    free(xd), free(sd), free(gd), free(out), free(img);
    free(x), free(src), free(gr), free(want_in), free(want_out), free(sel);
}

/* Selects loop iteration i's level and thread count, or returns false when the CPU lacks it. */
static bool enter(int i) {
    tg_cpu_level l = levels[i / 2];
    tg_set_threads(1 + i % 2);
    return tg_test_enter_level(l);
}

START_TEST(test_pool2_fast_path) {
    if (!enter(_i)) return;
    static const int64_t sizes[] = {2, 3, 4, 5, 7, 10, 17, 28, 31, 32, 33, 34, 35, 67};
    int n = (int)(sizeof sizes / sizeof *sizes);
    for (int dt = 0; dt < 2; dt++)
        for (int a = 0; a < n; a++)
            for (int b = a % 3; b < n; b += 3) {
                kern_window g = make_window(3, sizes[a], sizes[b], 2, 2, 0, 1);
                check_window(&g, dt ? TG_F64 : TG_F32, (a + b) % 2 == 0,
                             (uint32_t)(a * 131 + b * 7 + dt));
            }
}
END_TEST

/* Enough planes that two threads share them (the kernels split from 2^16 input elements). */
START_TEST(test_pool2_many_planes) {
    if (!enter(_i)) return;
    for (int dt = 0; dt < 2; dt++) {
        kern_window g = make_window(97, 28, 27, 2, 2, 0, 1);
        check_window(&g, dt ? TG_F64 : TG_F32, true, 5u + (uint32_t)dt);
        g = make_window(1, 256, 259, 2, 2, 0, 1);
        check_window(&g, dt ? TG_F64 : TG_F32, false, 9u);
    }
}
END_TEST

/* Windows next to the fast path's: padding, other strides, dilation, larger kernels. */
START_TEST(test_pool_general_windows) {
    if (!enter(_i)) return;
    static const int64_t geo[][4] = {/* k, s, pad, dil */
                                     {2, 2, 1, 1}, {2, 1, 0, 1}, {2, 2, 0, 2}, {3, 2, 1, 1},
                                     {3, 3, 0, 1}, {1, 1, 0, 1}, {2, 3, 0, 1}, {3, 1, 1, 2}};
    for (int dt = 0; dt < 2; dt++)
        for (int k = 0; k < (int)(sizeof geo / sizeof *geo); k++)
            for (int64_t h = 5; h <= 12; h += 7) {
                kern_window g = make_window(2, h, h + 3, geo[k][0], geo[k][1], geo[k][2],
                                            geo[k][3]);
                check_window(&g, dt ? TG_F64 : TG_F32, k % 2 == 0, (uint32_t)(k + 3 * dt));
            }
}
END_TEST

/* The max_pool2d op's backward through the public API: the 2x2 path's scatter (no zero fill)
 * must give the same gradient as the rule's definition, dx = zeros plus g at the selections. */
START_TEST(test_pool2_op_backward) {
    if (!enter(_i)) return;
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_store_param(s, "x", TG_F32, TG_SHAPE(2, 3, 7, 6));
    ck_assert_ptr_nonnull(x);
    uint32_t st = 11;
    float xv[252];
    for (int64_t i = 0; i < 252; i++) xv[i] = (float)value_at(&st, false);
    ck_assert_int_eq(tg_tensor_copy_in(x, TG_F32, xv), TG_OK);
    /* Fill the arena with garbage first so that an unwritten gradient element would show. */
    tg_tensor *junk = tg_full(t, TG_F32, TG_SHAPE(4096), NAN);
    ck_assert_ptr_nonnull(junk);
    tg_tape_reset(t);
    const tg_pool2d_params pool = {.kernel = {2, 2}};
    tg_tensor *y = tg_max_pool2d(t, x, &pool);
    ck_assert_ptr_nonnull(y);
    tg_tensor *gy = tg_full(t, TG_F32, TG_SHAPE(2, 3, 3, 3), 2.0);
    ck_assert_int_eq(tg_tape_backward(t, y, gy, 0), TG_OK);
    tg_tensor *gx = tg_tensor_grad(x);
    kern_window g = make_window(6, 7, 6, 2, 2, 0, 1);
    for (int64_t c = 0; c < 6; c++) {
        double plane[42];
        for (int64_t i = 0; i < 42; i++) plane[i] = tg_tensor_get(x, c * 42 + i);
        double want[42] = {0};
        for (int64_t oy = 0; oy < g.oh; oy++)
            for (int64_t ox = 0; ox < g.ow; ox++) want[ref_argmax(&g, plane, oy, ox)] += 2.0;
        for (int64_t i = 0; i < 42; i++)
            ck_assert_msg(tg_tensor_get(gx, c * 42 + i) == want[i], "plane %lld elem %lld: %g, "
                          "want %g", (long long)c, (long long)i, tg_tensor_get(gx, c * 42 + i),
                          want[i]);
    }
    tg_tape_free(t);
    tg_store_free(s);
}
END_TEST

static Suite *pool_suite(void) {
    Suite *s = suite_create("pool");
    int n = 2 * (int)(sizeof levels / sizeof *levels);
    TCase *c = tcase_create("max_pool");
    tcase_set_timeout(c, 300);
    tcase_add_loop_test(c, test_pool2_fast_path, 0, n);
    tcase_add_loop_test(c, test_pool2_many_planes, 0, n);
    tcase_add_loop_test(c, test_pool_general_windows, 0, n);
    tcase_add_loop_test(c, test_pool2_op_backward, 0, n);
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tg_test_run(pool_suite()); }

/* test_conv_direct.c: the direct convolution kernels (src/ops/kernels/conv_direct.c and
 * conv_lanes.c), reached through the conv2d ops in f32 at each CPU level and 1 or 2 threads
 * (each case names the path it must take at AVX-512 and AVX2), against the same ops in f64 (always
 * the im2col path) on the same values: forward, weight gradient, input gradient, and all three
 * through the reverse sweep; the forward with a bias too (added inside the kernels). Shapes cover one and several channels, groups, padding on one
 * axis or both, kernels from 1x1 to 5x5 and 2x7, rows of 12 to 40 columns (one strip, a strip
 * and a tail, several strips), odd output channel counts (blocks and remainders), batches
 * large enough for the threads to share, and for the lanes path whole and partial groups of 16
 * images and channels whose taps do not fill whole blocks.
 *
 * Tolerance: for a K-term sum computed in f32, |err| <= K u sum|terms| with u = 2^-24; the sum of
 * absolute terms is the f64 op applied to |x| and |w| (or |g|), so every element gets its own
 * rigorous bound (times 2), far below any wrong tap, channel or image. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/kernels/conv.h"
#include "test_util.h"

static const tg_cpu_level levels[] = {TG_CPU_PORTABLE, TG_CPU_AVX2, TG_CPU_AVX512, TG_CPU_NEON};

typedef struct conv_case {
    int64_t N, C, H, W, O, kh, kw;
    int ph, pw, groups;
    char path; /* at AVX-512: 'd' direct, 'l' images in lanes, 'c' columns */
} conv_case;

static const conv_case cases[] = {
    {3, 1, 28, 28, 6, 5, 5, 2, 2, 1, 'd'},   /* LeNet's first layer */
    {2, 1, 12, 12, 1, 1, 1, 0, 0, 1, 'd'},   /* 1x1, one strip exactly 12 wide */
    {1, 1, 16, 16, 7, 3, 3, 1, 1, 1, 'd'},   /* one full strip */
    {2, 2, 9, 17, 5, 3, 3, 1, 1, 1, 'd'},    /* a strip and a 1-column tail */
    {3, 3, 7, 40, 9, 2, 7, 0, 3, 1, 'd'},    /* wide kernel, padding on one axis, 3 strips */
    {2, 4, 6, 20, 6, 3, 3, 0, 1, 2, 'd'},    /* groups: 2 channels and 3 outputs each */
    {1, 2, 30, 33, 13, 5, 5, 1, 2, 1, 'd'},  /* remainder blocks of outputs and taps */
    {2, 1, 14, 14, 16, 3, 3, 2, 2, 1, 'd'},  /* padding larger than needed on both axes */
    {16, 1, 28, 28, 6, 5, 5, 2, 2, 1, 'd'},  /* enough work to share between threads */
    {0, 1, 28, 28, 6, 5, 5, 2, 2, 1, 'd'},   /* no images */
    {64, 6, 14, 14, 16, 5, 5, 0, 0, 1, 'l'}, /* LeNet's second layer */
    {8, 6, 14, 14, 16, 5, 5, 0, 0, 1, 'l'},  /* half a group of lanes */
    {17, 3, 9, 11, 5, 3, 3, 1, 0, 1, 'l'},   /* a group and one image; odd outputs */
    {33, 4, 5, 7, 10, 3, 2, 1, 2, 2, 'l'},   /* groups, padding, rows shorter than a block */
    {20, 20, 6, 6, 7, 3, 3, 1, 1, 1, 'l'},   /* 180 taps: blocks of taps with a remainder */
    {9, 1, 9, 9, 2, 1, 1, 0, 0, 1, 'l'},     /* 1x1 kernel, 9-column rows */
    {12, 5, 8, 9, 7, 3, 4, 2, 1, 1, 'l'},    /* one AVX2 group and a half; 7 = 3 + 2 + 2 */
    {7, 6, 14, 14, 16, 5, 5, 0, 0, 1, 'c'},  /* too few images for the lanes */
};

/* Exactly representable values in [-1, 1). */
static void fill(float *v, int64_t n, uint32_t seed) {
    uint32_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = (float)((int)(s >> 20) - 2048) / 2048.0f;
    }
}

static tg_tensor *tensor_nd(tg_tape *t, tg_dtype dt, int ndim, const int64_t *shape,
                            const float *v, bool absv) {
    tg_tensor *x = tg_zeros(t, dt, ndim, shape);
    ck_assert_ptr_nonnull(x);
    int64_t n = tg_tensor_numel(x);
    double *d = malloc((size_t)(n + 1) * sizeof *d);
    ck_assert_ptr_nonnull(d);
    for (int64_t i = 0; i < n; i++) d[i] = absv ? fabs((double)v[i]) : (double)v[i];
    ck_assert_int_eq(tg_tensor_copy_in(x, TG_F64, d), TG_OK);
    free(d);
    return x;
}

static tg_tensor *tensor(tg_tape *t, tg_dtype dt, const int64_t *shape, const float *v, bool absv) {
    return tensor_nd(t, dt, 4, shape, v, absv);
}

static double tol_at(const tg_tensor *bound, double K, int64_t i) {
    return 2.0 * K * ldexp(1.0, -24) * tg_tensor_get(bound, i) + 1e-30;
}

/* Asserts |got - want| <= 2 K u bound elementwise. */
static void check_close(const tg_tensor *got, const tg_tensor *want, const tg_tensor *bound,
                        double K, const char *what, int ci) {
    ck_assert_ptr_nonnull(got);
    ck_assert_ptr_nonnull(want);
    ck_assert_ptr_nonnull(bound);
    int64_t n = tg_tensor_numel(want);
    ck_assert_int_eq(tg_tensor_numel(got), n);
    tg_ck_assert_each(i, n,
                      fabs(tg_tensor_get(got, i) - tg_tensor_get(want, i)) <= tol_at(bound, K, i),
                      "case %d %s: element %lld is %.9g, want %.9g (tol %g)", ci, what,
                      (long long)i, tg_tensor_get(got, i), tg_tensor_get(want, i),
                      tol_at(bound, K, i));
}

static void run_case(int ci, tg_cpu_level level) {
    const conv_case *c = &cases[ci];
    tg_conv2d_params p = {{1, 1}, {c->ph, c->pw}, {1, 1}, c->groups};
    int64_t cg = c->C / c->groups, oh = c->H + 2 * c->ph - c->kh + 1;
    int64_t ow = c->W + 2 * c->pw - c->kw + 1;
    int64_t xs[4] = {c->N, c->C, c->H, c->W}, ws[4] = {c->O, cg, c->kh, c->kw};
    int64_t ys[4] = {c->N, c->O, oh, ow};
    int64_t nx = c->N * c->C * c->H * c->W, nw = c->O * cg * c->kh * c->kw;
    int64_t ny = c->N * c->O * oh * ow;
    float *xv = malloc((size_t)(nx + 1) * sizeof *xv), *wv = malloc((size_t)(nw + 1) * sizeof *wv);
    float *gv = malloc((size_t)(ny + 1) * sizeof *gv), *bv = malloc((size_t)(c->O + 1) * sizeof *bv);
    ck_assert(xv && wv && gv && bv);
    fill(xv, nx, 1u + (uint32_t)ci), fill(wv, nw, 100u + (uint32_t)ci), fill(gv, ny, 7u);
    fill(bv, c->O, 55u + (uint32_t)ci);

    /* The path the f32 ops take at this level (conv2d tries direct, then lanes, then columns). */
    kern_window win = {cg, c->H, c->W, c->kh, c->kw, 1, 1, c->ph, c->pw, 1, 1, oh, ow};
    bool direct = kern_conv_direct_usable(TG_F32, &win);
    bool lanes = !direct && kern_conv_lanes_usable(TG_F32, &win, c->N);
    char path = direct ? 'd' : lanes ? 'l' : 'c';
    ck_assert_msg(path == (level != TG_CPU_PORTABLE ? c->path : 'c'), "case %d takes path %c", ci,
                  path);
    if (c->path == 'l' && level != TG_CPU_PORTABLE) ck_assert(lanes);
    ck_assert(!kern_conv_direct_usable(TG_F64, &win));
    ck_assert(!kern_conv_lanes_usable(TG_F64, &win, c->N));

    tg_tape *t = tg_tape_new();
    ck_assert_ptr_nonnull(t);
    tg_tape_set_grad_enabled(t, false);
    tg_tensor *x32 = tensor(t, TG_F32, xs, xv, false), *w32 = tensor(t, TG_F32, ws, wv, false);
    tg_tensor *g32 = tensor(t, TG_F32, ys, gv, false);
    tg_tensor *x64 = tensor(t, TG_F64, xs, xv, false), *w64 = tensor(t, TG_F64, ws, wv, false);
    tg_tensor *g64 = tensor(t, TG_F64, ys, gv, false);
    tg_tensor *xa = tensor(t, TG_F64, xs, xv, true), *wa = tensor(t, TG_F64, ws, wv, true);
    tg_tensor *ga = tensor(t, TG_F64, ys, gv, true);

    double k_fwd = (double)(cg * c->kh * c->kw), k_wg = (double)(c->N * oh * ow);
    double k_ig = (double)(c->O / c->groups * c->kh * c->kw);
    tg_tensor *dx32 = tg_conv2d_input_grad(t, g32, w32, xs, &p);
    check_close(dx32, tg_conv2d_input_grad(t, g64, w64, xs, &p),
                tg_conv2d_input_grad(t, ga, wa, xs, &p), k_ig, "input_grad", ci);
    tg_tensor *y32 = tg_conv2d(t, x32, w32, NULL, &p);
    check_close(y32, tg_conv2d(t, x64, w64, NULL, &p), tg_conv2d(t, xa, wa, NULL, &p), k_fwd,
                "forward", ci);
    /* With a bias: K + 1 terms, the bias's absolute value in the bound. */
    int64_t bs[1] = {c->O};
    tg_tensor *b32 = tensor_nd(t, TG_F32, 1, bs, bv, false), *b64 = tensor_nd(t, TG_F64, 1, bs, bv, false);
    tg_tensor *ba = tensor_nd(t, TG_F64, 1, bs, bv, true);
    check_close(tg_conv2d(t, x32, w32, b32, &p), tg_conv2d(t, x64, w64, b64, &p),
                tg_conv2d(t, xa, wa, ba, &p), k_fwd + 1, "forward with bias", ci);
    tg_tensor *dw32 = tg_conv2d_weight_grad(t, x32, g32, ws, &p);
    check_close(dw32, tg_conv2d_weight_grad(t, x64, g64, ws, &p),
                tg_conv2d_weight_grad(t, xa, ga, ws, &p), k_wg, "weight_grad", ci);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);

    /* Through the sweep: conv2d recorded with a weight that wants its gradient (the column path
     * would keep columns here; the direct one keeps none and computes the gradient itself). */
    tg_tape_set_grad_enabled(t, true);
    tg_store *s = tg_store_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F32, 4, ws);
    tg_tensor *x = tg_store_param(s, "x", TG_F32, 4, xs);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(tg_tensor_copy_in(w, TG_F32, wv), TG_OK);
    ck_assert_int_eq(tg_tensor_copy_in(x, TG_F32, xv), TG_OK);
    tg_tensor *y = tg_conv2d(t, x, w, NULL, &p);
    ck_assert_int_eq(tg_tape_backward(t, y, g32, 0), TG_OK);
    check_close(y, tg_conv2d(t, x64, w64, NULL, &p), tg_conv2d(t, xa, wa, NULL, &p), k_fwd,
                "recorded forward", ci);
    check_close(tg_tensor_grad(w), tg_conv2d_weight_grad(t, x64, g64, ws, &p),
                tg_conv2d_weight_grad(t, xa, ga, ws, &p), k_wg, "swept weight grad", ci);
    check_close(tg_tensor_grad(x), tg_conv2d_input_grad(t, g64, w64, xs, &p),
                tg_conv2d_input_grad(t, ga, wa, xs, &p), k_ig, "swept input grad", ci);
    ck_assert_int_eq(tg_tape_status(t), TG_OK);
    tg_store_free(s);
    tg_tape_free(t);
    free(xv), free(wv), free(gv), free(bv);
}

START_TEST(test_direct_against_f64) {
    tg_cpu_level l = levels[_i / 2];
    tg_set_threads(1 + _i % 2);
    if (!tg_test_enter_level(l)) return;
    for (int ci = 0; ci < (int)(sizeof cases / sizeof *cases); ci++) run_case(ci, l);
}
END_TEST

/* What the direct path does not take, at AVX2 (_i 1), AVX-512 (_i 2) and NEON (_i 3): other
 * strides and dilations, many taps, short rows. */
START_TEST(test_direct_declines) {
    tg_cpu_level l = levels[_i];
    if (!tg_test_enter_level(l)) return;
    kern_window base = {1, 28, 28, 5, 5, 1, 1, 2, 2, 1, 1, 28, 28};
    ck_assert(kern_conv_direct_usable(TG_F32, &base));
    kern_window k = base;
    k.sw = 2, k.ow = 14;
    ck_assert(!kern_conv_direct_usable(TG_F32, &k));
    k = base, k.dh = 2;
    ck_assert(!kern_conv_direct_usable(TG_F32, &k));
    k = base, k.C = 6; /* 150 taps: the column path's products do better */
    ck_assert(!kern_conv_direct_usable(TG_F32, &k));
    k = base, k.ow = 10;
    ck_assert(!kern_conv_direct_usable(TG_F32, &k));
    /* Nor does either path run at the portable level. */
    tg_set_cpu_level(TG_CPU_PORTABLE);
    ck_assert(!kern_conv_direct_usable(TG_F32, &base));
    ck_assert(!kern_conv_lanes_usable(TG_F32, &base, 64));
}
END_TEST

static Suite *conv_direct_suite(void) {
    Suite *s = suite_create("conv_direct");
    TCase *c = tcase_create("direct");
    tcase_set_timeout(c, 300);
    tcase_add_loop_test(c, test_direct_against_f64, 0, 2 * (int)(sizeof levels / sizeof *levels));
    tcase_add_loop_test(c, test_direct_declines, 1, (int)(sizeof levels / sizeof *levels));
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tg_test_run(conv_direct_suite()); }

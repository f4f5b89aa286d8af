/* test_conv_paths.c: conv2d and its two gradient ops against the defining sums, evaluated here
 * in double, on geometries that reach every path of the kernels: images batched into one
 * product and split across several chunks (a last chunk of one image), strides, padding wider
 * than some kernel columns reach, dilation and groups, in f32 and f64; and conv2d's own
 * backward, whose weight gradient reuses the forward's columns; with a bias too, which the
 * direct and lanes kernels add inside the convolution. Each result element is
 * compared with its sum within a tolerance scaled by the sum of the absolute values of its
 * terms (the most rounding can move it), so no value comes from tapegrad itself.
 *
 * Max pooling and its scatter adjoint, at every CPU level, against a window scan written here:
 * rows wider than one pass of the kernel's row selection, windows inside and across the
 * padding, strides 1, 2 and 3, dilation, many ties and some NaNs, whose selection must be
 * exactly the first largest (first NaN) in row-major window order. Everything also runs on two
 * threads, which share images (convolution) and planes (pooling). */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "test_util.h"

#define DT ((tg_dtype)_i)

typedef struct geom {
    int64_t N, C, H, W, O, kh, kw;
    tg_conv2d_params p;
} geom;

static int64_t out_size(int64_t in, int k, int s, int pad, int d) {
    return (in + 2 * pad - d * (k - 1) - 1) / (s ? s : 1) + 1;
}

static tg_tensor *random_tensor(tg_tape *t, tg_dtype dt, tg_rng *rng, int ndim,
                                const int64_t *shape) {
    tg_tensor *x = tg_uniform(t, rng, dt, ndim, shape, -1.0, 1.0);
    ck_assert_ptr_nonnull(x);
    return x;
}

/* x's element (n, c, y, x) as a double, 0 outside the image. */
static double at4(const tg_tensor *x, int64_t a, int64_t b, int64_t c, int64_t d) {
    if (c < 0 || c >= tg_tensor_dim(x, 2) || d < 0 || d >= tg_tensor_dim(x, 3)) return 0.0;
    return tg_tensor_get(
        x, ((a * tg_tensor_dim(x, 1) + b) * tg_tensor_dim(x, 2) + c) * tg_tensor_dim(x, 3) + d);
}

/* The reference sums of one result, and the bound each element may differ by. */
typedef struct expected {
    int64_t n;
    double *want, *tol;
} expected;

static expected expected_new(int64_t n) {
    expected e = {n, calloc((size_t)n, sizeof(double)), calloc((size_t)n, sizeof(double))};
    ck_assert(e.want && e.tol);
    return e;
}

static void expected_set(expected *e, tg_dtype dt, int64_t i, double want, double abs_sum) {
    e->want[i] = want;
    e->tol[i] = (dt == TG_F32 ? 2e-6 : 1e-13) * (abs_sum + 1e-30);
}

static void expect_all(const char *what, tg_dtype dt, const tg_tensor *y, const expected *e) {
    ck_assert_int_eq(tg_tensor_numel(y), e->n);
    tg_ck_assert_each(i, e->n, fabs(tg_tensor_get(y, i) - e->want[i]) <= e->tol[i],
                      "%s (%s, %s, %d threads): element %lld is %.10g, want %.10g", what,
                      tg_dtype_name(dt), tg_cpu_level_name(tg_get_cpu_level()), tg_get_threads(),
                      (long long)i, tg_tensor_get(y, i), e->want[i]);
}

static void expected_free(expected *e) { free(e->want), free(e->tol); }

/* The sums once, then the three ops at every CPU level the machine has (f32 columns are built
 * by SIMD code above the portable one), on one thread and on two (which share a chunk's
 * images). */
static void check_geometry(tg_dtype dt, const geom *g) {
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 21);
    int sh = g->p.stride[0] ? g->p.stride[0] : 1, sw = g->p.stride[1] ? g->p.stride[1] : 1;
    int dh = g->p.dilation[0] ? g->p.dilation[0] : 1, dw = g->p.dilation[1] ? g->p.dilation[1] : 1;
    int ph = g->p.padding[0], pw = g->p.padding[1], G = g->p.groups ? g->p.groups : 1;
    int64_t OH = out_size(g->H, (int)g->kh, sh, ph, dh),
            OW = out_size(g->W, (int)g->kw, sw, pw, dw);
    int64_t Cg = g->C / G, og = g->O / G;
    int64_t xs[4] = {g->N, g->C, g->H, g->W}, ws[4] = {g->O, Cg, g->kh, g->kw};
    int64_t ys[4] = {g->N, g->O, OH, OW};
    tg_tensor *x = random_tensor(t, dt, &rng, 4, xs), *w = random_tensor(t, dt, &rng, 4, ws);
    tg_tensor *gy = random_tensor(t, dt, &rng, 4, ys);
    tg_tensor *b = random_tensor(t, dt, &rng, 1, (int64_t[]){g->O});
    expected eyb = expected_new(g->N * g->O * OH * OW), egb = expected_new(g->O);
    expected ey = expected_new(g->N * g->O * OH * OW),
             egx = expected_new(g->N * g->C * g->H * g->W);
    expected egw = expected_new(g->O * Cg * g->kh * g->kw);

    for (int64_t n = 0; n < g->N; n++)
        for (int64_t o = 0; o < g->O; o++)
            for (int64_t p = 0; p < OH; p++)
                for (int64_t q = 0; q < OW; q++) {
                    double s = 0, a = 0;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int64_t i = 0; i < g->kh; i++)
                            for (int64_t j = 0; j < g->kw; j++) {
                                double v = at4(x, n, (o / og) * Cg + c, p * sh - ph + i * dh,
                                               q * sw - pw + j * dw) *
                                           at4(w, o, c, i, j);
                                s += v, a += fabs(v);
                            }
                    int64_t i = ((n * g->O + o) * OH + p) * OW + q;
                    double bo = tg_tensor_get(b, o);
                    expected_set(&ey, dt, i, s, a);
                    expected_set(&eyb, dt, i, s + bo, a + fabs(bo));
                }
    for (int64_t o = 0; o < g->O; o++) {
        double s = 0, a = 0;
        for (int64_t n = 0; n < g->N; n++)
            for (int64_t k = 0; k < OH * OW; k++) {
                double v = tg_tensor_get(gy, (n * g->O + o) * OH * OW + k);
                s += v, a += fabs(v);
            }
        expected_set(&egb, dt, o, s, a);
    }
    /* The input gradient: every output position that reads (n, ci, yy, xx) contributes. */
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t ci = 0; ci < g->C; ci++)
            for (int64_t yy = 0; yy < g->H; yy++)
                for (int64_t xx = 0; xx < g->W; xx++) {
                    double s = 0, a = 0;
                    int64_t grp = ci / Cg, c = ci % Cg;
                    for (int64_t o = grp * og; o < (grp + 1) * og; o++)
                        for (int64_t i = 0; i < g->kh; i++)
                            for (int64_t j = 0; j < g->kw; j++) {
                                int64_t py = yy + ph - i * dh, qx = xx + pw - j * dw;
                                if (py % sh || qx % sw || py < 0 || qx < 0) continue;
                                if (py / sh >= OH || qx / sw >= OW) continue;
                                double v = at4(gy, n, o, py / sh, qx / sw) * at4(w, o, c, i, j);
                                s += v, a += fabs(v);
                            }
                    expected_set(&egx, dt, ((n * g->C + ci) * g->H + yy) * g->W + xx, s, a);
                }
    for (int64_t o = 0; o < g->O; o++)
        for (int64_t c = 0; c < Cg; c++)
            for (int64_t i = 0; i < g->kh; i++)
                for (int64_t j = 0; j < g->kw; j++) {
                    double s = 0, a = 0;
                    for (int64_t n = 0; n < g->N; n++)
                        for (int64_t p = 0; p < OH; p++)
                            for (int64_t q = 0; q < OW; q++) {
                                double v = at4(x, n, (o / og) * Cg + c, p * sh - ph + i * dh,
                                               q * sw - pw + j * dw) *
                                           at4(gy, n, o, p, q);
                                s += v, a += fabs(v);
                            }
                    expected_set(&egw, dt, ((o * Cg + c) * g->kh + i) * g->kw + j, s, a);
                }
    for (int threads = 1; threads <= 2; threads++)
        for (int l = TG_CPU_PORTABLE; l < TG_TEST_N_LEVELS; l++) {
            tg_set_threads(threads);
            if (!tg_test_enter_level((tg_cpu_level)l)) continue;
            tg_tensor *y = tg_conv2d(t, x, w, NULL, &g->p);
            tg_tensor *gx = tg_conv2d_input_grad(t, gy, w, xs, &g->p);
            tg_tensor *gw = tg_conv2d_weight_grad(t, x, gy, ws, &g->p);
            ck_assert_msg(y && gx && gw, "%s", tg_tape_error(t));
            expect_all("conv2d", dt, y, &ey);
            expect_all("conv2d_input_grad", dt, gx, &egx);
            expect_all("conv2d_weight_grad", dt, gw, &egw);
            /* Through conv2d's backward: its weight gradient reuses the forward's columns. */
            tg_tensor_set_requires_grad(x, true);
            tg_tensor_set_requires_grad(w, true);
            tg_tensor *leaves[2] = {x, w}, *grads[2];
            ck_assert_int_eq(tg_tape_grad(t, tg_conv2d(t, x, w, NULL, &g->p), gy, 2, leaves,
                                          grads, 0),
                             TG_OK);
            expect_all("conv2d backward, input", dt, grads[0], &egx);
            expect_all("conv2d backward, weight (kept columns)", dt, grads[1], &egw);
            /* With a bias: one node, the bias added inside the convolution. */
            expect_all("conv2d with bias", dt, tg_conv2d(t, x, w, b, &g->p), &eyb);
            tg_tensor_set_requires_grad(b, true);
            tg_tensor *leaves3[3] = {x, w, b}, *grads3[3];
            ck_assert_int_eq(tg_tape_grad(t, tg_conv2d(t, x, w, b, &g->p), gy, 3, leaves3, grads3,
                                          0),
                             TG_OK);
            expect_all("conv2d with bias backward, input", dt, grads3[0], &egx);
            expect_all("conv2d with bias backward, weight", dt, grads3[1], &egw);
            expect_all("conv2d with bias backward, bias", dt, grads3[2], &egb);
            tg_tensor_set_requires_grad(x, false);
            tg_tensor_set_requires_grad(w, false);
            tg_tensor_set_requires_grad(b, false);
        }
    expected_free(&ey), expected_free(&egx), expected_free(&egw);
    expected_free(&eyb), expected_free(&egb);
    tg_set_cpu_level(TG_CPU_AVX512);
    tg_set_threads(1);
    tg_tape_free(t);
}

/* Columns of 100 x 1024 elements per image (400 KB in f32, 800 KB in f64): chunks of two
 * images (one in f64), so five images take three chunks, the last of one image. */
START_TEST(chunks_of_images) {
    geom g = {5, 4, 32, 32, 3, 5, 5, {.padding = {2, 2}}};
    check_geometry(DT, &g);
}
END_TEST

/* Many small images in one chunk; stride 2 with padding 1 on a 3-wide kernel. */
START_TEST(one_chunk_strided) {
    geom g = {7, 3, 9, 11, 4, 3, 3, {.stride = {2, 2}, .padding = {1, 1}}};
    check_geometry(DT, &g);
}
END_TEST

/* Dilation, unequal strides and padding, and groups; padding wider than the dilated kernel's
 * first column reaches on one side. */
START_TEST(dilation_and_groups) {
    geom g = {3, 4, 10, 8,
              6, 3, 2,  {.stride = {1, 3}, .padding = {2, 3}, .dilation = {2, 3}, .groups = 2}};
    check_geometry(DT, &g);
}
END_TEST

/* Rows wider than two vectors at column stride 1 (the SIMD column paths) with a row stride of
 * 2, dilation on both axes and padding on the left only reached by some kernel columns. */
START_TEST(wide_rows_unit_column_stride) {
    geom g = {2, 3, 9, 37, 4, 3, 4, {.stride = {2, 1}, .padding = {1, 2}, .dilation = {2, 2}}};
    check_geometry(DT, &g);
}
END_TEST

/* At least 16 output channels per group: conv2d's backward takes the transposed form of the
 * weight-gradient product there. */
START_TEST(many_output_channels) {
    geom g = {3, 4, 7, 9, 34, 3, 3, {.padding = {1, 1}, .groups = 2}};
    check_geometry(DT, &g);
}
END_TEST

typedef struct pool_case {
    int64_t N, C, H, W;
    tg_pool2d_params p;
} pool_case;

/* The selected flat position (y W + x) of window (oy, ox) in plane x, or -1. */
static int64_t pick(const double *x, const pool_case *pc, int64_t oy, int64_t ox) {
    int sh = pc->p.stride[0] ? pc->p.stride[0] : pc->p.kernel[0];
    int sw = pc->p.stride[1] ? pc->p.stride[1] : pc->p.kernel[1];
    int dh = pc->p.dilation[0] ? pc->p.dilation[0] : 1,
        dw = pc->p.dilation[1] ? pc->p.dilation[1] : 1;
    int64_t best = -1;
    for (int i = 0; i < pc->p.kernel[0]; i++)
        for (int j = 0; j < pc->p.kernel[1]; j++) {
            int64_t y = oy * sh - pc->p.padding[0] + i * dh,
                    xx = ox * sw - pc->p.padding[1] + j * dw;
            if (y < 0 || y >= pc->H || xx < 0 || xx >= pc->W) continue;
            int64_t k = y * pc->W + xx;
            if (best < 0 || (isnan(x[k]) && !isnan(x[best])) || x[k] > x[best]) best = k;
        }
    return best;
}

static void check_pool(tg_dtype dt, const pool_case *pc) {
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 31);
    int64_t n = pc->N * pc->C * pc->H * pc->W, plane = pc->H * pc->W;
    double *xv = malloc((size_t)n * sizeof *xv);
    ck_assert_ptr_nonnull(xv);
    for (int64_t i = 0; i < n; i++) /* few distinct values: ties everywhere; some NaN */
        xv[i] = tg_rng_below(&rng, 50) == 0 ? NAN : (double)tg_rng_below(&rng, 4);
    tg_tensor *x = tg_zeros(t, dt, TG_SHAPE(pc->N, pc->C, pc->H, pc->W));
    ck_assert_int_eq(tg_tensor_copy_in(x, TG_F64, xv), TG_OK);
    tg_tensor *y = tg_max_pool2d(t, x, &pc->p);
    ck_assert_msg(y != NULL, "%s", tg_tape_error(t));
    int64_t oh = tg_tensor_dim(y, 2), ow = tg_tensor_dim(y, 3);
    tg_tensor *g = tg_uniform(t, &rng, dt, TG_SHAPE(pc->N, pc->C, oh, ow), 1.0, 2.0);
    tg_tensor *sc = tg_max_pool2d_scatter(t, g, x, &pc->p);
    ck_assert_msg(sc != NULL, "%s", tg_tape_error(t));
    double *want = calloc((size_t)n, sizeof *want);
    ck_assert_ptr_nonnull(want);
    for (int64_t nc = 0; nc < pc->N * pc->C; nc++)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++) {
                int64_t k = pick(xv + nc * plane, pc, oy, ox), o = (nc * oh + oy) * ow + ox;
                double got = tg_tensor_get(y, o), w = k < 0 ? -INFINITY : xv[nc * plane + k];
                bool same = got == w || (isnan(got) && isnan(w));
                if (!same) /* asserting only a failure: a passing assert costs a write */
                    ck_assert_msg(same, "max_pool2d (%s, %s): output %lld is %g, want %g",
                                  tg_dtype_name(dt), tg_cpu_level_name(tg_get_cpu_level()),
                                  (long long)o, got, w);
                if (k >= 0) want[nc * plane + k] += tg_tensor_get(g, o);
            }
    tg_ck_assert_each(i, n, fabs(tg_tensor_get(sc, i) - want[i]) <= 1e-6 * fabs(want[i]),
                      "max_pool2d_scatter (%s, %s): element %lld is %g, want %g", tg_dtype_name(dt),
                      tg_cpu_level_name(tg_get_cpu_level()), (long long)i, tg_tensor_get(sc, i),
                      want[i]);
    free(want);
    free(xv);
    tg_tape_free(t);
}

START_TEST(max_pool_paths) {
    static const pool_case cases[] = {
        {2, 3, 13, 150, {.kernel = {2, 2}}},
        {1, 2, 9, 70, {.kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}}},
        {2, 2, 11, 40, {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .dilation = {2, 2}}},
        {1, 3, 7, 100, {.kernel = {2, 3}, .stride = {1, 3}, .padding = {1, 1}}},
        {1, 1, 5, 5, {.kernel = {5, 5}}},
        {2, 4, 64, 150, {.kernel = {2, 2}}}, /* enough planes to be shared between threads */
    };
    for (int threads = 1; threads <= 2; threads++)
        for (int l = TG_CPU_PORTABLE; l < TG_TEST_N_LEVELS; l++) {
            tg_set_threads(threads);
            if (!tg_test_enter_level((tg_cpu_level)l)) continue;
            for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_pool(DT, &cases[i]);
        }
    tg_set_cpu_level(TG_CPU_AVX512);
    tg_set_threads(1);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_conv_paths");
    TCase *tc = tcase_create("conv_paths");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, chunks_of_images, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, one_chunk_strided, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, dilation_and_groups, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, wide_rows_unit_column_stride, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, many_output_channels, TG_F32, TG_F64 + 1);
    tcase_add_loop_test(tc, max_pool_paths, TG_F32, TG_F64 + 1);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}

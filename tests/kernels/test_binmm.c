/* test_binmm.c: the packed binary products' kernels (src/ops/kernels/binmm*.c): every kernel set
 * this CPU runs (portable, AVX2, AVX-512 with VPOPCNTQ and with the AVX2 popcount; NEON on
 * AArch64) against sums evaluated here in double over the unpacked +-1 weights, for column counts
 * that reach each path (under one vector, whole vectors, a masked tail, several words, a word
 * boundary), row counts that reach the four-row blocks and their remainder, and strided x rows. The
 * sign-select sums must lie within the bound of a cols-term sum in f32 (2 cols u sum |x|, times the
 * scale); the XNOR products and the packing are integers and must be exact. Also the driver at one
 * and two threads (the same bits), where a batch of 37 rows runs the table-lookup form at every
 * level, the table-lookup form of every set through the driver (one-vector and wide groups, threads
 * sharing groups or outputs), and the level dispatch. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/kernels/binmm.h"
#include "test_util.h"

typedef struct problem {
    int64_t rows, cols, words, n, ldx;
    uint32_t *bits;
    float *scale, *x;
    uint32_t *a;   /* the signs of x, packed here bit by bit */
    double *ref;   /* (n, rows) sign-select products in double */
    double *bound; /* their error bounds */
    double *xnor;  /* (n, rows) products of the signs */
} problem;

static uint32_t next(uint64_t *s) {
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(*s >> 33);
}

static problem make(int64_t rows, int64_t cols, int64_t n, uint64_t seed) {
    problem p = {rows, cols, (cols + 31) / 32, n, cols + 5, NULL, NULL, NULL, NULL, NULL,
                 NULL, NULL};
    p.bits = calloc((size_t)(rows * p.words), sizeof *p.bits);
    p.scale = malloc((size_t)rows * sizeof *p.scale);
    p.x = malloc((size_t)(n * p.ldx) * sizeof *p.x);
    p.a = calloc((size_t)(n * p.words), sizeof *p.a);
    p.ref = malloc((size_t)(n * rows) * sizeof *p.ref);
    p.bound = malloc((size_t)(n * rows) * sizeof *p.bound);
    p.xnor = malloc((size_t)(n * rows) * sizeof *p.xnor);
    uint64_t s = seed;
    for (int64_t o = 0; o < rows; o++) {
        p.scale[o] = 0.25f + (float)(next(&s) % 8) / 4.0f;
        for (int64_t j = 0; j < cols; j++)
            if (next(&s) & 1) p.bits[o * p.words + j / 32] |= UINT32_C(1) << (j % 32);
    }
    for (int64_t b = 0; b < n; b++)
        for (int64_t j = 0; j < p.ldx; j++) {
            /* past cols: a sentinel that shows in any result that reads it */
            float v = j < cols ? (float)((double)next(&s) / 2147483648.0 - 1.0) : 1e30f;
            if (j < cols && j % 11 == 3) v = 0.0f; /* zeros count as +1 when packed */
            p.x[b * p.ldx + j] = v;
            if (j < cols && v >= 0) p.a[b * p.words + j / 32] |= UINT32_C(1) << (j % 32);
        }
    for (int64_t b = 0; b < n; b++)
        for (int64_t o = 0; o < rows; o++) {
            double s1 = 0, mag = 0, sx = 0;
            for (int64_t j = 0; j < cols; j++) {
                double v = p.x[b * p.ldx + j];
                bool plus = p.bits[o * p.words + j / 32] >> (j % 32) & 1u;
                s1 += plus ? v : -v;
                mag += fabs(v);
                sx += (v >= 0) == plus ? 1 : -1;
            }
            p.ref[b * rows + o] = p.scale[o] * s1;
            p.bound[b * rows + o] =
                p.scale[o] * (3.0 * (double)(cols + 2) * FLT_EPSILON * mag) + 1e-30;
            p.xnor[b * rows + o] = p.scale[o] * sx;
        }
    return p;
}

static void release(problem *p) {
    free(p->bits), free(p->scale), free(p->x), free(p->a), free(p->ref), free(p->bound),
        free(p->xnor);
}

/* The kernel sets this CPU can run. */
static int impls(const binmm_impl **out) {
    int n = 0;
    out[n++] = &binmm_portable;
#if defined(__x86_64__) || defined(__i386__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out[n++] = &binmm_avx2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) {
        out[n++] = &binmm_avx512_nopopcnt;
        if (__builtin_cpu_supports("avx512vpopcntdq")) out[n++] = &binmm_avx512;
    }
#elif defined(__aarch64__)
    out[n++] = &binmm_neon;
#endif
    return n;
}

static const int64_t col_counts[] = {1, 5, 8, 16, 17, 31, 32, 33, 64, 100, 300, 784};
static const int64_t row_counts[] = {1, 3, 4, 7, 13};

START_TEST(every_kernel_set) {
    const binmm_impl *set[4];
    int n_sets = impls(set);
    for (size_t c = 0; c < sizeof col_counts / sizeof *col_counts; c++)
        for (size_t r = 0; r < sizeof row_counts / sizeof *row_counts; r++) {
            problem p = make(row_counts[r], col_counts[c], 3, 17 + c * 31 + r);
            kern_bits w = {p.rows, p.cols, p.words, p.bits, p.scale};
            float *y = malloc((size_t)(p.n * (p.rows + 2)) * sizeof *y);
            uint32_t *a = malloc((size_t)(p.n * p.words) * sizeof *a);
            for (int i = 0; i < n_sets; i++) {
                int64_t ldy = p.rows + 2;
                /* all rows, then a range that starts past a four-row block */
                for (int part = 0; part < 2; part++) {
                    int64_t o0 = part ? p.rows / 2 : 0;
                    for (int64_t k = 0; k < p.n * ldy; k++) y[k] = NAN;
                    set[i]->binmm(&w, o0, p.rows, p.n, p.x, p.ldx, y, ldy);
                    for (int64_t b = 0; b < p.n; b++)
                        for (int64_t o = 0; o < p.rows; o++) {
                            double got = y[b * ldy + o], want = p.ref[b * p.rows + o];
                            if (o < o0) {
                                ck_assert_msg(isnan(got), "%s wrote row %lld outside [%lld, %lld)",
                                              set[i]->name, (long long)o, (long long)o0,
                                              (long long)p.rows);
                                continue;
                            }
                            ck_assert_msg(fabs(got - want) <= p.bound[b * p.rows + o],
                                          "%s binmm (%lld x %lld) y[%lld, %lld] = %.9g, want %.9g",
                                          set[i]->name, (long long)p.rows, (long long)p.cols,
                                          (long long)b, (long long)o, got, want);
                        }
                    for (int64_t k = 0; k < p.n * ldy; k++) y[k] = NAN;
                    set[i]->xnor(&w, o0, p.rows, p.n, p.a, y, ldy);
                    for (int64_t b = 0; b < p.n; b++)
                        for (int64_t o = o0; o < p.rows; o++)
                            ck_assert_msg(y[b * ldy + o] == (float)p.xnor[b * p.rows + o],
                                          "%s xnor (%lld x %lld) y[%lld, %lld] = %g, want %g",
                                          set[i]->name, (long long)p.rows, (long long)p.cols,
                                          (long long)b, (long long)o, y[b * ldy + o],
                                          p.xnor[b * p.rows + o]);
                }
                memset(a, 0xa5, (size_t)(p.n * p.words) * sizeof *a);
                set[i]->pack(p.n, p.cols, p.x, p.ldx, a);
                ck_assert_msg(memcmp(a, p.a, (size_t)(p.n * p.words) * sizeof *a) == 0,
                              "%s packs the signs of %lld columns wrongly", set[i]->name,
                              (long long)p.cols);
            }
            free(y);
            free(a);
            release(&p);
        }
}
END_TEST

/* The driver: the level in effect picks the kernels; one and two threads give the same bits; the
 * transposed product and f64 agree with the references. */
START_TEST(driver) {
    problem p = make(301, 784, 37, 99); /* 37 rows: two whole blocks of 16 lanes and a part */
    kern_bits w = {p.rows, p.cols, p.words, p.bits, p.scale};
    float *y1 = malloc((size_t)(p.n * p.rows) * sizeof *y1),
          *y2 = malloc((size_t)(p.n * p.rows) * sizeof *y2);
    for (int l = TG_CPU_PORTABLE; l < TG_TEST_N_LEVELS; l++) {
        if (!tg_test_enter_level((tg_cpu_level)l)) continue;
        for (int xnor = 0; xnor < 2; xnor++) {
            tg_set_threads(1);
            if (xnor)
                kern_binxnor(TG_F32, &w, p.n, p.a, y1, p.rows);
            else
                kern_binmm(TG_F32, &w, p.n, p.x, p.ldx, y1, p.rows);
            tg_set_threads(2);
            if (xnor)
                kern_binxnor(TG_F32, &w, p.n, p.a, y2, p.rows);
            else
                kern_binmm(TG_F32, &w, p.n, p.x, p.ldx, y2, p.rows);
            ck_assert_msg(memcmp(y1, y2, (size_t)(p.n * p.rows) * sizeof *y1) == 0,
                          "level %d: two threads changed the bits", l);
            for (int64_t k = 0; k < p.n * p.rows; k++)
                ck_assert(fabs(y1[k] - (xnor ? p.xnor[k] : p.ref[k])) <= (xnor ? 0 : p.bound[k]));
        }
    }
    tg_set_cpu_level(tg_cpu_best_level());
    /* f64, and the transposed product against the same weights */
    double *xd = malloc((size_t)(p.n * p.cols) * sizeof *xd),
           *yd = malloc((size_t)(p.n * p.rows) * sizeof *yd);
    for (int64_t b = 0; b < p.n; b++)
        for (int64_t j = 0; j < p.cols; j++) xd[b * p.cols + j] = p.x[b * p.ldx + j];
    kern_binmm(TG_F64, &w, p.n, xd, p.cols, yd, p.rows);
    for (int64_t k = 0; k < p.n * p.rows; k++) ck_assert(fabs(yd[k] - p.ref[k]) < 1e-12);
    double *g = malloc((size_t)(p.n * p.rows) * sizeof *g),
           *z = malloc((size_t)(p.n * p.cols) * sizeof *z);
    for (int64_t k = 0; k < p.n * p.rows; k++) g[k] = (double)(k % 7) - 3.0;
    kern_binmm_t(TG_F64, &w, p.n, g, p.rows, z, p.cols);
    for (int64_t b = 0; b < p.n; b++)
        for (int64_t j = 0; j < p.cols; j++) {
            double want = 0;
            for (int64_t o = 0; o < p.rows; o++)
                want += g[b * p.rows + o] * p.scale[o] *
                        ((p.bits[o * p.words + j / 32] >> (j % 32) & 1u) ? 1 : -1);
            ck_assert(fabs(z[b * p.cols + j] - want) < 1e-9);
        }
    tg_set_threads(0);
    free(xd), free(yd), free(g), free(z), free(y1), free(y2);
    release(&p);
}
END_TEST

/* The table-lookup form of every kernel set through the driver: batches that fill part of one
 * vector, one group, several groups and a partial last group (of one vector of rows, and of the
 * wide groups), within the bound on one thread; with threads > 1 also the same bits on that
 * many (which share the groups, or the outputs when there are fewer groups than threads). */
static void table_lookups_at(int threads) {
    static const int64_t cols[] = {1, 17, 33, 64, 100, 784}, rows[] = {3, 13, 130},
                         ns[] = {5, 9, 17, 37, 70};
    const binmm_impl *set[4];
    int n_sets = impls(set);
    for (size_t c = 0; c < sizeof cols / sizeof *cols; c++)
        for (size_t r = 0; r < sizeof rows / sizeof *rows; r++)
            for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
                problem p = make(rows[r], cols[c], ns[k], 7 + c * 131 + r * 17 + k);
                kern_bits w = {p.rows, p.cols, p.words, p.bits, p.scale};
                int64_t ldy = p.rows + 3;
                float *y1 = malloc((size_t)(p.n * ldy) * sizeof *y1),
                      *y2 = malloc((size_t)(p.n * ldy) * sizeof *y2);
                for (int i = 0; i < n_sets; i++) {
                    for (int64_t e = 0; e < p.n * ldy; e++) y1[e] = y2[e] = NAN;
                    tg_set_threads(1);
                    kern_binmm_with(set[i], TG_F32, &w, p.n, p.x, p.ldx, y1, ldy);
                    if (threads > 1) {
                        tg_set_threads(threads);
                        kern_binmm_with(set[i], TG_F32, &w, p.n, p.x, p.ldx, y2, ldy);
                        ck_assert_msg(memcmp(y1, y2, (size_t)(p.n * ldy) * sizeof *y1) == 0,
                                      "%s: %d threads changed the bits (%lld x %lld, batch %lld)",
                                      set[i]->name, threads, (long long)p.rows, (long long)p.cols,
                                      (long long)p.n);
                    }
                    for (int64_t b = 0; b < p.n; b++)
                        for (int64_t o = 0; o < ldy; o++) {
                            double got = y1[b * ldy + o];
                            if (o >= p.rows) {
                                ck_assert_msg(isnan(got), "%s wrote past the outputs",
                                              set[i]->name);
                                continue;
                            }
                            double want = p.ref[b * p.rows + o];
                            ck_assert_msg(fabs(got - want) <= p.bound[b * p.rows + o],
                                          "%s lut (%lld x %lld, batch %lld) y[%lld, %lld] = "
                                          "%.9g, want %.9g",
                                          set[i]->name, (long long)p.rows, (long long)p.cols,
                                          (long long)p.n, (long long)b, (long long)o, got, want);
                        }
                }
                tg_set_threads(0);
                free(y1), free(y2);
                release(&p);
            }
}

START_TEST(table_lookups) { table_lookups_at(1); }
END_TEST

START_TEST(table_lookups_on_two_threads) { table_lookups_at(2); }
END_TEST

START_TEST(dispatch_follows_the_level) {
    tg_set_cpu_level(TG_CPU_PORTABLE);
    ck_assert_ptr_eq(kern_binmm_impl(), &binmm_portable);
#if defined(__x86_64__) || defined(__i386__)
    if (tg_cpu_best_level() >= TG_CPU_AVX2) {
        tg_set_cpu_level(TG_CPU_AVX2);
        ck_assert_ptr_eq(kern_binmm_impl(), &binmm_avx2);
    }
    if (tg_cpu_best_level() >= TG_CPU_AVX512) {
        tg_set_cpu_level(TG_CPU_AVX512);
        kern_binmm_force_no_vpopcnt(true);
        ck_assert_ptr_eq(kern_binmm_impl(), &binmm_avx512_nopopcnt);
        kern_binmm_force_no_vpopcnt(false);
        ck_assert_ptr_eq(kern_binmm_impl(), __builtin_cpu_supports("avx512vpopcntdq")
                                                ? &binmm_avx512
                                                : &binmm_avx512_nopopcnt);
    }
#elif defined(__aarch64__)
    tg_set_cpu_level(TG_CPU_NEON);
    ck_assert_ptr_eq(kern_binmm_impl(), &binmm_neon);
#endif
    tg_set_cpu_level(tg_cpu_best_level());
}
END_TEST

/* Two cases: "kernels" on one thread, which the ARM cross build can run under qemu (where the
 * pool's waits do not finish), and "threads". */
static Suite *suite(void) {
    Suite *s = suite_create("binmm");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_kernel_set);
    tcase_add_test(tc, table_lookups);
    tcase_add_test(tc, dispatch_follows_the_level);
    suite_add_tcase(s, tc);
    TCase *th = tcase_create("threads");
    tcase_set_timeout(th, 300);
    tcase_add_test(th, driver);
    tcase_add_test(th, table_lookups_on_two_threads);
    suite_add_tcase(s, th);
    return s;
}

int main(void) { return tg_test_run(suite()); }

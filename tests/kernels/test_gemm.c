/* test_gemm.c: the matrix product kernel (src/ops/kernels/gemm*.c) against a naive triple loop
 * with compensated sums, on every instruction-set level this CPU runs, both dtypes, 1-3 threads, all
 * paths (direct, packed and dot form, forced, and the driver's own choice), and operand
 * layouts: normal and transposed through strides, plus gapped and row-reversed strides; also
 * with allocations failing, and the matmul op through the public API at each level.
 *
 * The tolerance is the rigorous bound for a K-term dot product, |c - exact| <= K u sum|a||b|
 * (u the unit roundoff), with a factor 2 for the reference's own rounding: any wrong index,
 * a missing or doubled term, or a stale accumulator is far outside it. */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "ops/kernels/gemm.h"
#include "ops/kernels/kernels.h"
#include "test_util.h"

/* ---- operands ---- */

/* How a logical rows x cols matrix is laid out in memory. */
typedef enum layout { L_NORMAL, L_TRANSPOSED, L_GAPPED, L_REVERSED, N_LAYOUTS } layout;
static const char *const layout_name[] = {"normal", "transposed", "gapped", "reversed"};

typedef struct operand {
    double *buf_d;  /* storage (f64) */
    float *buf_f;   /* storage (f32) */
    int64_t origin; /* element index of (0, 0) in the storage */
    int64_t rs, cs; /* strides of the logical matrix */
} operand;

/* Lays out the logical matrix `val` (rows x cols, row-major doubles) with layout l. Elements the
 * matrix does not cover hold a large sentinel, so reading one shows in the result. */
static operand lay_out(const double *val, int64_t rows, int64_t cols, layout l, tg_dtype dt) {
    operand o = {0};
    int64_t n;
    switch (l) {
    case L_NORMAL:
        o.rs = cols + 3, o.cs = 1, n = rows * o.rs;
        break;
    case L_TRANSPOSED:
        o.rs = 1, o.cs = rows + 3, n = cols * o.cs;
        break;
    case L_GAPPED:
        o.rs = 2 * cols + 1, o.cs = 2, n = rows * o.rs;
        break;
    default:
        o.rs = -(cols + 2), o.cs = 1, n = rows * (cols + 2);
        break;
    }
    o.origin = l == L_REVERSED && rows > 0 ? (rows - 1) * (cols + 2) : 0;
    if (n == 0) n = 1; /* so that the origin pointer is never NULL */
    if (dt == TG_F64) {
        o.buf_d = malloc((size_t)n * sizeof(double));
        for (int64_t i = 0; i < n; i++) o.buf_d[i] = 1e30;
    } else {
        o.buf_f = malloc((size_t)n * sizeof(float));
        for (int64_t i = 0; i < n; i++) o.buf_f[i] = 1e30f;
    }
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            int64_t at = o.origin + i * o.rs + j * o.cs;
            if (dt == TG_F64)
                o.buf_d[at] = val[i * cols + j];
            else
                o.buf_f[at] = (float)val[i * cols + j];
        }
    return o;
}

static const void *origin_ptr(const operand *o) {
    return o->buf_d ? (const void *)(o->buf_d + o->origin) : (const void *)(o->buf_f + o->origin);
}

static void operand_free(operand *o) {
    free(o->buf_d);
    free(o->buf_f);
}

/* Random values in [-1, 1), rounded to f32 when the test is f32 so that the reference sees
 * exactly the operands the kernel sees. */
static double *random_matrix(tg_rng *r, int64_t n, tg_dtype dt) {
    double *v = malloc((size_t)(n ? n : 1) * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        double x = 2 * tg_rng_uniform(r) - 1;
        v[i] = dt == TG_F32 ? (double)(float)x : x;
    }
    return v;
}

/* ---- the reference and the comparison ---- */

typedef struct reference {
    double *c;   /* A B, as accurate as if summed in twice double's precision */
    double *abs; /* |A| |B|: the scale of each entry's rounding error */
} reference;

static reference naive(const double *a, const double *b, int64_t M, int64_t N, int64_t K) {
    reference r = {malloc((size_t)(M * N > 0 ? M * N : 1) * sizeof(double)),
                   malloc((size_t)(M * N > 0 ? M * N : 1) * sizeof(double))};
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            /* Compensated dot product (Ogita, Rump and Oishi's Dot2): every product's and
             * every sum's rounding error is recovered exactly (fma, TwoSum) and added in at
             * the end. Not long double: that is 80-bit on x86-64 but 128-bit software
             * arithmetic on AArch64, which made this reference most of the suite's time
             * under emulation; Dot2 is at least as accurate as either, everywhere (c_std=c11
             * keeps the compiler from fusing these sums into other fmas). */
            double s = 0, err = 0, sa = 0;
            for (int64_t k = 0; k < K; k++) {
                double x = a[i * K + k], y = b[k * N + j];
                double p = x * y, p_err = fma(x, y, -p);
                double t = s + p, z = t - s;
                err += ((s - (t - z)) + (p - z)) + p_err;
                s = t;
                sa += fabs(p);
            }
            r.c[i * N + j] = s + err;
            r.abs[i * N + j] = sa;
        }
    return r;
}

#define LDC_PAD      5
#define PAD_SENTINEL 4242.0

/* Runs the kernel into a C full of NaN (so an accumulate instead of a write shows) with
 * sentinels in the row padding beyond N (which must survive), then checks every entry. With a
 * bias (N values, else NULL) it runs kern_gemm_bias and every row must have the bias added.
 * Returns a description of the first failure, or NULL. */
static const char *run_and_check(tg_dtype dt, int64_t M, int64_t N, int64_t K, const operand *A,
                                 const operand *B, const reference *ref, const double *bias,
                                 char *msg, size_t msg_size) {
    int64_t ldc = N + LDC_PAD;
    size_t es = tg_dtype_size(dt);
    void *bias_dt = NULL; /* the bias in dt, N entries */
    if (bias) {
        bias_dt = malloc((size_t)(N > 0 ? N : 1) * es);
        for (int64_t j = 0; j < N; j++) {
            if (dt == TG_F64)
                ((double *)bias_dt)[j] = bias[j];
            else
                ((float *)bias_dt)[j] = (float)bias[j];
        }
    }
    void *C = malloc((size_t)(M * ldc > 0 ? M * ldc : 1) * es);
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < ldc; j++) {
            double v = j < N ? NAN : PAD_SENTINEL;
            if (dt == TG_F64)
                ((double *)C)[i * ldc + j] = v;
            else
                ((float *)C)[i * ldc + j] = (float)v;
        }
    if (bias)
        kern_gemm_bias(dt, M, N, K, origin_ptr(A), A->rs, A->cs, origin_ptr(B), B->rs, B->cs, C,
                       ldc, bias_dt);
    else
        kern_gemm(dt, M, N, K, origin_ptr(A), A->rs, A->cs, origin_ptr(B), B->rs, B->cs, C, ldc);

    double u = dt == TG_F64 ? DBL_EPSILON / 2 : FLT_EPSILON / 2;
    const char *fail = NULL;
    for (int64_t i = 0; i < M && !fail; i++)
        for (int64_t j = 0; j < ldc && !fail; j++) {
            double got = dt == TG_F64 ? ((double *)C)[i * ldc + j] : ((float *)C)[i * ldc + j];
            if (j >= N) {
                if (got != PAD_SENTINEL) {
                    snprintf(msg, msg_size, "C padding (%lld, %lld) overwritten: %g", (long long)i,
                             (long long)j, got);
                    fail = msg;
                }
                continue;
            }
            /* The bias (a value of dt, so exact in double) is one more term of the sum. */
            double b = !bias ? 0 : dt == TG_F64 ? bias[j] : (double)(float)bias[j];
            double want = ref->c[i * N + j] + b;
            double tol = 2.0 * (double)(K + 1) * u * (ref->abs[i * N + j] + fabs(b));
            if (!(fabs(got - want) <= tol)) {
                snprintf(msg, msg_size, "C(%lld, %lld) = %.17g, want %.17g (tol %.3g)",
                         (long long)i, (long long)j, got, want, tol);
                fail = msg;
            }
        }
    free(C);
    free(bias_dt);
    return fail;
}

/* ---- the cases ---- */

typedef struct dims {
    int64_t M, N, K;
} dims;

/* Sizes around every tile (packed 4x8, 4x4, 6x16, 6x8, 14x32, 14x16; direct 6x16, 12x8,
 * 6x8, 12x4, 12x32, 24x16, 12x16, 24x8, and their 4- and 1-row tails), primes, ones, and
 * several blocks of K (direct_kc 256, packed kc 256-1024: K 512, 800, 1100), of M (mc up to
 * 128: M 257, 600) and of N (nc 2048: N 4200); and shapes the driver gives to the dot form
 * (K >= 512 with a small C, or 16 rows or fewer; 9001 splits K between threads), and with A
 * transposed, the direct kernel's last columns short of a vector computed transposed (N 65, 17,
 * 100 with M of two vectors or more); and rows of B 256 bytes apart (N 61 in the normal layout,
 * whose row stride is N + 3), which the direct path copies to a padded buffer when M has rows
 * enough (f64: N 13 with M 97 in the sweep). */
static const int64_t sizes_m[] = {1, 7, 13, 28, 31, 97};
static const int64_t sizes_n[] = {1, 7, 13, 16, 32, 31, 97};
static const int64_t sizes_k[] = {1, 7, 31, 97};
static const dims extra_dims[] = {{257, 129, 300}, {3, 200, 50},   {200, 3, 50},
                                  {37, 45, 800},   {20, 70, 1100}, {600, 40, 30},
                                  {15, 4200, 20},  {20, 33, 512},  {2, 2, 0},
                                  {6, 25, 1103},   {1, 1, 513},    {16, 150, 700},
                                  {130, 5, 600},   {7, 3, 9001},   {130, 65, 32},
                                  {64, 17, 5},     {33, 100, 20},  {100, 61, 300}};

/* Driver paths, through the tuning knobs: the defaults; everything packed; everything direct
 * (both split over threads whenever there are two blocks of rows or columns to share); the dot
 * form wherever A's rows and B's columns are contiguous (A normal or reversed, B transposed;
 * the driver's own choice elsewhere), its K split over threads whenever it is long enough. */
typedef enum path { P_DEFAULT, P_PACKED, P_DIRECT, P_DOT, N_PATHS } path;
static const char *const path_name[] = {"default", "packed", "direct", "dot"};

static void set_path(path p) {
    static const gemm_path as_tuning[] = {GEMM_PATH_AUTO, GEMM_PATH_PACKED, GEMM_PATH_DIRECT,
                                          GEMM_PATH_DOT};
    gemm_tuning t = kern_gemm_default_tuning();
    t.path = as_tuning[p];
    if (p != P_DEFAULT) t.parallel_min = t.parallel_awake_min = 0;
    kern_gemm_set_tuning(t);
}

static const int thread_counts[] = {1, 2, 3};

/* Thread counts a sweep runs: all three natively; under emulation (tg_test_emulated) 1 and 2,
 * which still split every product that can be split, at two thirds of the time. */
static int n_thread_counts(void) {
    int n = (int)(sizeof thread_counts / sizeof *thread_counts);
    return tg_test_emulated() ? n - 1 : n;
}

/* Checks one size in every layout pair given, on every thread count and path; returns the
 * number of products checked. */
static int check_size(tg_dtype dt, dims d, const layout *la, const layout *lb, int n_pairs,
                      tg_rng *rng, const char *level) {
    double *a = random_matrix(rng, d.M * d.K, dt), *b = random_matrix(rng, d.K * d.N, dt);
    double *bias = random_matrix(rng, d.N, dt);
    reference ref = naive(a, b, d.M, d.N, d.K);
    int n = 0;
    char msg[256];
    for (int p = 0; p < n_pairs; p++) {
        operand A = lay_out(a, d.M, d.K, la[p], dt), B = lay_out(b, d.K, d.N, lb[p], dt);
        for (int t = 0; t < n_thread_counts(); t++) {
            tg_set_threads(thread_counts[t]);
            for (int pa = 0; pa < N_PATHS; pa++) {
                set_path((path)pa);
                /* With and without a bias in turn: every path meets both over the first two
                 * thread counts. */
                bool with_bias = (t + pa) % 2 == 1;
                const char *fail = run_and_check(dt, d.M, d.N, d.K, &A, &B, &ref,
                                                 with_bias ? bias : NULL, msg, sizeof msg);
                ck_assert_msg(
                    !fail, "%s %s M=%lld N=%lld K=%lld A %s B %s, %d threads, %s path%s: %s", level,
                    tg_dtype_name(dt), (long long)d.M, (long long)d.N, (long long)d.K,
                    layout_name[la[p]], layout_name[lb[p]], thread_counts[t], path_name[pa],
                    with_bias ? " with a bias" : "", fail);
                n++;
            }
        }
        operand_free(&A);
        operand_free(&B);
    }
    kern_gemm_set_tuning(kern_gemm_default_tuning());
    free(a);
    free(b);
    free(bias);
    free(ref.c);
    free(ref.abs);
    return n;
}

static const tg_cpu_level levels[] = {TG_CPU_PORTABLE, TG_CPU_AVX2, TG_CPU_AVX512, TG_CPU_NEON};

/* Selects the loop iteration's level, or returns false (with a message) when the CPU lacks it. */
static bool enter_level(int i) {
    tg_cpu_level want = levels[i];
    if (!tg_test_enter_level(want)) {
        printf("gemm: level %s skipped: this CPU's best is %s\n", tg_cpu_level_name(want),
               tg_cpu_level_name(tg_cpu_best_level()));
        return false;
    }
    ck_assert_int_eq(tg_set_cpu_level(want), want);
    ck_assert_int_eq(tg_get_cpu_level(), want);
    return true;
}

static const layout four_a[] = {L_NORMAL, L_NORMAL, L_TRANSPOSED, L_TRANSPOSED};
static const layout four_b[] = {L_NORMAL, L_TRANSPOSED, L_NORMAL, L_TRANSPOSED};
/* The two pairs the long sweeps keep under emulation: both operands normal, both transposed
 * (every pair still runs at every small size, test_gemm_all_sizes). */
static const layout two_a[] = {L_NORMAL, L_TRANSPOSED};
static const layout two_b[] = {L_NORMAL, L_TRANSPOSED};

/* Every size combination, in the four normal/transposed layout pairs. */
START_TEST(test_gemm_all_sizes) {
    if (!enter_level(_i)) return;
    tg_rng rng;
    tg_rng_seed(&rng, 1234 + (uint64_t)_i);
    for (int di = 0; di < 2; di++) {
        tg_dtype dt = di ? TG_F64 : TG_F32;
        int n = 0;
        for (size_t m = 0; m < sizeof sizes_m / sizeof *sizes_m; m++)
            for (size_t nn = 0; nn < sizeof sizes_n / sizeof *sizes_n; nn++)
                for (size_t k = 0; k < sizeof sizes_k / sizeof *sizes_k; k++)
                    n += check_size(dt, (dims){sizes_m[m], sizes_n[nn], sizes_k[k]}, four_a, four_b,
                                    4, &rng, tg_cpu_level_name(levels[_i]));
        printf("gemm: level %s ran %s: %d products (sizes x 4 layouts x 1-%d threads x 4 paths)\n",
               tg_cpu_level_name(levels[_i]), tg_dtype_name(dt), n, n_thread_counts());
    }
}
END_TEST

/* The large and blocking-edge sizes, in the four layout pairs. */
START_TEST(test_gemm_large_sizes) {
    if (!enter_level(_i)) return;
    tg_rng rng;
    tg_rng_seed(&rng, 99 + (uint64_t)_i);
    for (int di = 0; di < 2; di++) {
        tg_dtype dt = di ? TG_F64 : TG_F32;
        int n = 0;
        bool two = tg_test_emulated();
        for (size_t e = 0; e < sizeof extra_dims / sizeof *extra_dims; e++)
            n += check_size(dt, extra_dims[e], two ? two_a : four_a, two ? two_b : four_b,
                            two ? 2 : 4, &rng, tg_cpu_level_name(levels[_i]));
        printf("gemm: level %s ran %s: %d large or blocking-edge products\n",
               tg_cpu_level_name(levels[_i]), tg_dtype_name(dt), n);
    }
}
END_TEST

/* Strides that are neither 1 nor a plain leading dimension: every column or row skipped in
 * between (gapped) and rows walked backwards (negative stride), against each other layout. */
START_TEST(test_gemm_odd_strides) {
    if (!enter_level(_i)) return;
    tg_rng rng;
    tg_rng_seed(&rng, 7 + (uint64_t)_i);
    layout la[N_LAYOUTS * N_LAYOUTS], lb[N_LAYOUTS * N_LAYOUTS];
    int n_pairs = 0;
    for (int x = 0; x < N_LAYOUTS; x++)
        for (int y = 0; y < N_LAYOUTS; y++)
            if (x >= L_GAPPED || y >= L_GAPPED) la[n_pairs] = x, lb[n_pairs++] = y;
    static const dims odd[] = {{1, 1, 1}, {13, 31, 7}, {31, 97, 13}, {97, 40, 33}, {2, 70, 90}};
    for (int di = 0; di < 2; di++)
        for (size_t e = 0; e < sizeof odd / sizeof *odd; e++)
            check_size(di ? TG_F64 : TG_F32, odd[e], la, lb, n_pairs, &rng,
                       tg_cpu_level_name(levels[_i]));
}
END_TEST

/* M or N of 0 writes nothing (C may then be NULL); K of 0 writes zeros. */
START_TEST(test_gemm_empty) {
    if (!enter_level(_i)) return;
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8};
    kern_gemm(TG_F32, 0, 3, 2, a, 2, 1, b, 3, 1, NULL, 3);
    kern_gemm(TG_F32, 3, 0, 2, a, 2, 1, b, 3, 1, NULL, 3);
    double c[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
    kern_gemm(TG_F64, 2, 3, 0, a, 1, 1, b, 1, 1, c, 3);
    for (int i = 0; i < 6; i++) ck_assert_msg(c[i] == 0.0, "C[%d] = %g after K = 0", i, c[i]);
}
END_TEST

/* With no memory to be had, the packed path (and the pool's threads) cannot start: the product
 * must still come out right, from the direct kernel on the calling thread. */
static void *no_memory(size_t size, void *user) {
    (void)size, (void)user;
    return NULL;
}

static void plain_free(void *p, void *user) {
    (void)user;
    free(p);
}

START_TEST(test_gemm_without_memory) {
    if (!enter_level(_i)) return;
    tg_set_threads(2);
    set_path(P_PACKED);
    tg_rng rng;
    tg_rng_seed(&rng, 3);
    dims d = {97, 31, 13};
    double *a = random_matrix(&rng, d.M * d.K, TG_F32), *b = random_matrix(&rng, d.K * d.N, TG_F32);
    reference ref = naive(a, b, d.M, d.N, d.K);
    operand A = lay_out(a, d.M, d.K, L_NORMAL, TG_F32),
            B = lay_out(b, d.K, d.N, L_TRANSPOSED, TG_F32);
    char msg[256];
    /* With a bias, which the fallbacks must add too. */
    double *bias = random_matrix(&rng, 200, TG_F32);
    tg_set_allocator(&(tg_allocator){no_memory, plain_free, NULL});
    const char *fail = run_and_check(TG_F32, d.M, d.N, d.K, &A, &B, &ref, bias, msg, sizeof msg);
    tg_set_allocator(NULL);
    ck_assert_msg(!fail, "%s without memory: %s", tg_cpu_level_name(levels[_i]), fail);
    operand_free(&A), operand_free(&B);
    free(a), free(b), free(ref.c), free(ref.abs);

    /* The dot form with a K long enough to split between the threads, whose partial sums
     * need memory: without it, one range on the calling thread. */
    set_path(P_DOT);
    d = (dims){5, 3, 9000};
    a = random_matrix(&rng, d.M * d.K, TG_F32), b = random_matrix(&rng, d.K * d.N, TG_F32);
    ref = naive(a, b, d.M, d.N, d.K);
    A = lay_out(a, d.M, d.K, L_NORMAL, TG_F32), B = lay_out(b, d.K, d.N, L_TRANSPOSED, TG_F32);
    tg_set_allocator(&(tg_allocator){no_memory, plain_free, NULL});
    fail = run_and_check(TG_F32, d.M, d.N, d.K, &A, &B, &ref, bias, msg, sizeof msg);
    tg_set_allocator(NULL);
    ck_assert_msg(!fail, "%s dot form without memory: %s", tg_cpu_level_name(levels[_i]), fail);
    kern_gemm_set_tuning(kern_gemm_default_tuning());
    operand_free(&A), operand_free(&B);
    free(a), free(b), free(ref.c), free(ref.abs), free(bias);
}
END_TEST

/* Memory for small blocks but not large ones: for this product (M 600, N 40, K 250, f32) the
 * packed path's shared B panel (40 or 64 columns x 250, 1.5 times that with the scratch's
 * growth margin) fits under the limit, but no rank's A block (100 rows or more x 250) does,
 * at any level, with 1 or 2 threads. Each rank must then compute its rows without packing
 * while still doing its share of packing B. (Blocking changes may need new sizes here.) */
static void *small_memory(size_t size, void *user) {
    (void)user;
    return size > 140000 ? NULL : malloc(size);
}

START_TEST(test_gemm_packed_without_a_blocks) {
    if (!enter_level(_i)) return;
    tg_rng rng;
    tg_rng_seed(&rng, 4);
    dims d = {600, 40, 250};
    double *a = random_matrix(&rng, d.M * d.K, TG_F32), *b = random_matrix(&rng, d.K * d.N, TG_F32);
    reference ref = naive(a, b, d.M, d.N, d.K);
    operand A = lay_out(a, d.M, d.K, L_NORMAL, TG_F32), B = lay_out(b, d.K, d.N, L_NORMAL, TG_F32);
    char msg[256];
    set_path(P_PACKED);
    tg_set_allocator(&(tg_allocator){small_memory, plain_free, NULL});
    for (int threads = 1; threads <= 2; threads++) {
        tg_set_threads(threads);
        const char *fail =
            run_and_check(TG_F32, d.M, d.N, d.K, &A, &B, &ref, NULL, msg, sizeof msg);
        ck_assert_msg(!fail, "%d threads, no A blocks: %s", threads, fail);
    }
    tg_set_allocator(NULL);
    operand_free(&A), operand_free(&B);
    free(a), free(b), free(ref.c), free(ref.abs);
}
END_TEST

/* A long K splits the packed product into more phases (K blocks) than the driver keeps on its
 * stack (64): with several threads their counters are allocated, with one a single set is
 * reused. Small integers make every partial sum exact in f32 and f64 whatever the order, so
 * the result must equal the reference exactly; a skipped or repeated block could not hide. */
START_TEST(test_gemm_many_phases) {
    if (!enter_level(_i)) return;
    tg_rng rng;
    tg_rng_seed(&rng, 11);
    dims d = {3, 40, 70000};
    double *a = malloc((size_t)(d.M * d.K) * sizeof(double));
    double *b = malloc((size_t)(d.K * d.N) * sizeof(double));
    for (int64_t i = 0; i < d.M * d.K; i++) a[i] = (double)(tg_rng_next_u32(&rng) % 5) - 2;
    for (int64_t i = 0; i < d.K * d.N; i++) b[i] = (double)(tg_rng_next_u32(&rng) % 5) - 2;
    reference ref = naive(a, b, d.M, d.N, d.K);
    set_path(P_PACKED);
    for (int di = 0; di < 2; di++) {
        tg_dtype dt = di ? TG_F64 : TG_F32;
        /* Under emulation: both operands normal and both transposed, on 1 and 2 threads. */
        for (int pair = 0; pair < 4; pair += tg_test_emulated() ? 3 : 1) {
            operand A = lay_out(a, d.M, d.K, four_a[pair], dt);
            operand B = lay_out(b, d.K, d.N, four_b[pair], dt);
            for (int threads = 1; threads <= n_thread_counts(); threads++) {
                tg_set_threads(threads);
                double *C = malloc((size_t)(d.M * d.N) * sizeof(double));
                float *Cf = malloc((size_t)(d.M * d.N) * sizeof(float));
                kern_gemm(dt, d.M, d.N, d.K, origin_ptr(&A), A.rs, A.cs, origin_ptr(&B), B.rs, B.cs,
                          dt == TG_F64 ? (void *)C : (void *)Cf, d.N);
                for (int64_t i = 0; i < d.M * d.N; i++) {
                    double got = dt == TG_F64 ? C[i] : Cf[i];
                    ck_assert_msg(
                        got == ref.c[i], "%s %s A %s B %s, %d threads: C[%lld] = %.17g, want %.17g",
                        tg_cpu_level_name(levels[_i]), tg_dtype_name(dt), layout_name[four_a[pair]],
                        layout_name[four_b[pair]], threads, (long long)i, got, ref.c[i]);
                }
                free(C), free(Cf);
            }
            operand_free(&A), operand_free(&B);
        }
    }
    free(a), free(b), free(ref.c), free(ref.abs);
}
END_TEST

/* The direct kernel cuts M rows into tiles of every height from 1 to its tile rows (wide
 * column blocks: the fewest tiles, heights differing by at most one; one-vector blocks: full
 * tiles, then the rest as one), each height its own compiled instance: every M from 1 to 50
 * reaches every height in every column block kind (several vectors, one, masked). */
START_TEST(test_gemm_direct_tile_heights) {
    if (!enter_level(_i)) return;
    tg_rng rng;
    tg_rng_seed(&rng, 21 + (uint64_t)_i);
    static const layout la[] = {L_NORMAL, L_TRANSPOSED}, lb[] = {L_NORMAL, L_NORMAL};
    char msg[256];
    set_path(P_DIRECT);
    tg_set_threads(1);
    for (int di = 0; di < 2; di++) {
        tg_dtype dt = di ? TG_F64 : TG_F32;
        for (int64_t M = 1; M <= 50; M++) {
            dims d = {M, 57, 9}; /* N: 32 + 16 + 9 (f32 AVX-512) or 3 x 16 + 9 (AVX2) */
            double *a = random_matrix(&rng, d.M * d.K, dt), *b = random_matrix(&rng, d.K * d.N, dt);
            double *bias = random_matrix(&rng, d.N, dt);
            reference ref = naive(a, b, d.M, d.N, d.K);
            for (int p = 0; p < 2; p++) {
                /* A transposed with a bias: every tile height starts from it, and the last
                 * columns, computed transposed, add it as they are stored. */
                operand A = lay_out(a, d.M, d.K, la[p], dt), B = lay_out(b, d.K, d.N, lb[p], dt);
                const char *fail = run_and_check(dt, d.M, d.N, d.K, &A, &B, &ref,
                                                 p ? bias : NULL, msg, sizeof msg);
                ck_assert_msg(!fail, "%s %s M=%lld A %s: %s", tg_cpu_level_name(levels[_i]),
                              tg_dtype_name(dt), (long long)M, layout_name[la[p]], fail);
                operand_free(&A), operand_free(&B);
            }
            free(a), free(b), free(bias), free(ref.c), free(ref.abs);
        }
    }
    kern_gemm_set_tuning(kern_gemm_default_tuning());
}
END_TEST

/* The dot form with K split between 1-3 threads (each range's sums added in order): with
 * small integers every partial sum is exact, so the result must equal the reference exactly
 * for every split; with random values, running again with the same threads must give the
 * same bits (the split and the order of adding depend only on the thread count). */
START_TEST(test_gemm_dot_split_k) {
    if (!enter_level(_i)) return;
    tg_rng rng;
    tg_rng_seed(&rng, 17);
    dims d = {7, 5, 30011};
    double *a = malloc((size_t)(d.M * d.K) * sizeof(double));
    double *b = malloc((size_t)(d.K * d.N) * sizeof(double));
    for (int64_t i = 0; i < d.M * d.K; i++) a[i] = (double)(tg_rng_next_u32(&rng) % 5) - 2;
    for (int64_t i = 0; i < d.K * d.N; i++) b[i] = (double)(tg_rng_next_u32(&rng) % 5) - 2;
    reference ref = naive(a, b, d.M, d.N, d.K);
    double *ra = random_matrix(&rng, d.M * d.K, TG_F32),
           *rb = random_matrix(&rng, d.K * d.N, TG_F32);
    static const layout la[] = {L_NORMAL, L_REVERSED};
    for (int pa = 0; pa < 2; pa++) {
        set_path(pa ? P_DOT : P_DEFAULT); /* the default: the driver picks the dot form itself */
        for (int di = 0; di < 2; di++) {
            tg_dtype dt = di ? TG_F64 : TG_F32;
            size_t es = tg_dtype_size(dt);
            operand A = lay_out(a, d.M, d.K, la[pa], dt),
                    B = lay_out(b, d.K, d.N, L_TRANSPOSED, dt);
            operand RA = lay_out(ra, d.M, d.K, la[pa], dt);
            operand RB = lay_out(rb, d.K, d.N, L_TRANSPOSED, dt);
            for (int threads = 1; threads <= 3; threads++) {
                tg_set_threads(threads);
                char *C = malloc((size_t)(d.M * d.N) * es), *C1 = malloc((size_t)(d.M * d.N) * es);
                char *C2 = malloc((size_t)(d.M * d.N) * es);
                kern_gemm(dt, d.M, d.N, d.K, origin_ptr(&A), A.rs, A.cs, origin_ptr(&B), B.rs, B.cs,
                          C, d.N);
                for (int64_t i = 0; i < d.M * d.N; i++) {
                    double got = dt == TG_F64 ? ((double *)C)[i] : ((float *)C)[i];
                    ck_assert_msg(got == ref.c[i],
                                  "%s %s A %s, %d threads: C[%lld] = %.17g, want %.17g",
                                  tg_cpu_level_name(levels[_i]), tg_dtype_name(dt),
                                  layout_name[la[pa]], threads, (long long)i, got, ref.c[i]);
                }
                for (int rep = 0; rep < 2; rep++)
                    kern_gemm(dt, d.M, d.N, d.K, origin_ptr(&RA), RA.rs, RA.cs, origin_ptr(&RB),
                              RB.rs, RB.cs, rep ? C2 : C1, d.N);
                ck_assert_msg(memcmp(C1, C2, (size_t)(d.M * d.N) * es) == 0,
                              "%s %s, %d threads: two runs differ", tg_cpu_level_name(levels[_i]),
                              tg_dtype_name(dt), threads);
                free(C), free(C1), free(C2);
            }
            operand_free(&A), operand_free(&B), operand_free(&RA), operand_free(&RB);
        }
    }
    kern_gemm_set_tuning(kern_gemm_default_tuning());
    free(a), free(b), free(ra), free(rb), free(ref.c), free(ref.abs);
}
END_TEST

/* ---- the matmul op through the public API, once per forced level ---- */

/* A (rows, cols) tensor of dtype dt on t holding `v` (exact: v was rounded to dt when drawn). */
static tg_tensor *from_doubles(tg_tape *t, tg_dtype dt, int64_t rows, int64_t cols,
                               const double *v) {
    if (dt == TG_F64) return tg_from_data(t, TG_F64, TG_SHAPE(rows, cols), v);
    float *f = malloc((size_t)(rows * cols) * sizeof(float));
    for (int64_t i = 0; i < rows * cols; i++) f[i] = (float)v[i];
    tg_tensor *x = tg_from_data(t, TG_F32, TG_SHAPE(rows, cols), f);
    free(f);
    return x;
}

/* C = A B^T with B given as a transposed view, so the op passes strides to the kernel; then the
 * gradients of sum(C * W) against their closed forms dA = W B, dB = W^T A. */
START_TEST(test_matmul_op_each_level) {
    if (!enter_level(_i)) return;
    tg_set_threads(2);
    for (int di = 0; di < 2; di++) {
        tg_dtype dt = di ? TG_F64 : TG_F32;
        enum { M = 37, K = 53, N = 29 };
        tg_rng rng;
        tg_rng_seed(&rng, 5);
        double *a = random_matrix(&rng, M * K, dt), *bt = random_matrix(&rng, N * K, dt);
        double *w = random_matrix(&rng, M * N, dt);
        tg_tape *t = tg_tape_new();
        tg_tensor *A = from_doubles(t, dt, M, K, a), *Bt = from_doubles(t, dt, N, K, bt);
        tg_tensor *W = from_doubles(t, dt, M, N, w);
        ck_assert_int_eq(tg_tensor_set_requires_grad(A, true), TG_OK);
        ck_assert_int_eq(tg_tensor_set_requires_grad(Bt, true), TG_OK);
        tg_tensor *B = tg_transpose(t, Bt, 0, 1);
        ck_assert(!tg_tensor_is_contiguous(B));
        tg_tensor *C = tg_matmul(t, A, B);
        tg_tensor *loss = tg_sum_all(t, tg_mul(t, C, W));
        ck_assert_msg(loss, "%s", tg_tape_error(t));
        ck_assert_int_eq(tg_tape_backward(t, loss, NULL, 0), TG_OK);

        double u = dt == TG_F64 ? DBL_EPSILON / 2 : FLT_EPSILON / 2;
        double *bn = malloc(K * N * sizeof(double)); /* B = Bt^T, row-major (K, N) */
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++) bn[k * N + j] = bt[j * K + k];
        reference rc = naive(a, bn, M, N, K);
        for (int i = 0; i < M * N; i++) {
            double got = tg_tensor_get(C, i);
            ck_assert_msg(fabs(got - rc.c[i]) <= 2.0 * K * u * rc.abs[i],
                          "%s %s C[%d] = %.17g, want %.17g", tg_cpu_level_name(levels[_i]),
                          tg_dtype_name(dt), i, got, rc.c[i]);
        }
        /* dA = W B^T (M x K) = W Bt; dBt = (A^T W)^T = W^T A (N x K). */
        double *wt = malloc(M * N * sizeof(double));
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) wt[j * M + i] = w[i * N + j];
        reference ra = naive(w, bt, M, K, N), rb = naive(wt, a, N, K, M);
        tg_tensor *gA = tg_tensor_grad(A), *gB = tg_tensor_grad(Bt);
        ck_assert(gA && gB);
        for (int i = 0; i < M * K; i++)
            ck_assert_msg(fabs(tg_tensor_get(gA, i) - ra.c[i]) <= 2.0 * N * u * ra.abs[i],
                          "%s %s dA[%d] = %.17g, want %.17g", tg_cpu_level_name(levels[_i]),
                          tg_dtype_name(dt), i, tg_tensor_get(gA, i), ra.c[i]);
        for (int i = 0; i < N * K; i++)
            ck_assert_msg(fabs(tg_tensor_get(gB, i) - rb.c[i]) <= 2.0 * M * u * rb.abs[i],
                          "%s %s dB[%d] = %.17g, want %.17g", tg_cpu_level_name(levels[_i]),
                          tg_dtype_name(dt), i, tg_tensor_get(gB, i), rb.c[i]);
        printf("gemm: matmul op at level %s, %s: forward and both gradients match\n",
               tg_cpu_level_name(levels[_i]), tg_dtype_name(dt));
        free(rc.c), free(rc.abs), free(ra.c), free(ra.abs), free(rb.c), free(rb.abs);
        free(a), free(bt), free(w), free(bn), free(wt);
        tg_tape_free(t);
    }
}
END_TEST

/* ---- the level knob itself ---- */

/* Clamping: above the best gives the best, below portable gives portable; names. */
START_TEST(test_cpu_level_clamps) {
    tg_cpu_level best = tg_cpu_best_level();
    ck_assert_int_eq(tg_set_cpu_level((tg_cpu_level)99), best);
    ck_assert_int_eq(tg_get_cpu_level(), best);
    ck_assert_int_eq(tg_set_cpu_level((tg_cpu_level)-3), TG_CPU_PORTABLE);
    ck_assert_int_eq(tg_get_cpu_level(), TG_CPU_PORTABLE);
    ck_assert_str_eq(tg_cpu_level_name(TG_CPU_PORTABLE), "portable");
    ck_assert_str_eq(tg_cpu_level_name(TG_CPU_AVX2), "avx2");
    ck_assert_str_eq(tg_cpu_level_name(TG_CPU_AVX512), "avx512");
    ck_assert_str_eq(tg_cpu_level_name(TG_CPU_NEON), "neon");
    /* The other architecture's levels give this machine's best. */
#if defined(__aarch64__)
    ck_assert_int_eq(tg_set_cpu_level(TG_CPU_AVX2), TG_CPU_NEON);
    ck_assert_int_eq(tg_set_cpu_level(TG_CPU_AVX512), TG_CPU_NEON);
    ck_assert_int_eq(best, TG_CPU_NEON);
#else
    ck_assert_int_eq(tg_set_cpu_level(TG_CPU_NEON), best);
#endif
    ck_assert_str_eq(tg_cpu_level_name((tg_cpu_level)7), "?");
    printf("gemm: this CPU's best level is %s\n", tg_cpu_level_name(best));
}
END_TEST

/* TG_CPU, read once at first use: the meson test "kernels_gemm_env" runs this suite with
 * TG_CPU=avx2 and TG_TEST_EXPECT_CPU naming the level that must be in effect at start. */
START_TEST(test_cpu_env) {
    const char *expect = getenv("TG_TEST_EXPECT_CPU");
    if (!expect) return;
    tg_cpu_level want = TG_CPU_PORTABLE;
    if (strcmp(expect, "avx2") == 0) want = TG_CPU_AVX2;
    if (strcmp(expect, "avx512") == 0) want = TG_CPU_AVX512;
    if (strcmp(expect, "neon") == 0) want = TG_CPU_NEON;
    tg_cpu_level at_start = tg_get_cpu_level();
    /* What the machine gives for that level (itself, or the best there is: avx2 on ARM gives
     * neon), as tg_set_cpu_level documents; the environment must follow the same rule. */
    want = tg_set_cpu_level(want);
    ck_assert_str_eq(tg_cpu_level_name(at_start), tg_cpu_level_name(want));
}
END_TEST

static Suite *gemm_suite(void) {
    Suite *s = suite_create("gemm");
    /* First, so that nothing has set the level before it looks (with or without fork mode). */
    TCase *l = tcase_create("levels");
    tcase_add_test(l, test_cpu_env);
    tcase_add_test(l, test_cpu_level_clamps);
    suite_add_tcase(s, l);
    int n_levels = (int)(sizeof levels / sizeof *levels);
    TCase *c = tcase_create("products");
    tcase_set_timeout(c, 600);
    tcase_add_loop_test(c, test_gemm_empty, 0, n_levels);
    tcase_add_loop_test(c, test_gemm_without_memory, 0, n_levels);
    tcase_add_loop_test(c, test_gemm_packed_without_a_blocks, 0, n_levels);
    tcase_add_loop_test(c, test_gemm_many_phases, 0, n_levels);
    tcase_add_loop_test(c, test_gemm_all_sizes, 0, n_levels);
    tcase_add_loop_test(c, test_gemm_large_sizes, 0, n_levels);
    tcase_add_loop_test(c, test_gemm_odd_strides, 0, n_levels);
    tcase_add_loop_test(c, test_gemm_direct_tile_heights, 0, n_levels);
    tcase_add_loop_test(c, test_gemm_dot_split_k, 0, n_levels);
    tcase_add_loop_test(c, test_matmul_op_each_level, 0, n_levels);
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tg_test_run(gemm_suite()); }

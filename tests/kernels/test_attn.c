/* test_attn.c: the fused causal-attention kernels (src/ops/kernels/attn.c) at every CPU level
 * this machine runs, in f32 (AVX-512, AVX2, NEON and portable instances) and f64 (portable),
 * against the formulas evaluated here in double, element by element: the forward y and p, and
 * the backward dq, dk, dv. Sizes T in {1, 7, 17, 64, 65} and D in {1, 3, 16, 32, 33} cover one
 * row, tails of every tile and vector, and whole tiles; a strided case reads every operand
 * through row and column strides and writes results with padded rows; a large scale makes
 * most of each row's exponentials underflow to 0 beside the masked (-inf) keys; two threads
 * give the same bits as one.
 *
 * Tolerance: each result is compared with kappa u B, where u is the unit roundoff of the type
 * (2^-24 or 2^-53), B the same formula evaluated on absolute values (y: p |v|; dv: p^T |g|;
 * ds: |scale| p (|g| |v|^T + rowsum(p |g| |v|^T)), dq: ds_abs |k|; dk: ds_abs^T |q|), and kappa
 * = 4 (T + D + |scale| smax) with smax the largest sum_d |q_id k_jd|: a score's absolute error
 * is at most D u |scale| sum_d|q k| and becomes a relative error of p through the exponential;
 * the sums over T keys and D lanes add T u and D u. Plus kappa times a floor far below
 * anything else (2^-120 in f32), for products of probabilities that underflow to 0 or to
 * denormals where double keeps them (the large-scale case's). A wrong key, lane, row or mask gives an
 * error of the order of B itself. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/kernels/attn.h"
#include "test_util.h"

static const int64_t Ts[] = {1, 7, 17, 64, 65};
static const int64_t Ds[] = {1, 3, 16, 32, 33};
enum { N_T = 5, N_D = 5 };

static void fill(double *v, int64_t n, uint32_t seed, double amp) {
    uint32_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = amp * (double)((int)(s >> 20) - 2048) / 2048.0;
    }
}

/* One item's reference in double: y, dq, dk, dv and their bounds (all T x D, dense), and p. */
typedef struct ref {
    double *y, *dq, *dk, *dv, *by, *bq, *bk, *bv, *p;
    double smax;
} ref;

static void reference(int64_t T, int64_t D, double scale, const double *q, const double *k,
                      const double *v, const double *g, ref *r) {
    double *ds = calloc((size_t)(T * T), sizeof *ds), *dsa = calloc((size_t)(T * T), sizeof *dsa);
    ck_assert_ptr_nonnull(ds);
    ck_assert_ptr_nonnull(dsa);
    r->smax = 0;
    for (int64_t i = 0; i < T; i++) {
        double m = -INFINITY, sum = 0, *p = r->p + i * T;
        for (int64_t j = 0; j <= i; j++) {
            double s = 0, sa = 0;
            for (int64_t d = 0; d < D; d++) {
                s += q[i * D + d] * k[j * D + d];
                sa += fabs(q[i * D + d] * k[j * D + d]);
            }
            p[j] = scale * s;
            m = p[j] > m ? p[j] : m;
            r->smax = sa > r->smax ? sa : r->smax;
        }
        for (int64_t j = 0; j <= i; j++) sum += p[j] = exp(p[j] - m);
        for (int64_t j = 0; j < T; j++) p[j] = j <= i ? p[j] / sum : 0.0;
        double dot = 0, dota = 0;
        for (int64_t j = 0; j <= i; j++) {
            double dp = 0, dpa = 0;
            for (int64_t d = 0; d < D; d++) {
                dp += g[i * D + d] * v[j * D + d];
                dpa += fabs(g[i * D + d] * v[j * D + d]);
            }
            ds[i * T + j] = dp;
            dsa[i * T + j] = dpa;
            dot += p[j] * dp;
            dota += p[j] * dpa;
        }
        for (int64_t j = 0; j <= i; j++) {
            ds[i * T + j] = scale * p[j] * (ds[i * T + j] - dot);
            dsa[i * T + j] = fabs(scale) * p[j] * (dsa[i * T + j] + dota);
        }
    }
    for (int64_t i = 0; i < T; i++)
        for (int64_t d = 0; d < D; d++) {
            double y = 0, by = 0, dq = 0, bq = 0, dk = 0, bk = 0, dv = 0, bv = 0;
            for (int64_t j = 0; j < T; j++) {
                y += r->p[i * T + j] * v[j * D + d];
                by += r->p[i * T + j] * fabs(v[j * D + d]);
                dq += ds[i * T + j] * k[j * D + d];
                bq += dsa[i * T + j] * fabs(k[j * D + d]);
                dk += ds[j * T + i] * q[j * D + d];
                bk += dsa[j * T + i] * fabs(q[j * D + d]);
                dv += r->p[j * T + i] * g[j * D + d];
                bv += r->p[j * T + i] * fabs(g[j * D + d]);
            }
            r->y[i * D + d] = y, r->by[i * D + d] = by;
            r->dq[i * D + d] = dq, r->bq[i * D + d] = bq;
            r->dk[i * D + d] = dk, r->bk[i * D + d] = bk;
            r->dv[i * D + d] = dv, r->bv[i * D + d] = bv;
        }
    free(ds);
    free(dsa);
}

/* A buffer of n_items items of T rows, row stride rs and column stride cs, in dtype. */
static void *strided(tg_dtype dt, int64_t n_items, int64_t T, int64_t rs, int64_t cs, int64_t D,
                     const double *dense, int64_t item_stride) {
    size_t es = tg_dtype_size(dt), n = (size_t)(n_items * item_stride);
    char *buf = calloc(n + 1, es);
    ck_assert_ptr_nonnull(buf);
    for (int64_t b = 0; b < n_items; b++)
        for (int64_t i = 0; i < T; i++)
            for (int64_t d = 0; d < D; d++) {
                double x = dense[(b * T + i) * D + d];
                int64_t at = b * item_stride + i * rs + d * cs;
                if (dt == TG_F32)
                    ((float *)(void *)buf)[at] = (float)x;
                else
                    ((double *)(void *)buf)[at] = x;
            }
    return buf;
}

static double get(tg_dtype dt, const void *buf, int64_t at) {
    return dt == TG_F32 ? (double)((const float *)buf)[at] : ((const double *)buf)[at];
}

typedef struct outs {
    void *y, *p, *dq, *dk, *dv;
} outs;

/* Runs the kernels at the level in effect on n_items items; layout: cs column stride of the
 * operands, pad extra elements after each row (operands and results). */
static outs run(tg_dtype dt, int64_t T, int64_t D, int64_t n_items, double scale, int64_t cs,
                int64_t pad, const double *q, const double *k, const double *v, const double *g) {
    int64_t rs = D * cs + pad, item = T * rs + 3, ors = D + pad, oitem = T * ors + 5;
    int64_t *off = malloc((size_t)n_items * sizeof *off), *ooff = malloc((size_t)n_items * sizeof *ooff);
    ck_assert_ptr_nonnull(off);
    ck_assert_ptr_nonnull(ooff);
    for (int64_t b = 0; b < n_items; b++) off[b] = b * item, ooff[b] = b * oitem;
    size_t es = tg_dtype_size(dt);
    int64_t tp = kern_attn_padded(T);
    outs o;
    o.p = calloc((size_t)(n_items * tp * tp), es);
    o.y = calloc((size_t)(n_items * oitem), es);
    o.dq = calloc((size_t)(n_items * oitem), es);
    o.dk = calloc((size_t)(n_items * oitem), es);
    o.dv = calloc((size_t)(n_items * oitem), es);
    void *bq = strided(dt, n_items, T, rs, cs, D, q, item), *bk = strided(dt, n_items, T, rs, cs, D, k, item);
    void *bv = strided(dt, n_items, T, rs, cs, D, v, item), *bg = strided(dt, n_items, T, rs, cs, D, g, item);
    kern_attn j = {.n_t = T, .D = D, .n_items = n_items, .scale = scale,
                   .q = bq, .k = bk, .v = bv, .g = bg,
                   .qo = off, .ko = off, .vo = off, .go = off,
                   .q_rs = rs, .q_cs = cs, .k_rs = rs, .k_cs = cs, .v_rs = rs, .v_cs = cs,
                   .g_rs = rs, .g_cs = cs,
                   .p = o.p, .y = o.y, .yo = ooff, .y_rs = ors,
                   .dq = o.dq, .dk = o.dk, .dv = o.dv, .dqo = ooff, .dko = ooff, .dvo = ooff,
                   .dq_rs = ors, .dk_rs = ors, .dv_rs = ors};
    ck_assert(kern_attn_forward(dt, &j));
    ck_assert(kern_attn_backward(dt, &j));
    free(bq), free(bk), free(bv), free(bg), free(off), free(ooff);
    return o;
}

static void outs_free(outs *o) { free(o->y), free(o->p), free(o->dq), free(o->dk), free(o->dv); }

static void check_one(const char *what, tg_dtype dt, int64_t T, int64_t D, int64_t b,
                      const void *got, int64_t ors, int64_t oitem, const double *want,
                      const double *bound, double kappa) {
    double u = dt == TG_F32 ? ldexp(1.0, -24) : ldexp(1.0, -53);
    double floor_ = dt == TG_F32 ? ldexp(1.0, -120) : ldexp(1.0, -1000);
    for (int64_t i = 0; i < T; i++)
        for (int64_t d = 0; d < D; d++) {
            double x = get(dt, got, b * oitem + i * ors + d), w = want[i * D + d];
            double tol = kappa * (u * bound[i * D + d] + floor_);
            ck_assert_msg(fabs(x - w) <= tol,
                          "%s %s T=%lld D=%lld item %lld at (%lld, %lld): %.9g, want %.9g (tol %.3g, "
                          "level %s)",
                          what, tg_dtype_name(dt), (long long)T, (long long)D, (long long)b,
                          (long long)i, (long long)d, x, w, tol,
                          tg_cpu_level_name(tg_get_cpu_level()));
        }
}

/* Every result of n_items items against the reference; pad and cs as in run. */
static void check_case(tg_dtype dt, int64_t T, int64_t D, int64_t n_items, double scale,
                       double amp, int64_t cs, int64_t pad, uint32_t seed) {
    int64_t n = n_items * T * D;
    double *q = malloc((size_t)n * sizeof *q), *k = malloc((size_t)n * sizeof *k),
           *v = malloc((size_t)n * sizeof *v), *g = malloc((size_t)n * sizeof *g);
    ck_assert(q && k && v && g);
    fill(q, n, seed, amp), fill(k, n, seed + 1, amp), fill(v, n, seed + 2, 1.0);
    fill(g, n, seed + 3, 1.0);
    /* The reference sees the values the kernels see (rounded to f32). */
    if (dt == TG_F32)
        for (int64_t i = 0; i < n; i++)
            q[i] = (float)q[i], k[i] = (float)k[i], v[i] = (float)v[i], g[i] = (float)g[i];
    outs o = run(dt, T, D, n_items, scale, cs, pad, q, k, v, g);
    int64_t ors = D + pad, oitem = T * ors + 5, tp = kern_attn_padded(T);
    size_t td = (size_t)(T * D);
    ref r;
    double *mem = malloc((8 * td + (size_t)(T * T)) * sizeof *mem);
    ck_assert_ptr_nonnull(mem);
    r.y = mem, r.dq = mem + td, r.dk = mem + 2 * td, r.dv = mem + 3 * td, r.by = mem + 4 * td;
    r.bq = mem + 5 * td, r.bk = mem + 6 * td, r.bv = mem + 7 * td, r.p = mem + 8 * td;
    for (int64_t b = 0; b < n_items; b++) {
        size_t o0 = (size_t)b * td;
        reference(T, D, scale, q + o0, k + o0, v + o0, g + o0, &r);
        double kappa = 4.0 * ((double)T + (double)D + fabs(scale) * r.smax);
        check_one("y", dt, T, D, b, o.y, ors, oitem, r.y, r.by, kappa);
        check_one("dq", dt, T, D, b, o.dq, ors, oitem, r.dq, r.bq, kappa);
        check_one("dk", dt, T, D, b, o.dk, ors, oitem, r.dk, r.bk, kappa);
        check_one("dv", dt, T, D, b, o.dv, ors, oitem, r.dv, r.bv, kappa);
        /* p: the triangle within the same bound (p <= 1), zeros elsewhere, exactly. */
        double u = dt == TG_F32 ? ldexp(1.0, -24) : ldexp(1.0, -53);
        for (int64_t i = 0; i < tp; i++)
            for (int64_t c = 0; c < tp; c++) {
                double x = get(dt, o.p, (b * tp + i) * tp + c);
                if (i < T && c <= i)
                    ck_assert_msg(fabs(x - r.p[i * T + c]) <= kappa * u * (r.p[i * T + c] + u),
                                  "p T=%lld D=%lld (%lld, %lld): %.9g want %.9g", (long long)T,
                                  (long long)D, (long long)i, (long long)c, x, r.p[i * T + c]);
                else
                    ck_assert_msg(x == 0.0, "p T=%lld (%lld, %lld) = %g outside the triangle",
                                  (long long)T, (long long)i, (long long)c, x);
            }
        /* Results never spill into the padding after a row. */
        for (int64_t i = 0; i < T; i++)
            for (int64_t c = D; c < ors; c++) ck_assert(get(dt, o.y, b * oitem + i * ors + c) == 0);
    }
    outs_free(&o);
    free(mem), free(q), free(k), free(v), free(g);
}

static const tg_cpu_level levels[] = {TG_CPU_PORTABLE, TG_CPU_AVX2, TG_CPU_AVX512, TG_CPU_NEON};

/* _i: level x T; every D, contiguous, 2 items. */
START_TEST(sizes_f32) {
    tg_cpu_level l = levels[_i / N_T];
    if (!tg_test_enter_level(l)) return;
    tg_set_threads(1);
    int64_t T = Ts[_i % N_T];
    for (int d = 0; d < N_D; d++)
        check_case(TG_F32, T, Ds[d], 2, 1.0 / sqrt((double)Ds[d]), 1.0, 1, 0, (uint32_t)(7 * _i + d));
    tg_set_cpu_level(tg_cpu_best_level());
}
END_TEST

START_TEST(sizes_f64) {
    int64_t T = Ts[_i];
    for (int d = 0; d < N_D; d++)
        check_case(TG_F64, T, Ds[d], 2, 1.0 / sqrt((double)Ds[d]), 1.0, 1, 0, (uint32_t)(11 * _i + d));
}
END_TEST

/* Strided operands (every second column, padded rows), padded result rows, a negative scale,
 * and a large one whose rows are mostly underflowed exponentials. */
START_TEST(strides_and_scales) {
    tg_cpu_level l = levels[_i];
    if (!tg_test_enter_level(l)) return;
    tg_set_threads(1);
    check_case(TG_F32, 17, 33, 3, -0.4, 1.0, 2, 5, 101);
    check_case(TG_F32, 65, 16, 2, 0.25, 1.0, 3, 1, 102);
    check_case(TG_F32, 64, 16, 2, 8.0, 3.0, 1, 0, 103);
    check_case(TG_F64, 33, 7, 2, 8.0, 3.0, 2, 3, 104);
    tg_set_cpu_level(tg_cpu_best_level());
}
END_TEST

/* Items are independent: two threads give one thread's bits. */
START_TEST(threads_same_bits) {
    tg_cpu_level l = levels[_i];
    if (!tg_test_enter_level(l)) return;
    int64_t T = 64, D = 16, n_items = 12, n = n_items * T * D;
    double *x = malloc((size_t)(4 * n) * sizeof *x);
    ck_assert_ptr_nonnull(x);
    fill(x, 4 * n, 9, 1.0);
    int64_t tp = kern_attn_padded(T), oitem = T * D + 5;
    tg_set_threads(1);
    outs a = run(TG_F32, T, D, n_items, 0.25, 1, 0, x, x + n, x + 2 * n, x + 3 * n);
    tg_set_threads(2);
    outs b = run(TG_F32, T, D, n_items, 0.25, 1, 0, x, x + n, x + 2 * n, x + 3 * n);
    size_t ob = (size_t)(n_items * oitem) * sizeof(float);
    ck_assert(memcmp(a.y, b.y, ob) == 0 && memcmp(a.dq, b.dq, ob) == 0);
    ck_assert(memcmp(a.dk, b.dk, ob) == 0 && memcmp(a.dv, b.dv, ob) == 0);
    ck_assert(memcmp(a.p, b.p, (size_t)(n_items * tp * tp) * sizeof(float)) == 0);
    outs_free(&a), outs_free(&b), free(x);
    tg_set_threads(1);
    tg_set_cpu_level(tg_cpu_best_level());
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("kernels_attn");
    TCase *tc = tcase_create("attn");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, sizes_f32, 0, 4 * N_T);
    tcase_add_loop_test(tc, sizes_f64, 0, N_T);
    tcase_add_loop_test(tc, strides_and_scales, 0, 4);
    tcase_add_loop_test(tc, threads_same_bits, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tg_test_run(suite()); }

/* pool.c: 2-D max and average pooling loops over contiguous (C, H, W) blocks.
 *
 * Max pooling selects, in each window, the first position (row-major scan) holding the largest
 * value; padding never wins (it acts as -infinity). The gather and scatter forms reuse exactly
 * that selection, so a forward and its adjoint always agree on ties. Selections are made a row
 * of output columns at a time; windows wholly inside the image skip the bounds checks. */
#include <math.h>

#include "conv.h"
#include "threadpool.h"
#include "vec.h"

/* The flat (y * W + x) position selected in window (oy, ox) of channel plane p, or -1 when the
 * window holds only padding. NaN wins over numbers, as in PyTorch. */
#define ARGMAX(T)                                                                              \
    static int64_t argmax_##T(const kern_window *g, const T *p, int64_t oy, int64_t ox) {      \
        int64_t best = -1;                                                                     \
        T bv = 0;                                                                              \
        for (int64_t i = 0; i < g->kh; i++) {                                                  \
            int64_t y = oy * g->sh - g->ph + i * g->dh;                                        \
            if (y < 0 || y >= g->H) continue;                                                  \
            for (int64_t j = 0; j < g->kw; j++) {                                              \
                int64_t x = ox * g->sw - g->pw + j * g->dw;                                    \
                if (x < 0 || x >= g->W) continue;                                              \
                T v = p[y * g->W + x];                                                         \
                if (best < 0 || v > bv || (isnan(v) && !isnan(bv))) {                          \
                    best = y * g->W + x;                                                       \
                    bv = v;                                                                    \
                }                                                                              \
            }                                                                                  \
        }                                                                                      \
        return best;                                                                           \
    }

/* Output columns per pass of the row selection below, and the largest window (kh kw elements)
 * the f32 SIMD selection takes. */
enum { POOL_CHUNK = 64, POOL_VEC_MAX_WINDOW = 64 };

/* The output columns [*lo, *hi) of row oy whose windows lie wholly inside the image. */
static void inside_columns(const kern_window *g, int64_t oy, int64_t *lo, int64_t *hi) {
    int64_t y0 = oy * g->sh - g->ph;
    *lo = *hi = 0;
    if (y0 < 0 || y0 + (g->kh - 1) * g->dh >= g->H) return;
    int64_t a = g->pw <= 0 ? 0 : (g->pw + g->sw - 1) / g->sw;
    int64_t last = g->W - 1 - (g->kw - 1) * g->dw + g->pw; /* the largest ox * sw allowed */
    int64_t b = last < 0 ? 0 : last / g->sw + 1;
    if (b > g->ow) b = g->ow;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* The selections of output columns [ox0, ox0 + n) of row oy (n <= POOL_CHUNK) into idx, the
 * same as argmax gives. Windows wholly inside the image are scanned for all columns at once, in
 * the same order, with selects rather than branches: on real data each comparison is a coin
 * toss that a branch predictor loses half the time, and the loop over columns vectorises. */
#define ARGMAX_ROW(T)                                                                          \
    static void argmax_row_##T(const kern_window *g, const T *p, int64_t oy, int64_t ox0,      \
                               int64_t n, int64_t *idx) {                                      \
        int64_t lo, hi;                                                                        \
        inside_columns(g, oy, &lo, &hi);                                                       \
        lo = lo < ox0 ? ox0 : lo > ox0 + n ? ox0 + n : lo;                                     \
        hi = hi > ox0 + n ? ox0 + n : hi < lo ? lo : hi;                                       \
        for (int64_t ox = ox0; ox < lo; ox++) idx[ox - ox0] = argmax_##T(g, p, oy, ox);         \
        for (int64_t ox = hi; ox < ox0 + n; ox++) idx[ox - ox0] = argmax_##T(g, p, oy, ox);     \
        int64_t m = hi - lo, first = (oy * g->sh - g->ph) * g->W + lo * g->sw - g->pw;         \
        if (m <= 0) return;                                                                    \
        int64_t *bi = idx + (lo - ox0);                                                        \
        if (sizeof(T) == sizeof(float) && g->kh * g->kw <= POOL_VEC_MAX_WINDOW) {              \
            int64_t offs[POOL_VEC_MAX_WINDOW];                                                 \
            int n_offs = 0;                                                                    \
            for (int64_t i = 0; i < g->kh; i++)                                                \
                for (int64_t j = 0; j < g->kw; j++) offs[n_offs++] = i * g->dh * g->W + j * g->dw; \
            if (kern_vec_select_max_f32((const float *)(const void *)p, first, g->sw, m, offs, \
                                        n_offs, bi))                                           \
                return;                                                                        \
        }                                                                                      \
        T bv[POOL_CHUNK];                                                                      \
        for (int64_t q = 0; q < m; q++) {                                                      \
            bi[q] = first + q * g->sw;                                                         \
            bv[q] = p[bi[q]];                                                                  \
        }                                                                                      \
        for (int64_t i = 0; i < g->kh; i++)                                                    \
            for (int64_t j = i == 0; j < g->kw; j++) {                                         \
                int64_t k0 = first + i * g->dh * g->W + j * g->dw;                             \
                for (int64_t q = 0; q < m; q++) {                                              \
                    int64_t k = k0 + q * g->sw;                                                \
                    T v = p[k];                                                                \
                    bool take = (v > bv[q]) | ((v != v) & (bv[q] == bv[q]));                   \
                    bv[q] = take ? v : bv[q];                                                  \
                    bi[q] = take ? k : bi[q];                                                  \
                }                                                                              \
            }                                                                                  \
    }

#define POOL_FUNCS(T)                                                                          \
    ARGMAX(T)                                                                                  \
    ARGMAX_ROW(T)                                                                              \
    static void gather_##T(const kern_window *g, const T *x, const T *src, T *out) {           \
        int64_t idx[POOL_CHUNK];                                                               \
        for (int64_t c = 0; c < g->C; c++) {                                                   \
            const T *px = x + c * g->H * g->W, *ps = src + c * g->H * g->W;                    \
            for (int64_t oy = 0; oy < g->oh; oy++)                                             \
                for (int64_t ox0 = 0; ox0 < g->ow; ox0 += POOL_CHUNK) {                        \
                    int64_t n = g->ow - ox0 < POOL_CHUNK ? g->ow - ox0 : POOL_CHUNK;           \
                    argmax_row_##T(g, px, oy, ox0, n, idx);                                    \
                    for (int64_t q = 0; q < n; q++)                                            \
                        *out++ = idx[q] < 0 ? (T)-INFINITY : ps[idx[q]];                       \
                }                                                                              \
        }                                                                                      \
    }                                                                                          \
    static void scatter_##T(const kern_window *g, const T *x, const T *grad, T *out) {         \
        int64_t idx[POOL_CHUNK];                                                               \
        for (int64_t c = 0; c < g->C; c++) {                                                   \
            const T *px = x + c * g->H * g->W;                                                 \
            T *po = out + c * g->H * g->W;                                                     \
            for (int64_t oy = 0; oy < g->oh; oy++)                                             \
                for (int64_t ox0 = 0; ox0 < g->ow; ox0 += POOL_CHUNK) {                        \
                    int64_t n = g->ow - ox0 < POOL_CHUNK ? g->ow - ox0 : POOL_CHUNK;           \
                    argmax_row_##T(g, px, oy, ox0, n, idx);                                    \
                    for (int64_t q = 0; q < n; q++, grad++)                                    \
                        if (idx[q] >= 0) po[idx[q]] += *grad;                                  \
                }                                                                              \
        }                                                                                      \
    }                                                                                          \
    static void avg_##T(const kern_window *g, const T *x, T *out, bool adjoint) {              \
        T inv = (T)1 / (T)(g->kh * g->kw);                                                     \
        for (int64_t c = 0; c < g->C; c++) {                                                   \
            const T *px = x + c * g->H * g->W;                                                 \
            T *pa = out + c * g->H * g->W; /* adjoint: out is (C, H, W), x is (C, OH, OW) */   \
            for (int64_t oy = 0; oy < g->oh; oy++)                                             \
                for (int64_t ox = 0; ox < g->ow; ox++) {                                       \
                    T acc = 0, gv = adjoint ? x[(c * g->oh + oy) * g->ow + ox] * inv : 0;      \
                    for (int64_t i = 0; i < g->kh; i++) {                                      \
                        int64_t y = oy * g->sh - g->ph + i * g->dh;                            \
                        if (y < 0 || y >= g->H) continue;                                      \
                        for (int64_t j = 0; j < g->kw; j++) {                                  \
                            int64_t xx = ox * g->sw - g->pw + j * g->dw;                       \
                            if (xx < 0 || xx >= g->W) continue;                                \
                            if (adjoint)                                                       \
                                pa[y * g->W + xx] += gv;                                       \
                            else                                                               \
                                acc += px[y * g->W + xx];                                      \
                        }                                                                      \
                    }                                                                          \
                    if (!adjoint) out[(c * g->oh + oy) * g->ow + ox] = acc * inv;              \
                }                                                                              \
        }                                                                                      \
    }

POOL_FUNCS(float)
POOL_FUNCS(double)

/* ---- the entry points, sharing the planes between threads when there are many ----
 * Each plane is independent (its own selections, its own output), so a slice of planes per
 * thread computes exactly what one thread would. */
enum { POOL_GATHER, POOL_SCATTER, POOL_AVG, POOL_AVG_ADJOINT };
enum { POOL_PAR_MIN = 1 << 16 }; /* input elements from which the planes are shared */

typedef struct pool_job {
    int kind;
    tg_dtype dtype;
    kern_window g;
    const char *x, *src; /* x: the input planes (or, for the adjoint, the gradient) */
    char *out;
    int64_t per; /* planes per task */
} pool_job;

/* Runs planes [c0, c1) of the job. */
static void pool_range(const pool_job *j, int64_t c0, int64_t c1) {
    kern_window g = j->g;
    g.C = c1 - c0;
    int64_t es = (int64_t)tg_dtype_size(j->dtype);
    int64_t in = g.H * g.W * es, out = g.oh * g.ow * es;
    const char *x = j->x, *src = j->src;
    char *o = j->out;
    bool f32 = j->dtype == TG_F32;
    switch (j->kind) {
    case POOL_GATHER:
        if (f32)
            gather_float(&g, (const float *)(x + c0 * in), (const float *)(src + c0 * in),
                         (float *)(o + c0 * out));
        else
            gather_double(&g, (const double *)(x + c0 * in), (const double *)(src + c0 * in),
                          (double *)(o + c0 * out));
        break;
    case POOL_SCATTER:
        if (f32)
            scatter_float(&g, (const float *)(x + c0 * in), (const float *)(src + c0 * out),
                          (float *)(o + c0 * in));
        else
            scatter_double(&g, (const double *)(x + c0 * in), (const double *)(src + c0 * out),
                           (double *)(o + c0 * in));
        break;
    case POOL_AVG:
        if (f32)
            avg_float(&g, (const float *)(x + c0 * in), (float *)(o + c0 * out), false);
        else
            avg_double(&g, (const double *)(x + c0 * in), (double *)(o + c0 * out), false);
        break;
    default: /* the adjoint reads (C, OH, OW) and adds into (C, H, W) */
        if (f32)
            avg_float(&g, (const float *)(x + c0 * out), (float *)(o + c0 * in), true);
        else
            avg_double(&g, (const double *)(x + c0 * out), (double *)(o + c0 * in), true);
        break;
    }
}

static void pool_task(void *ctx, int64_t i) {
    const pool_job *j = ctx;
    int64_t c0 = i * j->per, c1 = c0 + j->per < j->g.C ? c0 + j->per : j->g.C;
    if (c0 < c1) pool_range(j, c0, c1);
}

static void pool_run(int kind, tg_dtype dtype, const kern_window *g, const void *x,
                     const void *src, void *out) {
    pool_job j = {kind, dtype, *g, x, src, out, g->C};
    int threads = kern_threads();
    if (threads > 1 && g->C > 1 && g->C * g->H * g->W >= POOL_PAR_MIN) {
        j.per = (g->C + threads - 1) / threads;
        kern_parallel_for((g->C + j.per - 1) / j.per, threads, pool_task, &j);
        return;
    }
    pool_range(&j, 0, g->C);
}

void kern_max_pool(tg_dtype dtype, const kern_window *g, const void *x, void *out) {
    pool_run(POOL_GATHER, dtype, g, x, x, out);
}

void kern_max_pool_gather(tg_dtype dtype, const kern_window *g, const void *x, const void *src,
                          void *out) {
    pool_run(POOL_GATHER, dtype, g, x, src, out);
}

void kern_max_pool_scatter_add(tg_dtype dtype, const kern_window *g, const void *x,
                               const void *grad, void *out) {
    pool_run(POOL_SCATTER, dtype, g, x, grad, out);
}

void kern_avg_pool(tg_dtype dtype, const kern_window *g, const void *x, void *out) {
    pool_run(POOL_AVG, dtype, g, x, NULL, out);
}

void kern_avg_pool_adjoint_add(tg_dtype dtype, const kern_window *g, const void *grad,
                               void *out) {
    pool_run(POOL_AVG_ADJOINT, dtype, g, grad, NULL, out);
}

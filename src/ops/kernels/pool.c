/* pool.c: 2-D max and average pooling loops over contiguous (C, H, W) blocks.
 *
 * Max pooling selects, in each window, the first position (row-major scan) holding the largest
 * value; padding never wins (it acts as -infinity). The gather and scatter forms reuse exactly
 * that selection, so a forward and its adjoint always agree on ties. */
#include <math.h>

#include "conv.h"

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

#define POOL_FUNCS(T)                                                                          \
    ARGMAX(T)                                                                                  \
    static void gather_##T(const kern_window *g, const T *x, const T *src, T *out) {           \
        for (int64_t c = 0; c < g->C; c++) {                                                   \
            const T *px = x + c * g->H * g->W, *ps = src + c * g->H * g->W;                    \
            for (int64_t oy = 0; oy < g->oh; oy++)                                             \
                for (int64_t ox = 0; ox < g->ow; ox++) {                                       \
                    int64_t k = argmax_##T(g, px, oy, ox);                                     \
                    *out++ = k < 0 ? (T)-INFINITY : ps[k];                                     \
                }                                                                              \
        }                                                                                      \
    }                                                                                          \
    static void scatter_##T(const kern_window *g, const T *x, const T *grad, T *out) {         \
        for (int64_t c = 0; c < g->C; c++) {                                                   \
            const T *px = x + c * g->H * g->W;                                                 \
            T *po = out + c * g->H * g->W;                                                     \
            for (int64_t oy = 0; oy < g->oh; oy++)                                             \
                for (int64_t ox = 0; ox < g->ow; ox++) {                                       \
                    int64_t k = argmax_##T(g, px, oy, ox);                                     \
                    T v = *grad++;                                                             \
                    if (k >= 0) po[k] += v;                                                    \
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

void kern_max_pool(tg_dtype dtype, const kern_window *g, const void *x, void *out) {
    kern_max_pool_gather(dtype, g, x, x, out);
}

void kern_max_pool_gather(tg_dtype dtype, const kern_window *g, const void *x, const void *src,
                          void *out) {
    if (dtype == TG_F32)
        gather_float(g, x, src, out);
    else
        gather_double(g, x, src, out);
}

void kern_max_pool_scatter_add(tg_dtype dtype, const kern_window *g, const void *x,
                               const void *grad, void *out) {
    if (dtype == TG_F32)
        scatter_float(g, x, grad, out);
    else
        scatter_double(g, x, grad, out);
}

void kern_avg_pool(tg_dtype dtype, const kern_window *g, const void *x, void *out) {
    if (dtype == TG_F32)
        avg_float(g, x, out, false);
    else
        avg_double(g, x, out, false);
}

void kern_avg_pool_adjoint_add(tg_dtype dtype, const kern_window *g, const void *grad,
                               void *out) {
    if (dtype == TG_F32)
        avg_float(g, grad, out, true);
    else
        avg_double(g, grad, out, true);
}

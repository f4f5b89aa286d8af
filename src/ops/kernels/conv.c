/* conv.c: im2col and col2im, the transforms that turn convolution into matrix products.
 * Column row r = (c, i, j) for channel c and kernel offset (i, j); column index = oy * OW + ox,
 * and rows are ld elements apart (ld >= OH * OW), so several images can sit side by side in one
 * column matrix and feed one product.
 *
 * Invariant: for each kernel column j the output columns ox whose input x = ox sw - pw + j dw
 * falls inside the image form one range [lo, hi), computed once (kern_col_range), so the inner
 * loops hold no bounds checks: zeros left and right, a copy in between. */
#include <string.h>

#include "conv.h"
#include "vec.h"

#define IM2COL(T)                                                                              \
    static void im2col_##T(const kern_window *g, const T *img, T *cols, int64_t ld) {          \
        for (int64_t c = 0; c < g->C; c++)                                                     \
            for (int64_t i = 0; i < g->kh; i++)                                                \
                for (int64_t j = 0; j < g->kw; j++) {                                          \
                    T *row = cols + ((c * g->kh + i) * g->kw + j) * ld;                        \
                    int64_t off = j * g->dw - g->pw, lo, hi;                                   \
                    kern_col_range(g, off, &lo, &hi);                                          \
                    for (int64_t oy = 0; oy < g->oh; oy++) {                                   \
                        int64_t y = oy * g->sh - g->ph + i * g->dh;                            \
                        T *dst = row + oy * g->ow;                                             \
                        if (y < 0 || y >= g->H) {                                              \
                            memset(dst, 0, (size_t)g->ow * sizeof(T));                         \
                            continue;                                                          \
                        }                                                                      \
                        const T *src = img + (c * g->H + y) * g->W;                            \
                        for (int64_t ox = 0; ox < lo; ox++) dst[ox] = 0;                       \
                        /* Rows are short (a few dozen): a plain loop beats a memcpy call. */  \
                        if (g->sw == 1)                                                        \
                            for (int64_t ox = lo; ox < hi; ox++) dst[ox] = src[ox + off];      \
                        else                                                                   \
                            for (int64_t ox = lo; ox < hi; ox++)                               \
                                dst[ox] = src[ox * g->sw + off];                               \
                        for (int64_t ox = hi; ox < g->ow; ox++) dst[ox] = 0;                   \
                    }                                                                          \
                }                                                                              \
    }

#define COL2IM(T)                                                                              \
    static void col2im_##T(const kern_window *g, const T *cols, int64_t ld, T *img) {          \
        for (int64_t c = 0; c < g->C; c++)                                                     \
            for (int64_t i = 0; i < g->kh; i++)                                                \
                for (int64_t j = 0; j < g->kw; j++) {                                          \
                    const T *row = cols + ((c * g->kh + i) * g->kw + j) * ld;                  \
                    int64_t off = j * g->dw - g->pw, lo, hi;                                   \
                    kern_col_range(g, off, &lo, &hi);                                          \
                    for (int64_t oy = 0; oy < g->oh; oy++) {                                   \
                        int64_t y = oy * g->sh - g->ph + i * g->dh;                            \
                        if (y < 0 || y >= g->H) continue;                                      \
                        T *dst = img + (c * g->H + y) * g->W;                                  \
                        const T *src = row + oy * g->ow;                                       \
                        for (int64_t ox = lo; ox < hi; ox++) dst[ox * g->sw + off] += src[ox]; \
                    }                                                                          \
                }                                                                              \
    }

IM2COL(float)
IM2COL(double)
COL2IM(float)
COL2IM(double)

void kern_im2col(tg_dtype dtype, const kern_window *g, const void *image, void *cols,
                 int64_t ld) {
    if (dtype == TG_F32 && kern_vec_im2col_f32(g, image, cols, ld)) return;
    if (dtype == TG_F32)
        im2col_float(g, image, cols, ld);
    else
        im2col_double(g, image, cols, ld);
}

void kern_col2im_add(tg_dtype dtype, const kern_window *g, const void *cols, int64_t ld,
                     void *image) {
    if (dtype == TG_F32 && kern_vec_col2im_f32(g, cols, ld, image)) return;
    if (dtype == TG_F32)
        col2im_float(g, cols, ld, image);
    else
        col2im_double(g, cols, ld, image);
}

/* conv.c: im2col and col2im, the transforms that turn convolution into matrix products.
 * Column row r = (c, i, j) for channel c and kernel offset (i, j); column index = oy * OW + ox. */
#include "conv.h"

#define IM2COL(T)                                                                              \
    static void im2col_##T(const kern_window *g, const T *img, T *cols) {                      \
        int64_t n_out = g->oh * g->ow;                                                         \
        for (int64_t c = 0; c < g->C; c++)                                                     \
            for (int64_t i = 0; i < g->kh; i++)                                                \
                for (int64_t j = 0; j < g->kw; j++) {                                          \
                    T *row = cols + ((c * g->kh + i) * g->kw + j) * n_out;                     \
                    for (int64_t oy = 0; oy < g->oh; oy++) {                                   \
                        int64_t y = oy * g->sh - g->ph + i * g->dh;                            \
                        T *dst = row + oy * g->ow;                                             \
                        if (y < 0 || y >= g->H) {                                              \
                            for (int64_t ox = 0; ox < g->ow; ox++) dst[ox] = 0;                \
                            continue;                                                          \
                        }                                                                      \
                        const T *src = img + (c * g->H + y) * g->W;                            \
                        for (int64_t ox = 0; ox < g->ow; ox++) {                               \
                            int64_t x = ox * g->sw - g->pw + j * g->dw;                        \
                            dst[ox] = (x >= 0 && x < g->W) ? src[x] : (T)0;                    \
                        }                                                                      \
                    }                                                                          \
                }                                                                              \
    }

#define COL2IM(T)                                                                              \
    static void col2im_##T(const kern_window *g, const T *cols, T *img) {                      \
        int64_t n_out = g->oh * g->ow;                                                         \
        for (int64_t c = 0; c < g->C; c++)                                                     \
            for (int64_t i = 0; i < g->kh; i++)                                                \
                for (int64_t j = 0; j < g->kw; j++) {                                          \
                    const T *row = cols + ((c * g->kh + i) * g->kw + j) * n_out;               \
                    for (int64_t oy = 0; oy < g->oh; oy++) {                                   \
                        int64_t y = oy * g->sh - g->ph + i * g->dh;                            \
                        if (y < 0 || y >= g->H) continue;                                      \
                        T *dst = img + (c * g->H + y) * g->W;                                  \
                        const T *src = row + oy * g->ow;                                       \
                        for (int64_t ox = 0; ox < g->ow; ox++) {                               \
                            int64_t x = ox * g->sw - g->pw + j * g->dw;                        \
                            if (x >= 0 && x < g->W) dst[x] += src[ox];                         \
                        }                                                                      \
                    }                                                                          \
                }                                                                              \
    }

IM2COL(float)
IM2COL(double)
COL2IM(float)
COL2IM(double)

void kern_im2col(tg_dtype dtype, const kern_window *g, const void *image, void *cols) {
    if (dtype == TG_F32)
        im2col_float(g, image, cols);
    else
        im2col_double(g, image, cols);
}

void kern_col2im_add(tg_dtype dtype, const kern_window *g, const void *cols, void *image) {
    if (dtype == TG_F32)
        col2im_float(g, cols, image);
    else
        col2im_double(g, cols, image);
}

/* window.h: the geometry of a sliding 2-D window (convolution and pooling) and the one range
 * computation both the plain column transforms (conv.c) and their SIMD forms (vec_f32.c) need.
 * Its own header, inline, so that vec_f32.c need not reach back into conv.c, which calls it:
 * dependencies between the two run one way (conv.c -> vec_f32.c -> window.h). */
#ifndef TG_KERNELS_WINDOW_H
#define TG_KERNELS_WINDOW_H

#include <stdint.h>

/* The geometry shared by convolution and pooling along both spatial axes. */
typedef struct kern_window {
    int64_t C, H, W;    /* input channels and size */
    int64_t kh, kw;     /* kernel */
    int64_t sh, sw;     /* stride */
    int64_t ph, pw;     /* zero padding */
    int64_t dh, dw;     /* dilation */
    int64_t oh, ow;     /* output size */
} kern_window;

/* The output columns [*lo, *hi) whose input column ox sw + off lies in [0, W): the part of a
 * column row that is copied rather than zero. */
static inline void kern_col_range(const kern_window *g, int64_t off, int64_t *lo, int64_t *hi) {
    int64_t a = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
    int64_t b = g->W - 1 - off < 0 ? 0 : (g->W - 1 - off) / g->sw + 1;
    if (a > g->ow) a = g->ow;
    if (b > g->ow) b = g->ow;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

#endif

/* conv.h: the image/column transforms behind 2-D convolution and the 2-D pooling loops.
 * Images are contiguous (C, H, W) blocks; columns are (C * kH * kW, OH * OW) with rows `ld`
 * elements apart (ld >= OH * OW: several images' columns side by side). */
#ifndef TG_KERNELS_CONV_H
#define TG_KERNELS_CONV_H

#include "tapegrad/base.h"

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
void kern_col_range(const kern_window *g, int64_t off, int64_t *lo, int64_t *hi);
/* Unfolds image (C, H, W) into columns with row stride ld; padded positions read as 0. */
void kern_im2col(tg_dtype dtype, const kern_window *g, const void *image, void *cols,
                 int64_t ld);
/* Folds columns (row stride ld) back, ADDING each entry into image (C, H, W); padded positions
 * are dropped. */
void kern_col2im_add(tg_dtype dtype, const kern_window *g, const void *cols, int64_t ld,
                     void *image);

/* Max pooling over (C, H, W): out (C, OH, OW); padding acts as -infinity. The first maximum in a
 * window (row-major scan) is the selected one. */
void kern_max_pool(tg_dtype dtype, const kern_window *g, const void *x, void *out);
/* For each window of x, reads src at x's selected maximum into out (C, OH, OW): gather mode. */
void kern_max_pool_gather(tg_dtype dtype, const kern_window *g, const void *x, const void *src,
                          void *out);
/* Adds each grad (C, OH, OW) entry into out (C, H, W) at x's selected maximum: scatter mode. */
void kern_max_pool_scatter_add(tg_dtype dtype, const kern_window *g, const void *x,
                               const void *grad, void *out);
/* Average pooling counting padded zeros (divisor kh * kw), and its adjoint (adds). */
void kern_avg_pool(tg_dtype dtype, const kern_window *g, const void *x, void *out);
void kern_avg_pool_adjoint_add(tg_dtype dtype, const kern_window *g, const void *grad, void *out);

#endif

/* conv.h: the image/column transforms behind 2-D convolution and the 2-D pooling loops.
 * Images are contiguous (C, H, W) blocks; columns are (C * kH * kW, OH * OW) with rows `ld`
 * elements apart (ld >= OH * OW: several images' columns side by side). */
#ifndef TG_KERNELS_CONV_H
#define TG_KERNELS_CONV_H

#include <stdbool.h>

#include "tapegrad/base.h"
#include "window.h"

/* Unfolds image (C, H, W) into columns with row stride ld; padded positions read as 0. */
void kern_im2col(tg_dtype dtype, const kern_window *g, const void *image, void *cols,
                 int64_t ld);
/* Folds columns (row stride ld) back, ADDING each entry into image (C, H, W); padded positions
 * are dropped. */
void kern_col2im_add(tg_dtype dtype, const kern_window *g, const void *cols, int64_t ld,
                     void *image);

/* Direct convolution (conv_direct.c), for f32 at stride 1 and dilation 1 with few taps
 * (C kh kw, C the channels per group) and rows long enough to fill vectors, on CPUs with
 * AVX-512: true when g qualifies at the CPU level now in effect. */
bool kern_conv_direct_usable(tg_dtype dtype, const kern_window *g);
/* Scratch the direct kernels take: padded images for n images (0 when g has no padding), and
 * the number of partial weight-gradient blocks (each O C kh kw floats). */
int64_t kern_conv_direct_pad_elems(const kern_window *g, int64_t n);
int64_t kern_conv_direct_parts(void);
/* y (N images at stride y_is, each O planes of oh x ow) = the correlation of x (N images at
 * stride x_is, each g->C planes of H x W) with w (O, C, kh, kw), plus bias[o] on plane o when
 * bias is not NULL (the sums start from it: no second pass over y). pad holds
 * kern_conv_direct_pad_elems(g, N) floats, wpk O C kh kw floats (the packed weights). */
void kern_conv_direct_forward(const kern_window *g, int64_t N, int64_t O, const float *x,
                              int64_t x_is, const float *w, const float *bias, float *pad,
                              float *wpk, float *y, int64_t y_is);
/* gw (O, C, kh, kw) = sum over images and positions of gy[o] x shifted by each tap, with gy N
 * images at stride gy_is of O planes (oh, ow). parts holds n_parts blocks of O C kh kw floats:
 * the caller reads kern_conv_direct_parts() once, sizes parts by it and passes it here, so a
 * thread count changed meanwhile (tg_set_threads from another thread) cannot outgrow the
 * scratch. Written, not added. */
void kern_conv_direct_weight_grad(const kern_window *g, int64_t N, int64_t O, const float *x,
                                  int64_t x_is, const float *gy, int64_t gy_is, float *pad,
                                  float *parts, int64_t n_parts, float *gw);

/* Convolution with 16 images in the lanes of each vector (conv_lanes.c), for f32 at stride 1
 * and dilation 1 on CPUs with AVX-512, batches of at least 8: true when g qualifies at the CPU
 * level now in effect. Scratch: the packed input (x_elems) and the packed output or output
 * gradient (y_elems). Arguments as for the direct kernels; wpk holds O C kh kw floats. */
bool kern_conv_lanes_usable(tg_dtype dtype, const kern_window *g, int64_t N);
int64_t kern_conv_lanes_x_elems(const kern_window *g, int64_t N);
int64_t kern_conv_lanes_y_elems(const kern_window *g, int64_t N, int64_t O);
/* The forward adds bias[o] (when not NULL) as it unpacks the outputs into y. */
void kern_conv_lanes_forward(const kern_window *g, int64_t N, int64_t O, const float *x,
                             int64_t x_is, const float *w, const float *bias, float *wpk,
                             float *xp, float *yp, float *y, int64_t y_is);
void kern_conv_lanes_weight_grad(const kern_window *g, int64_t N, int64_t O, const float *x,
                                 int64_t x_is, const float *gy, int64_t gy_is, float *xp,
                                 float *gp, float *gw);
/* dx (N images at stride dx_is, g->C planes of H x W) = the input gradient for output gradient
 * gy and weights w (O, C, kh, kw); written, not added. Scratch: wpk O C kh kw floats, gp
 * y_elems, dxp kern_conv_lanes_dx_elems. */
int64_t kern_conv_lanes_dx_elems(const kern_window *g, int64_t N);
void kern_conv_lanes_input_grad(const kern_window *g, int64_t N, int64_t O, const float *gy,
                                int64_t gy_is, const float *w, float *wpk, float *gp, float *dxp,
                                float *dx, int64_t dx_is);

/* Max pooling over (C, H, W): out (C, OH, OW); padding acts as -infinity. The first maximum in a
 * window (row-major scan) is the selected one. */
void kern_max_pool(tg_dtype dtype, const kern_window *g, const void *x, void *out);
/* For each window of x, reads src at x's selected maximum into out (C, OH, OW): gather mode. */
void kern_max_pool_gather(tg_dtype dtype, const kern_window *g, const void *x, const void *src,
                          void *out);
/* Adds each grad (C, OH, OW) entry into out (C, H, W) at x's selected maximum: scatter mode. */
void kern_max_pool_scatter_add(tg_dtype dtype, const kern_window *g, const void *x,
                               const void *grad, void *out);
/* The same into out (C, H, W) from scratch: every element is written (0 where nothing is
 * selected), so out needs no zero fill. */
void kern_max_pool_scatter(tg_dtype dtype, const kern_window *g, const void *x, const void *grad,
                           void *out);
/* The 2x2 stride-2 windows without padding or dilation, which have a path of their own that
 * can record its choices: kern_max_pool2_select is kern_max_pool that also writes every
 * window's choice to `choices` (kern_max_pool2_choice_elems(g) entries, the same format on
 * every CPU level), and kern_max_pool2_scatter_sel is kern_max_pool_scatter from those
 * choices, without x. */
bool kern_max_pool2_fast(const kern_window *g);
int64_t kern_max_pool2_choice_elems(const kern_window *g);
void kern_max_pool2_select(tg_dtype dtype, const kern_window *g, const void *x, void *out,
                           uint16_t *choices);
void kern_max_pool2_scatter_sel(tg_dtype dtype, const kern_window *g, const uint16_t *choices,
                                const void *grad, void *out);
/* Average pooling counting padded zeros (divisor kh * kw), and its adjoint (adds). */
void kern_avg_pool(tg_dtype dtype, const kern_window *g, const void *x, void *out);
void kern_avg_pool_adjoint_add(tg_dtype dtype, const kern_window *g, const void *grad, void *out);

#endif

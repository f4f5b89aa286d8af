/* tapegrad/conv.h: 2-D convolution and pooling ops on (N, C, H, W) tensors.
 *
 * Geometry comes in a parameter struct whose zero fields take the usual defaults, so designated
 * initialisers read naturally:
 *
 *     // x: (N, 3, 32, 32), w: (16, 3, 3, 3), b: (16)  ->  (N, 16, 32, 32)
 *     tg_tensor *y = tg_conv2d(t, x, w, b, &(tg_conv2d_params){.padding = {1, 1}});
 *     tg_tensor *p = tg_max_pool2d(t, y, &(tg_pool2d_params){.kernel = {2, 2}});
 *
 * Output size along each axis: (in + 2 padding - dilation (kernel - 1) - 1) / stride + 1.
 *
 * The transposed convolution goes the other way, as a generator's upsampling does:
 *
 *     // z: (N, 8, 7, 7), wt: (8, 4, 4, 4) (C_in, C_out, kH, kW)  ->  (N, 4, 14, 14)
 *     tg_tensor *u = tg_conv_transpose2d(t, z, wt, NULL,
 *                                        &(tg_conv_transpose2d_params){.stride = {2, 2},
 *                                                                      .padding = {1, 1}});
 *
 * Its output size: (in - 1) stride - 2 padding + dilation (kernel - 1) + output_padding + 1.
 *
 * Nearest-neighbour upsampling repeats each pixel into a scale x scale block; followed by an
 * ordinary convolution it upsamples without the checkerboard a strided transposed one draws:
 *
 *     // z: (N, 8, 7, 7), w: (4, 8, 3, 3)  ->  (N, 4, 14, 14)
 *     tg_tensor *u2 = tg_conv2d(t, tg_upsample_nearest2d(t, z, 2), w, NULL,
 *                               &(tg_conv2d_params){.padding = {1, 1}}); */
#ifndef TAPEGRAD_CONV_H
#define TAPEGRAD_CONV_H

#include "tapegrad/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

typedef struct tg_conv2d_params {
    int stride[2];   /* (height, width); 0 means 1 */
    int padding[2];  /* zeros added on each side; >= 0 */
    int dilation[2]; /* 0 means 1 */
    int groups;      /* 0 means 1; C_in and C_out must both divide by it */
} tg_conv2d_params;

typedef struct tg_conv_transpose2d_params {
    int stride[2];         /* (height, width); 0 means 1 */
    int padding[2];        /* removed from each side of the full output; >= 0 */
    int output_padding[2]; /* added at the bottom and right; >= 0 and below the stride */
    int dilation[2];       /* 0 means 1 */
    int groups;            /* 0 means 1; C_in and C_out must both divide by it */
} tg_conv_transpose2d_params;

typedef struct tg_pool2d_params {
    int kernel[2];   /* required, > 0 */
    int stride[2];   /* 0 means the kernel size */
    int padding[2];  /* >= 0 and at most half the kernel */
    int dilation[2]; /* max pooling only; 0 means 1 */
} tg_pool2d_params;

/* Cross-correlation as in PyTorch's conv2d. x: (N, C_in, H, W), w: (C_out, C_in / groups, kH, kW),
 * b: (C_out) or NULL. params NULL means all defaults. */
tg_tensor *tg_conv2d_at(tg_tape *t, const char *file, int line, tg_tensor *x, tg_tensor *w,
                        tg_tensor *b, const tg_conv2d_params *params);
/* The gradient of conv2d with respect to its input, for an input of shape x_shape (4 values):
 * the transposed convolution of g: (N, C_out, OH, OW) with w. Used by conv2d's backward; an op
 * of its own with its own backward, so second derivatives work. */
tg_tensor *tg_conv2d_input_grad_at(tg_tape *t, const char *file, int line, tg_tensor *g,
                                   tg_tensor *w, const int64_t *x_shape,
                                   const tg_conv2d_params *params);
/* The gradient of conv2d with respect to its weight, of shape w_shape (4 values), from the
 * input x and the output gradient g. */
tg_tensor *tg_conv2d_weight_grad_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                                    tg_tensor *g, const int64_t *w_shape,
                                    const tg_conv2d_params *params);

/* The transposed convolution of PyTorch's conv_transpose2d: the adjoint of conv2d with the same
 * stride, padding, dilation and groups, so each input pixel adds its value times the kernel
 * into a stride-spaced window of the output. x: (N, C_in, H, W), w: (C_in, C_out / groups, kH,
 * kW) (PyTorch's layout), b: (C_out) or NULL; params NULL means all defaults. Errors: shapes
 * that do not fit, an output_padding not below the stride (PyTorch also accepts one below the
 * dilation; this op does not), an output with no pixels. */
tg_tensor *tg_conv_transpose2d_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                                  tg_tensor *w, tg_tensor *b,
                                  const tg_conv_transpose2d_params *params);

/* Max pooling; padding never wins; in a tie the first position in row-major window order takes
 * the whole gradient (as PyTorch). x: (N, C, H, W). */
tg_tensor *tg_max_pool2d_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                            const tg_pool2d_params *params);
/* Average pooling; padded zeros count in the divisor (PyTorch's count_include_pad=True);
 * dilation must be 0 or 1. */
tg_tensor *tg_avg_pool2d_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                            const tg_pool2d_params *params);

/* The adjoints that the pools' backward rules use, ops of their own so that second derivatives
 * work. scatter: adds g (N, C, OH, OW) into zeros shaped like x at x's selected maxima. gather:
 * reads u (shaped like x) at x's selected maxima. adjoint: spreads g (N, C, OH, OW) evenly back
 * over each window of an input of shape x_shape (4 values). */
tg_tensor *tg_max_pool2d_scatter_at(tg_tape *t, const char *file, int line, tg_tensor *g,
                                    tg_tensor *x, const tg_pool2d_params *params);
tg_tensor *tg_max_pool2d_gather_at(tg_tape *t, const char *file, int line, tg_tensor *u,
                                   tg_tensor *x, const tg_pool2d_params *params);
tg_tensor *tg_avg_pool2d_adjoint_at(tg_tape *t, const char *file, int line, tg_tensor *g,
                                    const int64_t *x_shape, const tg_pool2d_params *params);

/* x (N, C, H, W) with each pixel repeated into a scale x scale block: (N, C, H scale, W scale).
 * A composition of reshape and broadcast_to (the gradient sums each block); TG_ERR_SHAPE unless
 * x has 4 axes, TG_ERR_ARG for a scale outside 1..65536. */
tg_tensor *tg_upsample_nearest2d_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                                    int scale);

#define tg_conv2d(t, ...) tg_conv2d_at(t, TG_SITE_, __VA_ARGS__)
#define tg_upsample_nearest2d(t, ...) tg_upsample_nearest2d_at(t, TG_SITE_, __VA_ARGS__)
#define tg_conv2d_input_grad(t, ...) tg_conv2d_input_grad_at(t, TG_SITE_, __VA_ARGS__)
#define tg_conv2d_weight_grad(t, ...) tg_conv2d_weight_grad_at(t, TG_SITE_, __VA_ARGS__)
#define tg_conv_transpose2d(t, ...) tg_conv_transpose2d_at(t, TG_SITE_, __VA_ARGS__)
#define tg_max_pool2d(t, ...) tg_max_pool2d_at(t, TG_SITE_, __VA_ARGS__)
#define tg_avg_pool2d(t, ...) tg_avg_pool2d_at(t, TG_SITE_, __VA_ARGS__)
#define tg_max_pool2d_scatter(t, ...) tg_max_pool2d_scatter_at(t, TG_SITE_, __VA_ARGS__)
#define tg_max_pool2d_gather(t, ...) tg_max_pool2d_gather_at(t, TG_SITE_, __VA_ARGS__)
#define tg_avg_pool2d_adjoint(t, ...) tg_avg_pool2d_adjoint_at(t, TG_SITE_, __VA_ARGS__)

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif

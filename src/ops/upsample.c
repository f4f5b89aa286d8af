/* upsample.c: nearest-neighbour upsampling of (N, C, H, W) images, a composition of view ops.
 *
 * Each pixel becomes a scale x scale block: x is viewed as (N, C, H, 1, W, 1), broadcast to
 * (N, C, H, s, W, s) and reshaped to (N, C, H s, W s). The gradient is therefore derived, not
 * written: broadcast_to's rule sums each block's s^2 gradients back onto its pixel, and the
 * reshapes pass gradients through. A generator that doubles and then convolves (instead of a
 * strided transposed convolution) gives every output pixel the same kernel over the same kind of
 * neighbourhood, which is why GANs use it against checkerboard artefacts. */
#include "op_util.h"

/* Large enough for any picture, small enough that H s and W s cannot overflow. */
enum { SCALE_MAX = 1 << 16 };

tg_tensor *tg_upsample_nearest2d_at(tg_tape *t, const char *file, int line, tg_tensor *x,
                                    int scale) {
    static const char op[] = "upsample_nearest2d";
    tg_tensor *in[1] = {x};
    if (!tg_op_enter(t, file, line, op, 1, in)) return NULL;
    if (x->ndim != 4) {
        char xs[TG_SHAPE_STR_MAX];
        return tg_fail(t, TG_ERR_SHAPE, "%s: x must be (N, C, H, W), got %s", op,
                       tg_shape_str(x, xs, sizeof xs));
    }
    if (scale < 1 || scale > SCALE_MAX)
        return tg_fail(t, TG_ERR_ARG, "%s: scale %d is not in 1..%d", op, scale, SCALE_MAX);
    const int64_t *d = x->shape;
    tg_tensor *r = tg_reshape(t, x, 6, (int64_t[]){d[0], d[1], d[2], 1, d[3], 1});
    r = tg_broadcast_to(t, r, 6, (int64_t[]){d[0], d[1], d[2], scale, d[3], scale});
    return tg_reshape(t, r, 4, (int64_t[]){d[0], d[1], d[2] * scale, d[3] * scale});
}

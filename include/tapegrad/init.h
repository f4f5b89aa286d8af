/* tapegrad/init.h: parameter initialisers, over any tensor, driven by a seeded tg_rng.
 *
 * Each initialiser overwrites every element of its tensor (a store parameter or buffer, or a
 * tensor on a tape) in place. Random ones draw their numbers from `rng` in row-major order, so
 * the same seed gives the same values on every machine. They follow torch.nn.init: the fan of
 * a weight is computed as torch computes it, and the gains are torch's calculate_gain.
 *
 *     tg_rng rng;
 *     tg_rng_seed(&rng, 7);
 *     tg_tensor *w = tg_store_param(s, "fc.weight", TG_F32, TG_SHAPE(256, 784));
 *     tg_error err;
 *     if (tg_init_kaiming_normal(w, &rng, 0.0, TG_FAN_IN, TG_NONLIN_RELU, &err) != TG_OK)
 *         fprintf(stderr, "%s\n", err.message);
 *
 * All take a `tg_error *err` that may be NULL; on failure they set it and leave the tensor as
 * it was (none prints, aborts or exits). */
#ifndef TAPEGRAD_INIT_H
#define TAPEGRAD_INIT_H

#include "tapegrad/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* The nonlinearity that follows a layer, for tg_init_gain (torch.nn.init.calculate_gain). */
typedef enum tg_nonlinearity {
    TG_NONLIN_LINEAR = 0, /* identity; also what torch calls conv1d/2d/3d and their transposes */
    TG_NONLIN_SIGMOID,
    TG_NONLIN_TANH,
    TG_NONLIN_RELU,
    TG_NONLIN_LEAKY_RELU, /* param: the negative slope */
    TG_NONLIN_SELU
} tg_nonlinearity;

/* Which fan the Kaiming initialisers keep the variance of: the forward pass's (fan_in) or the
 * backward pass's (fan_out). */
typedef enum tg_fan_mode { TG_FAN_IN = 0, TG_FAN_OUT } tg_fan_mode;

/* The recommended gain for a nonlinearity: 1 for linear and sigmoid, 5/3 for tanh, sqrt(2) for
 * relu, sqrt(2 / (1 + param^2)) for leaky_relu (pass 0.01 for torch's default slope), 3/4 for
 * selu. `param` is ignored by the others. NaN for a value outside the enum. */
double tg_init_gain(tg_nonlinearity nl, double param);

/* A weight's fans, as torch computes them: for shape (out, in, k...), fan_in = in * prod(k) and
 * fan_out = out * prod(k). TG_ERR_SHAPE for fewer than two dimensions. Either pointer may be
 * NULL. */
tg_status tg_init_fans(const tg_tensor *w, int64_t *fan_in, int64_t *fan_out, tg_error *err);

/* Every element 0, or `value`. */
tg_status tg_init_zeros(tg_tensor *x, tg_error *err);
tg_status tg_init_constant(tg_tensor *x, double value, tg_error *err);
/* Uniform on [lo, hi) (lo <= hi), and normal with mean and std (std >= 0). */
tg_status tg_init_uniform(tg_tensor *x, tg_rng *rng, double lo, double hi, tg_error *err);
tg_status tg_init_normal(tg_tensor *x, tg_rng *rng, double mean, double std, tg_error *err);

/* Xavier/Glorot: uniform on +-gain sqrt(6 / (fan_in + fan_out)), or normal with
 * std = gain sqrt(2 / (fan_in + fan_out)). Needs at least two dimensions. */
tg_status tg_init_xavier_uniform(tg_tensor *x, tg_rng *rng, double gain, tg_error *err);
tg_status tg_init_xavier_normal(tg_tensor *x, tg_rng *rng, double gain, tg_error *err);

/* Kaiming/He: std = gain / sqrt(fan) with gain = tg_init_gain(nl, a) and fan chosen by mode;
 * uniform draws from +-sqrt(3) std, normal from N(0, std^2). `a` is the negative slope of a
 * leaky_relu (0 for relu). torch's defaults are a = 0, TG_FAN_IN, TG_NONLIN_LEAKY_RELU, whose
 * gain is then sqrt(2). Like torch, these and the Xavier pair leave a tensor without elements as
 * it is. */
tg_status tg_init_kaiming_uniform(tg_tensor *x, tg_rng *rng, double a, tg_fan_mode mode,
                                  tg_nonlinearity nl, tg_error *err);
tg_status tg_init_kaiming_normal(tg_tensor *x, tg_rng *rng, double a, tg_fan_mode mode,
                                 tg_nonlinearity nl, tg_error *err);

/* A (semi-)orthogonal matrix times gain, as torch.nn.init.orthogonal_: x is read as
 * (rows = dim 0, cols = the rest); a rows x cols matrix of N(0, 1) numbers is factored by QR
 * (Householder reflections, in double), the signs made unique by the diagonal of R, and the
 * result has orthonormal rows (rows <= cols) or columns (rows >= cols). Needs at least two
 * dimensions. Allocates rows * cols doubles of scratch (TG_ERR_NOMEM if that fails). */
tg_status tg_init_orthogonal(tg_tensor *x, tg_rng *rng, double gain, tg_error *err);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif

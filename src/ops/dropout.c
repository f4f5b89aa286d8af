/* dropout.c: inverted dropout, a composite of one mul.
 *
 *   training:  y = x * m,  m_i = [u_i >= p] / (1 - p),  u_i uniform on [0, 1) from the caller's rng
 *              dy/dx = m (the mask is a constant: it records no node of its own)
 *   eval, or p = 0:  y = x (x itself is returned, as PyTorch returns its input)
 *
 * Dividing by 1 - p keeps the expected value of every element, so eval needs no rescaling. The
 * mask is drawn from `rng` in row-major order of x's elements, so the same seed gives the same
 * mask on every machine. p must lie in [0, 1): at 1 every element would be dropped and scaled
 * by 1/0. */
#include "op_util.h"

tg_tensor *tg_dropout_at(tg_tape *t, const char *file, int line, tg_tensor *x, double p,
                         tg_rng *rng, bool training) {
    if (!tg_op_enter(t, file, line, "dropout", 1, &x)) return NULL;
    char xs[TG_SHAPE_STR_MAX];
    if (!(p >= 0.0 && p < 1.0))
        return tg_fail(t, TG_ERR_ARG, "dropout: probability %g is outside [0, 1) (x %s)", p,
                       tg_shape_str(x, xs, sizeof xs));
    if (!training || p == 0.0) return x;
    if (!rng)
        return tg_fail(t, TG_ERR_NULL, "dropout: rng is NULL in training mode (x %s)",
                       tg_shape_str(x, xs, sizeof xs));
    tg_tensor *m = tg_tensor_alloc(t, x->dtype, x->ndim, x->shape);
    if (!m) return NULL;
    int64_t n = tg_tensor_numel(m);
    double keep = 1.0 / (1.0 - p);
    if (m->dtype == TG_F32) {
        float *v = (float *)(void *)m->data;
        for (int64_t i = 0; i < n; i++) v[i] = tg_rng_uniform(rng) >= p ? (float)keep : 0.0f;
    } else {
        double *v = (double *)(void *)m->data;
        for (int64_t i = 0; i < n; i++) v[i] = tg_rng_uniform(rng) >= p ? keep : 0.0;
    }
    return tg_mul(t, x, m);
}

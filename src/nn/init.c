/* init.c: parameter initialisers (tapegrad/init.h), following torch.nn.init.
 *
 * Invariant: an initialiser either fills every element of its tensor or, on any error, leaves
 * the tensor untouched; random values are drawn from the caller's rng in row-major order, so a
 * seed determines the result on every machine. Orthogonal matrices come from a Householder QR
 * computed in double whatever the tensor's dtype. */
#include <math.h>

#include "nn_util.h"

double tg_init_gain(tg_nonlinearity nl, double param) {
    switch (nl) {
    case TG_NONLIN_LINEAR:
    case TG_NONLIN_SIGMOID:
        return 1.0;
    case TG_NONLIN_TANH:
        return 5.0 / 3.0;
    case TG_NONLIN_RELU:
        return sqrt(2.0);
    case TG_NONLIN_LEAKY_RELU:
        return sqrt(2.0 / (1.0 + param * param));
    case TG_NONLIN_SELU:
        return 0.75;
    }
    return NAN;
}

/* The tensor's name for messages: "'fc.weight' (4, 3)" or "tensor (4, 3)". */
static const char *describe(const tg_tensor *x, char *buf, size_t size) {
    char sh[TG_SHAPE_STR_MAX];
    const char *name = tg_tensor_name(x);
    if (name && name[0])
        snprintf(buf, size, "'%s' %s", name, tg_shape_str(x, sh, sizeof sh));
    else
        snprintf(buf, size, "tensor %s", tg_shape_str(x, sh, sizeof sh));
    return buf;
}

/* Common checks: x and (when random) rng present. */
static bool enter(const char *fn, const tg_tensor *x, const tg_rng *rng, bool random,
                  tg_error *err) {
    if (!x) {
        tg_error_set(err, TG_ERR_NULL, "%s: the tensor is NULL", fn);
        return false;
    }
    if (random && !rng) {
        char d[TG_SHAPE_STR_MAX + TG_NAME_MAX + 8];
        tg_error_set(err, TG_ERR_NULL, "%s: rng is NULL (initialising %s)", fn,
                     describe(x, d, sizeof d));
        return false;
    }
    return true;
}

tg_status tg_init_fans(const tg_tensor *w, int64_t *fan_in, int64_t *fan_out, tg_error *err) {
    if (!w) return tg_error_set(err, TG_ERR_NULL, "init.fans: the tensor is NULL");
    if (w->ndim < 2) {
        char d[TG_SHAPE_STR_MAX + TG_NAME_MAX + 8];
        return tg_error_set(err, TG_ERR_SHAPE,
                            "init.fans: fan_in and fan_out need at least 2 dimensions, got %s",
                            describe(w, d, sizeof d));
    }
    /* torch: the receptive field is everything after the first two dimensions. */
    int64_t field = 1, in = 0, out = 0;
    bool ok = true;
    for (int d = 2; d < w->ndim; d++) ok = ok && tg_size_mul(field, w->shape[d], INT64_MAX, &field);
    ok = ok && tg_size_mul(w->shape[1], field, INT64_MAX, &in) &&
         tg_size_mul(w->shape[0], field, INT64_MAX, &out);
    if (!ok) {
        /* Only an empty tensor's other sizes can be this large. */
        char d[TG_SHAPE_STR_MAX + TG_NAME_MAX + 8];
        return tg_error_set(err, TG_ERR_SHAPE, "init.fans: the fans of %s overflow",
                            describe(w, d, sizeof d));
    }
    if (fan_in) *fan_in = in;
    if (fan_out) *fan_out = out;
    return TG_OK;
}

tg_status tg_init_zeros(tg_tensor *x, tg_error *err) { return tg_init_constant(x, 0.0, err); }

tg_status tg_init_constant(tg_tensor *x, double value, tg_error *err) {
    if (!enter("init.constant", x, NULL, false, err)) return TG_ERR_NULL;
    return tg_tensor_fill(x, value);
}

tg_status tg_init_uniform(tg_tensor *x, tg_rng *rng, double lo, double hi, tg_error *err) {
    if (!enter("init.uniform", x, rng, true, err)) return TG_ERR_NULL;
    if (!(lo <= hi) || !isfinite(lo) || !isfinite(hi)) {
        char d[TG_SHAPE_STR_MAX + TG_NAME_MAX + 8];
        return tg_error_set(err, TG_ERR_ARG,
                            "init.uniform: bounds [%g, %g) are not an interval "
                            "(initialising %s)",
                            lo, hi, describe(x, d, sizeof d));
    }
    return tg_tensor_fill_uniform(x, rng, lo, hi);
}

tg_status tg_init_normal(tg_tensor *x, tg_rng *rng, double mean, double std, tg_error *err) {
    if (!enter("init.normal", x, rng, true, err)) return TG_ERR_NULL;
    if (!(std >= 0) || !isfinite(std) || !isfinite(mean)) {
        char d[TG_SHAPE_STR_MAX + TG_NAME_MAX + 8];
        return tg_error_set(err, TG_ERR_ARG,
                            "init.normal: needs a finite mean and std >= 0, got "
                            "%g and %g (initialising %s)",
                            mean, std, describe(x, d, sizeof d));
    }
    return tg_tensor_fill_normal(x, rng, mean, std);
}

/* Fills x with uniform(+-sqrt(3) std) or normal(0, std) numbers; std must be finite. */
static tg_status fill_scaled(const char *fn, tg_tensor *x, tg_rng *rng, double std, bool uniform,
                             tg_error *err) {
    if (!isfinite(std)) {
        char d[TG_SHAPE_STR_MAX + TG_NAME_MAX + 8];
        return tg_error_set(err, TG_ERR_ARG,
                            "%s: the standard deviation is not finite (%g) for "
                            "%s; check the gain",
                            fn, std, describe(x, d, sizeof d));
    }
    std = fabs(std);
    if (uniform) return tg_tensor_fill_uniform(x, rng, -sqrt(3.0) * std, sqrt(3.0) * std);
    return tg_tensor_fill_normal(x, rng, 0.0, std);
}

static tg_status xavier(const char *fn, tg_tensor *x, tg_rng *rng, double gain, bool uniform,
                        tg_error *err) {
    if (!enter(fn, x, rng, true, err)) return TG_ERR_NULL;
    int64_t fan_in, fan_out;
    tg_error fan_err;
    if (tg_init_fans(x, &fan_in, &fan_out, &fan_err) != TG_OK)
        return tg_error_set(err, fan_err.status, "%s: %s", fn, fan_err.message);
    if (tg_tensor_numel(x) == 0) return TG_OK; /* as torch: a zero-element tensor is a no-op */
    return fill_scaled(fn, x, rng, gain * sqrt(2.0 / (double)(fan_in + fan_out)), uniform, err);
}

tg_status tg_init_xavier_uniform(tg_tensor *x, tg_rng *rng, double gain, tg_error *err) {
    return xavier("init.xavier_uniform", x, rng, gain, true, err);
}

tg_status tg_init_xavier_normal(tg_tensor *x, tg_rng *rng, double gain, tg_error *err) {
    return xavier("init.xavier_normal", x, rng, gain, false, err);
}

static tg_status kaiming(const char *fn, tg_tensor *x, tg_rng *rng, double a, tg_fan_mode mode,
                         tg_nonlinearity nl, bool uniform, tg_error *err) {
    if (!enter(fn, x, rng, true, err)) return TG_ERR_NULL;
    if (mode != TG_FAN_IN && mode != TG_FAN_OUT)
        return tg_error_set(err, TG_ERR_ARG, "%s: mode %d is neither TG_FAN_IN nor TG_FAN_OUT", fn,
                            (int)mode);
    double gain = tg_init_gain(nl, a);
    if (isnan(gain))
        return tg_error_set(err, TG_ERR_ARG, "%s: unknown nonlinearity %d", fn, (int)nl);
    int64_t fan_in, fan_out;
    tg_error fan_err;
    if (tg_init_fans(x, &fan_in, &fan_out, &fan_err) != TG_OK)
        return tg_error_set(err, fan_err.status, "%s: %s", fn, fan_err.message);
    if (tg_tensor_numel(x) == 0) return TG_OK;
    int64_t fan = mode == TG_FAN_IN ? fan_in : fan_out;
    return fill_scaled(fn, x, rng, gain / sqrt((double)fan), uniform, err);
}

tg_status tg_init_kaiming_uniform(tg_tensor *x, tg_rng *rng, double a, tg_fan_mode mode,
                                  tg_nonlinearity nl, tg_error *err) {
    return kaiming("init.kaiming_uniform", x, rng, a, mode, nl, true, err);
}

tg_status tg_init_kaiming_normal(tg_tensor *x, tg_rng *rng, double a, tg_fan_mode mode,
                                 tg_nonlinearity nl, tg_error *err) {
    return kaiming("init.kaiming_normal", x, rng, a, mode, nl, false, err);
}

/* Householder QR of the m x n row-major matrix a (m >= n), which is overwritten. On return
 * q (m x n) has orthonormal columns with a = q r, each column's sign chosen so that r's diagonal
 * is >= 0 (unique for a full-rank a, and what torch does after its QR). v (m x n) and beta (n)
 * are scratch: reflector k is I - beta[k] v_k v_k^T with v_k in column k of v, rows k..m-1. */
static void householder_q(double *a, double *q, double *v, double *beta, int64_t m, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        double norm2 = 0;
        for (int64_t i = k; i < m; i++) norm2 += a[i * n + k] * a[i * n + k];
        /* alpha takes the sign opposite a_kk so that v = x - alpha e1 never cancels. */
        double alpha = a[k * n + k] >= 0 ? -sqrt(norm2) : sqrt(norm2);
        double vnorm2 = 0;
        for (int64_t i = k; i < m; i++) {
            double vi = a[i * n + k] - (i == k ? alpha : 0.0);
            v[i * n + k] = vi;
            vnorm2 += vi * vi;
        }
        beta[k] = vnorm2 > 0 ? 2.0 / vnorm2 : 0.0;
        for (int64_t j = k; j < n; j++) {
            double s = 0;
            for (int64_t i = k; i < m; i++) s += v[i * n + k] * a[i * n + j];
            s *= beta[k];
            for (int64_t i = k; i < m; i++) a[i * n + j] -= s * v[i * n + k];
        }
    }
    /* a's upper triangle is now r. q = H_0 H_1 ... H_{n-1} [I; 0], last reflector first. */
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) q[i * n + j] = i == j ? 1.0 : 0.0;
    for (int64_t k = n - 1; k >= 0; k--) {
        for (int64_t j = k; j < n; j++) {
            double s = 0;
            for (int64_t i = k; i < m; i++) s += v[i * n + k] * q[i * n + j];
            s *= beta[k];
            for (int64_t i = k; i < m; i++) q[i * n + j] -= s * v[i * n + k];
        }
    }
    /* Flip the columns whose r_jj is negative (a zero r_jj, of probability zero, keeps +). */
    for (int64_t j = 0; j < n; j++)
        if (a[j * n + j] < 0)
            for (int64_t i = 0; i < m; i++) q[i * n + j] = -q[i * n + j];
}

tg_status tg_init_orthogonal(tg_tensor *x, tg_rng *rng, double gain, tg_error *err) {
    static const char fn[] = "init.orthogonal";
    if (!enter(fn, x, rng, true, err)) return TG_ERR_NULL;
    char d[TG_SHAPE_STR_MAX + TG_NAME_MAX + 8];
    if (x->ndim < 2)
        return tg_error_set(err, TG_ERR_SHAPE, "%s: needs at least 2 dimensions, got %s", fn,
                            describe(x, d, sizeof d));
    if (!isfinite(gain))
        return tg_error_set(err, TG_ERR_ARG, "%s: gain %g is not finite for %s", fn, gain,
                            describe(x, d, sizeof d));
    int64_t numel = tg_tensor_numel(x);
    if (numel == 0) return TG_OK;
    int64_t rows = x->shape[0], cols = numel / rows;
    int64_t m = rows >= cols ? rows : cols, n = rows >= cols ? cols : rows;
    double *buf = tg_alloc((size_t)(4 * m * n + n) * sizeof *buf);
    if (!buf)
        return tg_error_set(err, TG_ERR_NOMEM, "%s: no memory for %lld x %lld scratch (%s)", fn,
                            (long long)m, (long long)n, describe(x, d, sizeof d));
    double *g = buf, *a = buf + m * n, *q = a + m * n, *v = q + m * n, *beta = v + m * n;
    for (int64_t i = 0; i < rows * cols; i++) g[i] = tg_rng_normal(rng);
    /* Factor the tall orientation: a = g (rows >= cols) or g^T. */
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            if (rows >= cols)
                a[i * n + j] = g[i * cols + j];
            else
                a[j * n + i] = g[i * cols + j];
        }
    householder_q(a, q, v, beta, m, n);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            g[i * cols + j] = gain * (rows >= cols ? q[i * n + j] : q[j * n + i]);
    tg_status st = tg_tensor_copy_in(x, TG_F64, g);
    tg_free(buf);
    return st;
}

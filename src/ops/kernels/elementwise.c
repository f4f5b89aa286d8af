/* elementwise.c: one-input maps on contiguous data, broadcasting two-input maps and the
 * three-input select (where) on strided data. Each formula is written once, for a generic real
 * type T, and instantiated for float and double; f32 transcendental functions use the float
 * versions of libm, so an f32 result is never computed through double by accident. */
#include <math.h>

#include "kernels.h"
#include "nd_iter.h"

/* sigmoid without overflow: for x < 0 use e^x / (1 + e^x). */
static inline double sigmoid_f64(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static inline float sigmoid_f32(float x) {
    if (x >= 0) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

/* The exact GELU, x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2, and its derivative
 * Phi(x) + x phi(x) with phi(x) = e^(-x^2/2) / sqrt(2 pi). erfc keeps Phi accurate in the left
 * tail, where 1 + erf(x) would cancel. */
#define TG_SQRT1_2 0.70710678118654752440
#define TG_INV_SQRT_2PI 0.39894228040143267794

static inline double phi_cdf_f64(double x) { return 0.5 * erfc(-x * TG_SQRT1_2); }
static inline float phi_cdf_f32(float x) { return 0.5f * erfcf(-x * (float)TG_SQRT1_2); }
static inline double gelu_f64(double x) { return x * phi_cdf_f64(x); }
static inline float gelu_f32(float x) { return x * phi_cdf_f32(x); }
static inline double gelu_grad_f64(double x) {
    return phi_cdf_f64(x) + x * TG_INV_SQRT_2PI * exp(-0.5 * x * x);
}
static inline float gelu_grad_f32(float x) {
    return phi_cdf_f32(x) + x * (float)TG_INV_SQRT_2PI * expf(-0.5f * x * x);
}

/* Signs keep NaN (and the sign of a zero), as x itself is returned for them. */
#define SIGN_OF(T, v) ((v) > 0 ? (T)1 : (v) < 0 ? (T)-1 : (v))

#define UNARY_CASES(T, SFX)                                                                    \
    switch (k) {                                                                               \
    case KERN_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;                        \
    case KERN_EXP: for (int64_t i = 0; i < n; i++) y[i] = exp##SFX(x[i]); break;               \
    case KERN_LOG: for (int64_t i = 0; i < n; i++) y[i] = log##SFX(x[i]); break;               \
    case KERN_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanh##SFX(x[i]); break;             \
    case KERN_SIGMOID:                                                                         \
        for (int64_t i = 0; i < n; i++) y[i] = SIGMOID_##T(x[i]);                              \
        break;                                                                                 \
    case KERN_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : (T)0; break;      \
    case KERN_STEP: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? (T)1 : (T)0; break;      \
    case KERN_ADD_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = x[i] + (T)a; break;           \
    case KERN_MUL_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = x[i] * (T)a; break;           \
    case KERN_SUB_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = x[i] - (T)a; break;           \
    case KERN_RSUB_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = (T)a - x[i]; break;          \
    case KERN_DIV_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = x[i] / (T)a; break;           \
    case KERN_RDIV_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = (T)a / x[i]; break;          \
    case KERN_POW_SCALAR: for (int64_t i = 0; i < n; i++) y[i] = pow##SFX(x[i], (T)a); break;  \
    case KERN_ABS: for (int64_t i = 0; i < n; i++) y[i] = fabs##SFX(x[i]); break;              \
    case KERN_SIGN: for (int64_t i = 0; i < n; i++) y[i] = SIGN_OF(T, x[i]); break;            \
    case KERN_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrt##SFX(x[i]); break;             \
    case KERN_SQUARE: for (int64_t i = 0; i < n; i++) y[i] = x[i] * x[i]; break;               \
    case KERN_SIN: for (int64_t i = 0; i < n; i++) y[i] = sin##SFX(x[i]); break;               \
    case KERN_COS: for (int64_t i = 0; i < n; i++) y[i] = cos##SFX(x[i]); break;               \
    case KERN_LEAKY_RELU:                                                                      \
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : (T)a * x[i];                  \
        break;                                                                                 \
    case KERN_ELU:                                                                             \
        for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : (T)a * expm1##SFX(x[i]);      \
        break;                                                                                 \
    case KERN_CLAMP:                                                                           \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T v = x[i];                                                                        \
            y[i] = v < (T)a ? (T)a : v > (T)b ? (T)b : v;                                      \
        }                                                                                      \
        break;                                                                                 \
    case KERN_GELU: for (int64_t i = 0; i < n; i++) y[i] = GELU_##T(x[i]); break;              \
    case KERN_GELU_GRAD: for (int64_t i = 0; i < n; i++) y[i] = GELU_GRAD_##T(x[i]); break;    \
    case KERN_SOFTPLUS:                                                                        \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T v = x[i];                                                                        \
            y[i] = (v > 0 ? v : (T)0) + log1p##SFX(exp##SFX(-fabs##SFX(v)));                   \
        }                                                                                      \
        break;                                                                                 \
    }

#define SIGMOID_float sigmoid_f32
#define SIGMOID_double sigmoid_f64
#define GELU_float gelu_f32
#define GELU_double gelu_f64
#define GELU_GRAD_float gelu_grad_f32
#define GELU_GRAD_double gelu_grad_f64

static void unary_f32(kern_unary_kind k, int64_t n, const float *x, float *y, double a,
                      double b) {
    UNARY_CASES(float, f)
}

static void unary_f64(kern_unary_kind k, int64_t n, const double *x, double *y, double a,
                      double b) {
    UNARY_CASES(double, )
}

void kern_unary2(kern_unary_kind k, tg_dtype dtype, int64_t n, const void *x, void *y, double a,
                 double b) {
    if (dtype == TG_F32)
        unary_f32(k, n, x, y, a, b);
    else
        unary_f64(k, n, x, y, a, b);
}

void kern_unary(kern_unary_kind k, tg_dtype dtype, int64_t n, const void *x, void *y, double a) {
    kern_unary2(k, dtype, n, x, y, a, 0.0);
}

#define BINARY_LOOP(T, EXPR)                                                                   \
    do {                                                                                       \
        T *o = (T *)out;                                                                       \
        const T *pa = (const T *)a, *pb = (const T *)b;                                        \
        do {                                                                                   \
            const T *ra = pa + nd_iter_offset(&it, a_strides);                                 \
            const T *rb = pb + nd_iter_offset(&it, b_strides);                                 \
            if (sa == 1 && sb == 1) {                                                          \
                for (int64_t i = 0; i < it.inner; i++) {                                       \
                    T u = ra[i], v = rb[i];                                                    \
                    o[i] = EXPR;                                                               \
                }                                                                              \
            } else {                                                                           \
                for (int64_t i = 0; i < it.inner; i++) {                                       \
                    T u = ra[i * sa], v = rb[i * sb];                                          \
                    o[i] = EXPR;                                                               \
                }                                                                              \
            }                                                                                  \
            o += it.inner;                                                                     \
        } while (nd_iter_next(&it));                                                           \
    } while (0)

/* maximum/minimum return u when it is NaN (u != u) and v otherwise, so NaN propagates from
 * either side. */
#define BINARY_CASES(T, SFX)                                                                   \
    switch (k) {                                                                               \
    case KERN_ADD: BINARY_LOOP(T, u + v); break;                                               \
    case KERN_SUB: BINARY_LOOP(T, u - v); break;                                               \
    case KERN_MUL: BINARY_LOOP(T, u * v); break;                                               \
    case KERN_DIV: BINARY_LOOP(T, u / v); break;                                               \
    case KERN_POW: BINARY_LOOP(T, pow##SFX(u, v)); break;                                      \
    case KERN_MAXIMUM: BINARY_LOOP(T, (u > v || u != u) ? u : v); break;                       \
    case KERN_MINIMUM: BINARY_LOOP(T, (u < v || u != u) ? u : v); break;                       \
    case KERN_GT: BINARY_LOOP(T, u > v ? (T)1 : (T)0); break;                                  \
    case KERN_GE: BINARY_LOOP(T, u >= v ? (T)1 : (T)0); break;                                 \
    case KERN_LT: BINARY_LOOP(T, u < v ? (T)1 : (T)0); break;                                  \
    case KERN_LE: BINARY_LOOP(T, u <= v ? (T)1 : (T)0); break;                                 \
    case KERN_EQ: BINARY_LOOP(T, u == v ? (T)1 : (T)0); break;                                 \
    case KERN_NE: BINARY_LOOP(T, u != v ? (T)1 : (T)0); break;                                 \
    }

void kern_binary(kern_binary_kind k, tg_dtype dtype, int ndim, const int64_t *shape, void *out,
                 const void *a, const int64_t *a_strides, const void *b,
                 const int64_t *b_strides) {
    nd_iter it;
    nd_iter_init(&it, ndim, shape);
    if (it.empty) return;
    int64_t sa = ndim ? a_strides[ndim - 1] : 0, sb = ndim ? b_strides[ndim - 1] : 0;
    if (dtype == TG_F32)
        BINARY_CASES(float, f)
    else
        BINARY_CASES(double, )
}

#define WHERE_LOOP(T)                                                                          \
    do {                                                                                       \
        T *o = (T *)out;                                                                       \
        do {                                                                                   \
            const T *rm = (const T *)mask + nd_iter_offset(&it, m_strides);                    \
            const T *ra = (const T *)a + nd_iter_offset(&it, a_strides);                       \
            const T *rb = (const T *)b + nd_iter_offset(&it, b_strides);                       \
            for (int64_t i = 0; i < it.inner; i++)                                             \
                o[i] = rm[i * sm] != 0 ? ra[i * sa] : rb[i * sb];                              \
            o += it.inner;                                                                     \
        } while (nd_iter_next(&it));                                                           \
    } while (0)

void kern_where(tg_dtype dtype, int ndim, const int64_t *shape, void *out, const void *mask,
                const int64_t *m_strides, const void *a, const int64_t *a_strides, const void *b,
                const int64_t *b_strides) {
    nd_iter it;
    nd_iter_init(&it, ndim, shape);
    if (it.empty) return;
    int64_t sm = ndim ? m_strides[ndim - 1] : 0;
    int64_t sa = ndim ? a_strides[ndim - 1] : 0, sb = ndim ? b_strides[ndim - 1] : 0;
    if (dtype == TG_F32)
        WHERE_LOOP(float);
    else
        WHERE_LOOP(double);
}

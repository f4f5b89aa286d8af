/* elementwise.c: one-input maps on contiguous data and broadcasting two-input maps on strided
 * data. Each formula is written once, for a generic real type T, and instantiated for float and
 * double; f32 transcendental functions use the float versions of libm. */
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
    }

#define SIGMOID_float sigmoid_f32
#define SIGMOID_double sigmoid_f64

static void unary_f32(kern_unary_kind k, int64_t n, const float *x, float *y, double a) {
    UNARY_CASES(float, f)
}

static void unary_f64(kern_unary_kind k, int64_t n, const double *x, double *y, double a) {
    UNARY_CASES(double, )
}

void kern_unary(kern_unary_kind k, tg_dtype dtype, int64_t n, const void *x, void *y, double a) {
    if (dtype == TG_F32)
        unary_f32(k, n, x, y, a);
    else
        unary_f64(k, n, x, y, a);
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

#define BINARY_CASES(T)                                                                        \
    switch (k) {                                                                               \
    case KERN_ADD: BINARY_LOOP(T, u + v); break;                                               \
    case KERN_SUB: BINARY_LOOP(T, u - v); break;                                               \
    case KERN_MUL: BINARY_LOOP(T, u * v); break;                                               \
    case KERN_DIV: BINARY_LOOP(T, u / v); break;                                               \
    }

void kern_binary(kern_binary_kind k, tg_dtype dtype, int ndim, const int64_t *shape, void *out,
                 const void *a, const int64_t *a_strides, const void *b,
                 const int64_t *b_strides) {
    nd_iter it;
    nd_iter_init(&it, ndim, shape);
    if (it.empty) return;
    int64_t sa = ndim ? a_strides[ndim - 1] : 0, sb = ndim ? b_strides[ndim - 1] : 0;
    if (dtype == TG_F32)
        BINARY_CASES(float)
    else
        BINARY_CASES(double)
}

/* extrema.c: the loops that need a maximum: max/min over chosen dimensions, and softmax along
 * one axis, which subtracts each row's maximum before exponentiating so that no exponent is
 * positive (finite and exact for inputs as large as +-1000). Sums accumulate in double. f32 rows
 * that are contiguous take the SIMD row of vec.h. */
#include <math.h>

#include "cpu.h"
#include "kernels.h"
#include "nd_iter.h"
#include "vec.h"

/* Output strides for walking x: the contiguous strides of the kept dimensions, 0 along the
 * reduced ones, so every x element maps to the output slot it belongs to. */
static void output_strides(int ndim, const int64_t *shape, const bool *reduce, int64_t *ostr) {
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        ostr[d] = reduce[d] ? 0 : s;
        if (!reduce[d]) s *= shape[d] > 0 ? shape[d] : 1;
    }
}

/* `better(v, o)`: v replaces the current extreme o when it is larger (smaller) or NaN; once o is
 * NaN nothing replaces it, so NaN propagates. */
#define EXTREMA(T)                                                                                 \
    do {                                                                                           \
        T *o = (T *)out;                                                                           \
        const T *px = (const T *)x;                                                                \
        T init = is_max ? (T)-INFINITY : (T)INFINITY;                                              \
        for (int64_t i = 0; i < n_out; i++) o[i] = init;                                           \
        nd_iter it;                                                                                \
        nd_iter_init(&it, ndim, shape);                                                            \
        if (it.empty) break;                                                                       \
        int64_t sx = ndim ? x_strides[ndim - 1] : 0, so = ndim ? ostr[ndim - 1] : 0;               \
        do {                                                                                       \
            const T *row = px + nd_iter_offset(&it, x_strides);                                    \
            T *orow = o + nd_iter_offset(&it, ostr);                                               \
            for (int64_t i = 0; i < it.inner; i++) {                                               \
                T v = row[i * sx], *slot = orow + i * so;                                          \
                if (*slot != *slot) continue;                                                      \
                if (v != v || (is_max ? v > *slot : v < *slot)) *slot = v;                         \
            }                                                                                      \
        } while (nd_iter_next(&it));                                                               \
    } while (0)

void kern_extrema(tg_dtype dtype, int ndim, const int64_t *shape, const void *x,
                  const int64_t *x_strides, const bool *reduce, bool is_max, void *out) {
    int64_t ostr[TG_MAX_DIMS], n_out = 1;
    output_strides(ndim, shape, reduce, ostr);
    for (int d = 0; d < ndim; d++)
        if (!reduce[d]) n_out *= shape[d];
    if (dtype == TG_F32)
        EXTREMA(float);
    else
        EXTREMA(double);
}

/* One row: n elements of x at stride sx into out at stride so. With every element -inf the
 * maximum is -inf and x - max is NaN, as in other libraries: such a row has no distribution. */
#define SOFTMAX_ROW(T)                                                                             \
    do {                                                                                           \
        double m = -INFINITY;                                                                      \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double v = (double)row[i * sx];                                                        \
            if (v > m || v != v) m = v;                                                            \
            if (m != m) break;                                                                     \
        }                                                                                          \
        double s = 0;                                                                              \
        for (int64_t i = 0; i < n; i++) s += exp((double)row[i * sx] - m);                         \
        double ls = log(s);                                                                        \
        if (stats) {                                                                               \
            stats[0] = m;                                                                          \
            stats[1] = ls;                                                                         \
        }                                                                                          \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double z = (double)row[i * sx] - m;                                                    \
            orow[i * so] = (T)(log_form ? z - ls : exp(z) / s);                                    \
        }                                                                                          \
    } while (0)

#define SOFTMAX(T)                                                                                 \
    do {                                                                                           \
        nd_iter it;                                                                                \
        nd_iter_init(&it, ndim, outer);                                                            \
        if (it.empty) break;                                                                       \
        int64_t ix = ndim ? x_strides[ndim - 1] : 0, io = ndim ? ostr[ndim - 1] : 0;               \
        do {                                                                                       \
            const T *base = (const T *)x + nd_iter_offset(&it, x_strides);                         \
            T *obase = (T *)out + nd_iter_offset(&it, ostr);                                       \
            for (int64_t j = 0; j < it.inner; j++) {                                               \
                const T *row = base + j * ix;                                                      \
                T *orow = obase + j * io;                                                          \
                SOFTMAX_ROW(T);                                                                    \
            }                                                                                      \
        } while (nd_iter_next(&it));                                                               \
    } while (0)

void kern_softmax(tg_dtype dtype, int ndim, const int64_t *shape, const void *x,
                  const int64_t *x_strides, int axis, bool log_form, void *out) {
    /* Walk every position but the axis (its size set to 1), and run the axis as a row. */
    int64_t outer[TG_MAX_DIMS], ostr[TG_MAX_DIMS];
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        outer[d] = d == axis ? 1 : shape[d];
        ostr[d] = s;
        s *= shape[d] > 0 ? shape[d] : 1;
    }
    int64_t n = shape[axis], sx = x_strides[axis], so = ostr[axis];
    if (n == 0) return;
    if (dtype == TG_F32 && sx == 1 && so == 1 && kern_cpu_level() >= TG_CPU_AVX2) {
        /* Contiguous rows: the SIMD row (vec.h), row after row. */
        nd_iter it;
        nd_iter_init(&it, ndim, outer);
        if (it.empty) return;
        int64_t ix = ndim ? x_strides[ndim - 1] : 0, io = ndim ? ostr[ndim - 1] : 0;
        do {
            const float *base = (const float *)x + nd_iter_offset(&it, x_strides);
            float *obase = (float *)out + nd_iter_offset(&it, ostr);
            for (int64_t j = 0; j < it.inner; j++)
                kern_vec_softmax_row_f32(base + j * ix, n, obase + j * io, log_form, NULL);
        } while (nd_iter_next(&it));
        return;
    }
    double *stats = NULL; /* SOFTMAX_ROW's: kern_softmax needs no row statistics */
    if (dtype == TG_F32)
        SOFTMAX(float);
    else
        SOFTMAX(double);
}

void kern_softmax_rows(tg_dtype dtype, int64_t rows, int64_t cols, const void *x, int64_t rs,
                       int64_t cs, void *out, double *stats_out) {
    const bool log_form = false;
    int64_t n = cols, sx = cs, so = 1;
    if (cols == 0) return;
    for (int64_t r = 0; r < rows; r++) {
        double *stats = stats_out + 2 * r;
        if (dtype == TG_F32) {
            const float *row = (const float *)x + r * rs;
            float *orow = (float *)out + r * cols;
            if (sx != 1 || kern_cpu_level() < TG_CPU_AVX2 ||
                !kern_vec_softmax_row_f32(row, n, orow, log_form, stats))
                SOFTMAX_ROW(float);
        } else {
            const double *row = (const double *)x + r * rs;
            double *orow = (double *)out + r * cols;
            SOFTMAX_ROW(double);
        }
    }
}

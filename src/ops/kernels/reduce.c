/* reduce.c: sums over chosen dimensions, accumulated in double whatever the dtype.
 *
 * Neighbouring dimensions that are both reduced or both kept, and one run in x, are merged
 * first, and size-1 dimensions dropped (which changes neither the elements nor their order).
 * Then the dimensions are split into kept ones (which index the output) and reduced ones. When
 * x's innermost dimension is reduced, each output element is one double accumulator over a run
 * of contiguous reads; when it is kept, a block of up to SUM_BLOCK neighbouring outputs is
 * accumulated together so that reads stay sequential. Contiguous f32 runs use the SIMD sums of
 * vec.h, which add in another order (still in double). */
#include "kernels.h"
#include "nd_iter.h"
#include "vec.h"

enum { SUM_BLOCK = 256 };

typedef struct split_dims {
    int n_kept, n_red;
    int64_t kept_shape[TG_MAX_DIMS], kept_str[TG_MAX_DIMS];
    int64_t red_shape[TG_MAX_DIMS], red_str[TG_MAX_DIMS];
} split_dims;

/* Merges (shape, strides, reduce) in place as described above; returns the new ndim. */
static int merge_dims(int ndim, int64_t *shape, int64_t *strides, bool *reduce) {
    int out = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        if (out > 0 && reduce[out - 1] == reduce[d] &&
            strides[out - 1] == strides[d] * shape[d]) {
            shape[out - 1] *= shape[d];
            strides[out - 1] = strides[d];
            continue;
        }
        shape[out] = shape[d];
        strides[out] = strides[d];
        reduce[out++] = reduce[d];
    }
    return out;
}

static void split(int ndim, const int64_t *shape, const int64_t *strides, const bool *reduce,
                  split_dims *s) {
    s->n_kept = s->n_red = 0;
    for (int i = 0; i < ndim; i++) {
        if (reduce[i]) {
            s->red_shape[s->n_red] = shape[i];
            s->red_str[s->n_red++] = strides[i];
        } else {
            s->kept_shape[s->n_kept] = shape[i];
            s->kept_str[s->n_kept++] = strides[i];
        }
    }
}

/* The sum of n elements of row at stride rs, in double. */
static double row_sum_float(const float *row, int64_t n, int64_t rs) {
    double a = 0;
    if (rs == 1 && kern_vec_sum_f32(row, n, &a)) return a;
    for (int64_t r = 0; r < n; r++) a += row[r * rs];
    return a;
}

static double row_sum_double(const double *row, int64_t n, int64_t rs) {
    double a = 0;
    for (int64_t r = 0; r < n; r++) a += row[r * rs];
    return a;
}

/* acc[j] += row[j] for j < width (row contiguous). */
static void add_into_float(double *acc, const float *row, int64_t width) {
    if (kern_vec_sum_into_f32(acc, row, width)) return;
    for (int64_t j = 0; j < width; j++) acc[j] += row[j];
}

static void add_into_double(double *acc, const double *row, int64_t width) {
    for (int64_t j = 0; j < width; j++) acc[j] += row[j];
}

/* Adds, into acc[0..width), the sum over every reduced position of x[base + j*step + r]. */
#define ACCUMULATE(T)                                                                          \
    static void accumulate_##T(const T *x, int64_t base, int64_t width, int64_t step,          \
                               const split_dims *s, double *acc) {                             \
        nd_iter ri;                                                                            \
        nd_iter_init(&ri, s->n_red, s->red_shape);                                             \
        if (ri.empty) return;                                                                  \
        int64_t rs = s->n_red ? s->red_str[s->n_red - 1] : 0;                                  \
        do {                                                                                   \
            const T *row = x + base + nd_iter_offset(&ri, s->red_str);                         \
            if (width == 1) {                                                                  \
                acc[0] += row_sum_##T(row, ri.inner, rs);                                      \
            } else if (step == 1) {                                                            \
                for (int64_t r = 0; r < ri.inner; r++) add_into_##T(acc, row + r * rs, width); \
            } else {                                                                           \
                for (int64_t r = 0; r < ri.inner; r++)                                         \
                    for (int64_t j = 0; j < width; j++) acc[j] += row[r * rs + j * step];      \
            }                                                                                  \
        } while (nd_iter_next(&ri));                                                           \
    }

ACCUMULATE(float)
ACCUMULATE(double)

#define SUM_KEPT(T)                                                                            \
    do {                                                                                       \
        T *o = out;                                                                            \
        const T *px = x;                                                                       \
        /* Walk the kept dimensions but the innermost, then that one in blocks. */             \
        int64_t inner = s.n_kept > 0 ? s.kept_shape[s.n_kept - 1] : 1;                         \
        int64_t istep = s.n_kept > 0 ? s.kept_str[s.n_kept - 1] : 0;                           \
        bool blocked = !inner_reduced && s.n_kept > 0;                                         \
        nd_iter ko;                                                                            \
        nd_iter_init(&ko, s.n_kept, s.kept_shape); /* its outer part: all kept but the last */ \
        int64_t slot = 0;                                                                      \
        do {                                                                                   \
            int64_t base = nd_iter_offset(&ko, s.kept_str);                                    \
            for (int64_t j0 = 0; j0 < inner;) {                                                \
                int64_t w = blocked ? (inner - j0 < SUM_BLOCK ? inner - j0 : SUM_BLOCK) : 1;   \
                for (int64_t j = 0; j < w; j++) acc[j] = 0;                                    \
                accumulate_##T(px, base + j0 * istep, w, istep, &s, acc);                      \
                for (int64_t j = 0; j < w; j++) o[slot + j] = (T)(acc[j] * scale);             \
                slot += w;                                                                     \
                j0 += w;                                                                       \
            }                                                                                  \
        } while (nd_iter_next(&ko));                                                           \
    } while (0)

void kern_sum(tg_dtype dtype, int ndim, const int64_t *shape, const void *x,
              const int64_t *x_strides, const bool *reduce, void *out, double scale) {
    int64_t sh[TG_MAX_DIMS], st[TG_MAX_DIMS];
    bool red[TG_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        sh[d] = shape[d];
        st[d] = x_strides[d];
        red[d] = reduce[d];
    }
    /* An empty x: the output (if any) is all zeros, which the plain walk below produces. */
    bool empty = false;
    for (int d = 0; d < ndim; d++) empty |= shape[d] == 0;
    int nd = empty ? ndim : merge_dims(ndim, sh, st, red);
    split_dims s;
    split(nd, sh, st, red, &s);
    for (int i = 0; i < s.n_kept; i++)
        if (s.kept_shape[i] == 0) return; /* empty output */
    bool inner_reduced = nd == 0 || red[nd - 1];
    double acc[SUM_BLOCK];
    if (dtype == TG_F32)
        SUM_KEPT(float);
    else
        SUM_KEPT(double);
}

/* NaN and infinities counted separately: x != x only for NaN, and x - x is NaN for both, so
 * a finite element costs one subtraction and one comparison. */
#define COUNT_NONFINITE(T)                                                                         \
    do {                                                                                           \
        nd_iter it;                                                                                \
        nd_iter_init(&it, ndim, shape);                                                            \
        if (it.empty) break;                                                                       \
        int64_t sx = ndim ? x_strides[ndim - 1] : 0;                                               \
        do {                                                                                       \
            const T *row = (const T *)x + nd_iter_offset(&it, x_strides);                          \
            for (int64_t i = 0; i < it.inner; i++) {                                               \
                T v = row[i * sx];                                                                 \
                if (v - v != v - v) counts[v == v]++;                                              \
            }                                                                                      \
        } while (nd_iter_next(&it));                                                               \
    } while (0)

void kern_count_nonfinite(tg_dtype dtype, int ndim, const int64_t *shape, const void *x,
                          const int64_t *x_strides, int64_t counts[2]) {
    counts[0] = counts[1] = 0;
    if (dtype == TG_F32)
        COUNT_NONFINITE(float);
    else
        COUNT_NONFINITE(double);
}

/* reduce.c: sums over chosen dimensions, accumulated in double whatever the dtype.
 *
 * The dimensions are split into kept ones (which index the output) and reduced ones. When x's
 * innermost dimension is reduced, each output element is one double accumulator over a run of
 * contiguous reads; when it is kept, a block of up to SUM_BLOCK neighbouring outputs is
 * accumulated together so that reads stay sequential. */
#include "kernels.h"
#include "nd_iter.h"

enum { SUM_BLOCK = 256 };

typedef struct split_dims {
    int n_kept, n_red;
    int64_t kept_shape[TG_MAX_DIMS], kept_str[TG_MAX_DIMS];
    int64_t red_shape[TG_MAX_DIMS], red_str[TG_MAX_DIMS];
} split_dims;

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
                double a = 0;                                                                  \
                for (int64_t r = 0; r < ri.inner; r++) a += row[r * rs];                       \
                acc[0] += a;                                                                   \
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
    split_dims s;
    split(ndim, shape, x_strides, reduce, &s);
    for (int i = 0; i < s.n_kept; i++)
        if (s.kept_shape[i] == 0) return; /* empty output */
    bool inner_reduced = ndim == 0 || reduce[ndim - 1];
    double acc[SUM_BLOCK];
    if (dtype == TG_F32)
        SUM_KEPT(float);
    else
        SUM_KEPT(double);
}

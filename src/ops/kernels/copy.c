/* copy.c: strided copies with dtype conversion, fills, and the transposing copy of a product
 * computed transposed. Everything that gathers a view into contiguous memory (or scatters into
 * one) comes through here.
 *
 * Dimensions that are one run in both operands are merged first (coalesce.h), so a copy
 * between contiguous blocks is one loop, and rows that are contiguous on both sides are copied
 * as such; the elements and their order are those of the plain n-d walk. */
#include <math.h>
#include <string.h>

#include "coalesce.h"
#include "kernels.h"
#include "nd_iter.h"
#include "threadpool.h"

#define COPY_INNER(DT, ST)                                                                     \
    do {                                                                                       \
        DT *d = (DT *)dst + doff;                                                              \
        const ST *s = (const ST *)src + soff;                                                  \
        if (dstep == 1 && sstep == 1)                                                          \
            for (int64_t i = 0; i < it.inner; i++) d[i] = (DT)s[i];                            \
        else                                                                                   \
            for (int64_t i = 0; i < it.inner; i++) d[i * dstep] = (DT)s[i * sstep];            \
    } while (0)

void kern_copy(tg_dtype dst_dtype, void *dst, const int64_t *dst_strides, tg_dtype src_dtype,
               const void *src, const int64_t *src_strides, int ndim, const int64_t *shape) {
    int64_t sh[TG_MAX_DIMS], st[2][TG_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 0) return;
        sh[d] = shape[d];
        st[0][d] = dst_strides[d];
        st[1][d] = src_strides[d];
    }
    int nd = kern_coalesce(ndim, sh, 2, st);
    nd_iter it;
    nd_iter_init(&it, nd, sh);
    int64_t dstep = nd ? st[0][nd - 1] : 0;
    int64_t sstep = nd ? st[1][nd - 1] : 0;
    size_t es = (size_t)kern_elem_size(dst_dtype);
    do {
        int64_t doff = nd_iter_offset(&it, st[0]);
        int64_t soff = nd_iter_offset(&it, st[1]);
        if (dst_dtype == src_dtype && dstep == 1 && sstep == 1 && it.inner >= 64)
            memmove((char *)dst + doff * (int64_t)es, (const char *)src + soff * (int64_t)es,
                    (size_t)it.inner * es);
        else if (dst_dtype == TG_F32 && src_dtype == TG_F32)
            COPY_INNER(float, float);
        else if (dst_dtype == TG_F32)
            COPY_INNER(float, double);
        else if (src_dtype == TG_F32)
            COPY_INNER(double, float);
        else
            COPY_INNER(double, double);
    } while (nd_iter_next(&it));
}

typedef struct fill_job {
    tg_dtype dtype;
    char *dst;
    double v;
} fill_job;

static void fill_range(void *ctx, int64_t begin, int64_t end) {
    const fill_job *j = ctx;
    size_t es = (size_t)kern_elem_size(j->dtype);
    if (j->v == 0.0 && !signbit(j->v)) { /* all-zero bits: +0.0 in both dtypes */
        memset(j->dst + (size_t)begin * es, 0, (size_t)(end - begin) * es);
    } else if (j->dtype == TG_F32) {
        float *d = (float *)(void *)j->dst, fv = (float)j->v;
        for (int64_t i = begin; i < end; i++) d[i] = fv;
    } else {
        double *d = (double *)(void *)j->dst;
        for (int64_t i = begin; i < end; i++) d[i] = j->v;
    }
}

/* Large fills (zeroing a model's gradients each step: 0.9 MB for the MLP) are shared with a
 * worker still awake from the previous step's products. */
void kern_fill(tg_dtype dtype, void *dst, int64_t n, double v) {
    if (n <= 0) return;
    fill_job j = {dtype, dst, v};
    if (!kern_parallel_pieces(n, 1, 64, fill_range, &j)) fill_range(&j, 0, n);
}

/* In square blocks, so that the cache lines a block reads down src's rows and writes along
 * dst's rows serve the whole block: 16 x 16 floats are 16 lines on each side. The bias is
 * added only when there is one (x + 0 would turn -0 into +0). */
#define TRANSPOSE_BLOCK 16
#define TRANSPOSE_BIAS(T)                                                                      \
    static void transpose_bias_##T(int64_t rows, int64_t cols, const T *src, const T *bias,   \
                                   T *dst) {                                                  \
        for (int64_t i0 = 0; i0 < rows; i0 += TRANSPOSE_BLOCK)                                 \
            for (int64_t j0 = 0; j0 < cols; j0 += TRANSPOSE_BLOCK) {                           \
                int64_t i1 = i0 + TRANSPOSE_BLOCK < rows ? i0 + TRANSPOSE_BLOCK : rows;        \
                int64_t j1 = j0 + TRANSPOSE_BLOCK < cols ? j0 + TRANSPOSE_BLOCK : cols;        \
                for (int64_t i = i0; i < i1; i++) {                                            \
                    T *d = dst + i * cols;                                                     \
                    if (bias)                                                                  \
                        for (int64_t j = j0; j < j1; j++) d[j] = src[j * rows + i] + bias[j];  \
                    else                                                                       \
                        for (int64_t j = j0; j < j1; j++) d[j] = src[j * rows + i];            \
                }                                                                              \
            }                                                                                  \
    }
TRANSPOSE_BIAS(float)
TRANSPOSE_BIAS(double)

void kern_transpose_bias(tg_dtype dtype, int64_t rows, int64_t cols, const void *src,
                         const void *bias, void *dst) {
    if (dtype == TG_F32)
        transpose_bias_float(rows, cols, src, bias, dst);
    else
        transpose_bias_double(rows, cols, src, bias, dst);
}

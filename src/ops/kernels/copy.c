/* copy.c: strided copies with dtype conversion, and fills. Everything that gathers a view into
 * contiguous memory (or scatters into one) comes through here. */
#include "kernels.h"
#include "nd_iter.h"

#define COPY_INNER(DT, ST)                                                                     \
    do {                                                                                       \
        DT *d = (DT *)dst + doff;                                                              \
        const ST *s = (const ST *)src + soff;                                                  \
        for (int64_t i = 0; i < it.inner; i++) d[i * dstep] = (DT)s[i * sstep];                \
    } while (0)

void kern_copy(tg_dtype dst_dtype, void *dst, const int64_t *dst_strides, tg_dtype src_dtype,
               const void *src, const int64_t *src_strides, int ndim, const int64_t *shape) {
    nd_iter it;
    nd_iter_init(&it, ndim, shape);
    if (it.empty) return;
    int64_t dstep = ndim ? dst_strides[ndim - 1] : 0;
    int64_t sstep = ndim ? src_strides[ndim - 1] : 0;
    do {
        int64_t doff = nd_iter_offset(&it, dst_strides);
        int64_t soff = nd_iter_offset(&it, src_strides);
        if (dst_dtype == TG_F32 && src_dtype == TG_F32)
            COPY_INNER(float, float);
        else if (dst_dtype == TG_F32)
            COPY_INNER(float, double);
        else if (src_dtype == TG_F32)
            COPY_INNER(double, float);
        else
            COPY_INNER(double, double);
    } while (nd_iter_next(&it));
}

void kern_fill(tg_dtype dtype, void *dst, int64_t n, double v) {
    if (dtype == TG_F32) {
        float *d = dst, fv = (float)v;
        for (int64_t i = 0; i < n; i++) d[i] = fv;
    } else {
        double *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = v;
    }
}

/* copy.c: strided copies with dtype conversion, fills, and the transposing copy of a product
 * computed transposed. Everything that gathers a view into contiguous memory (or scatters into
 * one) comes through here.
 *
 * Dimensions that are one run in both operands are merged first (coalesce.h), so a copy
 * between contiguous blocks is one loop, and rows that are contiguous on both sides are copied
 * as such; the elements and their order are those of the plain n-d walk. */
#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#include "coalesce.h"
#include "cpu.h"
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
 * added only when there is one (x + 0 would turn -0 into +0). Rows [r0, r1) and columns
 * [c0, cols) only: the vector forms below leave this loop the edges. */
#define TRANSPOSE_BLOCK 16
#define TRANSPOSE_BIAS(T)                                                                      \
    static void transpose_bias_##T(int64_t rows, int64_t cols, const T *src, const T *bias,   \
                                   T *dst, int64_t r0, int64_t r1, int64_t c0) {              \
        for (int64_t i0 = r0; i0 < r1; i0 += TRANSPOSE_BLOCK)                                  \
            for (int64_t j0 = c0; j0 < cols; j0 += TRANSPOSE_BLOCK) {                          \
                int64_t i1 = i0 + TRANSPOSE_BLOCK < r1 ? i0 + TRANSPOSE_BLOCK : r1;            \
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

/* f32 in whole register blocks: 8 x 8 in ymm registers (AVX2, which the AVX-512 level runs
 * too: the pass is a few microseconds and bound by its stores), 4 x 4 in NEON registers. Each
 * block of dst is the transpose of a block of src, plus the bias's entries for its columns.
 * They do the whole blocks; kern_transpose_bias does the edges with the loop above. */
#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2"))) static void transpose_bias_avx2(int64_t rows, int64_t cols,
                                                                const float *src,
                                                                const float *bias, float *dst) {
    for (int64_t j0 = 0; j0 + 8 <= cols; j0 += 8) {
        __m256 b = bias ? _mm256_loadu_ps(bias + j0) : _mm256_setzero_ps();
        for (int64_t i0 = 0; i0 + 8 <= rows; i0 += 8) {
            __m256 v[8], lo_hi[8], quad[8];
            for (int r = 0; r < 8; r++) v[r] = _mm256_loadu_ps(src + (j0 + r) * rows + i0);
            /* Rows interleaved in pairs, then pairs of pairs: quad[4h + c] holds, in each
             * 128-bit half l, column 4l + c of source rows 4h to 4h + 3. */
            for (int p = 0; p < 4; p++) {
                lo_hi[2 * p] = _mm256_unpacklo_ps(v[2 * p], v[2 * p + 1]);
                lo_hi[2 * p + 1] = _mm256_unpackhi_ps(v[2 * p], v[2 * p + 1]);
            }
            for (int h = 0; h < 2; h++) {
                const __m256 *t = lo_hi + 4 * h;
                quad[4 * h + 0] = _mm256_shuffle_ps(t[0], t[2], 0x44);
                quad[4 * h + 1] = _mm256_shuffle_ps(t[0], t[2], 0xee);
                quad[4 * h + 2] = _mm256_shuffle_ps(t[1], t[3], 0x44);
                quad[4 * h + 3] = _mm256_shuffle_ps(t[1], t[3], 0xee);
            }
            for (int c = 0; c < 4; c++) {
                __m256 first = _mm256_permute2f128_ps(quad[c], quad[4 + c], 0x20);
                __m256 second = _mm256_permute2f128_ps(quad[c], quad[4 + c], 0x31);
                if (bias) {
                    first = _mm256_add_ps(first, b);
                    second = _mm256_add_ps(second, b);
                }
                _mm256_storeu_ps(dst + (i0 + c) * cols + j0, first);
                _mm256_storeu_ps(dst + (i0 + 4 + c) * cols + j0, second);
            }
        }
    }
}
#elif defined(__aarch64__)
static void transpose_bias_neon(int64_t rows, int64_t cols, const float *src, const float *bias,
                                float *dst) {
    for (int64_t j0 = 0; j0 + 4 <= cols; j0 += 4) {
        float32x4_t b = bias ? vld1q_f32(bias + j0) : vdupq_n_f32(0.0f);
        for (int64_t i0 = 0; i0 + 4 <= rows; i0 += 4) {
            float32x4_t v[4], c[4];
            for (int r = 0; r < 4; r++) v[r] = vld1q_f32(src + (j0 + r) * rows + i0);
            float32x4x2_t p01 = vtrnq_f32(v[0], v[1]), p23 = vtrnq_f32(v[2], v[3]);
            c[0] = vcombine_f32(vget_low_f32(p01.val[0]), vget_low_f32(p23.val[0]));
            c[1] = vcombine_f32(vget_low_f32(p01.val[1]), vget_low_f32(p23.val[1]));
            c[2] = vcombine_f32(vget_high_f32(p01.val[0]), vget_high_f32(p23.val[0]));
            c[3] = vcombine_f32(vget_high_f32(p01.val[1]), vget_high_f32(p23.val[1]));
            for (int k = 0; k < 4; k++)
                vst1q_f32(dst + (i0 + k) * cols + j0, bias ? vaddq_f32(c[k], b) : c[k]);
        }
    }
}
#endif

void kern_transpose_bias(tg_dtype dtype, int64_t rows, int64_t cols, const void *src,
                         const void *bias, void *dst) {
    if (dtype == TG_F64) {
        transpose_bias_double(rows, cols, src, bias, dst, 0, rows, 0);
        return;
    }
    int block = 0;
#if defined(__x86_64__) || defined(__i386__)
    tg_cpu_level level = kern_cpu_level();
    if (level == TG_CPU_AVX2 || level == TG_CPU_AVX512) {
        transpose_bias_avx2(rows, cols, src, bias, dst);
        block = 8;
    }
#elif defined(__aarch64__)
    if (kern_cpu_level() == TG_CPU_NEON) {
        transpose_bias_neon(rows, cols, src, bias, dst);
        block = 4;
    }
#endif
    if (!block) {
        transpose_bias_float(rows, cols, src, bias, dst, 0, rows, 0);
        return;
    }
    /* The edges the blocks left: the last rows across every column, then the last columns
     * of the rows done. */
    int64_t rows_done = rows / block * block, cols_done = cols / block * block;
    transpose_bias_float(rows, cols, src, bias, dst, rows_done, rows, 0);
    transpose_bias_float(rows, cols, src, bias, dst, 0, rows_done, cols_done);
}

/* kernels.h: the hot loops, on raw memory. They know tensors only as dtype, shape and strides
 * (in elements), never the tape or nodes, and they never fail: callers check shapes first.
 * Floating-point sums accumulate in double (CONTRIBUTING S7.1). */
#ifndef TG_KERNELS_H
#define TG_KERNELS_H

#include "tapegrad/base.h"

/* Bytes per element of the two dtypes the kernels take. Here rather than tg_dtype_size (in
 * src/graph) so that the kernels, the bottom layer, call nothing above them. */
static inline int64_t kern_elem_size(tg_dtype d) {
    return d == TG_F64 ? 8 : 4;
}

/* Copies a strided n-d block, converting dtype. */
void kern_copy(tg_dtype dst_dtype, void *dst, const int64_t *dst_strides, tg_dtype src_dtype,
               const void *src, const int64_t *src_strides, int ndim, const int64_t *shape);
/* Sets n contiguous elements to v. */
void kern_fill(tg_dtype dtype, void *dst, int64_t n, double v);
/* dst (rows x cols, contiguous) = src^T, plus bias (cols contiguous entries, or NULL) on every
 * row, where src is cols x rows contiguous: a product computed transposed, put the right way
 * round. */
void kern_transpose_bias(tg_dtype dtype, int64_t rows, int64_t cols, const void *src,
                         const void *bias, void *dst);

typedef enum kern_unary_kind {
    KERN_NEG,
    KERN_EXP,
    KERN_LOG,
    KERN_TANH,
    KERN_SIGMOID,
    KERN_RELU,
    KERN_STEP,
    KERN_ADD_SCALAR,  /* x + a */
    KERN_MUL_SCALAR,  /* x * a */
    KERN_SUB_SCALAR,  /* x - a */
    KERN_RSUB_SCALAR, /* a - x */
    KERN_DIV_SCALAR,  /* x / a */
    KERN_RDIV_SCALAR, /* a / x */
    KERN_POW_SCALAR,  /* x^a; sqrt x for a = 1/2, 1 / sqrt x for a = -1/2 */
    KERN_ABS,
    KERN_SIGN, /* -1, 0 or 1; NaN stays NaN */
    KERN_BINARIZE, /* -1 below 0, else +1 (0 and -0 give +1); NaN stays NaN */
    KERN_SQRT,
    KERN_SQUARE,
    KERN_SIN,
    KERN_COS,
    KERN_LEAKY_RELU, /* x > 0 ? x : a x */
    KERN_ELU,        /* x > 0 ? x : a (e^x - 1) */
    KERN_CLAMP,      /* min(max(x, a), b); NaN stays NaN */
    KERN_GELU,       /* x Phi(x), Phi the standard normal CDF */
    KERN_GELU_GRAD,  /* Phi(x) + x phi(x) */
    KERN_SOFTPLUS    /* max(x, 0) + log1p(e^-|x|) */
} kern_unary_kind;

/* y[i] = f(x[i]) for n contiguous elements; y may equal x. `a` is the kind's parameter. */
void kern_unary(kern_unary_kind k, tg_dtype dtype, int64_t n, const void *x, void *y, double a);
/* The same with a second parameter `b` (KERN_CLAMP's upper bound). */
void kern_unary2(kern_unary_kind k, tg_dtype dtype, int64_t n, const void *x, void *y, double a,
                 double b);

/* GELU's forward keeping its derivative: y[i] = gelu(x[i]) and d[i] = gelu_grad(x[i]) for n
 * contiguous elements, with the bits of kern_unary(KERN_GELU) and kern_unary(KERN_GELU_GRAD)
 * at every level, for little more than the cost of the first (both share one erfc). */
void kern_gelu_and_grad(tg_dtype dtype, int64_t n, const void *x, void *y, void *d);

typedef enum kern_binary_kind {
    KERN_ADD,
    KERN_SUB,
    KERN_MUL,
    KERN_DIV,
    KERN_POW,
    KERN_MAXIMUM, /* NaN propagates */
    KERN_MINIMUM,
    KERN_GT, /* comparisons give 1 or 0 */
    KERN_GE,
    KERN_LT,
    KERN_LE,
    KERN_EQ,
    KERN_NE,
    KERN_PASS_IF_POSITIVE, /* b <= 0 ? 0 : a (relu's backward: a the gradient, b the input;
                              NaN in b passes a, as PyTorch) */
    KERN_MUL_GELU_GRAD     /* a * gelu_grad(b) (gelu's backward: a the gradient, b the input),
                              the same bits as KERN_GELU_GRAD then KERN_MUL */
} kern_binary_kind;

/* out = a (op) b over `shape`; out is contiguous, a and b are strided (a stride of 0 repeats,
 * which is how broadcasting is expressed). */
void kern_binary(kern_binary_kind k, tg_dtype dtype, int ndim, const int64_t *shape, void *out,
                 const void *a, const int64_t *a_strides, const void *b, const int64_t *b_strides);

/* Sums x (strided, `shape`) over the dimensions with reduce[d] true into the contiguous out
 * (the kept dimensions in order), times `scale`. */
void kern_sum(tg_dtype dtype, int ndim, const int64_t *shape, const void *x,
              const int64_t *x_strides, const bool *reduce, void *out, double scale);

/* out = mask != 0 ? a : b over `shape` (NaN in mask counts as nonzero); out contiguous, the
 * three operands strided as in kern_binary. */
void kern_where(tg_dtype dtype, int ndim, const int64_t *shape, void *out, const void *mask,
                const int64_t *m_strides, const void *a, const int64_t *a_strides, const void *b,
                const int64_t *b_strides);

/* Counts the NaN (counts[0]) and infinite (counts[1]) elements of x (strided, `shape`): the
 * anomaly checks' scan, run only when anomaly mode is on. */
void kern_count_nonfinite(tg_dtype dtype, int ndim, const int64_t *shape, const void *x,
                          const int64_t *x_strides, int64_t counts[2]);

/* The largest (is_max) or smallest element of x over the dimensions with reduce[d] true, into
 * the contiguous out (kept dimensions in order). NaN wins; an empty reduction gives -inf for max
 * and +inf for min. */
void kern_extrema(tg_dtype dtype, int ndim, const int64_t *shape, const void *x,
                  const int64_t *x_strides, const bool *reduce, bool is_max, void *out);

/* Softmax (or, with log, log-softmax) of x along `axis` into the contiguous out of x's shape.
 * Subtracts each row's maximum first, so no exponent overflows; sums in double. */
void kern_softmax(tg_dtype dtype, int ndim, const int64_t *shape, const void *x,
                  const int64_t *x_strides, int axis, bool log_form, void *out);

/* Softmax of each row of the (rows, cols) matrix x, read at strides (rs, cs), into the
 * contiguous out, as kern_softmax computes it, and each row's maximum m and ln sum e^(x - m)
 * (in double) into stats[2 i] and stats[2 i + 1]: what a loss needs to form log-probabilities
 * (x - m) - ln s without a second pass over exponentials. */
void kern_softmax_rows(tg_dtype dtype, int64_t rows, int64_t cols, const void *x, int64_t rs,
                       int64_t cs, void *out, double *stats);

/* C (M, N; row stride ldc, contiguous rows) = A (M, K) B (K, N), where A and B are read through
 * arbitrary row and column strides, so transposed views need no copy. C is written, not
 * accumulated into, and must not overlap A or B. Uses up to tg_get_threads() threads and the
 * kernels of tg_get_cpu_level() (gemm.c). */
void kern_gemm(tg_dtype dtype, int64_t M, int64_t N, int64_t K, const void *A, int64_t a_rs,
               int64_t a_cs, const void *B, int64_t b_rs, int64_t b_cs, void *C, int64_t ldc);

/* kern_gemm with a bias: C = A B + bias on every row (bias: N contiguous elements, or NULL for
 * kern_gemm itself). The direct kernels start each sum from the bias, so a linear layer's bias
 * costs no pass over C of its own (the packed and dot paths add it after the product). */
void kern_gemm_bias(tg_dtype dtype, int64_t M, int64_t N, int64_t K, const void *A, int64_t a_rs,
                    int64_t a_cs, const void *B, int64_t b_rs, int64_t b_cs, void *C, int64_t ldc,
                    const void *bias);

/* kern_gemm on the calling thread alone, for callers that already share their work between
 * threads (a team's ranks): nothing is posted to the pool, and each element is computed as
 * kern_gemm computes it on one thread. */
void kern_gemm_one_thread(tg_dtype dtype, int64_t M, int64_t N, int64_t K, const void *A,
                          int64_t a_rs, int64_t a_cs, const void *B, int64_t b_rs, int64_t b_cs,
                          void *C, int64_t ldc);

/* M rows by N columns of a product whose whole is whole_M x whole_N (A, B and C point at the
 * part), on the calling thread, each element with the bits it gets when kern_gemm_one_thread
 * computes the whole: the path (direct, packed, dot form) is chosen for the whole, and within
 * a path an element's sum does not depend on the other rows and columns computed with it. A
 * product only cut by size could otherwise fall below a path's threshold (a block of 16
 * columns takes the dot form where the whole does not). For teams that split a product. */
void kern_gemm_part_one_thread(tg_dtype dtype, int64_t whole_M, int64_t whole_N, int64_t M,
                               int64_t N, int64_t K, const void *A, int64_t a_rs, int64_t a_cs,
                               const void *B, int64_t b_rs, int64_t b_cs, void *C, int64_t ldc);

#endif

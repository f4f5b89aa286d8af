/* kernels.h: the hot loops, on raw memory. They know tensors only as dtype, shape and strides
 * (in elements), never the tape or nodes, and they never fail: callers check shapes first.
 * Floating-point sums accumulate in double (STYLE S7.1). */
#ifndef TG_KERNELS_H
#define TG_KERNELS_H

#include "tapegrad/base.h"

/* Copies a strided n-d block, converting dtype. */
void kern_copy(tg_dtype dst_dtype, void *dst, const int64_t *dst_strides, tg_dtype src_dtype,
               const void *src, const int64_t *src_strides, int ndim, const int64_t *shape);
/* Sets n contiguous elements to v. */
void kern_fill(tg_dtype dtype, void *dst, int64_t n, double v);

typedef enum kern_unary_kind {
    KERN_NEG,
    KERN_EXP,
    KERN_LOG,
    KERN_TANH,
    KERN_SIGMOID,
    KERN_RELU,
    KERN_STEP,
    KERN_ADD_SCALAR, /* x + a */
    KERN_MUL_SCALAR  /* x * a */
} kern_unary_kind;

/* y[i] = f(x[i]) for n contiguous elements; y may equal x. */
void kern_unary(kern_unary_kind k, tg_dtype dtype, int64_t n, const void *x, void *y, double a);

typedef enum kern_binary_kind { KERN_ADD, KERN_SUB, KERN_MUL, KERN_DIV } kern_binary_kind;

/* out = a (op) b over `shape`; out is contiguous, a and b are strided (a stride of 0 repeats,
 * which is how broadcasting is expressed). */
void kern_binary(kern_binary_kind k, tg_dtype dtype, int ndim, const int64_t *shape, void *out,
                 const void *a, const int64_t *a_strides, const void *b,
                 const int64_t *b_strides);

/* Sums x (strided, `shape`) over the dimensions with reduce[d] true into the contiguous out
 * (the kept dimensions in order), times `scale`. */
void kern_sum(tg_dtype dtype, int ndim, const int64_t *shape, const void *x,
              const int64_t *x_strides, const bool *reduce, void *out, double scale);

/* C (M, N; row stride ldc, contiguous rows) = A (M, K) B (K, N), where A and B are read through
 * arbitrary row and column strides, so transposed views need no copy. */
void kern_gemm(tg_dtype dtype, int64_t M, int64_t N, int64_t K, const void *A, int64_t a_rs,
               int64_t a_cs, const void *B, int64_t b_rs, int64_t b_cs, void *C, int64_t ldc);

#endif

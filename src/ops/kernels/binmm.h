/* binmm.h: the kernels of the packed binary products (tapegrad/binary.h), shared by the driver
 * (binmm.c, which also holds the portable kernels) and its AVX2, AVX-512 and NEON forms
 * (binmm_avx2.c, binmm_avx512.c, binmm_neon.c).
 *
 * A packed matrix W (rows, cols) of +-1 keeps row o in `words` = ceil(cols / 32) uint32 words:
 * bit j % 32 of word j / 32 is 1 for +1 and 0 for -1, and the bits past cols are 0 (so an XOR
 * of two such rows is 0 there and a popcount counts only real columns). Each row has a scale
 * (f32). Dense operands have contiguous rows and any row stride. Every kernel writes its result
 * whole. */
#ifndef TG_KERN_BINMM_H
#define TG_KERN_BINMM_H

#include <stdbool.h>
#include <stdint.h>

#include "tapegrad/base.h"

typedef struct kern_bits {
    int64_t rows, cols, words;
    const uint32_t *bits; /* rows * words */
    const float *scale;   /* rows */
} kern_bits;

/* Y[b, o] = scale[o] sum_j W[o, j] X[b, j] for outputs o in [o0, o1), b < n, computed as
 * scale[o] (2 sum_{j: bit set} X[b, j] - sum_j X[b, j]): one add per +1 weight, none per -1. */
typedef void (*binmm_rows_fn)(const kern_bits *w, int64_t o0, int64_t o1, int64_t n, const float *x,
                              int64_t ldx, float *y, int64_t ldy);
/* Y[b, o] = scale[o] (cols - 2 popcount(A[b] XOR W[o])) for A (n, words) packed the same way:
 * the product of two +-1 vectors from their bits. */
typedef void (*binxnor_rows_fn)(const kern_bits *w, int64_t o0, int64_t o1, int64_t n,
                                const uint32_t *a, float *y, int64_t ldy);
/* The same product for a whole batch by table lookup (binmm_lut.h), for the batch groups
 * [g0, g1) of G = nb * lanes rows: xt the batch transposed in groups of G rows, sx its row sums,
 * acc scratch of (o1 - o0) * G floats. */
typedef void (*binmm_lut_fn)(const kern_bits *w, int64_t o0, int64_t o1, int64_t g0, int64_t g1,
                             int64_t n, const float *xt, const float *sx, float *acc, float *y,
                             int64_t ldy);
/* One group of the batch transposed for the table lookups: rows x[0 .. live) (live <= G) into
 * xg (cols_pad, G): xg[j * G + l] = x[l, j], zero past cols and past live; sx[l] their sums. */
typedef void (*binmm_transpose_fn)(int64_t G, int64_t live, int64_t cols, int64_t cols_pad,
                                   const float *x, int64_t ldx, float *xg, float *sx);
/* A[b] = the signs of X[b, 0..cols) as bits (1 where X >= 0; NaN gives 0), for b < n. */
typedef void (*binpack_rows_fn)(int64_t n, int64_t cols, const float *x, int64_t ldx, uint32_t *a);

typedef struct binmm_impl {
    const char *name; /* for benchmarks: which kernels ran */
    binmm_rows_fn binmm;
    binxnor_rows_fn xnor;
    binpack_rows_fn pack;
    binmm_lut_fn lut;      /* groups of one vector of rows */
    binmm_lut_fn lut_wide; /* groups of wide_nb vectors: one table index feeds wide_nb adds */
    binmm_transpose_fn transpose;
    int lanes; /* the batch rows of one lut vector */
    int wide_nb;
} binmm_impl;

extern const binmm_impl binmm_portable;
#if defined(__x86_64__) || defined(__i386__)
extern const binmm_impl binmm_avx2;
/* binmm_avx512 counts bits with VPOPCNTDQ; binmm_avx512_nopopcnt is the AVX-512 level on a CPU
 * without it (AVX-512 adds, the AVX2 nibble-table popcount). */
extern const binmm_impl binmm_avx512, binmm_avx512_nopopcnt;
/* binmm_avx2's XNOR kernel, which binmm_avx512_nopopcnt shares. */
void binxnor_rows_avx2(const kern_bits *w, int64_t o0, int64_t o1, int64_t n, const uint32_t *a,
                       float *y, int64_t ldy);
/* binmm_avx2's transpose and store of a group's results, which the AVX-512 level shares. */
void binmm_store_group_avx2(const kern_bits *w, int64_t o0, int64_t o1, int64_t G, int64_t live,
                            const float *acc, const float *sx, float *y, int64_t ldy);
void binmm_transpose_avx2(int64_t G, int64_t live, int64_t cols, int64_t cols_pad, const float *x,
                          int64_t ldx, float *xg, float *sx);
#endif

#if defined(__aarch64__)
extern const binmm_impl binmm_neon;
#endif

/* The kernels the CPU level in effect runs. */
const binmm_impl *kern_binmm_impl(void);
/* Tests and benchmarks: force the AVX-512 level's fallback popcount even where VPOPCNTDQ exists
 * (false restores the detection). */
void kern_binmm_force_no_vpopcnt(bool on);

/* The whole products on the kernels of the CPU level in effect, outputs shared between the
 * pool's threads when the work is large enough; f64 operands run the portable loops. */
void kern_binmm(tg_dtype dtype, const kern_bits *w, int64_t n, const void *x, int64_t ldx, void *y,
                int64_t ldy);
/* kern_binmm on the given kernel set (tests hold every set the CPU runs to the references). */
void kern_binmm_with(const binmm_impl *impl, tg_dtype dtype, const kern_bits *w, int64_t n,
                     const void *x, int64_t ldx, void *y, int64_t ldy);
/* X[b, j] = sum_o G[b, o] scale[o] W[o, j]: the transposed product (for gradients), portable. */
void kern_binmm_t(tg_dtype dtype, const kern_bits *w, int64_t n, const void *g, int64_t ldg,
                  void *x, int64_t ldx);
/* Packs the signs of X (n, cols) into A (n, words); f32 on the level's kernels, f64 portable. */
void kern_binpack_rows(tg_dtype dtype, int64_t n, int64_t cols, const void *x, int64_t ldx,
                       uint32_t *a);
/* Y (n, rows) = the XNOR product of packed A (n, words) with W. */
void kern_binxnor(tg_dtype dtype, const kern_bits *w, int64_t n, const uint32_t *a, void *y,
                  int64_t ldy);

#endif

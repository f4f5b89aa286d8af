/* gemm.h: what the GEMM driver (gemm.c) and its per-instruction-set kernels (gemm_portable.c,
 * gemm_avx2.c, gemm_avx512.c, gemm_neon.c) share. Private to src/ops/kernels and its tests.
 *
 * Packed layouts (GotoBLAS/BLIS): an A panel holds mr rows of a kc-long slice, k-major
 * (a[k*mr + r]); a B panel holds nr columns, k-major (b[k*nr + j]). Rows or columns beyond the
 * matrix edge are packed as zeros, so a micro-kernel always computes a full mr x nr tile. */
#ifndef TG_KERN_GEMM_H
#define TG_KERN_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "tapegrad/runtime.h"

/* C (mr x nr, row stride ldc) = Ap Bp, or C += Ap Bp when accumulate, over kc >= 1 steps. */
typedef void (*gemm_ukr_fn)(int64_t kc, const void *a, const void *b, void *c, int64_t ldc,
                            bool accumulate);

/* C (M x N, row stride ldc) = A B, or C += A B when accumulate, straight from the strided
 * operands without packing: for products too small to repay packing, and for those where one
 * pass over A per column block of C is cheap (few rows, or few columns). The driver passes K
 * in slices of at most direct_kc. SIMD versions (direct_unit_b) require b_cs == 1 (rows of B
 * contiguous); for other B the driver first copies each slice of B into that form. A bias
 * (N contiguous entries, or NULL) is added to every row when not accumulating: C = bias + A B. */
typedef void (*gemm_direct_fn)(int64_t M, int64_t N, int64_t K, const void *A, int64_t a_rs,
                               int64_t a_cs, const void *B, int64_t b_rs, int64_t b_cs, void *C,
                               int64_t ldc, bool accumulate, const void *bias);

/* C (M x N, row stride ldc) = A B, or C += A B when accumulate, for A's rows and B's columns
 * contiguous in k (a_cs = b_rs = 1): entry by entry dot products of contiguous runs, for small
 * C and long K (weight gradients). The driver passes K in slices that keep the runs in L1/L2. */
typedef void (*gemm_dot_fn)(int64_t M, int64_t N, int64_t K, const void *A, int64_t a_rs,
                            const void *B, int64_t b_cs, void *C, int64_t ldc, bool accumulate);

/* A micro-kernel on packed panels and the cache blocking that suits it: kc steps of k per
 * packed slice, mc rows of A per packed block (kept in L2; a multiple of mr), nc columns of B
 * per packed panel (kept in L3; a multiple of nr). */
typedef struct gemm_kernel {
    int mr, nr;
    int kc, mc, nc;
    gemm_ukr_fn ukr;
} gemm_kernel;

/* One instruction set's kernels for one dtype. The direct kernel works on tiles of direct_mr
 * rows by direct_nr columns (threads split C in multiples of them). */
typedef struct gemm_impl {
    gemm_kernel packed;
    /* A transposing copy, dst[k*ds + r] = src[r*ss + k] for r < rows, 0 for rows <= r <
     * lanes, k < cols, with rows <= lanes <= transpose_lanes: what packing a row-major A or a
     * column-major B amounts to. NULL: the driver's scalar loops. */
    void (*transpose)(const void *src, int64_t ss, int rows, int lanes, int64_t cols, void *dst,
                      int64_t ds);
    int transpose_lanes;
    gemm_direct_fn direct;
    bool direct_unit_b;
    int direct_kc, direct_mr, direct_nr;
    gemm_dot_fn dot;  /* NULL: no dot form at this level */
    int direct_lanes; /* a vector's elements in the direct kernel; 0: not vectorised */
} gemm_impl;

/* The largest mr * nr * sizeof(element) of any kernel: the driver's edge-tile buffer. */
#define GEMM_MAX_TILE_BYTES 4096

extern const gemm_impl gemm_portable_f32, gemm_portable_f64;
#if defined(__x86_64__) || defined(__i386__)
extern const gemm_impl gemm_avx2_f32, gemm_avx2_f64;
extern const gemm_impl gemm_avx512_f32, gemm_avx512_f64;
#endif
#if defined(__aarch64__)
extern const gemm_impl gemm_neon_f32, gemm_neon_f64;
#endif

/* The portable direct product, any strides (gemm_portable.c); also the fallback when no
 * memory can be had for packing. */
void gemm_direct_portable_f32(int64_t M, int64_t N, int64_t K, const void *A, int64_t a_rs,
                              int64_t a_cs, const void *B, int64_t b_rs, int64_t b_cs, void *C,
                              int64_t ldc, bool accumulate, const void *bias);
void gemm_direct_portable_f64(int64_t M, int64_t N, int64_t K, const void *A, int64_t a_rs,
                              int64_t a_cs, const void *B, int64_t b_rs, int64_t b_cs, void *C,
                              int64_t ldc, bool accumulate, const void *bias);

/* How the driver chooses its path, and from what size it uses threads, in multiply-adds
 * (M*N*K): from parallel_min it wakes sleeping workers, from parallel_awake_min it only uses
 * workers still awake after a previous job. Tests force each path for every size;
 * kern_gemm_set_tuning returns the previous setting. Not thread-safe: for tests, before any
 * concurrent use. */
typedef enum gemm_path {
    GEMM_PATH_AUTO,
    GEMM_PATH_PACKED,
    GEMM_PATH_DIRECT,
    GEMM_PATH_DOT /* where the level has it and a_cs = b_rs = 1; otherwise as AUTO */
} gemm_path;

typedef struct gemm_tuning {
    gemm_path path;
    int64_t parallel_min;
    int64_t parallel_awake_min;
} gemm_tuning;

gemm_tuning kern_gemm_set_tuning(gemm_tuning t);
gemm_tuning kern_gemm_default_tuning(void);

#endif

/* tapegrad/binpack.h: binary weight matrices packed 32 weights to a uint32 word, and the
 * products that use the bits: real-valued activations times +-1 weights by sign-select adds,
 * and, when the activations are binary too, XNOR and popcount.
 *
 * A tg_binpack holds a (rows, cols) matrix of +1 and -1 (bit 1 and 0; a row's bits past cols are
 * 0) and one f32 scale per row: 1, or alpha = mean |w| of the row (tapegrad/binary.h's
 * TG_BINARY_SCALED). A layer trained with binary weights packs into it, 1 bit per weight instead
 * of 32, and runs for inference on the packed bits:
 *
 *     // fc trained with tg_binary_linear_forward(t, &fc, x, TG_BINARY_SCALED); x: (B, in)
 *     tg_error err = {0};
 *     tg_binpack *p = tg_binpack_from_weight(fc.weight, TG_BINARY_SCALED, &err);
 *     tg_binpack_save(p, "fc.tgbin", &err);                   // ~30x smaller than f32
 *     tg_tensor *y = tg_add(t, tg_binmm(t, p, x), fc.bias);   // (B, out), as the binary layer
 *     ...
 *     tg_binpack_free(p);   // after the tape's last use of y (tg_tape_reset)
 *
 * The products are ops with rules (each linear in x, so second derivatives are the same ops):
 *
 *     binmm:   y = x W^T, W = scale (.) B     dx = binmm_t(g) = g W
 *     binmm_t: z = x W                        dx = binmm(g)   = g W^T
 *     binxnor: y = binarize(x) W^T, from the packed signs of x: dot = cols - 2 popcount(a XOR w);
 *              dx = binmm_t(g) where |x| <= 1, else 0 (binarize's straight-through rule)
 *
 * A packed matrix is immutable once made and may be shared by any number of tapes and threads;
 * an op that used it keeps a pointer to it on its node: free it only after the tape was reset
 * (or freed). */
#ifndef TAPEGRAD_BINPACK_H
#define TAPEGRAD_BINPACK_H

#include <stdint.h>

#include "tapegrad/binary.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

typedef struct tg_binpack tg_binpack; /* opaque */

/* The signs of w (rows, cols), f32 or f64, any strides: +1 where w >= 0, -1 below (NaN gives
 * -1), as tg_binarize; scale 1 per row (TG_BINARY_PLAIN) or the row's mean |w| (SCALED). Owned
 * by the caller: free with tg_binpack_free. NULL with err set for a NULL, a w that is not 2-D or
 * has no elements, an unknown mode, or no memory. */
tg_binpack *tg_binpack_from_weight(const tg_tensor *w, tg_binary_mode mode, tg_error *err);
/* A packed matrix from its arrays, copied: bits (rows * ceil(cols / 32) words, row by row, the
 * bits past cols 0) and scale (rows, finite). NULL with err set on arrays that break this. */
tg_binpack *tg_binpack_from_arrays(int64_t rows, int64_t cols, const uint32_t *bits,
                                   const float *scale, tg_error *err);
/* Frees the matrix; NULL does nothing. */
void tg_binpack_free(tg_binpack *p);

int64_t tg_binpack_rows(const tg_binpack *p);
int64_t tg_binpack_cols(const tg_binpack *p);
/* Words per row: ceil(cols / 32). */
int64_t tg_binpack_words(const tg_binpack *p);
/* The arrays, owned by the matrix. */
const uint32_t *tg_binpack_bits(const tg_binpack *p);
const float *tg_binpack_scale(const tg_binpack *p);
/* Bytes the matrix takes in memory and on disk without its header: the bits and the scales. */
size_t tg_binpack_bytes(const tg_binpack *p);
/* out (rows, cols) = the dense matrix scale (.) (+-1), f32 or f64, any strides. */
tg_status tg_binpack_unpack(const tg_binpack *p, tg_tensor *out, tg_error *err);

/* Writes the matrix to path: a 32-byte header (magic "TGBINPK1", rows, cols as little-endian
 * int64, 8 reserved zero bytes), the scales (f32) and the bits (uint32), little-endian.
 * TG_ERR_IO with err set when the file cannot be written (a partial file is removed). */
tg_status tg_binpack_save(const tg_binpack *p, const char *path, tg_error *err);
/* Reads a matrix tg_binpack_save wrote. NULL with err set: TG_ERR_IO when the file cannot be
 * read, TG_ERR_FORMAT for a wrong magic, sizes that are not positive or do not match the file's
 * length, bits past cols that are set, or a scale that is not finite. */
tg_binpack *tg_binpack_load(const char *path, tg_error *err);

/* y (B, rows) = x W^T, x: (B, cols), f32 or f64, any strides. The f32 product runs the kernels
 * of the CPU level in effect (tg_binpack_kernel_name), sharing the rows between threads. Errors:
 * NULL p, x not (B, cols). */
tg_tensor *tg_binmm_at(tg_tape *t, const char *file, int line, const tg_binpack *p, tg_tensor *x);
/* z (B, cols) = x W, x: (B, rows) (portable loops: it is the gradient's product). */
tg_tensor *tg_binmm_t_at(tg_tape *t, const char *file, int line, const tg_binpack *p, tg_tensor *x);
/* y (B, rows) = binarize(x) W^T by XNOR and popcount on the packed signs of x (x >= 0 is +1,
 * below and NaN -1), x: (B, cols). */
tg_tensor *tg_binxnor_at(tg_tape *t, const char *file, int line, const tg_binpack *p, tg_tensor *x);

/* The kernels the f32 products run at the CPU level in effect, e.g. "avx512 (masked adds,
 * vpopcntq)"; a static string. */
const char *tg_binpack_kernel_name(void);

#define tg_binmm(t, ...)   tg_binmm_at(t, TG_SITE_, __VA_ARGS__)
#define tg_binmm_t(t, ...) tg_binmm_t_at(t, TG_SITE_, __VA_ARGS__)
#define tg_binxnor(t, ...) tg_binxnor_at(t, TG_SITE_, __VA_ARGS__)

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif

#endif

/* tapegrad/tensor.h: n-dimensional f32/f64 tensors, their creation, inspection and data.
 *
 * A tensor is a typed, strided view of memory owned either by a tape (it lives until
 * tg_tape_reset) or by a store (a parameter or buffer that persists across steps). Strides are
 * counted in elements, so reshape, permute and slice can be views that copy nothing.
 *
 *     tg_tape *t = tg_tape_new();
 *     tg_tensor *x = tg_zeros(t, TG_F32, TG_SHAPE(2, 3));   // owned by t
 *     tg_tensor_fill(x, 1.5);
 *     tg_tensor_print(x, stdout);
 *     tg_tape_free(t);
 */
#ifndef TAPEGRAD_TENSOR_H
#define TAPEGRAD_TENSOR_H

#include <stdio.h>

#include "tapegrad/base.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

typedef struct tg_tensor tg_tensor; /* opaque: use the accessors below */
typedef struct tg_tape tg_tape;     /* opaque: see tapegrad/tape.h */
typedef struct tg_rng tg_rng;       /* see tapegrad/rng.h */

/* Expands to the two arguments `ndim, shape` from a list of sizes: TG_SHAPE(4, 3). */
#define TG_SHAPE(...)                                                                           \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]) { __VA_ARGS__ }
/* The shape of a 0-dimensional (scalar) tensor: `0, NULL`. */
#define TG_SCALAR_SHAPE 0, NULL

/* Where a call was made, recorded by the macros below so that errors can name the caller's
 * file and line. Inside the library (TG_BUILDING_LIBRARY) calls keep the site already set. */
#ifdef TG_BUILDING_LIBRARY
#define TG_SITE_ NULL, 0
#else
#define TG_SITE_ __FILE__, __LINE__
#endif

/* ---- creation on a tape: owned by the tape, valid until tg_tape_reset; NULL on error ---- */

/* A tensor of the given shape filled with zeros, ones, or `value`. */
tg_tensor *tg_zeros_at(tg_tape *t, const char *file, int line, tg_dtype dtype, int ndim,
                       const int64_t *shape);
tg_tensor *tg_ones_at(tg_tape *t, const char *file, int line, tg_dtype dtype, int ndim,
                      const int64_t *shape);
tg_tensor *tg_full_at(tg_tape *t, const char *file, int line, tg_dtype dtype, int ndim,
                      const int64_t *shape, double value);
/* A tensor holding a copy of `data`: numel elements of `dtype`, row-major. */
tg_tensor *tg_from_data_at(tg_tape *t, const char *file, int line, tg_dtype dtype, int ndim,
                           const int64_t *shape, const void *data);
/* A 0-dimensional tensor holding `value`. */
tg_tensor *tg_scalar_at(tg_tape *t, const char *file, int line, tg_dtype dtype, double value);
/* Uniform on [lo, hi) and normal(mean, std) numbers from `rng` (tapegrad/rng.h). */
tg_tensor *tg_uniform_at(tg_tape *t, const char *file, int line, tg_rng *rng, tg_dtype dtype,
                         int ndim, const int64_t *shape, double lo, double hi);
tg_tensor *tg_normal_at(tg_tape *t, const char *file, int line, tg_rng *rng, tg_dtype dtype,
                        int ndim, const int64_t *shape, double mean, double std);

#define tg_zeros(t, ...) tg_zeros_at(t, TG_SITE_, __VA_ARGS__)
#define tg_ones(t, ...) tg_ones_at(t, TG_SITE_, __VA_ARGS__)
#define tg_full(t, ...) tg_full_at(t, TG_SITE_, __VA_ARGS__)
#define tg_from_data(t, ...) tg_from_data_at(t, TG_SITE_, __VA_ARGS__)
#define tg_scalar(t, ...) tg_scalar_at(t, TG_SITE_, __VA_ARGS__)
#define tg_uniform(t, ...) tg_uniform_at(t, TG_SITE_, __VA_ARGS__)
#define tg_normal(t, ...) tg_normal_at(t, TG_SITE_, __VA_ARGS__)

/* ---- inspection: all accept NULL and then return 0 / NULL / false ---- */

tg_dtype tg_tensor_dtype(const tg_tensor *x);
int tg_tensor_ndim(const tg_tensor *x);
/* Size of dimension `dim`; a negative dim counts from the end (-1 is the last). 0 if out of
 * range. */
int64_t tg_tensor_dim(const tg_tensor *x, int dim);
/* Stride of dimension `dim` in elements (negative dim as above). */
int64_t tg_tensor_stride(const tg_tensor *x, int dim);
/* Number of elements (1 for a 0-dimensional tensor). */
int64_t tg_tensor_numel(const tg_tensor *x);
/* True when the elements are laid out row-major with no gaps. */
bool tg_tensor_is_contiguous(const tg_tensor *x);
/* Pointer to the first element (float * or double *), owned by the tensor's tape or store.
 * Follow tg_tensor_stride for views that are not contiguous. */
void *tg_tensor_data(const tg_tensor *x);
/* The tensor's gradient after a backward pass, or NULL if none was computed. For a
 * parameter it is the persistent, accumulating gradient in its store; for a tensor on a tape it
 * is owned by that tape. */
tg_tensor *tg_tensor_grad(const tg_tensor *x);
/* True when operations on x are recorded so that a gradient can flow to it. */
bool tg_tensor_requires_grad(const tg_tensor *x);
/* Makes a leaf tensor take part in gradients, or stop taking part. A leaf is any tensor without
 * a recorded node: made by a creation function, a store parameter, or an op result computed
 * while nothing was recorded (as a detached result in PyTorch). TG_ERR_ARG for a recorded op
 * result, whose gradient is defined by its graph, and for turning gradients on for a buffer. */
tg_status tg_tensor_set_requires_grad(tg_tensor *x, bool requires_grad);
/* The tensor's name, or NULL. Names appear in DOT graphs and error messages. */
const char *tg_tensor_name(const tg_tensor *x);
/* Sets a name (copied, at most 63 bytes kept). A tape tensor's copy lives on its tape
 * (TG_ERR_NOMEM when that fails, TG_ERR_STALE for a tensor made before its tape's last reset). */
tg_status tg_tensor_set_name(tg_tensor *x, const char *name);
/* The 0-based order in which the tensor's tape or store created it: a stable id. */
int64_t tg_tensor_id(const tg_tensor *x);

/* ---- data in and out ---- */

/* Copies the elements, in row-major logical order and converted to `dtype`, into `dst`, which
 * must hold numel elements. Works for views that are not contiguous. */
tg_status tg_tensor_copy_out(const tg_tensor *x, tg_dtype dtype, void *dst);
/* Copies numel elements of `dtype` from `src` into x (row-major logical order). */
tg_status tg_tensor_copy_in(tg_tensor *x, tg_dtype dtype, const void *src);
/* Element at a flat row-major logical index, as a double; NaN if out of range. */
double tg_tensor_get(const tg_tensor *x, int64_t flat_index);
/* The value of a tensor with one element; NaN otherwise. */
double tg_tensor_item(const tg_tensor *x);
/* Sets every element to `value`. */
tg_status tg_tensor_fill(tg_tensor *x, double value);
/* Fills with uniform [lo, hi) or normal(mean, std) numbers from rng. */
tg_status tg_tensor_fill_uniform(tg_tensor *x, tg_rng *rng, double lo, double hi);
tg_status tg_tensor_fill_normal(tg_tensor *x, tg_rng *rng, double mean, double std);
/* Writes a readable rendering: dtype, shape, and the values (long dimensions elided). */
tg_status tg_tensor_print(const tg_tensor *x, FILE *out);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif

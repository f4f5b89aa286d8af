/* tapegrad/base.h: status codes, element types, limits and the allocator hook.
 *
 * Everything else in tapegrad builds on these few names. No function here keeps error state:
 * errors live on the tape that saw them (see tapegrad/tape.h), or in a tg_error the caller
 * passes to a call that has no tape:
 *
 *     tg_error err = {0};
 *     tg_error_set(&err, TG_ERR_ARG, "batch size %d is not positive", 0);
 *     printf("%s: %s; an %s element is %zu bytes\n", tg_status_string(err.status),
 *            err.message, tg_dtype_name(TG_F32), tg_dtype_size(TG_F32));
 */
#ifndef TAPEGRAD_BASE_H
#define TAPEGRAD_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The shared library is built with hidden visibility, so that its internals (kernels, the JSON
 * reader, helpers shared between files) cannot collide with other libraries in the same program.
 * Every public header puts its declarations between TG_PUBLIC_BEGIN and TG_PUBLIC_END, which
 * exports exactly them; a declaration added to an existing public header is exported with no
 * further marking. tests/packaging/exports.py checks that every exported symbol is declared in
 * include/ and starts with tg_, and that every function declared here is exported. */
#if defined(__GNUC__)
#define TG_PUBLIC_BEGIN _Pragma("GCC visibility push(default)")
#define TG_PUBLIC_END _Pragma("GCC visibility pop")
#else
#define TG_PUBLIC_BEGIN
#define TG_PUBLIC_END
#endif

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

#define TG_VERSION_MAJOR 0
#define TG_VERSION_MINOR 1
#define TG_VERSION_PATCH 0

/* The most dimensions a tensor may have. */
#define TG_MAX_DIMS 8

/* Result of calls that do not return a tensor. TG_OK is zero, every error is non-zero. */
typedef enum tg_status {
    TG_OK = 0,
    TG_ERR_NULL,     /* a required pointer was NULL (often: an earlier op failed) */
    TG_ERR_SHAPE,    /* shapes do not fit the op */
    TG_ERR_DTYPE,    /* element types differ or are not supported */
    TG_ERR_AXIS,     /* an axis is out of range or repeated */
    TG_ERR_ARG,      /* any other invalid argument */
    TG_ERR_NOMEM,    /* the allocator returned NULL */
    TG_ERR_NOGRAD,   /* a gradient was asked for where none can be computed */
    TG_ERR_RELEASED, /* backward over a graph whose saved state was already released */
    TG_ERR_IO,       /* reading or writing a file failed */
    TG_ERR_FORMAT,   /* a file's contents are not what they claim to be */
    TG_ERR_STALE,    /* a tensor made before its tape's last reset (or on a freed tape) */
    TG_ERR_NONFINITE /* a NaN or infinity where finite numbers were required (anomaly mode, an
                        optimiser refusing a non-finite gradient) */
} tg_status;

/* A short constant name for a status ("shape mismatch"); never NULL. */
const char *tg_status_string(tg_status s);

/* Where calls that have no tape to keep an error on (file readers, checkpoints, optimizers)
 * report one: the status and a message naming the call, the file or tensor, and what was wrong.
 * Such calls take a `tg_error *` that may be NULL; they set it only when they fail. */
typedef struct tg_error {
    tg_status status;
    char message[256];
} tg_error;

/* Sets *err (if not NULL) to status s with a printf-style message, and returns s. A NULL fmt
 * sets the message to tg_status_string(s). */
tg_status tg_error_set(tg_error *err, tg_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Element types. f64 works end to end so that gradients can be checked in it. */
typedef enum tg_dtype { TG_F32 = 0, TG_F64 = 1 } tg_dtype;

/* "f32" or "f64"; "?" for anything else. */
const char *tg_dtype_name(tg_dtype d);
/* Bytes per element, 0 for an unknown type. */
size_t tg_dtype_size(tg_dtype d);

/* The allocator hook. Every byte tapegrad allocates goes through these three functions, so a
 * test can count allocations or make the N-th one fail. `user` is passed back unchanged.
 * malloc_fn must return memory aligned for any type (as malloc does); tapegrad aligns its own
 * arenas further. Install before creating any tape or store and keep it installed while objects
 * it allocated are alive. Passing NULL restores malloc/realloc/free. Not thread-safe to change. */
typedef struct tg_allocator {
    void *(*malloc_fn)(size_t size, void *user);
    void (*free_fn)(void *ptr, void *user);
    void *user;
} tg_allocator;

void tg_set_allocator(const tg_allocator *allocator);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif

/* fuzz.h: what the fuzz harnesses share. Each harness defines the libFuzzer entry point
 * LLVMFuzzerTestOneInput; the same object links either with libFuzzer (tools/fuzz, clang) or
 * with replay.c, which feeds it every file of a corpus in a normal test of every build.
 *
 * A harness checks the loader's promises, not only that it survives: on success the result
 * must describe the input exactly, on failure the status and message must be set and nothing
 * the caller owns may have changed. A broken promise aborts, which both drivers report. */
#ifndef TG_FUZZ_H
#define TG_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include <tapegrad.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes n bytes to the file `name` in this process's scratch folder (in memory where
 * possible; removed at exit) and returns its path, valid until the next call with that name. */
const char *fuzz_write_file(const char *name, const void *bytes, size_t n);

/* Aborts with the message when cond is false: a loader broke its documented contract. */
#define FUZZ_CHECK(cond, ...)                                                                  \
    do {                                                                                       \
        if (!(cond)) fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                        \
    } while (0)

_Noreturn void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* A failed call must say so: err->status equals st, and the message is a non-empty string. */
void fuzz_check_error(const tg_error *err, tg_status st, const char *call);

#endif

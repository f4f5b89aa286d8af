/* fuzz_util.c: the scratch folder the harnesses write their inputs to, and the failure
 * report. The loaders under test take paths, so every input goes through a real file: the
 * folder is on /dev/shm when it is writable, so that this costs a memory copy, not disk I/O. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

enum { MAX_FILES = 8 };

static char dir[4096];
static char files[MAX_FILES][4200];
static int n_files;

static void remove_scratch(void) {
    for (int i = 0; i < n_files; i++) unlink(files[i]);
    if (dir[0]) rmdir(dir);
}

static const char *scratch_dir(void) {
    if (dir[0]) return dir;
    const char *base = getenv("TMPDIR");
    if (!base || !base[0]) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof dir, "%s/tapegrad-fuzz-XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(remove_scratch);
    return dir;
}

const char *fuzz_write_file(const char *name, const void *bytes, size_t n) {
    char path[sizeof files[0]];
    snprintf(path, sizeof path, "%s/%s", scratch_dir(), name);
    int slot = 0;
    while (slot < n_files && strcmp(files[slot], path) != 0) slot++;
    if (slot == n_files) {
        if (n_files == MAX_FILES) {
            fprintf(stderr, "fuzz: more than %d scratch files\n", MAX_FILES);
            abort();
        }
        memcpy(files[n_files++], path, sizeof path);
    }
    FILE *f = fopen(files[slot], "wb");
    if (!f || (n && fwrite(bytes, 1, n, f) != n) || fclose(f) != 0) {
        perror("fuzz: writing a scratch file");
        abort();
    }
    return files[slot];
}

void fuzz_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
    fprintf(stderr, "%s:%d: contract broken: %s: ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void fuzz_check_error(const tg_error *err, tg_status st, const char *call) {
    FUZZ_CHECK(st != TG_OK, "%s", call);
    FUZZ_CHECK(err->status == st, "%s returned %s but set %s", call, tg_status_string(st),
               tg_status_string(err->status));
    FUZZ_CHECK(memchr(err->message, '\0', sizeof err->message) && err->message[0],
               "%s failed without a message", call);
}

/* test_files.h: scratch files for the loader and checkpoint suites: a private temporary folder
 * per test, writing and reading whole files, and an allocator that fails on demand.
 * Every helper asserts, so a test never goes on with a file it failed to make. */
#ifndef TG_TEST_FILES_H
#define TG_TEST_FILES_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../test_util.h"

/* A new empty folder under $TMPDIR, else /dev/shm, else /tmp; free with tf_rmdir. Memory
 * first because checkpoints fsync, which takes about 0.4 s a call on this machine's disk. */
static inline char *tf_mkdtemp(void) {
    const char *base = getenv("TMPDIR");
    if (!base || !base[0]) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    static char path[4096];
    snprintf(path, sizeof path, "%s/tapegrad-test-XXXXXX", base);
    char *p = mkdtemp(path);
    ck_assert_msg(p != NULL, "mkdtemp failed");
    return p;
}

/* "dir/name" in a rotating static buffer (four live at once). */
static inline const char *tf_path(const char *dir, const char *name) {
    static char buf[4][4096];
    static int next;
    char *b = buf[next++ % 4];
    int n = snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    ck_assert_msg(n > 0 && (size_t)n < sizeof buf[0], "path too long");
    return b;
}

static inline void tf_write(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(n ? fwrite(bytes, 1, n, f) : 0, n);
    ck_assert_int_eq(fclose(f), 0);
}

/* The whole file in a malloc'ed buffer (caller frees), its size in *n. */
static inline unsigned char *tf_read(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    ck_assert_int_ge(size, 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

static inline bool tf_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of entries in dir whose name starts with prefix. */
static inline int tf_count_prefix(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) n++;
    closedir(d);
    return n;
}

/* Removes dir and the plain files and empty folders directly inside it. */
static inline void tf_rmdir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        const char *p = tf_path(dir, e->d_name);
        if (remove(p) != 0) rmdir(p);
    }
    closedir(d);
    rmdir(dir);
}

/* An allocator that fails the N-th allocation from now on (counting from 0) and every one
 * after it while `fail_from` >= 0, and any single allocation above `max_size` when that is
 * non-zero. Counts what it saw. */
typedef struct tf_alloc_state {
    long calls;
    long fail_from; /* -1: never */
    size_t max_size;
    size_t largest;
} tf_alloc_state;

static tf_alloc_state tf_alloc_st;

static inline void *tf_malloc(size_t size, void *user) {
    (void)user;
    long k = tf_alloc_st.calls++;
    if (size > tf_alloc_st.largest) tf_alloc_st.largest = size;
    if (tf_alloc_st.fail_from >= 0 && k >= tf_alloc_st.fail_from) return NULL;
    if (tf_alloc_st.max_size && size > tf_alloc_st.max_size) return NULL;
    return malloc(size);
}

static inline void tf_free(void *p, void *user) {
    (void)user;
    free(p);
}

static inline void tf_alloc_install(long fail_from, size_t max_size) {
    tf_alloc_st = (tf_alloc_state){0, fail_from, max_size, 0};
    tg_set_allocator(&(tg_allocator){tf_malloc, tf_free, NULL});
}

static inline void tf_alloc_remove(void) { tg_set_allocator(NULL); }

/* Asserts that err holds status st and that its message contains each of the strings. */
#define ck_assert_error(err, st, ...)                                                              \
    do {                                                                                           \
        ck_assert_msg((err).status == (st), "status %s, want %s: %s",                              \
                      tg_status_string((err).status), tg_status_string(st), (err).message);        \
        const char *parts_[] = {__VA_ARGS__};                                                      \
        for (size_t i_ = 0; i_ < sizeof parts_ / sizeof parts_[0]; i_++)                           \
            ck_assert_msg(strstr((err).message, parts_[i_]) != NULL,                               \
                          "error \"%s\" does not mention \"%s\"", (err).message, parts_[i_]);      \
    } while (0)

#endif

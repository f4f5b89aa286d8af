/* checkpoint.c: saving a store to a safetensors file and loading it back, with metadata.
 *
 * Invariants: a save replaces only a regular file (a symlink's target when path is a symlink),
 * writes only "<target>.tmp.<pid>.<n>" (n from a process-wide counter, so threads saving to one
 * target never share a temporary) and makes it the checkpoint by rename() after fsync, so the
 * target always holds either the old or the new complete file, with the old file's mode; a load
 * changes the store only after the whole file was read and every tensor matched, so it is all
 * or nothing. */
#define _XOPEN_SOURCE 700 /* realpath, to follow a symlink to the file it names */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../data/file.h"
#include "../graph/graph.h"
#include "io.h"

/* ---- byte order: the file is little-endian ---- */

static bool host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static void swap_elements(unsigned char *p, size_t n_bytes, size_t elem) {
    for (size_t i = 0; i + elem <= n_bytes; i += elem)
        for (size_t a = 0, b = elem - 1; a < b; a++, b--) {
            unsigned char t = p[i + a];
            p[i + a] = p[i + b];
            p[i + b] = t;
        }
}

/* ---- saving ---- */

static tg_io_write_hook write_hook;
static void *write_hook_user;

void tg_io_set_write_hook(tg_io_write_hook hook, void *user) {
    write_hook = hook;
    write_hook_user = user;
}

typedef struct writer {
    FILE *f;
    int64_t written;
    const char *tmp;
    tg_error *err;
} writer;

static bool put(writer *w, const void *p, size_t n) {
    if (n == 0) return true;
    if (write_hook && !write_hook(w->written, n, write_hook_user)) {
        tg_error_set(w->err, TG_ERR_IO, "checkpoint: writing '%s' failed after %lld bytes: %s",
                     w->tmp, (long long)w->written, strerror(EIO));
        return false;
    }
    if (fwrite(p, 1, n, w->f) != n) {
        tg_error_set(w->err, TG_ERR_IO, "checkpoint: writing '%s' failed after %lld bytes: %s",
                     w->tmp, (long long)w->written, strerror(errno));
        return false;
    }
    w->written += (int64_t)n;
    return true;
}

/* A tensor's bytes in file order; big-endian hosts swap through a small buffer. */
static bool put_tensor(writer *w, const tg_tensor *x) {
    size_t elem = tg_dtype_size(tg_tensor_dtype(x));
    size_t n = (size_t)tg_tensor_numel(x) * elem;
    const unsigned char *src = tg_tensor_data(x);
    if (host_is_little_endian()) return put(w, src, n);
    unsigned char chunk[4096];
    for (size_t at = 0; at < n; at += sizeof chunk) {
        size_t k = n - at < sizeof chunk ? n - at : sizeof chunk;
        memcpy(chunk, src + at, k);
        swap_elements(chunk, k, elem);
        if (!put(w, chunk, k)) return false;
    }
    return true;
}

/* Makes the rename itself durable: best effort, since the new file is complete either way. */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

/* The file a save replaces. A symlink is followed (the link stays, its target gets the new
 * contents); anything that exists and is not a regular file (device, FIFO, socket, folder) is
 * refused, since rename() would put a regular file in its place. *exists and *st describe the
 * target when it exists. Checked once when the save starts. */
static tg_status save_target(const char *path, char *target, struct stat *st, bool *exists,
                             tg_error *err) {
    struct stat ls;
    *exists = false;
    if (lstat(path, &ls) != 0) {
        if (errno != ENOENT)
            return tg_error_set(err, TG_ERR_IO, "checkpoint: cannot inspect '%s': %s", path,
                                strerror(errno));
        if (strlen(path) >= PATH_MAX)
            return tg_error_set(err, TG_ERR_IO, "checkpoint: path '%s' is too long", path);
        snprintf(target, PATH_MAX, "%s", path);
        return TG_OK;
    }
    if (S_ISLNK(ls.st_mode)) {
        if (!realpath(path, target))
            return tg_error_set(err, TG_ERR_IO, "checkpoint: '%s' is a symlink whose target "
                                "cannot be resolved: %s", path, strerror(errno));
        if (stat(target, st) != 0)
            return tg_error_set(err, TG_ERR_IO, "checkpoint: cannot inspect '%s': %s", target,
                                strerror(errno));
    } else {
        if (strlen(path) >= PATH_MAX)
            return tg_error_set(err, TG_ERR_IO, "checkpoint: path '%s' is too long", path);
        snprintf(target, PATH_MAX, "%s", path);
        *st = ls;
    }
    if (!S_ISREG(st->st_mode))
        return tg_error_set(err, TG_ERR_IO, "checkpoint: '%s' exists and is not a regular file "
                            "(a folder, device, FIFO or socket); refusing to replace it", target);
    *exists = true;
    return TG_OK;
}

/* Removes "<target>.tmp.<pid>.<n>" files (and the "<target>.tmp.<pid>" of older versions) left
 * by saves that were killed: the process is gone and the file has not been written to for
 * STALE_TMP_SECONDS (a save running in another PID namespace, whose process this one cannot
 * see, keeps writing its file). Best effort. */
#define STALE_TMP_SECONDS 600

/* The pid in a temporary's suffix "<pid>" or "<pid>.<n>" (all digits, pid at most 9 of them,
 * n at most 20), or -1 when suffix is not of that form. */
static long temporary_pid(const char *suffix) {
    size_t np = strspn(suffix, "0123456789");
    if (np == 0 || np > 9) return -1;
    if (suffix[np] == '.') {
        const char *n = suffix + np + 1;
        size_t nn = strspn(n, "0123456789");
        if (nn == 0 || nn > 20 || n[nn] != '\0') return -1;
    } else if (suffix[np] != '\0') {
        return -1;
    }
    return strtol(suffix, NULL, 10);
}

static void remove_stale_temporaries(const char *target) {
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    char dir[PATH_MAX], prefix[PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == target)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - target), target);
    int plen = snprintf(prefix, sizeof prefix, "%s.tmp.", base);
    if (plen <= 0 || (size_t)plen >= sizeof prefix) return;
    DIR *d = opendir(dir);
    if (!d) return;
    time_t now = time(NULL);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        /* The suffix is only formed once the name is known to be longer than the prefix:
         * d_name + plen could point past the d_name array otherwise. */
        if (strlen(e->d_name) <= (size_t)plen || strncmp(e->d_name, prefix, (size_t)plen) != 0)
            continue;
        long pid = temporary_pid(e->d_name + plen);
        if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char full[PATH_MAX];
        struct stat fs;
        if (snprintf(full, sizeof full, "%s/%s", dir, e->d_name) >= (int)sizeof full ||
            lstat(full, &fs) != 0 || !S_ISREG(fs.st_mode) || now - fs.st_mtime < STALE_TMP_SECONDS)
            continue;
        (void)unlink(full);
    }
    closedir(d);
}

/* Numbers the temporaries of this process: two threads saving to one target at once each get
 * their own file, so neither can delete or rename the other's half-written one. */
static atomic_ulong tmp_counter;

/* Attempts at a fresh temporary name before giving up; each attempt takes a new number, so
 * only leftovers of an earlier process with this pid (or a name planted there) collide. */
#define TMP_NAME_TRIES 64

/* Creates a new temporary "<target>.tmp.<pid>.<n>" with O_EXCL, never opening or removing a
 * name that already exists (a symlink or FIFO planted there, another process's file). Returns
 * the descriptor, or -1 with errno set and tmp holding the last name tried. */
static int create_temporary(const char *target, char *tmp, size_t tmp_size, mode_t mode) {
    for (int i = 0; i < TMP_NAME_TRIES; i++) {
        unsigned long n = atomic_fetch_add(&tmp_counter, 1);
        snprintf(tmp, tmp_size, "%s.tmp.%ld.%lu", target, (long)getpid(), n);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

tg_status tg_checkpoint_save(const tg_store *s, const char *path, const tg_checkpoint_meta *meta,
                             tg_error *err) {
    tg_error local;
    if (!err) err = &local;
    if (!s || !path || !path[0])
        return tg_error_set(err, TG_ERR_NULL, "checkpoint: save needs a store and a path");
    char target[PATH_MAX];
    struct stat old;
    bool exists;
    tg_status st = save_target(path, target, &old, &exists, err);
    if (st != TG_OK) return st;
    char *header = NULL;
    size_t header_len = 0;
    uint64_t data_size = 0;
    st = tg_st_build(s, meta, &header, &header_len, &data_size, path, err);
    if (st != TG_OK) return st;
    size_t tmp_size = strlen(target) + 48; /* ".tmp.", a pid, '.', a 20-digit n */
    char *tmp = tg_alloc(tmp_size);
    if (!tmp) {
        tg_free(header);
        return tg_error_set(err, TG_ERR_NOMEM, "checkpoint: out of memory saving '%s'", path);
    }

    /* A fresh file with the old file's mode (and, when allowed, owner), which the umask must
     * not narrow. */
    int fd = create_temporary(target, tmp, tmp_size, exists ? (old.st_mode & 07777) : 0666);
    if (fd >= 0 && exists) {
        if (fchown(fd, old.st_uid, old.st_gid) != 0) { /* best effort: only root may */
        }
        if (fchmod(fd, old.st_mode & 07777) != 0) {
            st = tg_error_set(err, TG_ERR_IO, "checkpoint: cannot give '%s' the mode of '%s': %s",
                              tmp, target, strerror(errno));
            close(fd);
            remove(tmp);
            goto out;
        }
    }
    writer w = {fd >= 0 ? fdopen(fd, "wb") : NULL, 0, tmp, err};
    if (!w.f) {
        st = tg_error_set(err, TG_ERR_IO, "checkpoint: cannot create '%s': %s", tmp,
                          strerror(errno));
        if (fd >= 0) {
            close(fd);
            remove(tmp);
        }
        goto out;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
    bool ok = put(&w, len8, 8) && put(&w, header, header_len);
    for (int i = 0; ok && i < tg_store_n_tensors(s); i++)
        ok = put_tensor(&w, tg_store_get_tensor(s, i));
    /* The header's offsets were computed from the same tensors: a difference is a broken
     * invariant, and a file that would not load must never replace a good one. */
    if (ok && (uint64_t)w.written != 8 + header_len + data_size) {
        tg_error_set(err, TG_ERR_ARG,
                     "checkpoint: wrote %lld bytes to '%s', the header promised %llu",
                     (long long)w.written, tmp, (unsigned long long)(8 + header_len + data_size));
        ok = false;
    }
    if (ok && (fflush(w.f) != 0 || fsync(fileno(w.f)) != 0)) {
        tg_error_set(err, TG_ERR_IO, "checkpoint: flushing '%s' to disk failed: %s", tmp,
                     strerror(errno));
        ok = false;
    }
    int closed = fclose(w.f);
    if (ok && closed != 0) {
        tg_error_set(err, TG_ERR_IO, "checkpoint: closing '%s' failed: %s", tmp, strerror(errno));
        ok = false;
    }
    if (ok && rename(tmp, target) != 0) {
        tg_error_set(err, TG_ERR_IO, "checkpoint: renaming '%s' to '%s' failed: %s", tmp, target,
                     strerror(errno));
        ok = false;
    }
    if (!ok) {
        remove(tmp);
        st = err->status;
        goto out;
    }
    sync_parent_dir(target);
    remove_stale_temporaries(target);
out:
    tg_free(tmp);
    tg_free(header);
    return st;
}

/* ---- loading ---- */

tg_status tg_checkpoint_load(tg_store *s, const char *path, tg_checkpoint_meta *meta_out,
                             tg_error *err) {
    return tg_checkpoint_load_ex(s, path, 0, meta_out, err);
}

/* The header's entry for the store tensor x, or NULL. */
static const tg_st_entry *entry_for(const tg_st_header *h, const tg_tensor *x) {
    for (int i = 0; i < h->n; i++)
        if (strcmp(h->entries[i].name, tg_tensor_name(x)) == 0) return &h->entries[i];
    return NULL;
}

/* Checks that the file's tensors and the store's match by name, dtype and shape. */
static tg_status match(const tg_store *s, const tg_st_header *h, unsigned flags, const char *path,
                       tg_error *err) {
    char a[TG_SHAPE_STR_MAX], b[TG_SHAPE_STR_MAX];
    for (int i = 0; i < h->n; i++) {
        const tg_st_entry *e = &h->entries[i];
        const tg_tensor *x = tg_store_find(s, e->name);
        if (!x) {
            if (flags & TG_CHECKPOINT_ALLOW_EXTRA) continue;
            return tg_error_set(err, TG_ERR_ARG,
                                "checkpoint: '%s' holds tensor '%s', which the store lacks", path,
                                e->name);
        }
        if (e->tg_dtype != (int)tg_tensor_dtype(x))
            return tg_error_set(err, TG_ERR_DTYPE,
                                "checkpoint: '%s': tensor '%s' is %s in the file but %s in the "
                                "store",
                                path, e->name, e->dtype,
                                tg_tensor_dtype(x) == TG_F32 ? "F32" : "F64");
        bool same = e->ndim == tg_tensor_ndim(x);
        for (int d = 0; same && d < e->ndim; d++) same = e->shape[d] == tg_tensor_dim(x, d);
        if (!same)
            return tg_error_set(err, TG_ERR_SHAPE,
                                "checkpoint: '%s': tensor '%s' has shape %s in the file but %s "
                                "in the store",
                                path, e->name, tg_dims_str(e->ndim, e->shape, a, sizeof a),
                                tg_shape_str(x, b, sizeof b));
    }
    if (flags & TG_CHECKPOINT_ALLOW_MISSING) return TG_OK;
    for (int i = 0; i < tg_store_n_tensors(s); i++) {
        const tg_tensor *x = tg_store_get_tensor(s, i);
        if (!entry_for(h, x))
            return tg_error_set(err, TG_ERR_ARG, "checkpoint: '%s' lacks tensor '%s' of the store",
                                path, tg_tensor_name(x));
    }
    return TG_OK;
}

tg_status tg_checkpoint_load_ex(tg_store *s, const char *path, unsigned flags,
                                tg_checkpoint_meta *meta_out, tg_error *err) {
    tg_error local;
    if (!err) err = &local;
    if (!s || !path)
        return tg_error_set(err, TG_ERR_NULL, "checkpoint: load needs a store and a path");
    int64_t fsize = 0;
    FILE *f = tg_file_open_regular("checkpoint", path, &fsize, err);
    if (!f) return err->status;
    tg_status st = TG_OK;
    char *header = NULL;
    unsigned char *data = NULL;
    tg_st_header h = {0};
    unsigned char len8[8];
    if (fsize < 8) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "checkpoint: '%s' is %lld bytes, shorter than the 8-byte header "
                          "length",
                          path, (long long)fsize);
        goto out;
    }
    if ((st = tg_file_read("checkpoint", path, f, len8, 8, err)) != TG_OK) goto out;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
    if (n < 2 || n > (uint64_t)fsize - 8 || n > TG_ST_MAX_HEADER) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "checkpoint: '%s': header length %llu is out of bounds for a file "
                          "of %lld bytes",
                          path, (unsigned long long)n, (long long)fsize);
        goto out;
    }
    uint64_t data_size = (uint64_t)fsize - 8 - n;
    if (data_size > SIZE_MAX) {
        st = tg_error_set(err, TG_ERR_NOMEM, "checkpoint: '%s' is too large for memory", path);
        goto out;
    }
    header = tg_alloc((size_t)n);
    if (!header) {
        st = tg_error_set(err, TG_ERR_NOMEM, "checkpoint: out of memory reading '%s'", path);
        goto out;
    }
    if ((st = tg_file_read("checkpoint", path, f, header, (size_t)n, err)) != TG_OK) goto out;
    if ((st = tg_st_parse(header, (size_t)n, data_size, &h, path, err)) != TG_OK) goto out;
    if ((st = match(s, &h, flags, path, err)) != TG_OK) goto out;
    /* Everything is read before anything is copied: a failed read leaves the store as it was. */
    data = tg_alloc((size_t)data_size);
    if (!data) {
        st = tg_error_set(err, TG_ERR_NOMEM,
                          "checkpoint: out of memory for the %llu bytes of data in '%s'",
                          (unsigned long long)data_size, path);
        goto out;
    }
    if ((st = tg_file_read("checkpoint", path, f, data, (size_t)data_size, err)) != TG_OK) goto out;
    for (int i = 0; i < h.n; i++) {
        const tg_st_entry *e = &h.entries[i];
        tg_tensor *x = tg_store_find(s, e->name);
        if (!x) continue;
        if (!host_is_little_endian())
            swap_elements(data + e->begin, e->end - e->begin, e->elem_size);
        memcpy(tg_tensor_data(x), data + e->begin, (size_t)(e->end - e->begin));
    }
    if (meta_out) *meta_out = h.meta;
out:
    fclose(f);
    tg_free(header);
    tg_free(data);
    tg_st_header_free(&h);
    return st;
}

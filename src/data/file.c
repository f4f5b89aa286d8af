/* file.c: the checked file opening and reading that every loader goes through. A path that is
 * not a regular file is refused before any byte is read, so a directory or a device never
 * reaches a parser. */
#include "file.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

FILE *tg_file_open_regular(const char *who, const char *path, int64_t *size, tg_error *err) {
    if (!path) {
        tg_error_set(err, TG_ERR_NULL, "%s: the path is NULL", who);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        tg_error_set(err, TG_ERR_IO, "%s: cannot open '%s': %s", who, path, strerror(errno));
        return NULL;
    }
    /* fstat on the open stream, not stat on the name, so the file checked is the file read. */
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        tg_error_set(err, TG_ERR_IO, "%s: cannot stat '%s': %s", who, path, strerror(errno));
        fclose(f);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        tg_error_set(err, TG_ERR_IO, "%s: '%s' is %s, not a regular file", who, path,
                     S_ISDIR(st.st_mode) ? "a directory" : "a special file");
        fclose(f);
        return NULL;
    }
    *size = (int64_t)st.st_size;
    return f;
}

tg_status tg_file_read(const char *who, const char *path, FILE *f, void *buf, size_t n,
                       tg_error *err) {
    size_t got = n ? fread(buf, 1, n, f) : 0;
    if (got == n) return TG_OK;
    if (ferror(f))
        return tg_error_set(err, TG_ERR_IO, "%s: reading '%s' failed: %s", who, path,
                            strerror(errno));
    /* The size was checked against fstat, so this means the file shrank while being read. */
    return tg_error_set(err, TG_ERR_FORMAT, "%s: '%s' ended after %zu of %zu bytes", who, path, got,
                        n);
}

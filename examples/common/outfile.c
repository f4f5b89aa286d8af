/* outfile.c: a temporary file renamed over its target once complete, so that readers (a
 * browser showing the SVG, a script reading the CSV while training runs) never see half a file.
 *
 * Invariant: the temporary file lives in the target's folder, so the rename never crosses file
 * systems and is atomic. */
#include "outfile.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

tg_status ex_outfile_check(const char *path, const char *what, tg_error *err) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return tg_error_set(err, TG_ERR_IO, "%s: cannot write '%s': it is a folder", what, path);
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || n >= (int)sizeof tmp)
        return tg_error_set(err, TG_ERR_ARG, "%s: path '%.200s' is too long", what, path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return tg_error_set(err, TG_ERR_IO, "%s: cannot write '%s': %s", what, path,
                            strerror(errno));
    fclose(f);
    remove(tmp);
    return TG_OK;
}

tg_status ex_outfile_open(ex_outfile *o, const char *path, const char *what, tg_error *err) {
    memset(o, 0, sizeof *o);
    o->path = path;
    int n = snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || n >= (int)sizeof o->tmp)
        return tg_error_set(err, TG_ERR_ARG, "%s: path '%.200s' is too long", what, path);
    o->f = fopen(o->tmp, "w");
    if (!o->f)
        return tg_error_set(err, TG_ERR_IO, "%s: cannot create '%s': %s", what, o->tmp,
                            strerror(errno));
    return TG_OK;
}

tg_status ex_outfile_commit(ex_outfile *o, const char *what, tg_error *err) {
    bool failed = ferror(o->f) != 0;
    int saved = errno;
    if (fclose(o->f) != 0 && !failed) {
        failed = true;
        saved = errno;
    }
    o->f = NULL;
    if (failed) {
        remove(o->tmp);
        return tg_error_set(err, TG_ERR_IO, "%s: writing '%s' failed: %s", what, o->tmp,
                            strerror(saved));
    }
    if (rename(o->tmp, o->path) != 0) {
        saved = errno;
        remove(o->tmp);
        return tg_error_set(err, TG_ERR_IO, "%s: cannot rename '%s' to '%s': %s", what, o->tmp,
                            o->path, strerror(saved));
    }
    return TG_OK;
}

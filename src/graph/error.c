/* error.c: the sticky first error on a tape (CONTRIBUTING S4), and the names of statuses and
 * dtypes. Only the first error is kept: later failures are usually its consequences. */
#include <stdio.h>
#include <string.h>

#include "graph.h"

const char *tg_status_string(tg_status s) {
    switch (s) {
    case TG_OK: return "ok";
    case TG_ERR_NULL: return "null input";
    case TG_ERR_SHAPE: return "shape mismatch";
    case TG_ERR_DTYPE: return "dtype mismatch";
    case TG_ERR_AXIS: return "axis out of range";
    case TG_ERR_ARG: return "invalid argument";
    case TG_ERR_NOMEM: return "out of memory";
    case TG_ERR_NOGRAD: return "no gradient";
    case TG_ERR_RELEASED: return "graph released";
    case TG_ERR_IO: return "i/o error";
    case TG_ERR_FORMAT: return "bad format";
    case TG_ERR_STALE: return "stale tensor";
    case TG_ERR_NONFINITE: return "non-finite value";
    }
    return "unknown status";
}

const char *tg_dtype_name(tg_dtype d) {
    switch (d) {
    case TG_F32: return "f32";
    case TG_F64: return "f64";
    }
    return "?";
}

size_t tg_dtype_size(tg_dtype d) {
    switch (d) {
    case TG_F32: return 4;
    case TG_F64: return 8;
    }
    return 0;
}

static void keep_first(tg_tape *t, tg_status s, const char *fmt, va_list ap) {
    if (!t || t->status != TG_OK) return;
    t->status = s;
    int n = vsnprintf(t->error, sizeof t->error, fmt, ap);
    if (n < 0) n = 0;
    size_t used = (size_t)n < sizeof t->error ? (size_t)n : sizeof t->error - 1;
    /* Where: the call site, and the scope when one is open (or, during backward, was open
     * when the node was recorded). */
    const char *scope = tg_scope_path(t, t->scope);
    if (t->site_file && scope[0])
        snprintf(t->error + used, sizeof t->error - used, " [at %s:%d in scope %s]",
                 t->site_file, t->site_line, scope);
    else if (t->site_file)
        snprintf(t->error + used, sizeof t->error - used, " [at %s:%d]", t->site_file,
                 t->site_line);
    else if (scope[0])
        snprintf(t->error + used, sizeof t->error - used, " [in scope %s]", scope);
}

tg_status tg_error_set(tg_error *err, tg_status s, const char *fmt, ...) {
    if (!err) return s;
    err->status = s;
    if (!fmt) { /* keep the status; say what it is rather than crash in vsnprintf */
        snprintf(err->message, sizeof err->message, "%s", tg_status_string(s));
        return s;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return s;
}

tg_tensor *tg_fail(tg_tape *t, tg_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    keep_first(t, s, fmt, ap);
    va_end(ap);
    return NULL;
}

tg_status tg_fail_status(tg_tape *t, tg_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    keep_first(t, s, fmt, ap);
    va_end(ap);
    return s;
}

tg_status tg_fail_unsited(tg_tape *t, tg_status s, const char *fmt, ...) {
    if (!t) return s;
    const char *file = t->site_file;
    t->site_file = NULL;
    va_list ap;
    va_start(ap, fmt);
    keep_first(t, s, fmt, ap);
    va_end(ap);
    t->site_file = file;
    return s;
}

const char *tg_dims_str(int ndim, const int64_t *shape, char *buf, size_t size) {
    size_t used = 0;
    int n = snprintf(buf, size, "(");
    used = n > 0 ? (size_t)n : 0;
    for (int i = 0; i < ndim && used < size; i++) {
        n = snprintf(buf + used, size - used, i ? ", %lld" : "%lld", (long long)shape[i]);
        if (n > 0) used += (size_t)n;
    }
    if (used < size) snprintf(buf + used, size - used, ndim == 1 ? ",)" : ")");
    return buf;
}

const char *tg_shape_str(const tg_tensor *x, char *buf, size_t size) {
    if (!x) {
        snprintf(buf, size, "NULL");
        return buf;
    }
    return tg_dims_str(x->ndim, x->shape, buf, size);
}

tg_status tg_tape_status(const tg_tape *t) {
    return t ? t->status : TG_ERR_NULL;
}

const char *tg_tape_error(const tg_tape *t) {
    return t ? t->error : "no tape";
}

void tg_tape_clear_error(tg_tape *t) {
    if (!t) return;
    t->status = TG_OK;
    t->error[0] = '\0';
}

/* nn_util.c: argument and name checks shared by the layer inits, and the forward entry (see
 * nn_util.h). Nothing here creates a tensor unless every check has passed. */
#include <stdarg.h>
#include <string.h>

#include "nn_util.h"

tg_status nn_fail(nn_maker *m, tg_status status, const char *fmt, ...) {
    if (m->status != TG_OK) return m->status;
    m->status = status;
    if (!m->err) return status;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_error_set(m->err, status, "%s '%s': %s", m->kind, m->name ? m->name : "(null)", msg);
}

tg_status nn_begin(nn_maker *m, const char *kind, tg_store *s, const char *name, tg_dtype dtype,
                   bool need_rng, const tg_rng *rng, int n, const char *const *suffixes,
                   tg_error *err) {
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->name = name;
    m->store = s;
    m->dtype = dtype;
    m->err = err;
    m->n = n;
    m->mark = tg_store_n_tensors(s);
    if (!name) return nn_fail(m, TG_ERR_NULL, "the name is NULL");
    if (!s) return nn_fail(m, TG_ERR_NULL, "the store is NULL");
    if (dtype != TG_F32 && dtype != TG_F64)
        return nn_fail(m, TG_ERR_DTYPE, "dtype %d is neither TG_F32 nor TG_F64", (int)dtype);
    if (need_rng && !rng) return nn_fail(m, TG_ERR_NULL, "the rng is NULL");
    for (int i = 0; i < n; i++) {
        int len = name[0] ? snprintf(m->full[i], TG_NAME_MAX, "%s.%s", name, suffixes[i])
                          : snprintf(m->full[i], TG_NAME_MAX, "%s", suffixes[i]);
        if (len < 0 || len >= TG_NAME_MAX)
            return nn_fail(m, TG_ERR_ARG, "the name '%s.%s' is longer than %d bytes", name,
                           suffixes[i], TG_NAME_MAX - 1);
        if (tg_store_find(s, m->full[i]))
            return nn_fail(m, TG_ERR_ARG, "the store already holds a tensor named '%s'",
                           m->full[i]);
    }
    return TG_OK;
}

tg_status nn_positive(nn_maker *m, const char *what, int64_t value) {
    if (m->status != TG_OK || value > 0) return m->status;
    return nn_fail(m, TG_ERR_ARG, "%s must be positive, got %lld", what, (long long)value);
}

tg_tensor *nn_tensor(nn_maker *m, int i, bool buffer, int ndim, const int64_t *shape) {
    if (m->status != TG_OK) return NULL;
    tg_tensor *x = buffer ? tg_store_buffer(m->store, m->full[i], m->dtype, ndim, shape)
                          : tg_store_param(m->store, m->full[i], m->dtype, ndim, shape);
    if (!x) {
        tg_status st = tg_store_status(m->store);
        nn_fail(m, st != TG_OK ? st : TG_ERR_NOMEM, "%s", tg_store_error(m->store));
        tg_store_forget_from(m->store, m->mark);
    }
    return x;
}

tg_status nn_finish(const nn_maker *m, tg_status st) {
    if (st != TG_OK) tg_store_forget_from(m->store, m->mark);
    return st;
}

bool nn_enter(tg_tape *t, const char *file, int line, const char *kind, const void *layer,
              bool ready, const tg_tensor *x) {
    if (!t) return false;
    tg_tape_set_site(t, file, line);
    if (!layer)
        tg_fail(t, TG_ERR_NULL, "%s: the layer is NULL", kind);
    else if (!ready)
        tg_fail(t, TG_ERR_ARG,
                "%s: the layer is not initialised (its init failed or was never "
                "called)",
                kind);
    else if (!x)
        tg_fail(t, TG_ERR_NULL, "%s: the input is NULL", kind);
    else if (!nn_current(t, kind, "the input", x))
        return false;
    return layer && ready && x;
}

bool nn_current(tg_tape *t, const char *kind, const char *what, const tg_tensor *x) {
    if (tg_tensor_is_current(t, x)) return true;
    tg_fail(t, TG_ERR_STALE, "%s: %s is a stale tensor, made before the last tg_tape_reset of "
            "its tape (or on a tape since freed)", kind, what);
    return false;
}

const char *nn_layer_name(const tg_tensor *param, char *buf, size_t size) {
    const char *n = tg_tensor_name(param);
    const char *dot = n ? strrchr(n, '.') : NULL;
    if (!dot)
        snprintf(buf, size, "(unnamed)");
    else
        snprintf(buf, size, "%.*s", (int)(dot - n), n);
    return buf;
}

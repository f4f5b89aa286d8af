/* store.c: the persistent home of parameters (with their gradients) and buffers. A store's
 * arena is never reset; its tensors live until tg_store_free. */
#include <stdio.h>
#include <string.h>

#include "graph.h"
#include "../ops/kernels/kernels.h"

tg_store *tg_store_new(void) {
    tg_store *s = tg_alloc(sizeof *s);
    if (!s) return NULL;
    memset(s, 0, sizeof *s);
    tg_arena_init(&s->arena);
    return s;
}

void tg_store_free(tg_store *s) {
    if (!s) return;
    tg_free(s->params);
    tg_arena_release(&s->arena);
    tg_free(s);
}

tg_status tg_store_status(const tg_store *s) { return s ? s->status : TG_ERR_NULL; }
const char *tg_store_error(const tg_store *s) { return s ? s->error : "no store"; }

static tg_tensor *store_fail(tg_store *s, tg_status st, const char *msg, const char *name) {
    if (s->status == TG_OK) {
        s->status = st;
        snprintf(s->error, sizeof s->error, "store: %s%s%s%s", msg, name ? " '" : "",
                 name ? name : "", name ? "'" : "");
    }
    return NULL;
}

static bool grow(tg_store *s) {
    if (s->n_tensors < s->cap_tensors) return true;
    int cap = s->cap_tensors ? 2 * s->cap_tensors : 16;
    tg_tensor **p = tg_alloc((size_t)cap * sizeof *p);
    if (!p) return false;
    if (s->n_tensors) memcpy(p, s->params, (size_t)s->n_tensors * sizeof *p);
    tg_free(s->params);
    s->params = p;
    s->cap_tensors = cap;
    return true;
}

static tg_tensor *add(tg_store *s, const char *name, tg_dtype dtype, int ndim,
                      const int64_t *shape, bool param) {
    if (!s) return NULL;
    if (!name || !name[0]) return store_fail(s, TG_ERR_ARG, "a tensor needs a name", NULL);
    if (strlen(name) >= TG_NAME_MAX) return store_fail(s, TG_ERR_ARG, "name too long:", name);
    if (tg_store_find(s, name)) return store_fail(s, TG_ERR_ARG, "duplicate name", name);
    char msg[160];
    tg_status st = tg_shape_problem(name, dtype, ndim, shape, msg, sizeof msg);
    if (st != TG_OK) return store_fail(s, st, msg, NULL);
    if (!grow(s)) return store_fail(s, TG_ERR_NOMEM, "out of memory adding", name);
    tg_tensor *x = tg_tensor_new_in_arena(&s->arena, s->n_tensors, dtype, ndim, shape);
    tg_tensor *g = param ? tg_tensor_new_in_arena(&s->arena, -1, dtype, ndim, shape) : NULL;
    /* Each gets TG_NAME_MAX bytes for its name, so that renaming it never allocates. */
    char *xname = x ? tg_arena_alloc(&s->arena, TG_NAME_MAX) : NULL;
    char *gname = g ? tg_arena_alloc(&s->arena, TG_NAME_MAX) : NULL;
    if (!x || !xname || (param && (!g || !gname)))
        return store_fail(s, TG_ERR_NOMEM, "out of memory adding", name);
    int64_t n = tg_numel_of(ndim, shape);
    kern_fill(dtype, x->data, n, 0.0);
    snprintf(xname, TG_NAME_MAX, "%s", name);
    x->name = xname;
    if (gname) {
        gname[0] = '\0';
        g->name = gname;
    }
    x->role = param ? TG_ROLE_PARAM : TG_ROLE_BUFFER;
    x->requires_grad = param;
    if (g) {
        kern_fill(dtype, g->data, n, 0.0);
        g->role = TG_ROLE_BUFFER;
        x->grad = g;
    }
    s->params[s->n_tensors++] = x;
    return x;
}

tg_tensor *tg_store_param(tg_store *s, const char *name, tg_dtype dtype, int ndim,
                          const int64_t *shape) {
    return add(s, name, dtype, ndim, shape, true);
}

tg_tensor *tg_store_buffer(tg_store *s, const char *name, tg_dtype dtype, int ndim,
                           const int64_t *shape) {
    return add(s, name, dtype, ndim, shape, false);
}

int tg_store_n_params(const tg_store *s) {
    int n = 0;
    for (int i = 0; s && i < s->n_tensors; i++) n += s->params[i]->role == TG_ROLE_PARAM;
    return n;
}

tg_tensor *tg_store_get_param(const tg_store *s, int i) {
    for (int j = 0; s && j < s->n_tensors; j++)
        if (s->params[j]->role == TG_ROLE_PARAM && i-- == 0) return s->params[j];
    return NULL;
}

void tg_store_forget_from(tg_store *s, int n) {
    if (s && n >= 0 && n < s->n_tensors) s->n_tensors = n;
}

int tg_store_n_tensors(const tg_store *s) { return s ? s->n_tensors : 0; }

tg_tensor *tg_store_get_tensor(const tg_store *s, int i) {
    return s && i >= 0 && i < s->n_tensors ? s->params[i] : NULL;
}

tg_tensor *tg_store_find(const tg_store *s, const char *name) {
    for (int j = 0; s && name && j < s->n_tensors; j++)
        if (strcmp(s->params[j]->name, name) == 0) return s->params[j];
    return NULL;
}

int64_t tg_store_n_param_elements(const tg_store *s) {
    int64_t n = 0;
    for (int j = 0; s && j < s->n_tensors; j++)
        if (s->params[j]->role == TG_ROLE_PARAM) n += tg_tensor_numel(s->params[j]);
    return n;
}

void tg_store_zero_grad(tg_store *s) {
    /* Deferred (graph.h, zero_pending): a training step deposits into every gradient right
     * after this, and the deposit then writes the values instead of adding them to zeros.
     * Grouped gradients too: whoever reads a block raw first asks tg_tensor_grad for each of
     * its parameters, which writes the zeros still deferred (tapegrad/tape.h). Writing them
     * here instead cost every step of the MLP on 2 ranks a fill of its 0.94 MB of gradients
     * and made the sweep's deposits add into the zeros instead of writing. */
    for (int j = 0; s && j < s->n_tensors; j++) {
        tg_tensor *g = s->params[j]->grad;
        if (g) g->zero_pending = true;
    }
}

/* tg_store_group_grads (grads) or tg_store_group_params (the parameters' own data) into the
 * store's arena (at NULL) or into the caller's memory at at. */
static tg_status group_grads(tg_store *s, int n, tg_tensor *const *params, void *at, bool grads,
                             tg_error *err) {
    const char *what = grads ? "gradients" : "parameters";
    if (!s || (n > 0 && !params)) return tg_error_set(err, TG_ERR_NULL, "store: NULL argument");
    if (n < 0) return tg_error_set(err, TG_ERR_ARG, "store: grouping %d %s", n, what);
    size_t bytes = 0;
    for (int i = 0; i < n; i++) {
        const tg_tensor *p = params[i];
        if (!p)
            return tg_error_set(err, TG_ERR_NULL, "store: grouping %s: parameter %d is NULL",
                                what, i);
        bool mine = false;
        for (int j = 0; j < s->n_tensors && !mine; j++) mine = s->params[j] == p;
        if (!mine || p->role != TG_ROLE_PARAM || !p->grad)
            return tg_error_set(err, TG_ERR_ARG,
                                "store: grouping %s: '%s' is not a parameter of this store", what,
                                p->name);
        if (p->dtype != params[0]->dtype)
            return tg_error_set(err, TG_ERR_ARG,
                                "store: grouping %s: '%s' is %s, '%s' is %s; one block "
                                "holds one dtype",
                                what, p->name, tg_dtype_name((tg_dtype)p->dtype), params[0]->name,
                                tg_dtype_name((tg_dtype)params[0]->dtype));
        for (int k = 0; k < i; k++)
            if (params[k] == p)
                return tg_error_set(err, TG_ERR_ARG, "store: grouping %s: '%s' is listed twice",
                                    what, p->name);
        bytes += (size_t)tg_tensor_numel(p->grad) * tg_dtype_size((tg_dtype)p->dtype);
    }
    if (n == 0) return TG_OK;
    char *block = at ? at : tg_arena_alloc(&s->arena, bytes);
    if (!block) return tg_error_set(err, TG_ERR_NOMEM, "store: out of memory grouping %s", what);
    for (int i = 0; i < n; i++) {
        tg_tensor *g = grads ? params[i]->grad : params[i];
        size_t size = (size_t)tg_tensor_numel(g) * tg_dtype_size((tg_dtype)g->dtype);
        if (grads && g->zero_pending) /* zeros tg_store_zero_grad deferred: written now */
            memset(block, 0, size);
        else if (g->data != block) /* memmove: a caller's block may be where they lie already */
            memmove(block, g->data, size);
        if (grads) g->zero_pending = false;
        g->data = block;
        block += size;
    }
    return TG_OK;
}

tg_status tg_store_group_grads(tg_store *s, int n, tg_tensor *const *params, tg_error *err) {
    return group_grads(s, n, params, NULL, true, err);
}

tg_status tg_store_group_grads_at(tg_store *s, int n, tg_tensor *const *params, void *block,
                                  tg_error *err) {
    if (!block) return tg_error_set(err, TG_ERR_NULL, "store: grouping gradients at NULL");
    return group_grads(s, n, params, block, true, err);
}

tg_status tg_store_group_params(tg_store *s, int n, tg_tensor *const *params, tg_error *err) {
    return group_grads(s, n, params, NULL, false, err);
}

tg_status tg_store_group_params_at(tg_store *s, int n, tg_tensor *const *params, void *block,
                                   tg_error *err) {
    if (!block) return tg_error_set(err, TG_ERR_NULL, "store: grouping parameters at NULL");
    return group_grads(s, n, params, block, false, err);
}

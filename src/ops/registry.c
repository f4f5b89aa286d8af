/* registry.c: the table of every op, built from ops.def, followed by the custom ops user code
 * registered (custom.c), and the read-only public view of both (tapegrad/registry.h). The graph
 * code reaches ops only through node->op and this table (for reports), never by name.
 *
 * Invariant: names are unique over both parts. The built-in part is constant; the custom part
 * changes only under custom_lock, and every public call reads it under that lock. */
#include <pthread.h>
#include <string.h>

#include "op_util.h"

#define TG_OP(name) extern const tg_op_desc tg_op_##name;
#include "ops.def"
#undef TG_OP

static const tg_op_desc *const registry[] = {
#define TG_OP(name) &tg_op_##name,
#include "ops.def"
#undef TG_OP
};

int tg_op_count(void) { return (int)(sizeof registry / sizeof registry[0]); }

const tg_op_desc *tg_op_at(int i) { return i >= 0 && i < tg_op_count() ? registry[i] : NULL; }

/* ---- custom ops (custom.c), after the built-in ones ---- */

static pthread_mutex_t custom_lock = PTHREAD_MUTEX_INITIALIZER;
static const tg_op_desc **custom; /* n_custom entries in registration order */
static int n_custom, cap_custom;

/* The index of `name` over both parts, or -1. Called with custom_lock held. */
static int find_locked(const char *name) {
    for (int i = 0; i < tg_op_count(); i++)
        if (strcmp(registry[i]->name, name) == 0) return i;
    for (int i = 0; i < n_custom; i++)
        if (strcmp(custom[i]->name, name) == 0) return tg_op_count() + i;
    return -1;
}

tg_status tg_op_register(const tg_op_desc *d, tg_error *err) {
    tg_status s = TG_OK;
    pthread_mutex_lock(&custom_lock);
    if (find_locked(d->name) >= 0) {
        s = tg_error_set(err, TG_ERR_ARG, "custom op: the name '%s' is already registered",
                         d->name);
    } else if (n_custom == cap_custom) {
        int cap = cap_custom ? 2 * cap_custom : 8;
        const tg_op_desc **grown = tg_alloc((size_t)cap * sizeof *grown);
        if (!grown) {
            s = tg_error_set(err, TG_ERR_NOMEM, "custom op '%s': out of memory registering it",
                             d->name);
        } else {
            if (n_custom) memcpy(grown, custom, (size_t)n_custom * sizeof *grown);
            tg_free(custom);
            custom = grown;
            cap_custom = cap;
        }
    }
    if (s == TG_OK) custom[n_custom++] = d;
    pthread_mutex_unlock(&custom_lock);
    return s;
}

void tg_op_unregister(const tg_op_desc *d) {
    pthread_mutex_lock(&custom_lock);
    for (int i = 0; i < n_custom; i++) {
        if (custom[i] != d) continue;
        memmove(custom + i, custom + i + 1, (size_t)(n_custom - i - 1) * sizeof *custom);
        n_custom--;
        break;
    }
    if (n_custom == 0) { /* nothing registered holds memory, so leak checkers stay quiet */
        tg_free(custom);
        custom = NULL;
        cap_custom = 0;
    }
    pthread_mutex_unlock(&custom_lock);
}

bool tg_op_is_custom_registered(const tg_op_desc *d) {
    bool found = false;
    pthread_mutex_lock(&custom_lock);
    for (int i = 0; i < n_custom && !found; i++) found = custom[i] == d;
    pthread_mutex_unlock(&custom_lock);
    return found;
}

/* The i-th op over both parts, or NULL. A custom op's descriptor stays valid until its
 * tg_custom_op_free, which the caller must not race with (registry.h). */
static const tg_op_desc *any_at(int i) {
    if (i < tg_op_count()) return tg_op_at(i);
    pthread_mutex_lock(&custom_lock);
    const tg_op_desc *d = i - tg_op_count() < n_custom ? custom[i - tg_op_count()] : NULL;
    pthread_mutex_unlock(&custom_lock);
    return d;
}

/* ---- the public introspection API (tapegrad/registry.h) ---- */

int tg_op_registry_count(void) {
    pthread_mutex_lock(&custom_lock);
    int n = tg_op_count() + n_custom;
    pthread_mutex_unlock(&custom_lock);
    return n;
}

const char *tg_op_registry_name(int i) {
    const tg_op_desc *d = any_at(i);
    return d ? d->name : NULL;
}

int tg_op_registry_find(const char *name) {
    if (!name) return -1;
    pthread_mutex_lock(&custom_lock);
    int i = find_locked(name);
    pthread_mutex_unlock(&custom_lock);
    return i;
}

bool tg_op_registry_smooth(int i) {
    const tg_op_desc *d = any_at(i);
    return d && (d->flags & TG_OPF_SMOOTH);
}

bool tg_op_registry_has_backward(int i) {
    const tg_op_desc *d = any_at(i);
    return d && d->backward;
}

int64_t tg_op_registry_recorded(const tg_tape *t, int i) {
    const tg_op_desc *d = any_at(i);
    int64_t n = 0;
    if (!t || !d) return 0;
    for (const tg_node *node = t->last; node; node = node->prev) n += node->op == d;
    return n;
}

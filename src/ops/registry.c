/* registry.c: the table of every op, built from ops.def, and the read-only public view of it
 * (tapegrad/registry.h). The graph code reaches ops only through node->op and this table (for
 * reports), never by name. */
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

/* ---- the public introspection API (tapegrad/registry.h) ---- */

int tg_op_registry_count(void) { return tg_op_count(); }

const char *tg_op_registry_name(int i) {
    const tg_op_desc *d = tg_op_at(i);
    return d ? d->name : NULL;
}

int tg_op_registry_find(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < tg_op_count(); i++)
        if (strcmp(registry[i]->name, name) == 0) return i;
    return -1;
}

bool tg_op_registry_smooth(int i) {
    const tg_op_desc *d = tg_op_at(i);
    return d && (d->flags & TG_OPF_SMOOTH);
}

bool tg_op_registry_has_backward(int i) {
    const tg_op_desc *d = tg_op_at(i);
    return d && d->backward;
}

int64_t tg_op_registry_recorded(const tg_tape *t, int i) {
    const tg_op_desc *d = tg_op_at(i);
    int64_t n = 0;
    if (!t || !d) return 0;
    for (const tg_node *node = t->last; node; node = node->prev) n += node->op == d;
    return n;
}

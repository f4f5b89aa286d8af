/* scope.c: the tape's scopes. Each (parent, name) pair is interned once per step in a small
 * hash table, so recording a node costs one integer copy whatever the names are, and a node's
 * scope path is found by index. The table's arrays outlive tg_tape_reset (cleared, not freed),
 * so a repeated step allocates nothing; the scopes still open at a reset are interned again.
 * Its errors keep no call site: the site in force is the last op's, not the push's. */
#include <stdio.h>
#include <string.h>

#include "graph.h"

static size_t hash_of(int32_t parent, const char *name) {
    uint64_t h = 1469598103934665603ull ^ (uint64_t)(uint32_t)parent;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)h;
}

/* The slot holding (parent, name), or the empty slot where it would go. */
static size_t find_slot(const tg_scope_table *s, int32_t parent, const char *name) {
    size_t i = hash_of(parent, name) & (s->n_slots - 1);
    while (s->slots[i] >= 0) {
        const tg_scope_entry *e = &s->entries[s->slots[i]];
        if (e->parent == parent && strcmp(s->text + e->name, name) == 0) break;
        i = (i + 1) & (s->n_slots - 1);
    }
    return i;
}

/* Makes room for one more entry with `bytes` more text; false when memory runs out. */
static bool reserve(tg_scope_table *s, size_t bytes) {
    if (s->n + 1 > s->cap) {
        int32_t cap = s->cap ? 2 * s->cap : 16;
        tg_scope_entry *e = tg_alloc((size_t)cap * sizeof *e);
        if (!e) return false;
        if (s->n) memcpy(e, s->entries, (size_t)s->n * sizeof *e);
        tg_free(s->entries);
        s->entries = e;
        s->cap = cap;
    }
    if (s->text_len + bytes > s->text_cap) {
        size_t cap = s->text_cap ? 2 * s->text_cap : 1024;
        while (cap < s->text_len + bytes) cap *= 2;
        char *text = tg_alloc(cap);
        if (!text) return false;
        if (s->text_len) memcpy(text, s->text, s->text_len);
        tg_free(s->text);
        s->text = text;
        s->text_cap = cap;
    }
    if ((size_t)(s->n + 1) * 2 >= s->n_slots) {
        size_t n_slots = s->n_slots ? 2 * s->n_slots : 64;
        int32_t *slots = tg_alloc(n_slots * sizeof *slots);
        if (!slots) return false;
        tg_free(s->slots);
        s->slots = slots;
        s->n_slots = n_slots;
        for (size_t i = 0; i < n_slots; i++) slots[i] = -1;
        for (int32_t k = 1; k < s->n; k++)
            slots[find_slot(s, s->entries[k].parent, s->text + s->entries[k].name)] = k;
    }
    return true;
}

/* Entry 0, the top level, in an empty table. */
static bool init_table(tg_scope_table *s) {
    if (s->n > 0) return true;
    if (!reserve(s, 1)) return false;
    s->entries[0] = (tg_scope_entry){-1, 0, 0, 0};
    s->text[0] = '\0';
    s->text_len = 1;
    s->n = 1;
    return true;
}

/* The index of scope `name` inside `parent`, interned if new; -1 (error on the tape) if its
 * path is too long or memory runs out. */
static int32_t intern(tg_tape *t, int32_t parent, const char *name) {
    tg_scope_table *s = &t->scopes;
    if (!init_table(s)) goto nomem;
    size_t parent_len = strlen(s->text + s->entries[parent].path);
    size_t name_len = strlen(name);
    size_t path_len = parent_len + (parent ? 1 : 0) + name_len;
    if (path_len >= TG_SCOPE_PATH_MAX) {
        tg_fail_unsited(t, TG_ERR_ARG,
                   "push_scope: the scope path '%s%s%.40s...' would be %zu bytes; at most %d",
                   s->text + s->entries[parent].path, parent ? "/" : "", name, path_len,
                   TG_SCOPE_PATH_MAX - 1);
        return -1;
    }
    size_t slot = find_slot(s, parent, name);
    if (s->slots[slot] >= 0) return s->slots[slot];
    if (!reserve(s, path_len + 1)) goto nomem;
    slot = find_slot(s, parent, name); /* the table may have grown */
    tg_scope_entry *p = &s->entries[parent];
    char *dst = s->text + s->text_len;
    memcpy(dst, s->text + p->path, parent_len);
    if (parent) dst[parent_len] = '/';
    memcpy(dst + path_len - name_len, name, name_len + 1);
    int32_t k = s->n++;
    s->entries[k] = (tg_scope_entry){parent, (uint32_t)s->text_len,
                                     (uint32_t)(s->text_len + path_len - name_len),
                                     p->depth + 1};
    s->text_len += path_len + 1;
    s->slots[slot] = k;
    return k;
nomem:
    tg_fail_unsited(t, TG_ERR_NOMEM, "push_scope: out of memory naming scope '%.60s'", name);
    return -1;
}

void tg_tape_push_scope(tg_tape *t, const char *name) {
    if (!t) return;
    int d = t->scope_depth++;
    if (d >= TG_SCOPE_MAX_DEPTH) {
        tg_fail_unsited(t, TG_ERR_ARG, "push_scope: '%.60s' would nest scopes %d deep; at most %d",
                   name ? name : "(null)", d + 1, TG_SCOPE_MAX_DEPTH);
        return;
    }
    t->scope_stack[d] = t->scope;
    if (!name || !name[0]) {
        tg_fail_unsited(t, TG_ERR_ARG, "push_scope: the scope name is %s", name ? "empty" : "NULL");
        return;
    }
    int32_t k = intern(t, t->scope, name);
    if (k >= 0) t->scope = k;
}

void tg_tape_pop_scope(tg_tape *t) {
    if (!t) return;
    if (t->scope_depth == 0) {
        tg_fail_unsited(t, TG_ERR_ARG, "pop_scope: no scope is open (a pop without its push)");
        return;
    }
    int d = --t->scope_depth;
    if (d < TG_SCOPE_MAX_DEPTH) t->scope = t->scope_stack[d];
}

const char *tg_tape_scope(const tg_tape *t) { return t ? tg_scope_path(t, t->scope) : ""; }
int tg_tape_scope_depth(const tg_tape *t) { return t ? t->scope_depth : 0; }

void tg_scope_reset(tg_tape *t) {
    tg_scope_table *s = &t->scopes;
    if (s->n <= 1) return;
    /* The open scopes are the chain from the one in force up to the top; the stack holds
     * only members of that chain. Their names are copied out before the text is cleared. */
    int32_t old[TG_SCOPE_MAX_DEPTH + 1], fresh[TG_SCOPE_MAX_DEPTH + 1];
    char names[TG_SCOPE_PATH_MAX + TG_SCOPE_MAX_DEPTH];
    size_t name_at[TG_SCOPE_MAX_DEPTH + 1], used = 0;
    int n = 0;
    for (int32_t k = t->scope; k > 0 && n <= TG_SCOPE_MAX_DEPTH; k = s->entries[k].parent) {
        const char *name = s->text + s->entries[k].name;
        size_t len = strlen(name) + 1;
        memcpy(names + used, name, len);
        name_at[n] = used;
        old[n++] = k;
        used += len;
    }
    s->n = 0;
    s->text_len = 0;
    for (size_t i = 0; i < s->n_slots; i++) s->slots[i] = -1;
    init_table(s); /* the kept arrays are large enough: nothing is allocated */
    int32_t parent = 0;
    for (int i = n - 1; i >= 0; i--) fresh[i] = parent = intern(t, parent, names + name_at[i]);
    int open = t->scope_depth < TG_SCOPE_MAX_DEPTH ? t->scope_depth : TG_SCOPE_MAX_DEPTH;
    for (int d = -1; d < open; d++) {
        int32_t *k = d < 0 ? &t->scope : &t->scope_stack[d];
        for (int i = 0; i < n && *k > 0; i++)
            if (old[i] == *k) {
                *k = fresh[i];
                break;
            }
    }
}

void tg_scope_release(tg_tape *t) {
    tg_free(t->scopes.entries);
    tg_free(t->scopes.text);
    tg_free(t->scopes.slots);
    memset(&t->scopes, 0, sizeof t->scopes);
}

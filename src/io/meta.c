/* meta.c: a checkpoint's metadata, the string pairs beside its tensors (tapegrad/checkpoint.h).
 * Its own file because both the header reader and writer (safetensors.c) and the save and load
 * (checkpoint.c) use it: dependencies run one way, checkpoint.c -> safetensors.c -> meta.c.
 *
 * Invariant: what tg_checkpoint_meta_set stores is a unique, non-empty key other than "step"
 * and a value, each fitting its array with its terminating NUL. */
#include <stdio.h>
#include <string.h>

#include "tapegrad.h"

void tg_checkpoint_meta_init(tg_checkpoint_meta *m) {
    if (m) memset(m, 0, sizeof *m);
}

const char *tg_checkpoint_meta_get(const tg_checkpoint_meta *m, const char *key) {
    for (int i = 0; m && key && i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0) return m->values[i];
    return NULL;
}

tg_status tg_checkpoint_meta_set(tg_checkpoint_meta *m, const char *key, const char *value) {
    if (!m || !key || !value) return TG_ERR_NULL;
    if (!key[0] || strcmp(key, "step") == 0 || strlen(key) >= TG_CHECKPOINT_KEY_MAX ||
        strlen(value) >= TG_CHECKPOINT_VALUE_MAX)
        return TG_ERR_ARG;
    int i = 0;
    while (i < m->n && strcmp(m->keys[i], key) != 0) i++;
    if (i == m->n) {
        if (m->n == TG_CHECKPOINT_MAX_META) return TG_ERR_ARG;
        m->n++;
        snprintf(m->keys[i], sizeof m->keys[i], "%s", key);
    }
    snprintf(m->values[i], sizeof m->values[i], "%s", value);
    return TG_OK;
}

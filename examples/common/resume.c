/* resume.c: writes and reads the examples' checkpoints through tg_checkpoint_save/load, with
 * the run state as metadata strings ("epochs_done", "data", "config") beside the step counter.
 *
 * Invariant: the config is compared before the store is touched: a checkpoint of another model
 * or another batch size is refused, naming the setting that differs, never half loaded. */
#include "resume.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

tg_status ex_checkpoint_save(const char *path, const tg_store *s, const char *config,
                             const ex_run_state *st, tg_error *err) {
    tg_checkpoint_meta m;
    tg_checkpoint_meta_init(&m);
    m.step = st->step;
    char epochs[32], data[TG_BATCHER_STATE_CHARS];
    snprintf(epochs, sizeof epochs, "%" PRId64, st->epochs_done);
    tg_batcher_state_format(&st->data, data);
    if (tg_checkpoint_meta_set(&m, "epochs_done", epochs) != TG_OK ||
        tg_checkpoint_meta_set(&m, "data", data) != TG_OK ||
        tg_checkpoint_meta_set(&m, "config", config) != TG_OK)
        return tg_error_set(err, TG_ERR_ARG, "checkpoint: the run description '%.100s' is too long",
                            config);
    return tg_checkpoint_save(s, path, &m, err);
}

/* The first part (separated by ';' or ',') where two run descriptions differ, as [start, start + len) of
 * each: the whole descriptions do not fit in one tg_error message, the part that differs does. */
static void first_difference(const char *a, const char *b, const char **pa, int *na,
                             const char **pb, int *nb) {
    const char *sa = a, *sb = b;
    while (*a && *a == *b) {
        if (*a == ';' || *a == ',') {
            sa = a + 1;
            sb = b + 1;
        }
        a++;
        b++;
    }
    while (*sa == ' ') sa++;
    while (*sb == ' ') sb++;
    *pa = sa;
    *pb = sb;
    *na = (int)strcspn(sa, ";,");
    *nb = (int)strcspn(sb, ";,");
}

tg_status ex_checkpoint_resume(const char *path, tg_store *s, const char *config,
                               ex_run_state *st, tg_error *err) {
    /* Read the metadata first, into a scratch store that accepts any tensors, so that a
     * mismatched run is refused before the real store changes. */
    tg_store *scratch = tg_store_new();
    if (!scratch) return tg_error_set(err, TG_ERR_NOMEM, "checkpoint: out of memory");
    tg_checkpoint_meta m;
    tg_status status =
        tg_checkpoint_load_ex(scratch, path, TG_CHECKPOINT_ALLOW_EXTRA, &m, err);
    tg_store_free(scratch);
    if (status != TG_OK) return status;

    const char *saved = tg_checkpoint_meta_get(&m, "config");
    const char *epochs = tg_checkpoint_meta_get(&m, "epochs_done");
    const char *data = tg_checkpoint_meta_get(&m, "data");
    if (!saved || !epochs || !data)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "checkpoint: '%.150s' has no run state (not written by an example)",
                            path);
    if (strcmp(saved, config) != 0) {
        const char *ps, *pc;
        int ns, nc;
        first_difference(saved, config, &ps, &ns, &pc, &nc);
        return tg_error_set(err, TG_ERR_ARG,
                            "checkpoint: '%.100s' is from another run: it has '%.*s' where this "
                            "run has '%.*s'",
                            path, ns < 40 ? ns : 40, ps, nc < 40 ? nc : 40, pc);
    }
    ex_run_state next = {.step = m.step};
    char *end;
    errno = 0;
    long long e = strtoll(epochs, &end, 10);
    if (errno || *end || end == epochs || e < 0)
        return tg_error_set(err, TG_ERR_FORMAT, "checkpoint: bad epochs_done '%.40s' in '%.150s'",
                            epochs, path);
    next.epochs_done = e;
    status = tg_batcher_state_parse(data, &next.data, err);
    if (status != TG_OK) return status;
    status = tg_checkpoint_load(s, path, NULL, err);
    if (status != TG_OK) return status;
    *st = next;
    return TG_OK;
}

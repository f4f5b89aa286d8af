/* fuzz_checkpoint.c: hostile safetensors files against tg_checkpoint_load_ex.
 *
 * The input is the whole file. It is loaded into a store of three tensors (what a seed file
 * names) twice, strictly and with both ALLOW flags, and the loader's promises are checked:
 * a failure sets the error and leaves the store and the metadata exactly as they were; a
 * success yields bounded, NUL-terminated metadata, and saving that store with that metadata
 * and loading it again gives the same bytes back. Every metadata value also goes through the
 * batcher-state parser, the other reader of checkpoint text. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* The store the seeds were written from: an f32 matrix, an f64 vector, an empty f32. */
static tg_store *make_store(void) {
    tg_store *s = tg_store_new();
    FUZZ_CHECK(s, "tg_store_new");
    tg_tensor *w = tg_store_param(s, "w", TG_F32, TG_SHAPE(2, 3));
    tg_tensor *b = tg_store_buffer(s, "b", TG_F64, TG_SHAPE(4));
    tg_tensor *e = tg_store_buffer(s, "e", TG_F32, TG_SHAPE(0, 3));
    FUZZ_CHECK(w && b && e, "making the store: %s", tg_store_error(s));
    float *wv = tg_tensor_data(w);
    double *bv = tg_tensor_data(b);
    for (int i = 0; i < 6; i++) wv[i] = (float)(i + 1) * 0.5f;
    for (int i = 0; i < 4; i++) bv[i] = -1.0 - i;
    return s;
}

/* All of a store's tensor bytes, concatenated (malloc'ed; *n set). */
static unsigned char *store_bytes(const tg_store *s, size_t *n) {
    size_t total = 0;
    for (int i = 0; i < tg_store_n_tensors(s); i++) {
        const tg_tensor *x = tg_store_get_tensor(s, i);
        total += (size_t)tg_tensor_numel(x) * tg_dtype_size(tg_tensor_dtype(x));
    }
    unsigned char *buf = malloc(total ? total : 1), *p = buf;
    FUZZ_CHECK(buf, "malloc");
    for (int i = 0; i < tg_store_n_tensors(s); i++) {
        const tg_tensor *x = tg_store_get_tensor(s, i);
        size_t k = (size_t)tg_tensor_numel(x) * tg_dtype_size(tg_tensor_dtype(x));
        if (k) memcpy(p, tg_tensor_data(x), k);
        p += k;
    }
    *n = total;
    return buf;
}

static void check_meta(const tg_checkpoint_meta *m) {
    FUZZ_CHECK(m->step >= 0, "step %lld", (long long)m->step);
    FUZZ_CHECK(m->n >= 0 && m->n <= TG_CHECKPOINT_MAX_META, "%d metadata entries", m->n);
    for (int i = 0; i < m->n; i++) {
        FUZZ_CHECK(memchr(m->keys[i], '\0', TG_CHECKPOINT_KEY_MAX) && m->keys[i][0],
                   "key %d is empty or not terminated", i);
        FUZZ_CHECK(memchr(m->values[i], '\0', TG_CHECKPOINT_VALUE_MAX),
                   "value %d is not terminated", i);
        FUZZ_CHECK(tg_checkpoint_meta_get(m, m->keys[i]) == m->values[i],
                   "key '%s' is repeated", m->keys[i]);
        /* A value that parses as a batcher state must format back to the same text. */
        tg_batcher_state bs;
        tg_error err = {0};
        tg_status st = tg_batcher_state_parse(m->values[i], &bs, &err);
        if (st == TG_OK) {
            char again[TG_BATCHER_STATE_CHARS];
            tg_batcher_state_format(&bs, again);
            tg_batcher_state bs2;
            FUZZ_CHECK(tg_batcher_state_parse(again, &bs2, &err) == TG_OK, "'%s'", again);
            FUZZ_CHECK(bs2.epoch == bs.epoch && bs2.position == bs.position &&
                           bs2.rng.state == bs.rng.state && bs2.rng.inc == bs.rng.inc,
                       "batcher state '%s' does not round-trip", m->values[i]);
        } else {
            fuzz_check_error(&err, st, "tg_batcher_state_parse");
        }
    }
}

/* Saves s with m and loads the file into a fresh store: the same bytes and metadata. */
static void check_round_trip(const tg_store *s, const tg_checkpoint_meta *m) {
    const char *path = fuzz_write_file("again.safetensors", "", 0);
    tg_error err = {0};
    tg_status st = tg_checkpoint_save(s, path, m, &err);
    FUZZ_CHECK(st == TG_OK, "saving what was loaded: %s", err.message);
    tg_store *s2 = make_store();
    tg_checkpoint_meta m2;
    st = tg_checkpoint_load(s2, path, &m2, &err);
    FUZZ_CHECK(st == TG_OK, "loading what was saved: %s", err.message);
    size_t n1, n2;
    unsigned char *b1 = store_bytes(s, &n1), *b2 = store_bytes(s2, &n2);
    FUZZ_CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0, "the tensors changed in a round trip");
    FUZZ_CHECK(m2.step == m->step && m2.n == m->n, "the metadata changed in a round trip");
    for (int i = 0; i < m->n; i++) {
        const char *v = tg_checkpoint_meta_get(&m2, m->keys[i]);
        FUZZ_CHECK(v && strcmp(v, m->values[i]) == 0, "metadata '%s' changed", m->keys[i]);
    }
    free(b1);
    free(b2);
    tg_store_free(s2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("input.safetensors", data, size);
    static const unsigned flag_sets[] = {0,
                                         TG_CHECKPOINT_ALLOW_MISSING | TG_CHECKPOINT_ALLOW_EXTRA};
    for (size_t k = 0; k < sizeof flag_sets / sizeof flag_sets[0]; k++) {
        tg_store *s = make_store();
        size_t n_before;
        unsigned char *before = store_bytes(s, &n_before);
        tg_checkpoint_meta m, m_before;
        memset(&m, 0x5a, sizeof m); /* a pattern a failed load must leave alone */
        m_before = m;
        tg_error err = {0};
        tg_status st = tg_checkpoint_load_ex(s, path, flag_sets[k], &m, &err);
        if (st != TG_OK) {
            fuzz_check_error(&err, st, "tg_checkpoint_load_ex");
            size_t n_after;
            unsigned char *after = store_bytes(s, &n_after);
            FUZZ_CHECK(n_after == n_before && memcmp(before, after, n_before) == 0,
                       "a failed load (%s) changed the store", err.message);
            FUZZ_CHECK(memcmp(&m, &m_before, sizeof m) == 0,
                       "a failed load (%s) changed the metadata", err.message);
            free(after);
        } else {
            check_meta(&m);
            check_round_trip(s, &m);
        }
        free(before);
        tg_store_free(s);
    }
    return 0;
}

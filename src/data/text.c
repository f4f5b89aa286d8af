/* text.c: byte-level text corpora for character models: the vocabulary (the distinct bytes,
 * sorted), the corpus as ids, decoding, and random next-character windows.
 *
 * Invariant: id_of and vocab are inverse tables over the vocabulary, and every entry of ids is
 * in [0, vocab_size), so the ids can go straight into an embedding or a cross entropy. */
#include <string.h>

#include "../graph/graph.h"
#include "file.h"

struct tg_text {
    int64_t n;
    int64_t *ids;
    int vocab_size;
    unsigned char vocab[256]; /* id -> byte, ascending */
    int id_of[256];           /* byte -> id, -1 when absent */
};

static tg_text *text_build(const unsigned char *bytes, int64_t n, tg_error *err) {
    if (n <= 0) {
        tg_error_set(err, TG_ERR_FORMAT, "text: the corpus is empty");
        return NULL;
    }
    if ((uint64_t)n > SIZE_MAX / sizeof(int64_t)) {
        tg_error_set(err, TG_ERR_NOMEM, "text: %lld bytes do not fit in memory as ids",
                     (long long)n);
        return NULL;
    }
    tg_text *x = tg_alloc(sizeof *x);
    int64_t *ids = tg_alloc((size_t)n * sizeof *ids);
    if (!x || !ids) {
        tg_free(x);
        tg_free(ids);
        tg_error_set(err, TG_ERR_NOMEM, "text: out of memory for %lld ids", (long long)n);
        return NULL;
    }
    bool seen[256] = {false};
    for (int64_t i = 0; i < n; i++) seen[bytes[i]] = true;
    x->n = n;
    x->ids = ids;
    x->vocab_size = 0;
    for (int c = 0; c < 256; c++) {
        x->id_of[c] = seen[c] ? x->vocab_size : -1;
        if (seen[c]) x->vocab[x->vocab_size++] = (unsigned char)c;
    }
    for (int64_t i = 0; i < n; i++) ids[i] = x->id_of[bytes[i]];
    return x;
}

tg_text *tg_text_load(const char *path, int64_t max_bytes, tg_error *err) {
    if (max_bytes < 0) {
        tg_error_set(err, TG_ERR_ARG, "text: max_bytes is %lld; use 0 for no limit",
                     (long long)max_bytes);
        return NULL;
    }
    int64_t size = 0;
    FILE *f = tg_file_open_regular("text", path, &size, err);
    if (!f) return NULL;
    int64_t n = max_bytes > 0 && size > max_bytes ? max_bytes : size;
    if (n == 0) {
        fclose(f);
        tg_error_set(err, TG_ERR_FORMAT, "text: '%s' is empty", path);
        return NULL;
    }
    if ((uint64_t)n > SIZE_MAX) {
        fclose(f);
        tg_error_set(err, TG_ERR_NOMEM, "text: '%s' is too large for memory", path);
        return NULL;
    }
    unsigned char *bytes = tg_alloc((size_t)n);
    if (!bytes) {
        fclose(f);
        tg_error_set(err, TG_ERR_NOMEM, "text: out of memory reading %lld bytes of '%s'",
                     (long long)n, path);
        return NULL;
    }
    tg_text *x = NULL;
    if (tg_file_read("text", path, f, bytes, (size_t)n, err) == TG_OK)
        x = text_build(bytes, n, err);
    tg_free(bytes);
    fclose(f);
    return x;
}

tg_text *tg_text_from_memory(const char *bytes, int64_t n, tg_error *err) {
    if (!bytes && n > 0) {
        tg_error_set(err, TG_ERR_NULL, "text: the bytes are NULL");
        return NULL;
    }
    return text_build((const unsigned char *)bytes, n, err);
}

void tg_text_free(tg_text *x) {
    if (!x) return;
    tg_free(x->ids);
    tg_free(x);
}

int64_t tg_text_length(const tg_text *x) { return x ? x->n : 0; }
const int64_t *tg_text_ids(const tg_text *x) { return x ? x->ids : NULL; }
int tg_text_vocab_size(const tg_text *x) { return x ? x->vocab_size : 0; }

int tg_text_byte(const tg_text *x, int64_t id) {
    return x && id >= 0 && id < x->vocab_size ? x->vocab[id] : -1;
}

int tg_text_id(const tg_text *x, unsigned char c) { return x ? x->id_of[c] : -1; }

tg_status tg_text_encode(const tg_text *x, const char *s, int64_t n, int64_t *ids, tg_error *err) {
    if (!x || (n > 0 && (!s || !ids)))
        return tg_error_set(err, TG_ERR_NULL, "text: encode got a NULL argument");
    if (n < 0) return tg_error_set(err, TG_ERR_ARG, "text: encode of %lld bytes", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (x->id_of[c] < 0)
            return tg_error_set(err, TG_ERR_ARG,
                                "text: byte %d (0x%02x) at position %lld is not in the "
                                "vocabulary of %d bytes",
                                c, c, (long long)i, x->vocab_size);
        ids[i] = x->id_of[c];
    }
    return TG_OK;
}

tg_status tg_text_decode(const tg_text *x, const int64_t *ids, int64_t n, char *out,
                         tg_error *err) {
    if (!x || !out || (n > 0 && !ids))
        return tg_error_set(err, TG_ERR_NULL, "text: decode got a NULL argument");
    if (n < 0) return tg_error_set(err, TG_ERR_ARG, "text: decode of %lld ids", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= x->vocab_size) {
            out[0] = '\0';
            return tg_error_set(err, TG_ERR_ARG,
                                "text: id %lld at position %lld is outside the vocabulary "
                                "[0, %d)",
                                (long long)ids[i], (long long)i, x->vocab_size);
        }
        out[i] = (char)x->vocab[ids[i]];
    }
    out[n] = '\0';
    return TG_OK;
}

tg_status tg_text_windows(const tg_text *x, tg_rng *rng, int64_t B, int64_t T, int64_t *out,
                          tg_error *err) {
    if (!x || !rng || !out)
        return tg_error_set(err, TG_ERR_NULL, "text: windows got a NULL argument");
    if (B <= 0 || T <= 0 || T >= x->n)
        return tg_error_set(err, TG_ERR_ARG,
                            "text: %lld windows of %lld + 1 ids from a corpus of %lld; both "
                            "counts must be positive and T + 1 at most the corpus length",
                            (long long)B, (long long)T, (long long)x->n);
    /* Starts 0 .. n - (T + 1): n - T of them, each equally likely. */
    for (int64_t b = 0; b < B; b++) {
        int64_t start = (int64_t)tg_rng_below(rng, (uint64_t)(x->n - T));
        memcpy(out + b * (T + 1), x->ids + start, (size_t)(T + 1) * sizeof *out);
    }
    return TG_OK;
}

/* safetensors.c: the safetensors header, read and validated, or written from a store.
 *
 * Invariant: a parsed header that tg_st_parse accepts describes tensors whose byte ranges tile
 * [0, data_size) exactly, each of its dtype's size times its element count, so a loader may
 * copy every range without further checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/graph.h"
#include "io.h"
#include "json.h"

static const struct {
    const char *name;
    size_t size;
    int tg_dtype;
} st_dtypes[] = {
    {"F32", 4, TG_F32}, {"F64", 8, TG_F64}, {"F16", 2, -1}, {"BF16", 2, -1}, {"F8_E4M3", 1, -1},
    {"F8_E5M2", 1, -1}, {"BOOL", 1, -1},    {"U8", 1, -1},  {"I8", 1, -1},   {"I16", 2, -1},
    {"U16", 2, -1},     {"I32", 4, -1},     {"U32", 4, -1}, {"I64", 8, -1},  {"U64", 8, -1},
};

void tg_st_header_free(tg_st_header *h) {
    if (!h) return;
    tg_free(h->entries);
    h->entries = NULL;
    h->n = h->cap = 0;
}

static tg_st_entry *new_entry(tg_st_header *h) {
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 16;
        tg_st_entry *e = tg_alloc((size_t)cap * sizeof *e);
        if (!e) return NULL;
        if (h->n) memcpy(e, h->entries, (size_t)h->n * sizeof *e);
        tg_free(h->entries);
        h->entries = e;
        h->cap = cap;
    }
    tg_st_entry *e = &h->entries[h->n++];
    memset(e, 0, sizeof *e);
    return e;
}

/* {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, fields in any order, each once. */
static bool parse_entry(json_reader *r, tg_st_entry *e) {
    bool has_dtype = false, has_shape = false, has_offsets = false;
    if (!json_expect(r, '{')) return false;
    if (json_accept(r, '}')) return json_fail(r, "tensor entry without fields");
    do {
        char key[32];
        if (!json_string(r, key, sizeof key) || !json_expect(r, ':')) return false;
        if (strcmp(key, "dtype") == 0) {
            if (has_dtype) return json_fail(r, "repeated field \"dtype\"");
            has_dtype = true;
            if (!json_string(r, e->dtype, sizeof e->dtype)) return false;
            size_t i = 0, n = sizeof st_dtypes / sizeof st_dtypes[0];
            while (i < n && strcmp(st_dtypes[i].name, e->dtype) != 0) i++;
            if (i == n) return json_fail(r, "unknown dtype");
            e->elem_size = st_dtypes[i].size;
            e->tg_dtype = st_dtypes[i].tg_dtype;
        } else if (strcmp(key, "shape") == 0) {
            if (has_shape) return json_fail(r, "repeated field \"shape\"");
            has_shape = true;
            if (!json_expect(r, '[')) return false;
            if (!json_accept(r, ']')) {
                do {
                    uint64_t d;
                    if (e->ndim == TG_MAX_DIMS)
                        return json_fail(r, "more dimensions than tapegrad supports (8)");
                    if (!json_uint(r, &d)) return false;
                    e->shape[e->ndim++] = (int64_t)d;
                } while (json_accept(r, ','));
                if (!json_expect(r, ']')) return false;
            }
        } else if (strcmp(key, "data_offsets") == 0) {
            if (has_offsets) return json_fail(r, "repeated field \"data_offsets\"");
            has_offsets = true;
            if (!json_expect(r, '[') || !json_uint(r, &e->begin) || !json_expect(r, ',') ||
                !json_uint(r, &e->end) || !json_expect(r, ']'))
                return false;
        } else {
            return json_fail(r, "unknown field in a tensor entry");
        }
    } while (json_accept(r, ','));
    if (!json_expect(r, '}')) return false;
    if (!has_dtype || !has_shape || !has_offsets)
        return json_fail(r, "tensor entry lacks dtype, shape or data_offsets");
    return true;
}

/* {"key": "value", ...}: strings only; "step" must be a decimal count. */
static bool parse_meta(json_reader *r, tg_checkpoint_meta *m) {
    bool has_step = false;
    if (!json_expect(r, '{')) return false;
    if (json_accept(r, '}')) return true;
    do {
        char key[TG_CHECKPOINT_KEY_MAX], value[TG_CHECKPOINT_VALUE_MAX];
        if (!json_string(r, key, sizeof key) || !json_expect(r, ':') ||
            !json_string(r, value, sizeof value))
            return false;
        if (strcmp(key, "step") == 0) {
            if (has_step) return json_fail(r, "repeated metadata key \"step\"");
            has_step = true;
            json_reader num;
            json_init(&num, value, strlen(value));
            uint64_t step;
            if (value[0] < '0' || value[0] > '9' || !json_uint(&num, &step) || num.p != num.end)
                return json_fail(r, "metadata \"step\" is not a count");
            m->step = (int64_t)step;
            continue;
        }
        if (key[0] == '\0') return json_fail(r, "empty metadata key");
        if (tg_checkpoint_meta_get(m, key)) return json_fail(r, "repeated metadata key");
        if (m->n == TG_CHECKPOINT_MAX_META) return json_fail(r, "more than 32 metadata keys");
        memcpy(m->keys[m->n], key, sizeof key);
        memcpy(m->values[m->n], value, sizeof value);
        m->n++;
    } while (json_accept(r, ','));
    return json_expect(r, '}');
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const tg_st_entry *const *)a)->name, (*(const tg_st_entry *const *)b)->name);
}

static int by_offset(const void *a, const void *b) {
    const tg_st_entry *x = *(const tg_st_entry *const *)a, *y = *(const tg_st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Element counts, sizes, uniqueness and tiling, once the JSON itself was accepted. */
static tg_status check_entries(tg_st_header *h, uint64_t data_size, const char *path,
                               tg_error *err) {
    for (int i = 0; i < h->n; i++) {
        tg_st_entry *e = &h->entries[i];
        int64_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            if (!tg_size_mul(numel, e->shape[d], INT64_MAX, &numel))
                return tg_error_set(err, TG_ERR_FORMAT,
                                    "checkpoint: '%s': tensor '%s' has more elements than fit "
                                    "in 64 bits",
                                    path, e->name);
        }
        e->numel = numel;
        if (e->begin > e->end || e->end > data_size ||
            (uint64_t)numel > (e->end - e->begin) / e->elem_size ||
            (uint64_t)numel * e->elem_size != e->end - e->begin)
            return tg_error_set(err, TG_ERR_FORMAT,
                                "checkpoint: '%s': tensor '%s' (%s, %lld elements) has "
                                "data_offsets [%llu, %llu], which do not hold %llu bytes "
                                "within the %llu bytes of data",
                                path, e->name, e->dtype, (long long)numel,
                                (unsigned long long)e->begin, (unsigned long long)e->end,
                                (unsigned long long)((uint64_t)numel * e->elem_size),
                                (unsigned long long)data_size);
    }
    if (h->n == 0) {
        if (data_size == 0) return TG_OK;
        return tg_error_set(err, TG_ERR_FORMAT,
                            "checkpoint: '%s': %llu bytes of data but no tensors", path,
                            (unsigned long long)data_size);
    }
    tg_st_entry **sorted = tg_alloc((size_t)h->n * sizeof *sorted);
    if (!sorted) return tg_error_set(err, TG_ERR_NOMEM, "checkpoint: out of memory");
    for (int i = 0; i < h->n; i++) sorted[i] = &h->entries[i];
    tg_status st = TG_OK;
    qsort(sorted, (size_t)h->n, sizeof *sorted, by_name);
    for (int i = 1; i < h->n && st == TG_OK; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            st = tg_error_set(err, TG_ERR_FORMAT, "checkpoint: '%s': tensor '%s' appears twice",
                              path, sorted[i]->name);
    qsort(sorted, (size_t)h->n, sizeof *sorted, by_offset);
    uint64_t at = 0;
    for (int i = 0; i < h->n && st == TG_OK; i++) {
        if (sorted[i]->begin != at)
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "checkpoint: '%s': tensor '%s' starts at byte %llu of the data, "
                              "but the tensors before it end at %llu (%s)",
                              path, sorted[i]->name, (unsigned long long)sorted[i]->begin,
                              (unsigned long long)at,
                              sorted[i]->begin < at ? "an overlap" : "a gap");
        at = sorted[i]->end;
    }
    if (st == TG_OK && at != data_size)
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "checkpoint: '%s': the tensors end at byte %llu of the data, but "
                          "the file holds %llu bytes of data",
                          path, (unsigned long long)at, (unsigned long long)data_size);
    tg_free(sorted);
    return st;
}

tg_status tg_st_parse(const char *json, size_t len, uint64_t data_size, tg_st_header *h,
                      const char *path, tg_error *err) {
    memset(h, 0, sizeof *h);
    tg_checkpoint_meta_init(&h->meta);
    if (!json_utf8_valid(json, len))
        return tg_error_set(err, TG_ERR_FORMAT, "checkpoint: '%s': the header is not UTF-8", path);
    json_reader r;
    json_init(&r, json, len);
    bool ok = true, has_meta = false;
    if (len == 0 || json[0] != '{') ok = json_fail(&r, "the header does not start with '{'");
    ok = ok && json_expect(&r, '{');
    if (ok && !json_accept(&r, '}')) {
        do {
            char name[TG_ST_NAME_MAX];
            if (!(ok = json_string(&r, name, sizeof name) && json_expect(&r, ':'))) break;
            if (strcmp(name, "__metadata__") == 0) {
                if (has_meta) ok = json_fail(&r, "repeated \"__metadata__\"");
                has_meta = true;
                ok = ok && parse_meta(&r, &h->meta);
            } else {
                tg_st_entry *e = new_entry(h);
                if (!e) {
                    tg_st_header_free(h);
                    return tg_error_set(err, TG_ERR_NOMEM, "checkpoint: out of memory");
                }
                memcpy(e->name, name, sizeof name);
                ok = parse_entry(&r, e);
            }
        } while (ok && json_accept(&r, ','));
        ok = ok && json_expect(&r, '}');
    }
    /* After the object only the spaces that pad the header to 8 bytes may follow. */
    while (ok && r.p < r.end)
        if (*r.p++ != ' ') ok = json_fail(&r, "unexpected bytes after the header's object");
    if (!ok) {
        tg_st_header_free(h);
        return tg_error_set(err, TG_ERR_FORMAT, "checkpoint: '%s': bad header: %s", path, r.error);
    }
    tg_status st = check_entries(h, data_size, path, err);
    if (st != TG_OK) tg_st_header_free(h);
    return st;
}

/* ---- writing ---- */

/* Appends to a buffer that may be too small (or absent): it counts what it would need. */
typedef struct sbuf {
    char *p;
    size_t cap, n;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t len) {
    if (b->n + len <= b->cap) memcpy(b->p + b->n, s, len);
    b->n += len;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_quote(sbuf *b, const char *s) {
    size_t room = b->n < b->cap ? b->cap - b->n : 0;
    b->n += json_quote(room ? b->p + b->n : NULL, room, s);
}

static void sb_u64(sbuf *b, uint64_t v) {
    char num[24];
    int k = snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    sb_put(b, num, (size_t)k);
}

static void build_into(sbuf *b, const tg_store *s, const tg_checkpoint_meta *meta,
                       uint64_t *data_size) {
    uint64_t at = 0;
    sb_str(b, "{");
    int n = tg_store_n_tensors(s);
    for (int i = 0; i < n; i++) {
        const tg_tensor *x = tg_store_get_tensor(s, i);
        uint64_t bytes = (uint64_t)tg_tensor_numel(x) * tg_dtype_size(tg_tensor_dtype(x));
        if (i) sb_str(b, ",");
        sb_quote(b, tg_tensor_name(x));
        sb_str(b, tg_tensor_dtype(x) == TG_F32 ? ":{\"dtype\":\"F32\",\"shape\":["
                                               : ":{\"dtype\":\"F64\",\"shape\":[");
        for (int d = 0; d < tg_tensor_ndim(x); d++) {
            if (d) sb_str(b, ",");
            sb_u64(b, (uint64_t)tg_tensor_dim(x, d));
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_u64(b, at);
        sb_str(b, ",");
        sb_u64(b, at + bytes);
        sb_str(b, "]}");
        at += bytes;
    }
    if (n) sb_str(b, ",");
    sb_str(b, "\"__metadata__\":{\"step\":\"");
    char step[24];
    int k = snprintf(step, sizeof step, "%lld", (long long)(meta ? meta->step : 0));
    sb_put(b, step, (size_t)k);
    sb_str(b, "\"");
    for (int i = 0; meta && i < meta->n; i++) {
        sb_str(b, ",");
        sb_quote(b, meta->keys[i]);
        sb_str(b, ":");
        sb_quote(b, meta->values[i]);
    }
    sb_str(b, "}}");
    *data_size = at;
}

tg_status tg_st_build(const tg_store *s, const tg_checkpoint_meta *meta, char **out, size_t *len,
                      uint64_t *data_size, const char *path, tg_error *err) {
    *out = NULL;
    *len = 0;
    int n = tg_store_n_tensors(s);
    for (int i = 0; i < n; i++) {
        const char *name = tg_tensor_name(tg_store_get_tensor(s, i));
        if (!name || !name[0] || strcmp(name, "__metadata__") == 0 ||
            !json_utf8_valid(name, strlen(name)))
            return tg_error_set(err, TG_ERR_ARG,
                                "checkpoint: '%s': tensor %d is named '%s', which a "
                                "safetensors file cannot hold",
                                path, i, name ? name : "");
    }
    if (meta && meta->step < 0)
        return tg_error_set(err, TG_ERR_ARG, "checkpoint: '%s': negative step %lld", path,
                            (long long)meta->step);
    /* The metadata is plain data the caller may have filled by hand: everything the loader
     * would refuse is refused here, before a string is read past its array. */
    if (meta && (meta->n < 0 || meta->n > TG_CHECKPOINT_MAX_META))
        return tg_error_set(err, TG_ERR_ARG, "checkpoint: '%s': metadata count %d is outside "
                            "0..%d", path, meta->n, TG_CHECKPOINT_MAX_META);
    for (int i = 0; meta && i < meta->n; i++) {
        const char *key = meta->keys[i], *value = meta->values[i];
        if (!memchr(key, '\0', TG_CHECKPOINT_KEY_MAX) ||
            !memchr(value, '\0', TG_CHECKPOINT_VALUE_MAX))
            return tg_error_set(err, TG_ERR_ARG, "checkpoint: '%s': metadata entry %d has no "
                                "terminating NUL within its %d-byte key or %d-byte value", path,
                                i, TG_CHECKPOINT_KEY_MAX, TG_CHECKPOINT_VALUE_MAX);
        if (!key[0] || strcmp(key, "step") == 0)
            return tg_error_set(err, TG_ERR_ARG, "checkpoint: '%s': metadata entry %d has the "
                                "key '%s' (empty and \"step\" are reserved)", path, i, key);
        if (!json_utf8_valid(key, strlen(key)) || !json_utf8_valid(value, strlen(value)))
            return tg_error_set(err, TG_ERR_ARG,
                                "checkpoint: '%s': metadata '%s' is not UTF-8 text", path, key);
        for (int j = 0; j < i; j++)
            if (strcmp(meta->keys[j], key) == 0)
                return tg_error_set(err, TG_ERR_ARG, "checkpoint: '%s': metadata key '%s' is "
                                    "repeated", path, key);
    }
    sbuf measure = {NULL, 0, 0};
    build_into(&measure, s, meta, data_size);
    /* Pad so that 8 + header is a multiple of 8: the data then starts aligned. */
    size_t padded = (measure.n + 7) / 8 * 8;
    char *buf = tg_alloc(padded);
    if (!buf)
        return tg_error_set(err, TG_ERR_NOMEM, "checkpoint: out of memory for a %zu-byte header",
                            padded);
    sbuf b = {buf, padded, 0};
    build_into(&b, s, meta, data_size);
    memset(buf + b.n, ' ', padded - b.n);
    *out = buf;
    *len = padded;
    return TG_OK;
}

/* fuzz_text.c: arbitrary bytes against the text corpus loader, tg_text_load.
 *
 * The input is the file. It is loaded whole and cut to a prefix, and each corpus must be the
 * bytes it came from: the vocabulary is their distinct bytes in ascending order, every id is
 * in range, decoding the ids gives the bytes back and encoding the bytes gives the ids, and
 * every random window is a run of consecutive ids. The in-memory loader must agree. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static void check_corpus(const tg_text *x, const uint8_t *bytes, int64_t n) {
    FUZZ_CHECK(tg_text_length(x) == n, "length %lld, want %lld", (long long)tg_text_length(x),
               (long long)n);
    bool seen[256] = {false};
    int distinct = 0;
    for (int64_t i = 0; i < n; i++)
        if (!seen[bytes[i]]) seen[bytes[i]] = true, distinct++;
    int v = tg_text_vocab_size(x);
    FUZZ_CHECK(v == distinct, "vocabulary of %d, %d distinct bytes", v, distinct);
    for (int i = 0; i < v; i++) {
        int c = tg_text_byte(x, i);
        FUZZ_CHECK(c >= 0 && seen[c] && tg_text_id(x, (unsigned char)c) == i, "id %d", i);
        FUZZ_CHECK(i == 0 || tg_text_byte(x, i - 1) < c, "vocabulary not ascending at %d", i);
    }
    FUZZ_CHECK(tg_text_byte(x, v) == -1 && tg_text_byte(x, -1) == -1, "ids out of range");

    const int64_t *ids = tg_text_ids(x);
    char *back = malloc((size_t)n + 1);
    int64_t *again = malloc((size_t)n * sizeof *again);
    FUZZ_CHECK(back && again, "malloc");
    tg_error err = {0};
    FUZZ_CHECK(tg_text_decode(x, ids, n, back, &err) == TG_OK, "decode: %s", err.message);
    FUZZ_CHECK(memcmp(back, bytes, (size_t)n) == 0 && back[n] == '\0', "decode differs");
    FUZZ_CHECK(tg_text_encode(x, (const char *)bytes, n, again, &err) == TG_OK, "encode: %s",
               err.message);
    FUZZ_CHECK(memcmp(again, ids, (size_t)n * sizeof *ids) == 0, "encode differs");
    free(back);
    free(again);

    if (n >= 2) {
        int64_t T = n - 1 < 5 ? n - 1 : 5, win[3 * 6];
        tg_rng rng;
        tg_rng_seed(&rng, (uint64_t)n);
        FUZZ_CHECK(tg_text_windows(x, &rng, 3, T, win, &err) == TG_OK, "windows: %s",
                   err.message);
        for (int b = 0; b < 3; b++) {
            /* The window's ids must occur at some start in the corpus. */
            bool found = false;
            for (int64_t s = 0; !found && s + T < n; s++)
                found = memcmp(ids + s, win + b * (T + 1), (size_t)(T + 1) * sizeof *ids) == 0;
            FUZZ_CHECK(found, "window %d is not in the corpus", b);
        }
    }
    tg_status st = tg_text_windows(x, NULL, 1, 1, NULL, &err);
    fuzz_check_error(&err, st, "tg_text_windows(NULL)");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file("input.txt", data, size);
    const int64_t limits[] = {0, (int64_t)size / 2, 1, (int64_t)size + 1};
    for (size_t k = 0; k < sizeof limits / sizeof limits[0]; k++) {
        int64_t n = limits[k] > 0 && (int64_t)size > limits[k] ? limits[k] : (int64_t)size;
        if (k > 0 && limits[k] == 0) continue; /* size / 2 of a 0- or 1-byte file means "all" */
        tg_error err = {0};
        tg_text *x = tg_text_load(path, limits[k], &err);
        if (n == 0) {
            FUZZ_CHECK(!x && err.status == TG_ERR_FORMAT, "an empty file was accepted");
            fuzz_check_error(&err, err.status, "tg_text_load");
            continue;
        }
        FUZZ_CHECK(x, "tg_text_load of %lld bytes: %s", (long long)n, err.message);
        check_corpus(x, data, n);
        tg_text *m = tg_text_from_memory((const char *)data, n, &err);
        FUZZ_CHECK(m, "tg_text_from_memory: %s", err.message);
        FUZZ_CHECK(tg_text_vocab_size(m) == tg_text_vocab_size(x) &&
                       memcmp(tg_text_ids(m), tg_text_ids(x), (size_t)n * sizeof(int64_t)) == 0,
                   "the file and memory loaders differ");
        tg_text_free(m);
        tg_text_free(x);
    }
    return 0;
}

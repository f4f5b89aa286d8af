/* binpack_file.c: a packed binary matrix (tapegrad/binpack.h) on disk: a 32-byte header
 * ("TGBINPK1", rows and cols as little-endian int64, 8 zero bytes), then rows f32 scales and
 * rows * ceil(cols / 32) uint32 words of bits, all little-endian whatever the host.
 *
 * Invariant: a load either returns a matrix that passed every check of tg_binpack_from_arrays
 * and whose file had exactly the expected length, or NULL with the reason; a save leaves either
 * the whole file or none. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tapegrad.h"
#include "tapegrad/binpack.h"

static const char magic[8] = {'T', 'G', 'B', 'I', 'N', 'P', 'K', '1'};
enum { HEADER = 32 };

static void put_u64(unsigned char *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get_u64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}
static void put_u32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *b) {
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The body (scales, then bits) as little-endian bytes: n_words 32-bit values. */
static unsigned char *body_bytes(const tg_binpack *p, size_t *n_bytes) {
    int64_t rows = tg_binpack_rows(p), words = tg_binpack_words(p);
    size_t n = (size_t)rows * (1 + (size_t)words);
    unsigned char *b = malloc(n * 4);
    if (!b) return NULL;
    const float *scale = tg_binpack_scale(p);
    const uint32_t *bits = tg_binpack_bits(p);
    for (int64_t o = 0; o < rows; o++) {
        uint32_t u;
        memcpy(&u, &scale[o], 4);
        put_u32(b + 4 * o, u);
    }
    for (int64_t k = 0; k < rows * words; k++) put_u32(b + 4 * (rows + k), bits[k]);
    *n_bytes = n * 4;
    return b;
}

tg_status tg_binpack_save(const tg_binpack *p, const char *path, tg_error *err) {
    if (!p || !path)
        return tg_error_set(err, TG_ERR_NULL, "binpack_save: %s is NULL",
                            p ? "path" : "the matrix");
    unsigned char head[HEADER] = {0};
    memcpy(head, magic, 8);
    put_u64(head + 8, (uint64_t)tg_binpack_rows(p));
    put_u64(head + 16, (uint64_t)tg_binpack_cols(p));
    size_t n = 0;
    unsigned char *body = body_bytes(p, &n);
    if (!body) return tg_error_set(err, TG_ERR_NOMEM, "binpack_save: out of memory");
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(head, 1, HEADER, f) == HEADER && fwrite(body, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = false;
    free(body);
    if (!ok) {
        if (f) remove(path);
        return tg_error_set(err, TG_ERR_IO, "binpack_save: cannot write '%s'", path);
    }
    return TG_OK;
}

tg_binpack *tg_binpack_load(const char *path, tg_error *err) {
    if (!path) {
        tg_error_set(err, TG_ERR_NULL, "binpack_load: path is NULL");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        tg_error_set(err, TG_ERR_IO, "binpack_load: cannot open '%s'", path);
        return NULL;
    }
    unsigned char head[HEADER];
    tg_binpack *p = NULL;
    unsigned char *body = NULL;
    float *scale = NULL;
    uint32_t *bits = NULL;
    const char *bad = NULL;
    int64_t rows = 0, cols = 0, words = 0;
    if (fread(head, 1, HEADER, f) != HEADER)
        bad = "is shorter than its header";
    else if (memcmp(head, magic, 8) != 0)
        bad = "is not a packed binary matrix (wrong magic)";
    else {
        rows = (int64_t)get_u64(head + 8);
        cols = (int64_t)get_u64(head + 16);
        for (int i = 24; i < HEADER; i++)
            if (head[i]) bad = "has reserved header bytes that are not zero";
        /* at most 2^36 words (256 GiB) of body: anything larger is not a file we wrote */
        if (!bad && (rows <= 0 || cols <= 0 || cols > (INT64_C(1) << 40) ||
                     rows > (INT64_C(1) << 36) / ((cols + 31) / 32 + 1)))
            bad = "has sizes that are not a matrix";
    }
    size_t n = 0;
    if (!bad) {
        words = (cols + 31) / 32;
        n = (size_t)rows * (1 + (size_t)words) * 4;
        body = malloc(n + 1);
        scale = malloc((size_t)rows * sizeof *scale);
        bits = malloc((size_t)(rows * words) * sizeof *bits);
        if (!body || !scale || !bits) {
            tg_error_set(err, TG_ERR_NOMEM, "binpack_load: out of memory for '%s'", path);
        } else if (fread(body, 1, n + 1, f) != n) {
            bad = "is of a length other than its header says";
        } else {
            for (int64_t o = 0; o < rows; o++) {
                uint32_t u = get_u32(body + 4 * o);
                memcpy(&scale[o], &u, 4);
            }
            for (int64_t k = 0; k < rows * words; k++) bits[k] = get_u32(body + 4 * (rows + k));
            tg_error inner = {0};
            p = tg_binpack_from_arrays(rows, cols, bits, scale, &inner);
            if (!p)
                tg_error_set(err, inner.status == TG_ERR_NOMEM ? TG_ERR_NOMEM : TG_ERR_FORMAT,
                             "binpack_load: '%s': %s", path, inner.message);
        }
    }
    if (bad) tg_error_set(err, TG_ERR_FORMAT, "binpack_load: '%s' %s", path, bad);
    fclose(f);
    free(body);
    free(scale);
    free(bits);
    return p;
}

/* png.c: the PNG writer of png.h. A PNG is a signature and chunks (length, type, data, CRC of
 * type and data); the image chunk (IDAT) holds a zlib stream (deflate.c) of the scanlines, each
 * led by the byte naming the filter its row went through.
 *
 * Invariant: every multi-byte number a PNG holds is big-endian. */
#include "png.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "deflate.h"
#include "outfile.h"

enum { SIDE_MAX = 1 << 24 };

/* The running CRC register after n more bytes (bit by bit: images here are small). */
static uint32_t crc_update(uint32_t c, const uint8_t *bytes, size_t n) {
    for (size_t i = 0; i < n; i++) {
        c ^= bytes[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c;
}

uint32_t ex_crc32(const uint8_t *bytes, size_t n) {
    return crc_update(0xFFFFFFFFu, bytes, n) ^ 0xFFFFFFFFu;
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One chunk: length, type, data, then the CRC of type and data. */
static void put_chunk(FILE *f, const char *type, const uint8_t *data, size_t n) {
    uint8_t head[8];
    put32(head, (uint32_t)n);
    memcpy(head + 4, type, 4);
    /* The CRC runs over type then data, as one stream. */
    uint32_t c = crc_update(crc_update(0xFFFFFFFFu, head + 4, 4), data, n);
    uint8_t tail[4];
    put32(tail, c ^ 0xFFFFFFFFu);
    fwrite(head, 1, 8, f);
    if (n) fwrite(data, 1, n, f);
    fwrite(tail, 1, 4, f);
}

/* Paeth's predictor: of left, up and up-left, the one closest to left + up - up-left. */
static uint8_t paeth(uint8_t a, uint8_t b, uint8_t c) {
    int p = (int)a + (int)b - (int)c;
    int pa = abs(p - (int)a), pb = abs(p - (int)b), pc = abs(p - (int)c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Byte i of the current row under filter f (0 none, 1 left, 2 up, 3 their mean, 4 Paeth): its
 * difference from the filter's prediction. `up` is the row above (NULL for the first), bpp the
 * bytes of a pixel; neighbours outside the image count as 0, as PNG defines. */
static uint8_t filtered(int f, const uint8_t *cur, const uint8_t *up, size_t i, int bpp) {
    bool has_left = i >= (size_t)bpp;
    uint8_t a = has_left ? cur[i - (size_t)bpp] : 0, b = up ? up[i] : 0;
    uint8_t c = up && has_left ? up[i - (size_t)bpp] : 0;
    uint8_t pred = f == 0   ? 0
                   : f == 1 ? a
                   : f == 2 ? b
                   : f == 3 ? (uint8_t)(((unsigned)a + b) / 2)
                            : paeth(a, b, c);
    return (uint8_t)(cur[i] - pred);
}

/* A row's scanline into out: its filter byte, then the n bytes filtered. Of the five filters it
 * takes the one whose differences, read as signed bytes, sum smallest in absolute value: small
 * differences repeat, and repeats are what deflate compresses. */
static void filter_row(uint8_t *out, const uint8_t *cur, const uint8_t *up, size_t n, int bpp) {
    long best_cost = -1;
    int best = 0;
    for (int f = 0; f < 5; f++) {
        long cost = 0;
        for (size_t i = 0; i < n; i++) {
            int d = (int8_t)filtered(f, cur, up, i, bpp);
            cost += d < 0 ? -d : d;
        }
        if (best_cost < 0 || cost < best_cost) best_cost = cost, best = f;
    }
    out[0] = (uint8_t)best;
    for (size_t i = 0; i < n; i++) out[1 + i] = filtered(best, cur, up, i, bpp);
}

tg_status ex_png_write(const char *path, int width, int height, int channels,
                       const uint8_t *pixels, tg_error *err) {
    if (width < 1 || height < 1 || width > SIDE_MAX || height > SIDE_MAX)
        return tg_error_set(err, TG_ERR_ARG, "png: size %dx%d is not in 1..2^24 per side", width,
                            height);
    if (channels != 1 && channels != 3)
        return tg_error_set(err, TG_ERR_ARG, "png: %d channels (1: grey or 3: RGB only)",
                            channels);
    if (!pixels) return tg_error_set(err, TG_ERR_NULL, "png: the pixels are NULL");
    size_t row = (size_t)width * (size_t)channels + 1, raw_n = row * (size_t)height;
    if (raw_n / row != (size_t)height || raw_n + raw_n / 8 + 64 > 0x7FFFFFFFu)
        return tg_error_set(err, TG_ERR_ARG, "png: %dx%d is too large for one image chunk",
                            width, height);
    uint8_t *raw = malloc(raw_n), *z = NULL;
    size_t z_n = 0;
    if (raw) {
        for (int y = 0; y < height; y++)
            filter_row(raw + (size_t)y * row, pixels + (size_t)y * (row - 1),
                       y > 0 ? pixels + (size_t)(y - 1) * (row - 1) : NULL, row - 1, channels);
    }
    if (!raw || ex_zlib_compress(raw, raw_n, &z, &z_n) != TG_OK) {
        free(raw);
        return tg_error_set(err, TG_ERR_NOMEM, "png: out of memory for %dx%d", width, height);
    }
    uint8_t ihdr[13];
    put32(ihdr, (uint32_t)width);
    put32(ihdr + 4, (uint32_t)height);
    ihdr[8] = 8;                      /* bits per sample */
    ihdr[9] = channels == 1 ? 0 : 2;  /* colour type: grey or truecolour */
    ihdr[10] = ihdr[11] = ihdr[12] = 0; /* deflate, adaptive filtering, no interlace */
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    ex_outfile o;
    tg_status st = ex_outfile_open(&o, path, "png", err);
    if (st == TG_OK) {
        fwrite(signature, 1, sizeof signature, o.f);
        put_chunk(o.f, "IHDR", ihdr, sizeof ihdr);
        put_chunk(o.f, "IDAT", z, z_n);
        put_chunk(o.f, "IEND", NULL, 0);
        st = ex_outfile_commit(&o, "png", err);
    }
    free(raw);
    free(z);
    return st;
}

tg_status ex_png_tiles(const char *path, int n, int rows, int cols, int per_row, int scale,
                       const float *values, tg_error *err) {
    if (n < 1 || rows < 1 || cols < 1 || per_row < 1 || scale < 1 || scale > 16 ||
        rows > 4096 || cols > 4096 || n > 4096)
        return tg_error_set(err, TG_ERR_ARG, "png: %d tiles of %dx%d, %d a line, scale %d", n,
                            rows, cols, per_row, scale);
    if (!values) return tg_error_set(err, TG_ERR_NULL, "png: the tile values are NULL");
    int lines = (n + per_row - 1) / per_row, across = n < per_row ? n : per_row, gap = 2 * scale;
    int w = across * (cols * scale + gap) + gap, h = lines * (rows * scale + gap) + gap;
    uint8_t *px = malloc((size_t)w * (size_t)h);
    if (!px) return tg_error_set(err, TG_ERR_NOMEM, "png: out of memory for a %dx%d grid", w, h);
    memset(px, 128, (size_t)w * (size_t)h);
    for (int i = 0; i < n; i++) {
        int x0 = gap + (i % per_row) * (cols * scale + gap);
        int y0 = gap + (i / per_row) * (rows * scale + gap);
        for (int r = 0; r < rows * scale; r++)
            for (int c = 0; c < cols * scale; c++) {
                float v = values[((size_t)i * rows + r / scale) * cols + c / scale];
                v = v != v ? 0.0f : v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; /* NaN shows black */
                px[(size_t)(y0 + r) * w + x0 + c] = (uint8_t)(v * 255.0f + 0.5f);
            }
    }
    tg_status st = ex_png_write(path, w, h, 1, px, err);
    free(px);
    return st;
}

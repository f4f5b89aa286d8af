/* png.c: the PNG writer of png.h. A PNG is a signature and chunks (length, type, data, CRC of
 * type and data); the image chunk (IDAT) holds a zlib stream of the scanlines, each led by its
 * filter byte (0: none). The stream here is a two-byte header, stored deflate blocks of at most
 * 65535 bytes (a block header byte, the length and its complement, then the bytes as they are)
 * and the Adler-32 of the uncompressed scanlines.
 *
 * Invariant: every multi-byte number a PNG holds is big-endian, except the stored block's
 * length and its complement, which deflate writes little-endian. */
#include "png.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"

enum { STORED_MAX = 65535, SIDE_MAX = 1 << 24 };

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

uint32_t ex_adler32(const uint8_t *bytes, size_t n) {
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < n; i++) {
        a = (a + bytes[i]) % 65521u;
        b = (b + a) % 65521u;
    }
    return (b << 16) | a;
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
    size_t n_blocks = (raw_n + STORED_MAX - 1) / STORED_MAX;
    size_t z_n = 2 + raw_n + 5 * n_blocks + 4;
    if (raw_n / row != (size_t)height || z_n > 0x7FFFFFFFu)
        return tg_error_set(err, TG_ERR_ARG, "png: %dx%d is too large for one image chunk",
                            width, height);
    uint8_t *raw = malloc(raw_n), *z = malloc(z_n);
    if (!raw || !z) {
        free(raw);
        free(z);
        return tg_error_set(err, TG_ERR_NOMEM, "png: out of memory for %dx%d", width, height);
    }
    for (int y = 0; y < height; y++) {
        raw[(size_t)y * row] = 0; /* filter: none */
        memcpy(raw + (size_t)y * row + 1, pixels + (size_t)y * (row - 1), row - 1);
    }
    /* zlib header: deflate, 32K window, no dictionary; 0x7801 is a multiple of 31. */
    size_t at = 0;
    z[at++] = 0x78, z[at++] = 0x01;
    for (size_t off = 0; off < raw_n; off += STORED_MAX) {
        size_t len = raw_n - off < STORED_MAX ? raw_n - off : STORED_MAX;
        bool last = off + len == raw_n;
        z[at++] = last ? 1 : 0; /* BFINAL, BTYPE 00 (stored) */
        z[at++] = (uint8_t)len, z[at++] = (uint8_t)(len >> 8);
        z[at++] = (uint8_t)~len, z[at++] = (uint8_t)(~len >> 8);
        memcpy(z + at, raw + off, len);
        at += len;
    }
    put32(z + at, ex_adler32(raw, raw_n));
    at += 4;

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
        put_chunk(o.f, "IDAT", z, at);
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

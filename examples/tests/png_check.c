/* png_check.c: writes the PNG files that unsup_test.py decodes with Python's zlib: a grey image
 * larger than one stored deflate block, a small RGB one and a single pixel, each pixel
 * (x, y, channel) = (7 x + 13 y + 5 channel) mod 256; noise, which deflate cannot shrink (the
 * writer must fall back to stored blocks); and noise whose rows repeat every 100 rows, which only
 * matches from far back (25 KiB, near the end of deflate's window) can shrink. Then checks that
 * bad calls are refused with the right status and leave no file. Usage: png_check OUT_FOLDER. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "png.h"

/* Writes px (w x h pixels of ch bytes) to dir/name and frees it; 1 if that failed. */
static int write_and_free(const char *dir, const char *name, int w, int h, int ch, uint8_t *px) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tg_error err = {0};
    tg_status st = ex_png_write(path, w, h, ch, px, &err);
    free(px);
    if (st != TG_OK) fprintf(stderr, "png_check: %s\n", err.message);
    return st != TG_OK;
}

static int write_pattern(const char *dir, const char *name, int w, int h, int ch) {
    uint8_t *px = malloc((size_t)w * h * ch);
    if (!px) return 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++)
                px[((size_t)y * w + x) * ch + c] = (uint8_t)((7 * x + 13 * y + 5 * c) % 256);
    return write_and_free(dir, name, w, h, ch, px);
}

/* Bytes from a xorshift generator; row y repeats row y - period when period > 0. */
static int write_noise(const char *dir, const char *name, int w, int h, int ch, int period) {
    size_t row = (size_t)w * ch;
    uint8_t *px = malloc(row * h);
    if (!px) return 1;
    uint32_t s = 2463534242u;
    for (int y = 0; y < h; y++)
        for (size_t i = 0; i < row; i++) {
            if (period > 0 && y >= period) {
                px[y * row + i] = px[(y - period) * row + i];
                continue;
            }
            s ^= s << 13, s ^= s >> 17, s ^= s << 5;
            px[y * row + i] = (uint8_t)(s >> 24);
        }
    return write_and_free(dir, name, w, h, ch, px);
}

static int expect(tg_status got, tg_status want, const char *what) {
    if (got == want) return 0;
    fprintf(stderr, "png_check: %s gave %s, want %s\n", what, tg_status_string(got),
            tg_status_string(want));
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: png_check OUT_FOLDER\n");
        return 2;
    }
    const char *dir = argv[1];
    int bad = write_pattern(dir, "grey_300x250.png", 300, 250, 1) +
              write_pattern(dir, "rgb_7x3.png", 7, 3, 3) + write_pattern(dir, "one.png", 1, 1, 1) +
              write_noise(dir, "noise_200x150.png", 200, 150, 1, 0) +
              write_noise(dir, "repeat_rgb_85x300.png", 85, 300, 3, 100);
    uint8_t px[4] = {0};
    char path[4096];
    tg_error err = {0};
    snprintf(path, sizeof path, "%s/no-such-folder/x.png", dir);
    bad += expect(ex_png_write(path, 2, 2, 1, px, &err), TG_ERR_IO, "an unwritable path");
    if (!strstr(err.message, "no-such-folder")) {
        fprintf(stderr, "png_check: the I/O error does not name the path: %s\n", err.message);
        bad++;
    }
    snprintf(path, sizeof path, "%s/refused.png", dir);
    bad += expect(ex_png_write(path, 0, 2, 1, px, &err), TG_ERR_ARG, "width 0");
    bad += expect(ex_png_write(path, 2, 2, 4, px, &err), TG_ERR_ARG, "4 channels");
    bad += expect(ex_png_write(path, 2, 2, 1, NULL, &err), TG_ERR_NULL, "NULL pixels");
    bad += expect(ex_png_tiles(path, 0, 28, 28, 8, 2, NULL, &err), TG_ERR_ARG, "no tiles");
    float tiles[2 * 3 * 4];
    for (int i = 0; i < 24; i++) tiles[i] = (float)i / 23.0f;
    snprintf(path, sizeof path, "%s/tiles.png", dir);
    bad += expect(ex_png_tiles(path, 2, 3, 4, 8, 2, tiles, &err), TG_OK, "two tiles");
    snprintf(path, sizeof path, "%s/refused.png", dir);
    FILE *f = fopen(path, "r");
    if (f) {
        fclose(f);
        fprintf(stderr, "png_check: a refused call left %s\n", path);
        bad++;
    }
    return bad ? 1 : 0;
}

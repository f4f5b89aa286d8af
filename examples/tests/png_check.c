/* png_check.c: writes the PNG files that unsup_test.py decodes with Python's zlib: a grey image
 * large enough to need several stored deflate blocks, a small RGB one and a single pixel, each
 * pixel (x, y, channel) = (7 x + 13 y + 5 channel) mod 256; then checks that bad calls are
 * refused with the right status and leave no file. Usage: png_check OUT_FOLDER. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "png.h"

static int write_pattern(const char *dir, const char *name, int w, int h, int ch) {
    uint8_t *px = malloc((size_t)w * h * ch);
    if (!px) return 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < ch; c++)
                px[((size_t)y * w + x) * ch + c] = (uint8_t)((7 * x + 13 * y + 5 * c) % 256);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    tg_error err = {0};
    tg_status st = ex_png_write(path, w, h, ch, px, &err);
    free(px);
    if (st != TG_OK) fprintf(stderr, "png_check: %s\n", err.message);
    return st != TG_OK;
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
              write_pattern(dir, "rgb_7x3.png", 7, 3, 3) + write_pattern(dir, "one.png", 1, 1, 1);
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

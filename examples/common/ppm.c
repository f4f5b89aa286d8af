/* ppm.c: the P6 reader of ppm.h. The header is "P6", then width, height and maxval as decimal
 * numbers separated by whitespace (a '#' starts a comment that runs to the end of its line),
 * then exactly one whitespace byte, then width * height * 3 bytes.
 *
 * Invariant: every number is range-checked before it sizes an allocation, so a corrupt header
 * gives TG_ERR_FORMAT rather than a huge or overflowing request. */
#include "ppm.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

enum { SIDE_MAX = 16384 };

/* The next header number, skipping whitespace and comments; -1 when there is none or it is
 * over 10^6 (bigger than any size this reader accepts). */
static long header_number(FILE *f) {
    int c = fgetc(f);
    for (;;) {
        while (c != EOF && isspace(c)) c = fgetc(f);
        if (c != '#') break;
        while (c != EOF && c != '\n') c = fgetc(f);
    }
    if (c == EOF || !isdigit(c)) return -1;
    long v = 0;
    while (c != EOF && isdigit(c)) {
        v = v * 10 + (c - '0');
        if (v > 1000000) return -1;
        c = fgetc(f);
    }
    /* The byte after the number must be whitespace; it is consumed (after maxval it is the one
     * separator before the pixels). */
    return c != EOF && isspace(c) ? v : -1;
}

tg_status ex_ppm_read(const char *path, ex_picture *pic, tg_error *err) {
    if (!pic) return tg_error_set(err, TG_ERR_NULL, "ppm: NULL picture for %s", path ? path : "?");
    pic->width = pic->height = 0;
    pic->rgb = NULL;
    if (!path) return tg_error_set(err, TG_ERR_NULL, "ppm: NULL path");
    FILE *f = fopen(path, "rb");
    if (!f) return tg_error_set(err, TG_ERR_IO, "ppm: cannot open %s", path);
    char magic[2] = {0, 0};
    long w = -1, h = -1, maxval = -1;
    if (fread(magic, 1, 2, f) == 2 && magic[0] == 'P' && magic[1] == '6') {
        w = header_number(f);
        h = w >= 0 ? header_number(f) : -1;
        maxval = h >= 0 ? header_number(f) : -1;
    }
    if (w < 1 || h < 1 || w > SIDE_MAX || h > SIDE_MAX || maxval != 255) {
        fclose(f);
        return tg_error_set(err, TG_ERR_FORMAT,
                            "ppm: %s is not a binary PPM (P6) of 1..%d pixels a side with maxval "
                            "255", path, SIDE_MAX);
    }
    size_t n = (size_t)w * (size_t)h * 3;
    unsigned char *bytes = malloc(n);
    float *rgb = malloc(n * sizeof *rgb);
    if (!bytes || !rgb) {
        free(bytes), free(rgb), fclose(f);
        return tg_error_set(err, TG_ERR_NOMEM, "ppm: out of memory for %s (%ldx%ld)", path, w, h);
    }
    size_t got = fread(bytes, 1, n, f);
    fclose(f);
    if (got != n) {
        free(bytes), free(rgb);
        return tg_error_set(err, TG_ERR_IO, "ppm: %s ends after %zu of its %zu pixel bytes", path,
                            got, n);
    }
    for (size_t i = 0; i < n; i++) rgb[i] = bytes[i] / 255.0f;
    free(bytes);
    pic->width = (int)w, pic->height = (int)h, pic->rgb = rgb;
    return TG_OK;
}

void ex_picture_free(ex_picture *pic) {
    if (!pic) return;
    free(pic->rgb);
    pic->rgb = NULL;
    pic->width = pic->height = 0;
}

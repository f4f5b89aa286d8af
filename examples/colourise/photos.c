/* photos.c: loading the colouriser's photos (photos.h), the synthetic set, and YCbCr. */
#include "photos.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void co_photos_free(co_photos *set) {
    if (!set) return;
    for (int i = 0; i < set->n; i++) ex_picture_free(&set->pics[i]);
    set->n = 0;
}

tg_status co_photos_load(co_photos *set, const char *dir, tg_error *err) {
    set->n = 0;
    DIR *d = opendir(dir);
    if (!d) return tg_error_set(err, TG_ERR_IO, "photos: cannot read the folder %s", dir);
    char *names[CO_MAX_PHOTOS + 1];
    int n = 0;
    tg_status st = TG_OK;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len < 5 || len >= 64 || strcmp(e->d_name + len - 4, ".ppm") != 0) continue;
        if (n == CO_MAX_PHOTOS) {
            st = tg_error_set(err, TG_ERR_ARG, "photos: %s holds more than %d .ppm files", dir,
                              CO_MAX_PHOTOS);
            break;
        }
        if (!(names[n] = malloc(len + 1))) {
            st = tg_error_set(err, TG_ERR_NOMEM, "photos: out of memory");
            break;
        }
        memcpy(names[n++], e->d_name, len + 1);
    }
    closedir(d);
    if (st == TG_OK && n == 0) st = tg_error_set(err, TG_ERR_IO, "photos: no .ppm file in %s", dir);
    qsort(names, (size_t)n, sizeof names[0], by_name);
    for (int i = 0; i < n && st == TG_OK; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        st = ex_ppm_read(path, &set->pics[i], err);
        if (st != TG_OK) break;
        set->n = i + 1;
        snprintf(set->names[i], sizeof set->names[i], "%.*s", (int)strlen(names[i]) - 4, names[i]);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    if (st != TG_OK) co_photos_free(set);
    return st;
}

/* A smooth random field in [0, 1]: a sum of a few random Gaussian bumps. */
static double field(const double *bumps, int n_bumps, double x, double y) {
    double v = 0;
    for (int k = 0; k < n_bumps; k++) {
        const double *b = bumps + 4 * k;
        v += b[3] * exp(-((x - b[0]) * (x - b[0]) + (y - b[1]) * (y - b[1])) / (b[2] * b[2]));
    }
    return 1.0 / (1.0 + exp(-3.0 * (v - 0.5)));
}

tg_status co_photos_synthetic(co_photos *set, int n, int width, int height, uint64_t seed,
                              tg_error *err) {
    set->n = 0;
    if (n < 1 || n > CO_MAX_PHOTOS || width < 8 || height < 8)
        return tg_error_set(err, TG_ERR_ARG, "synthetic photos: %d of %dx%d", n, width, height);
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    enum { BUMPS = 6 };
    for (int i = 0; i < n; i++) {
        ex_picture *p = &set->pics[i];
        p->width = width, p->height = height;
        if (!(p->rgb = malloc(sizeof(float) * 3 * (size_t)width * height))) {
            co_photos_free(set);
            return tg_error_set(err, TG_ERR_NOMEM, "synthetic photos: out of memory");
        }
        set->n = i + 1;
        snprintf(set->names[i], sizeof set->names[i], "synthetic %d", i);
        double bumps[4 * BUMPS];
        for (int k = 0; k < BUMPS; k++) {
            bumps[4 * k] = tg_rng_uniform(&rng) * width;
            bumps[4 * k + 1] = tg_rng_uniform(&rng) * height;
            bumps[4 * k + 2] = (0.15 + 0.2 * tg_rng_uniform(&rng)) * width;
            bumps[4 * k + 3] = tg_rng_uniform(&rng) < 0.5 ? 1.0 : -0.6;
        }
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++) {
                /* w near 1: a warm, bright, smooth region; near 0: a cool, darker one with
                 * stripes, so brightness and texture both tell the colour. */
                double w = field(bumps, BUMPS, x, y);
                double stripes = 0.12 * (1.0 - w) * sin(1.6 * x + 0.7 * y);
                double lum = 0.25 + 0.5 * w + stripes;
                float *px = p->rgb + ((size_t)y * width + x) * 3;
                double cb = -0.18 * w + 0.12 * (1.0 - w), cr = 0.2 * w - 0.1 * (1.0 - w);
                float yy = (float)lum, ccb = (float)cb, ccr = (float)cr;
                co_to_rgb(&yy, &ccb, &ccr, 1, px);
            }
    }
    return TG_OK;
}

void co_to_ycc(const float *rgb, int64_t n, float *y, float *cb, float *cr) {
    for (int64_t i = 0; i < n; i++) {
        float r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
        float l = 0.299f * r + 0.587f * g + 0.114f * b;
        y[i] = l, cb[i] = 0.564f * (b - l), cr[i] = 0.713f * (r - l);
    }
}

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

void co_to_rgb(const float *y, const float *cb, const float *cr, int64_t n, float *rgb) {
    for (int64_t i = 0; i < n; i++) {
        float r = y[i] + cr[i] / 0.713f, b = y[i] + cb[i] / 0.564f;
        float g = (y[i] - 0.299f * r - 0.114f * b) / 0.587f;
        rgb[3 * i] = clamp01(r), rgb[3 * i + 1] = clamp01(g), rgb[3 * i + 2] = clamp01(b);
    }
}

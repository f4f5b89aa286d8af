/* photos.h: the colouriser's data: folders of photos read as PPM, or a synthetic set made in
 * memory, and the luminance / chrominance split it learns across.
 *
 *     co_photos train;
 *     co_photos_load(&train, "data/images/colour/train", &err);   // every *.ppm, sorted
 *     co_to_ycc(train.pics[0].rgb, n_pixels, y, cb, cr);           // and co_to_rgb back
 *     co_photos_free(&train);
 *
 * The colour space is full-range YCbCr (as JPEG uses) with the chroma centred on zero:
 *   Y = 0.299 R + 0.587 G + 0.114 B,  Cb = 0.564 (B - Y),  Cr = 0.713 (R - Y),
 * so Y is in [0, 1] and Cb, Cr in [-0.5, 0.5], and grey pixels have Cb = Cr = 0.
 *
 * Invariant: after a failed load the set is empty and owns nothing. */
#ifndef EXAMPLES_COLOURISE_PHOTOS_H
#define EXAMPLES_COLOURISE_PHOTOS_H

#include <stdint.h>

#include "ppm.h"

enum { CO_MAX_PHOTOS = 256 };

typedef struct co_photos {
    int n;
    ex_picture pics[CO_MAX_PHOTOS];
    char names[CO_MAX_PHOTOS][64]; /* the file name without ".ppm", or "synthetic <i>" */
} co_photos;

/* Every regular *.ppm file of folder dir, in name order. TG_ERR_IO when the folder cannot be
 * read or holds no .ppm file, TG_ERR_ARG when it holds more than CO_MAX_PHOTOS; the reader's
 * errors (naming the file) otherwise. */
tg_status co_photos_load(co_photos *set, const char *dir, tg_error *err);

/* n synthetic width x height photos from seed: smooth blobs whose colour follows from their
 * brightness and the texture drawn on them (bright smooth regions warm, dark striped regions
 * cool), so colour can be predicted from grey, as in real photos of foliage and flowers. */
tg_status co_photos_synthetic(co_photos *set, int n, int width, int height, uint64_t seed,
                              tg_error *err);

void co_photos_free(co_photos *set);

/* n interleaved RGB pixels to planes y, cb, cr (n each), and back (clamped to [0, 1]). */
void co_to_ycc(const float *rgb, int64_t n, float *y, float *cb, float *cr);
void co_to_rgb(const float *y, const float *cb, const float *cr, int64_t n, float *rgb);

#endif

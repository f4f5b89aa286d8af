/* ppm.h: reading binary PPM pictures (P6, 8 bits per channel), the plain format that
 * tools/get-images writes for the style-transfer and colourisation examples, so that the
 * programs need no image library.
 *
 *     ex_picture pic;
 *     tg_error err = {0};
 *     if (ex_ppm_read("data/images/style/style.ppm", &pic, &err) != TG_OK) puts(err.message);
 *     // pic.rgb[(y * pic.width + x) * 3 + c], c = 0 red, 1 green, 2 blue, values in [0, 1]
 *     ex_picture_free(&pic);
 *
 * Invariant: a call that fails leaves *pic empty (NULL pixels) and owns nothing. */
#ifndef EXAMPLES_COMMON_PPM_H
#define EXAMPLES_COMMON_PPM_H

#include <tapegrad.h>

/* An RGB picture, row-major, three floats per pixel in [0, 1]; rgb is owned by the picture. */
typedef struct ex_picture {
    int width, height;
    float *rgb;
} ex_picture;

/* Reads a P6 file with maxval 255 (comments allowed in the header, as the format permits).
 * TG_ERR_IO when the file cannot be opened or ends early, TG_ERR_FORMAT for a header that is
 * not P6, a size of 0 or over 16384 per side, or another maxval; TG_ERR_NOMEM; err names the
 * path. */
tg_status ex_ppm_read(const char *path, ex_picture *pic, tg_error *err);

/* Frees the pixels and empties the picture; an empty picture is a no-op. */
void ex_picture_free(ex_picture *pic);

#endif

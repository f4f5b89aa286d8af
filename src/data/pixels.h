/* pixels.h: converting u8 pixels to f32 for the batcher (pixels.c). Private to src/data. */
#ifndef TG_DATA_PIXELS_H
#define TG_DATA_PIXELS_H

#include <stdbool.h>
#include <stdint.h>

/* Whether (float)v / 255.0f equals lut[v] for every v: the condition for using
 * tg_pixels_to_unit_f32 in place of the table lut. */
bool tg_pixels_divide_is_exact(const float lut[256]);

/* dst[i] = lut[src[i]] for i < n, where lut[v] is v / 255 rounded to float (checked by
 * tg_pixels_divide_is_exact): vector divides at the CPU level in effect, the table on the
 * portable path and for the tail. */
void tg_pixels_to_unit_f32(const uint8_t *src, float *dst, int64_t n, const float lut[256]);

#endif

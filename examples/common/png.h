/* png.h: writing 8-bit greyscale or RGB images as PNG files with no compression library: each
 * row goes through the PNG filter that suits it best, the rows are compressed by our own deflate
 * (deflate.h), and the chunks are closed by their CRC-32.
 *
 *     uint8_t px[2 * 3] = {0, 64, 128, 192, 255, 32};      // 3 wide, 2 high, row-major
 *     ex_png_write("tiny.png", 3, 2, 1, px, &err);
 *
 * Invariant: the file appears whole or not at all (written through ex_outfile), and its bytes
 * depend only on the pixels. */
#ifndef EXAMPLES_COMMON_PNG_H
#define EXAMPLES_COMMON_PNG_H

#include <stddef.h>
#include <stdint.h>

#include <tapegrad.h>

/* The CRC-32 of PNG chunks (and zip, gzip): reflected polynomial 0xEDB88320. */
uint32_t ex_crc32(const uint8_t *bytes, size_t n);

/* Writes width x height pixels of `channels` bytes each (1: grey, 3: RGB), row-major with no
 * padding, to path. TG_ERR_ARG for a size of 0, over 2^24 per side, or other channel counts;
 * TG_ERR_NOMEM, TG_ERR_IO (naming the path) otherwise. */
tg_status ex_png_write(const char *path, int width, int height, int channels,
                       const uint8_t *pixels, tg_error *err);

/* A grid of n greyscale tiles of rows x cols values in [0, 1] (clamped; tile i at
 * values + i rows cols), per_row to a line, each value drawn as a scale x scale block, tiles
 * 2 blocks apart on a mid-grey ground (so black and white tiles both show their edges). */
tg_status ex_png_tiles(const char *path, int n, int rows, int cols, int per_row, int scale,
                       const float *values, tg_error *err);

#endif

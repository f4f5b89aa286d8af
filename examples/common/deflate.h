/* deflate.h: a zlib stream (RFC 1950 framing around RFC 1951 deflate) made without a compression
 * library, for the PNG writer.
 *
 *     uint8_t *z; size_t z_n;
 *     if (ex_zlib_compress(bytes, n, &z, &z_n) == TG_OK) { ...write z_n bytes of z...; free(z); }
 *
 * The data are matched against the previous 32 KiB (LZ77 over hash chains of 3-byte prefixes)
 * and coded with deflate's fixed Huffman table: no table to send, and on the pictures the
 * examples draw (flat grounds, tiles drawn as blocks of equal pixels, smooth filtered rows) most
 * of the size goes anyway. Data that would grow under that code (noise) go out as stored blocks.
 *
 * Invariant: the output depends only on the input bytes (no clock, no randomness), so a program
 * run twice writes the same file. */
#ifndef EXAMPLES_COMMON_DEFLATE_H
#define EXAMPLES_COMMON_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#include <tapegrad.h>

/* Compresses n bytes into a new zlib stream *out of *out_n bytes (free it with free()).
 * TG_ERR_NULL for NULL pointers (bytes may be NULL when n is 0), TG_ERR_NOMEM when memory runs
 * out (nothing is left allocated then). */
tg_status ex_zlib_compress(const uint8_t *bytes, size_t n, uint8_t **out, size_t *out_n);

/* The Adler-32 checksum zlib ends its stream with. */
uint32_t ex_adler32(const uint8_t *bytes, size_t n);

#endif

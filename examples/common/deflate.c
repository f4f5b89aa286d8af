/* deflate.c: the zlib compressor of deflate.h.
 *
 * Deflate sends a stream of symbols: literal bytes 0-255, the end of a block (256), and matches
 * "copy `length` bytes from `distance` back" as a length symbol (257-285, plus extra bits)
 * followed by a distance symbol (0-29, plus extra bits). With the fixed table (block type 1) the
 * code of each symbol is known in advance. Codes are Huffman codes and go out most significant
 * bit first, while every other field (extra bits, block headers) goes out least significant bit
 * first; the bit writer takes everything least significant first, so codes are reversed before
 * they are written.
 *
 * Matches are found through hash chains: head[h] is the latest position whose next 3 bytes hash
 * to h, chain[p % WINDOW] the position before p with the same hash. A search walks at most
 * MAX_CHAIN links back and stops at the 32 KiB window, which is what deflate's distances reach. */
#include "deflate.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
    WINDOW = 32768,
    HASH_BITS = 15,
    MIN_MATCH = 3,
    MAX_MATCH = 258,
    MAX_CHAIN = 64,   /* links followed per search: past this, longer searches rarely pay */
    FAR_FOR_3 = 4096, /* a 3-byte match farther back costs more bits than its literals */
    STORED_MAX = 65535
};

/* The first length of each length symbol 257-285, and its count of extra bits. */
static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
/* The first distance of each distance symbol 0-29, and its count of extra bits. */
static const uint16_t dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,    17,  25,
                                       33,   49,   65,   97,   129,  193,   257,   385,   513, 769,
                                       1025, 1537, 2049, 3073, 4097, 6145,  8193,  12289, 16385,
                                       24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

uint32_t ex_adler32(const uint8_t *bytes, size_t n) {
    uint32_t a = 1, b = 0;
    while (n > 0) {
        /* 5552 bytes is the most that can be summed before b may pass 2^32. */
        size_t run = n < 5552 ? n : 5552;
        for (size_t i = 0; i < run; i++) {
            a += bytes[i];
            b += a;
        }
        a %= 65521u;
        b %= 65521u;
        bytes += run;
        n -= run;
    }
    return (b << 16) | a;
}

/* Bits accumulate least significant first and leave as whole bytes. The buffer is sized by the
 * caller for the worst case, so put never checks room. */
typedef struct bit_writer {
    uint8_t *out;
    size_t at;
    uint64_t acc;
    int n_bits;
} bit_writer;

static void put_bits(bit_writer *w, uint32_t bits, int n) {
    w->acc |= (uint64_t)bits << w->n_bits;
    w->n_bits += n;
    while (w->n_bits >= 8) {
        w->out[w->at++] = (uint8_t)w->acc;
        w->acc >>= 8;
        w->n_bits -= 8;
    }
}

static void flush_bits(bit_writer *w) {
    if (w->n_bits > 0) w->out[w->at++] = (uint8_t)w->acc;
    w->acc = 0;
    w->n_bits = 0;
}

/* A Huffman code of n bits, written most significant bit first. */
static void put_code(bit_writer *w, uint32_t code, int n) {
    uint32_t reversed = 0;
    for (int i = 0; i < n; i++) reversed |= ((code >> i) & 1u) << (n - 1 - i);
    put_bits(w, reversed, n);
}

/* A literal/length symbol in the fixed code (RFC 1951, 3.2.6). */
static void put_symbol(bit_writer *w, int s) {
    if (s < 144)
        put_code(w, 0x30u + (uint32_t)s, 8);
    else if (s < 256)
        put_code(w, 0x190u + (uint32_t)(s - 144), 9);
    else if (s < 280)
        put_code(w, (uint32_t)(s - 256), 7);
    else
        put_code(w, 0xC0u + (uint32_t)(s - 280), 8);
}

static void put_match(bit_writer *w, int length, int distance) {
    int l = 28;
    while (len_base[l] > length) l--;
    put_symbol(w, 257 + l);
    put_bits(w, (uint32_t)(length - len_base[l]), len_extra[l]);
    int d = 29;
    while (dist_base[d] > distance) d--;
    put_code(w, (uint32_t)d, 5);
    put_bits(w, (uint32_t)(distance - dist_base[d]), dist_extra[d]);
}

static uint32_t hash3(const uint8_t *p) {
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    return (v * 2654435761u) >> (32 - HASH_BITS);
}

/* Hash chains over the window; positions are stored plus one so that 0 means "none". */
typedef struct matcher {
    size_t *head;  /* HASH_SIZE entries */
    size_t *chain; /* WINDOW entries */
} matcher;

static void insert(matcher *m, const uint8_t *data, size_t n, size_t pos) {
    if (pos + MIN_MATCH > n) return;
    uint32_t h = hash3(data + pos);
    m->chain[pos % WINDOW] = m->head[h];
    m->head[h] = pos + 1;
}

/* The longest earlier match for the bytes at pos (length 0 if under MIN_MATCH). */
static int longest_match(const matcher *m, const uint8_t *data, size_t n, size_t pos,
                         int *distance) {
    if (pos + MIN_MATCH > n) return 0;
    size_t limit = n - pos < MAX_MATCH ? n - pos : MAX_MATCH;
    int best = 0;
    size_t cand = m->head[hash3(data + pos)];
    for (int links = 0; cand != 0 && links < MAX_CHAIN; links++) {
        size_t c = cand - 1;
        /* A slot of the ring reused by a newer position, or one out of the window: stop. */
        if (c >= pos || pos - c > WINDOW) break;
        if (data[c + (size_t)best] == data[pos + (size_t)best]) {
            size_t len = 0;
            while (len < limit && data[c + len] == data[pos + len]) len++;
            if ((int)len > best) {
                best = (int)len;
                *distance = (int)(pos - c);
                if (len == limit) break;
            }
        }
        size_t next = m->chain[c % WINDOW];
        if (next >= cand) break; /* the chain must only go back */
        cand = next;
    }
    if (best == MIN_MATCH && *distance > FAR_FOR_3) return 0;
    return best >= MIN_MATCH ? best : 0;
}

/* The whole input as one fixed-code block. */
static void put_fixed_block(bit_writer *w, matcher *m, const uint8_t *data, size_t n) {
    put_bits(w, 1, 1); /* BFINAL */
    put_bits(w, 1, 2); /* BTYPE 01: fixed Huffman codes */
    size_t pos = 0;
    while (pos < n) {
        int distance = 0;
        int length = longest_match(m, data, n, pos, &distance);
        if (length == 0) {
            put_symbol(w, data[pos]);
            insert(m, data, n, pos++);
            continue;
        }
        put_match(w, length, distance);
        for (int k = 0; k < length; k++) insert(m, data, n, pos++);
    }
    put_symbol(w, 256);
    flush_bits(w);
}

/* The input as stored blocks of at most 65535 bytes each. */
static size_t put_stored_blocks(uint8_t *out, const uint8_t *data, size_t n) {
    size_t at = 0, off = 0;
    do {
        size_t len = n - off < STORED_MAX ? n - off : STORED_MAX;
        out[at++] = off + len == n ? 1 : 0; /* BFINAL, BTYPE 00 (stored) */
        out[at++] = (uint8_t)len, out[at++] = (uint8_t)(len >> 8);
        out[at++] = (uint8_t)~len, out[at++] = (uint8_t)(~len >> 8);
        if (len) memcpy(out + at, data + off, len);
        at += len;
        off += len;
    } while (off < n);
    return at;
}

tg_status ex_zlib_compress(const uint8_t *bytes, size_t n, uint8_t **out, size_t *out_n) {
    if ((!bytes && n > 0) || !out || !out_n) return TG_ERR_NULL;
    *out = NULL;
    *out_n = 0;
    size_t stored = n + 5 * (n / STORED_MAX + 1);
    /* A literal costs at most 9 bits, and a match at most 31 bits for its 3 or more bytes. */
    size_t fixed = n + n / 8 + 8;
    size_t cap = 2 + (stored > fixed ? stored : fixed) + 4;
    uint8_t *z = malloc(cap);
    matcher m = {calloc((size_t)1 << HASH_BITS, sizeof(size_t)), calloc(WINDOW, sizeof(size_t))};
    if (!z || !m.head || !m.chain) {
        free(z);
        free(m.head);
        free(m.chain);
        return TG_ERR_NOMEM;
    }
    /* zlib header: deflate, 32 KiB window, no dictionary; 0x7801 is a multiple of 31. */
    z[0] = 0x78, z[1] = 0x01;
    bit_writer w = {z, 2, 0, 0};
    put_fixed_block(&w, &m, bytes, n);
    size_t at = w.at;
    if (at - 2 > stored) at = 2 + put_stored_blocks(z + 2, bytes, n);
    uint32_t adler = ex_adler32(bytes, n);
    z[at++] = (uint8_t)(adler >> 24), z[at++] = (uint8_t)(adler >> 16);
    z[at++] = (uint8_t)(adler >> 8), z[at++] = (uint8_t)adler;
    free(m.head);
    free(m.chain);
    *out = z;
    *out_n = at;
    return TG_OK;
}

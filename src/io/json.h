/* json.h: the small pieces of JSON that a safetensors header needs, read and written: a
 * cursor over a byte range that never reads past its end, strings with every escape (decoded
 * to UTF-8), non-negative integers, and punctuation. Private to src/io. */
#ifndef TG_IO_JSON_H
#define TG_IO_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct json_reader {
    const char *start, *p, *end;
    char error[128]; /* what went wrong and at which byte; "" while all is well */
} json_reader;

void json_init(json_reader *r, const char *text, size_t len);
/* Skips JSON white space (space, tab, CR, LF). */
void json_ws(json_reader *r);
/* After white space, the next byte, or -1 at the end. */
int json_peek(json_reader *r);
/* After white space, consumes c and returns true if it is next; false otherwise (no error). */
bool json_accept(json_reader *r, char c);
/* Like json_accept, but records an error when c is not next. */
bool json_expect(json_reader *r, char c);
/* Reads a string into out (NUL-terminated UTF-8, at most size - 1 bytes). Errors: malformed
 * escape, unpaired surrogate, raw control byte, a NUL character, or longer than size - 1. */
bool json_string(json_reader *r, char *out, size_t size);
/* Reads a non-negative integer without sign, fraction or exponent, at most 2^63 - 1. */
bool json_uint(json_reader *r, uint64_t *out);
/* Records an error "what at byte N" unless one is recorded already; returns false. */
bool json_fail(json_reader *r, const char *what);

/* True when text[0..len) is well-formed UTF-8 (no overlong forms, no surrogates). */
bool json_utf8_valid(const char *text, size_t len);

/* Writes s as a JSON string with quotes and escapes into out (capacity cap); returns the
 * length it needs, so a first call with cap 0 measures. */
size_t json_quote(char *out, size_t cap, const char *s);

#endif

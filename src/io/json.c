/* json.c: a minimal JSON cursor for safetensors headers (see json.h), strict where JSON is
 * strict (no leading zeros, no raw control bytes, paired surrogates).
 *
 * Invariant: the cursor p stays within [start, end] and every read checks p < end first, so no
 * input, however corrupt, can make it read outside the buffer it was given. */
#include "json.h"

#include <stdio.h>
#include <string.h>

void json_init(json_reader *r, const char *text, size_t len) {
    r->start = r->p = text;
    r->end = text + len;
    r->error[0] = '\0';
}

bool json_fail(json_reader *r, const char *what) {
    if (!r->error[0])
        snprintf(r->error, sizeof r->error, "%s at byte %ld", what, (long)(r->p - r->start));
    return false;
}

void json_ws(json_reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

int json_peek(json_reader *r) {
    json_ws(r);
    return r->p < r->end ? (unsigned char)*r->p : -1;
}

bool json_accept(json_reader *r, char c) {
    if (json_peek(r) != (unsigned char)c) return false;
    r->p++;
    return true;
}

bool json_expect(json_reader *r, char c) {
    if (json_accept(r, c)) return true;
    char what[32];
    snprintf(what, sizeof what, "expected '%c'", c);
    return json_fail(r, what);
}

/* Four hex digits of a \u escape. *out is written on every path (0 on failure): json_fail is in
 * another unit, so at -O2/-O3 the compiler cannot see that a false return leaves nothing to read. */
static bool hex4(json_reader *r, unsigned *out) {
    unsigned v = 0;
    *out = 0;
    for (int i = 0; i < 4; i++) {
        if (r->p >= r->end) return json_fail(r, "unfinished \\u escape");
        char c = *r->p++;
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return json_fail(r, "bad hex digit in \\u escape");
        v = v << 4 | d;
    }
    *out = v;
    return true;
}

/* Appends code point cp as UTF-8; false when it does not fit. */
static bool put_utf8(char *out, size_t size, size_t *n, unsigned cp) {
    unsigned char b[4];
    size_t k;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        k = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    if (*n + k >= size) return false;
    memcpy(out + *n, b, k);
    *n += k;
    return true;
}

bool json_string(json_reader *r, char *out, size_t size) {
    if (!json_expect(r, '"')) return false;
    size_t n = 0;
    for (;;) {
        if (r->p >= r->end) return json_fail(r, "unterminated string");
        unsigned char c = (unsigned char)*r->p++;
        if (c == '"') break;
        if (c < 0x20) return json_fail(r, "raw control character in string");
        if (c != '\\') {
            if (n + 1 >= size) return json_fail(r, "string too long");
            out[n++] = (char)c;
            continue;
        }
        if (r->p >= r->end) return json_fail(r, "unterminated escape");
        char e = *r->p++;
        unsigned cp;
        switch (e) {
        case '"':
            cp = '"';
            break;
        case '\\':
            cp = '\\';
            break;
        case '/':
            cp = '/';
            break;
        case 'b':
            cp = '\b';
            break;
        case 'f':
            cp = '\f';
            break;
        case 'n':
            cp = '\n';
            break;
        case 'r':
            cp = '\r';
            break;
        case 't':
            cp = '\t';
            break;
        case 'u':
            if (!hex4(r, &cp)) return false;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return json_fail(r, "unpaired low surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (r->end - r->p < 2 || r->p[0] != '\\' || r->p[1] != 'u')
                    return json_fail(r, "unpaired high surrogate");
                r->p += 2;
                if (!hex4(r, &lo)) return false;
                if (lo < 0xDC00 || lo > 0xDFFF) return json_fail(r, "unpaired high surrogate");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) return json_fail(r, "NUL character in string");
            break;
        default:
            return json_fail(r, "unknown escape");
        }
        if (!put_utf8(out, size, &n, cp)) return json_fail(r, "string too long");
    }
    out[n] = '\0';
    return true;
}

bool json_uint(json_reader *r, uint64_t *out) {
    json_ws(r);
    if (r->p >= r->end || *r->p < '0' || *r->p > '9')
        return json_fail(r, "expected a non-negative integer");
    if (*r->p == '0' && r->p + 1 < r->end && r->p[1] >= '0' && r->p[1] <= '9')
        return json_fail(r, "integer with a leading zero");
    uint64_t v = 0;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        uint64_t d = (uint64_t)(*r->p - '0');
        if (v > (UINT64_C(0x7FFFFFFFFFFFFFFF) - d) / 10) return json_fail(r, "integer too large");
        v = v * 10 + d;
        r->p++;
    }
    if (r->p < r->end && (*r->p == '.' || *r->p == 'e' || *r->p == 'E'))
        return json_fail(r, "expected an integer, found a fraction or exponent");
    *out = v;
    return true;
}

bool json_utf8_valid(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text, *e = s + len;
    while (s < e) {
        unsigned c = *s;
        size_t k;
        unsigned cp, min;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if ((size_t)(e - s) <= k) return false;
        for (size_t i = 1; i <= k; i++) {
            if ((s[i] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        s += k + 1;
    }
    return true;
}

size_t json_quote(char *out, size_t cap, const char *s) {
    size_t n = 0;
#define PUT(ch)                                                                                    \
    do {                                                                                           \
        if (n < cap) out[n] = (ch);                                                                \
        n++;                                                                                       \
    } while (0)
    PUT('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            PUT('\\');
            PUT((char)c);
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            PUT('\\');
            PUT('u');
            PUT('0');
            PUT('0');
            PUT(hex[c >> 4]);
            PUT(hex[c & 15]);
        } else {
            PUT((char)c);
        }
    }
    PUT('"');
#undef PUT
    return n;
}

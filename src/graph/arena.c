/* arena.c: bump allocation in chunks for tapes and stores.
 *
 * Invariant: after a reset the arena holds one chunk at least as large as the most any step
 * has used so far, so a step that repeats the previous one's allocations never calls malloc.
 * The first reset after a step that spilled into several chunks merges them into one. The
 * chunks it replaces are kept (retired) for TG_ARENA_SKEWS more resets before they are freed, so
 * that a tensor kept from a step before the merge still has readable memory when an op checks
 * its generation: the check then refuses it instead of reading freed memory. */
#include <string.h>

#include "graph.h"

struct tg_chunk {
    tg_chunk *next;
    size_t size;         /* usable bytes after the header */
    unsigned retired_at; /* on the retired list: the arena's n_resets when it was replaced */
    char *base;          /* TG_ARENA_ALIGN-aligned start of the usable bytes */
};

#define TG_CHUNK_MIN ((size_t)1 << 20)

static size_t align_up(size_t n) {
    return (n + TG_ARENA_ALIGN - 1) & ~(size_t)(TG_ARENA_ALIGN - 1);
}

static tg_chunk *chunk_new(size_t size) {
    if (size > SIZE_MAX - sizeof(tg_chunk) - 2 * TG_ARENA_ALIGN) return NULL;
    char *raw = tg_alloc(sizeof(tg_chunk) + size + TG_ARENA_ALIGN);
    if (!raw) return NULL;
    tg_chunk *c = (tg_chunk *)raw;
    uintptr_t start = (uintptr_t)(raw + sizeof(tg_chunk));
    start = (start + TG_ARENA_ALIGN - 1) & ~(uintptr_t)(TG_ARENA_ALIGN - 1);
    c->next = NULL;
    c->size = size;
    c->base = (char *)start;
    return c;
}

void tg_arena_init(tg_arena *a) {
    memset(a, 0, sizeof *a);
}

void *tg_arena_alloc(tg_arena *a, size_t size) {
    if (size > SIZE_MAX / 2) return NULL;
    size = align_up(size ? size : 1);
    if (a->current && a->used_in_current + size <= a->current->size) {
        void *p = a->current->base + a->used_in_current;
        a->used_in_current += size;
        a->bytes_used += size;
        if (a->bytes_used > a->high_water) a->high_water = a->bytes_used;
        return p;
    }
    /* Move on to a kept chunk that fits, or append a new one. */
    tg_chunk *next = a->current ? a->current->next : a->head;
    while (next && next->size < size) next = next->next;
    if (!next) {
        size_t want = size > TG_CHUNK_MIN ? size : TG_CHUNK_MIN;
        if (a->high_water / 2 > want) want = align_up(a->high_water / 2);
        next = chunk_new(want);
        if (!next) return NULL;
        if (!a->head) {
            a->head = next;
        } else {
            tg_chunk *tail = a->current ? a->current : a->head;
            while (tail->next) tail = tail->next;
            tail->next = next;
        }
    }
    a->current = next;
    a->used_in_current = size;
    a->bytes_used += size;
    if (a->bytes_used > a->high_water) a->high_water = a->bytes_used;
    return next->base;
}

static void free_chunks(tg_chunk *c) {
    while (c) {
        tg_chunk *next = c->next;
        tg_free(c);
        c = next;
    }
}

/* Moves the chunk list `list` to the retired list, stamped with the current reset count. */
static void retire(tg_arena *a, tg_chunk *list) {
    tg_chunk *tail = list;
    for (;; tail = tail->next) {
        tail->retired_at = a->n_resets;
        if (!tail->next) break;
    }
    tail->next = a->retired;
    a->retired = list;
}

/* Frees the retired chunks replaced TG_ARENA_SKEWS or more resets ago (a free, never a malloc,
 * so steady state stays allocation-free). Unsigned differences survive n_resets wrapping. */
static void free_expired(tg_arena *a) {
    tg_chunk **p = &a->retired;
    while (*p) {
        tg_chunk *c = *p;
        if (a->n_resets - c->retired_at >= TG_ARENA_SKEWS) {
            *p = c->next;
            tg_free(c);
        } else {
            p = &c->next;
        }
    }
}

/* The most a skew adds to a step: the merged chunk keeps this much room, so that the same step
 * at any skew fits it and steady state stays free of malloc. */
#define SKEW_MAX ((size_t)(TG_ARENA_SKEWS - 1) * TG_ARENA_SKEW_UNIT)

void tg_arena_reset(tg_arena *a) {
    if (a->head && a->head->next && a->high_water > a->head->size) {
        /* The last steps spilled: replace all chunks by one that holds the high-water mark.
         * If that allocation fails, keep the chunks we have; they still work. */
        tg_chunk *merged = chunk_new(align_up(a->high_water) + SKEW_MAX);
        if (merged) {
            retire(a, a->head);
            a->head = merged;
        }
    }
    if (a->retired) free_expired(a);
    /* The skew (see graph.h) counts as used, so bytes_used stays what the chunk has given out.
     * The cycle starts with the first chunk: before it, no step has placed anything. */
    if (a->head) a->n_resets++;
    size_t skew = (size_t)(a->n_resets % TG_ARENA_SKEWS) * TG_ARENA_SKEW_UNIT;
    if (!a->head || a->head->size < skew) skew = 0;
    a->current = a->head;
    a->used_in_current = skew;
    a->bytes_used = skew;
    if (a->bytes_used > a->high_water) a->high_water = a->bytes_used;
}

void tg_arena_release(tg_arena *a) {
    free_chunks(a->head);
    free_chunks(a->retired);
    tg_arena_init(a);
}

size_t tg_arena_reserved(const tg_arena *a) {
    size_t n = 0;
    for (const tg_chunk *c = a->head; c; c = c->next) n += c->size;
    return n;
}

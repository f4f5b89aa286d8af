/* alloc.c: the one allocator hook every tapegrad allocation goes through (CONTRIBUTING S3.3). */
#include <stdlib.h>

#include "alloc.h"

static void *default_malloc(size_t size, void *user) {
    (void)user;
    return malloc(size);
}

static void default_free(void *ptr, void *user) {
    (void)user;
    free(ptr);
}

static tg_allocator current = {default_malloc, default_free, NULL};

void tg_set_allocator(const tg_allocator *allocator) {
    if (allocator && allocator->malloc_fn && allocator->free_fn)
        current = *allocator;
    else
        current = (tg_allocator){default_malloc, default_free, NULL};
}

void *tg_alloc(size_t size) {
    return current.malloc_fn(size ? size : 1, current.user);
}

void tg_free(void *ptr) {
    if (ptr) current.free_fn(ptr, current.user);
}

tg_allocator tg_allocator_in_effect(void) { return current; }

void tg_free_with(const tg_allocator *a, void *ptr) {
    if (ptr) a->free_fn(ptr, a->user);
}

/* alloc.h: the allocator hook every tapegrad allocation goes through (alloc.c), as the library
 * calls it. It sits with the kernels, the bottom layer, because everything allocates: the
 * kernels' scratch and the thread pool as much as tapes and stores (src/graph/graph.h includes
 * this). */
#ifndef TG_KERNELS_ALLOC_H
#define TG_KERNELS_ALLOC_H

#include <stddef.h>

#include "tapegrad/base.h"

void *tg_alloc(size_t size);
void tg_free(void *ptr);
/* For memory that may outlive the allocator installed when it was taken (the kernels'
 * per-thread scratch lives as long as its thread): the allocator in effect now, and freeing
 * through a given one. */
tg_allocator tg_allocator_in_effect(void);
void tg_free_with(const tg_allocator *a, void *ptr);

#endif

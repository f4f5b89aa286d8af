/* packed.h: the layout of a packed binary matrix (tapegrad/binpack.h), shared by binpack.c,
 * which makes it, and binmm.c, whose ops use it. Private to src/ops.
 *
 * Invariant: the bits past cols in every row are 0 and every scale is finite. */
#ifndef TG_OPS_PACKED_H
#define TG_OPS_PACKED_H

#include "kernels/binmm.h"
#include "tapegrad/binpack.h"

struct tg_binpack {
    kern_bits k; /* rows, cols, words, and the arrays, which follow the struct in one block */
};

#endif

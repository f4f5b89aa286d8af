/* tapegrad.h: reverse-mode automatic differentiation on f32/f64 tensors, in C11.
 *
 * Ops record nodes on a tape as a forward pass runs; tg_tape_backward walks the tape backwards
 * and calls each op's own backward rule, so gradients are derived, never hand-coded. Parameters
 * persist in a store, everything else lives on the tape until tg_tape_reset. Errors never abort:
 * a failing op returns NULL and the first error stays on the tape, naming the op, the shapes and
 * the calling line. The headers:
 *
 *   tapegrad/base.h       status codes, dtypes, the allocator hook
 *   tapegrad/tensor.h     tensors: creation, inspection, data in and out
 *   tapegrad/tape.h       the tape, the parameter store, the reverse sweep
 *   tapegrad/ops.h        the operations
 *   tapegrad/conv.h       2-D convolution and pooling
 *   tapegrad/custom_op.h  ops defined by user code, recorded and differentiated like built-ins
 *   tapegrad/sparse.h     sparse (CSR) matrices and their products with dense ones
 *   tapegrad/norm.h       batch and layer normalisation
 *   tapegrad/rng.h        the seeded, machine-independent random generator
 *   tapegrad/registry.h   the registered ops: names, properties, nodes recorded on a tape
 *   tapegrad/gradcheck.h  finite-difference proofs of first and second derivatives
 *   tapegrad/recompute.h  recomputed segments (gradient checkpointing): memory for time
 *   tapegrad/derivatives.h Hessian-vector and Jacobian-vector products, small Jacobians
 *   tapegrad/dot.h        Graphviz DOT export of a recorded graph
 *   tapegrad/stats.h      norms and NaN/Inf counts of tensors and of gradients
 *   tapegrad/runtime.h    threads and the CPU instruction set the kernels use
 *   tapegrad/data.h       IDX image sets, text corpora, the seeded batch iterator
 *   tapegrad/checkpoint.h saving and loading a store in the safetensors format
 *   tapegrad/optim.h      optimisers, learning-rate schedules, gradient clipping
 *   tapegrad/prune.h      magnitude pruning with masks, one-shot or gradual
 *   tapegrad/nn.h         layers: Linear, Conv2d, pooling, norms, dropout, RNN/LSTM/GRU cells
 *   tapegrad/init.h       initialisers: uniform, normal, Xavier, Kaiming, orthogonal
 *
 * A least-squares step, start to end (this example is compiled and run by the test suite):
 *
 *     #include <tapegrad.h>
 *
 *     int main(void) {
 *         tg_store *s = tg_store_new();
 *         tg_tape *t = tg_tape_new();
 *         tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(2, 1));
 *         const double xs[] = {1, 2, 3, 4, 5, 6}, ys[] = {5, 11, 17};
 *         for (int step = 0; step < 3000; step++) {
 *             tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(3, 2), xs);
 *             tg_tensor *y = tg_from_data(t, TG_F64, TG_SHAPE(3, 1), ys);
 *             tg_tensor *err = tg_sub(t, tg_matmul(t, x, w), y);
 *             tg_tensor *loss = tg_mean_all(t, tg_mul(t, err, err));
 *             tg_store_zero_grad(s);
 *             if (tg_tape_backward(t, loss, NULL, 0) != TG_OK) {
 *                 fprintf(stderr, "%s\n", tg_tape_error(t));
 *                 return 1;
 *             }
 *             double *wv = tg_tensor_data(w), *gv = tg_tensor_data(tg_tensor_grad(w));
 *             for (int i = 0; i < 2; i++) wv[i] -= 0.02 * gv[i];
 *             tg_tape_reset(t);
 *         }
 *         double *wv = tg_tensor_data(w);
 *         printf("w = %.3f %.3f\n", wv[0], wv[1]);   // close to 1 and 2
 *         tg_tape_free(t);
 *         tg_store_free(s);
 *         return 0;
 *     }
 */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include "tapegrad/attention.h"
#include "tapegrad/base.h"
#include "tapegrad/binary.h"
#include "tapegrad/binpack.h"
#include "tapegrad/checkpoint.h"
#include "tapegrad/conv.h"
#include "tapegrad/custom_op.h"
#include "tapegrad/data.h"
#include "tapegrad/derivatives.h"
#include "tapegrad/dot.h"
#include "tapegrad/gradcheck.h"
#include "tapegrad/init.h"
#include "tapegrad/nn.h"
#include "tapegrad/norm.h"
#include "tapegrad/ops.h"
#include "tapegrad/optim.h"
#include "tapegrad/prune.h"
#include "tapegrad/recompute.h"
#include "tapegrad/registry.h"
#include "tapegrad/rng.h"
#include "tapegrad/runtime.h"
#include "tapegrad/sparse.h"
#include "tapegrad/stats.h"
#include "tapegrad/tape.h"
#include "tapegrad/tensor.h"

#endif

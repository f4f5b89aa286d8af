/* tapegrad/derivatives.h: Hessian-vector and Jacobian-vector products and small Jacobians, from
 * a graph already recorded on the tape.
 *
 * Each call takes an output y recorded on tape t from inputs xs (tensors that require a
 * gradient), as tg_tape_grad does, and runs reverse sweeps over that graph. Backward rules are
 * made of ops (CONTRIBUTING D3), so a sweep recorded with TG_CREATE_GRAPH can be swept again:
 *   - tg_hvp:      H v   = d/dx <dy/dx, v>, two sweeps;
 *   - tg_jvp:      J v   by the double-backward trick: with a dummy u of y's shape,
 *                  g(u) = J^T u is linear in u, and J v = d/du <g(u), v>; two sweeps;
 *   - tg_jacobian: dy/dx, one sweep per element of y (for small functions).
 * tapegrad has no forward-mode (tangent) rules; docs/benchmarks.md measures what the double-
 * backward JVP costs against forward mode in PyTorch.
 *
 * The sweeps keep the graph (TG_RETAIN_GRAPH), so several products can be taken from one
 * recording. With TG_CREATE_GRAPH in flags the results are recorded too and can be
 * differentiated again. Results are owned by the tape; valid until tg_tape_reset.
 *
 *     tg_tensor *x = tg_from_data(t, TG_F64, TG_SHAPE(3), xs);
 *     tg_tensor_set_requires_grad(x, true);
 *     tg_tensor *y = tg_sum_all(t, tg_mul(t, x, tg_mul(t, x, x)));   // sum x^3
 *     tg_tensor *v = tg_ones(t, TG_F64, TG_SHAPE(3)), *hv;
 *     tg_hvp(t, y, 1, &x, &v, &hv, 0);                                  // hv = 6 x * v
 */
#ifndef TAPEGRAD_DERIVATIVES_H
#define TAPEGRAD_DERIVATIVES_H

#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* Hessian-vector product of a scalar y (one element): hv[i] = sum_j d2y/dxi dxj v[j], with
 * v[j] of xs[j]'s shape and dtype and hv[i] of xs[i]'s. An input y does not depend on gets
 * zeros, and so does every input of a y linear in them. Errors, kept on t and returned: a NULL
 * array or tensor (TG_ERR_NULL), n_inputs < 1 (TG_ERR_ARG), a y with more than one element or a
 * v of the wrong shape (TG_ERR_SHAPE) or dtype (TG_ERR_DTYPE), a y no input reaches
 * (TG_ERR_NOGRAD), and whatever the sweeps meet. hv[] is all NULL after an error. */
tg_status tg_hvp(tg_tape *t, tg_tensor *y, int n_inputs, tg_tensor *const *xs,
                 tg_tensor *const *v, tg_tensor **hv, unsigned flags);

/* Jacobian-vector product: *jv = sum_j dy/dxj v[j], of y's shape (any), with v[j] of xs[j]'s
 * shape and dtype: the change of y along the direction v. Errors as tg_hvp's (any shape of y is
 * allowed); *jv is NULL after an error. */
tg_status tg_jvp(tg_tape *t, tg_tensor *y, int n_inputs, tg_tensor *const *xs,
                 tg_tensor *const *v, tg_tensor **jv, unsigned flags);

/* The most elements tg_jacobian's output may have: it makes one sweep per element. */
#define TG_JACOBIAN_MAX_ROWS 65536

/* The Jacobian dy/dx of shape y.shape + x.shape: element (i..., j...) is dy[i...]/dx[j...]. Costs
 * one sweep per element of y, so it is meant for small functions. Errors as tg_hvp's, and
 * TG_ERR_SHAPE when y.ndim + x.ndim exceeds TG_MAX_DIMS, TG_ERR_ARG when y has more than
 * TG_JACOBIAN_MAX_ROWS elements; *jac is NULL after an error. */
tg_status tg_jacobian(tg_tape *t, tg_tensor *y, tg_tensor *x, tg_tensor **jac, unsigned flags);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif

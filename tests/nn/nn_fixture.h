/* nn_fixture.h: what the layer suites share on top of tests/fixture.h: loading a fixture's
 * tensors into a layer's parameters or onto a tape in either dtype, and comparing a result with
 * the fixture at a tolerance fixed per dtype in advance. */
#ifndef TG_NN_FIXTURE_H
#define TG_NN_FIXTURE_H

#include "../fixture.h"
#include "../test_util.h"

/* f64 results must match PyTorch's float64 to this; f32 ones to NN_TOL_F32 (1 + max |value|),
 * f32's rounding after a few dozen operations. */
#define NN_TOL_F64 1e-10
#define NN_TOL_F32 1e-4

/* Loads fixture `name` or fails the test with the reason. */
#define NN_LOAD(f, name) ck_assert_msg(fixture_load(&(f), name), "fixture %s: %s", name, (f).error)

/* Copies fixture tensor `name` into the existing tensor p (a parameter or buffer, any dtype);
 * fails the test if the name is missing or the shapes differ. */
void nn_fill_from(const fixture *f, const char *name, tg_tensor *p);

/* A new tape tensor of `dtype` holding fixture tensor `name`, a gradient-requiring leaf if
 * asked; fails the test if the name is missing. */
tg_tensor *nn_input(const fixture *f, tg_tape *t, const char *name, tg_dtype dtype,
                    bool requires_grad);

/* Integer data (ids, labels) stored in the fixture, as a malloc'd array the caller frees. */
int64_t *nn_ints(const fixture *f, const char *name, int64_t *count);

/* The largest difference between x and fixture tensor `name`, scaled for x's dtype: |x - e|
 * for f64, |x - e| / (1 + max |e|) for f32. INFINITY on a shape mismatch or a NULL x. */
double nn_error(const fixture *f, const char *name, const tg_tensor *x);

/* Asserts that x matches fixture tensor `name` within the tolerance of x's dtype. */
#define NN_CHECK(f, name, x)                                                                       \
    do {                                                                                           \
        const tg_tensor *x_ = (x);                                                                 \
        double e_ = nn_error(&(f), name, x_);                                                      \
        double tol_ = tg_tensor_dtype(x_) == TG_F64 ? NN_TOL_F64 : NN_TOL_F32;                     \
        ck_assert_msg(e_ <= tol_, "%s (%s) differs from PyTorch by %g (tolerance %g)", name,       \
                      tg_dtype_name(tg_tensor_dtype(x_)), e_, tol_);                               \
    } while (0)

/* Back-propagates the upstream gradient (fixture tensor gy_name) through y. */
void nn_backward_with(const fixture *f, tg_tape *t, tg_tensor *y, const char *gy_name);

#endif

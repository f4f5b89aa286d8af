/* nn_fixture.c: the helpers of nn_fixture.h. */
#include "nn_fixture.h"

#include <string.h>

static const fixture_tensor *must_get(const fixture *f, const char *name) {
    const fixture_tensor *e = fixture_get(f, name);
    ck_assert_msg(e != NULL, "the fixture has no tensor '%s'", name);
    return e;
}

void nn_fill_from(const fixture *f, const char *name, tg_tensor *p) {
    const fixture_tensor *e = must_get(f, name);
    ck_assert_ptr_nonnull(p);
    ck_assert_msg(tg_tensor_ndim(p) == e->ndim, "'%s': %d dimensions, the fixture has %d", name,
                  tg_tensor_ndim(p), e->ndim);
    for (int d = 0; d < e->ndim; d++)
        ck_assert_msg(tg_tensor_dim(p, d) == e->shape[d],
                      "'%s': dimension %d is %lld, the "
                      "fixture has %lld",
                      name, d, (long long)tg_tensor_dim(p, d), (long long)e->shape[d]);
    ck_assert_int_eq(tg_tensor_copy_in(p, TG_F64, e->values), TG_OK);
}

tg_tensor *nn_input(const fixture *f, tg_tape *t, const char *name, tg_dtype dtype,
                    bool requires_grad) {
    const fixture_tensor *e = must_get(f, name);
    tg_tensor *x = tg_zeros(t, dtype, e->ndim, e->shape);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(tg_tensor_copy_in(x, TG_F64, e->values), TG_OK);
    if (requires_grad) ck_assert_int_eq(tg_tensor_set_requires_grad(x, true), TG_OK);
    return x;
}

int64_t *nn_ints(const fixture *f, const char *name, int64_t *count) {
    const fixture_tensor *e = must_get(f, name);
    int64_t *v = malloc((size_t)(e->numel ? e->numel : 1) * sizeof *v);
    ck_assert_ptr_nonnull(v);
    for (int64_t i = 0; i < e->numel; i++) v[i] = (int64_t)e->values[i];
    if (count) *count = e->numel;
    return v;
}

double nn_error(const fixture *f, const char *name, const tg_tensor *x) {
    const fixture_tensor *e = fixture_get(f, name);
    if (!e || !x) return INFINITY;
    double raw = fixture_max_diff(f, name, x);
    if (tg_tensor_dtype(x) == TG_F64) return raw;
    double scale = 0;
    for (int64_t i = 0; i < e->numel; i++)
        if (fabs(e->values[i]) > scale) scale = fabs(e->values[i]);
    return raw / (1.0 + scale);
}

void nn_backward_with(const fixture *f, tg_tape *t, tg_tensor *y, const char *gy_name) {
    ck_assert_msg(y != NULL, "forward failed: %s", tg_tape_error(t));
    tg_tensor *gy = nn_input(f, t, gy_name, tg_tensor_dtype(y), false);
    ck_assert_msg(tg_tape_backward(t, y, gy, 0) == TG_OK, "backward failed: %s", tg_tape_error(t));
}

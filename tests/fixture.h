/* fixture.h: reads the reference fixtures in tests/fixtures/ (written by tools/make_fixtures.py):
 * named row-major f64 tensors, so tests compare against PyTorch without running Python. */
#ifndef TG_TEST_FIXTURE_H
#define TG_TEST_FIXTURE_H

#include <tapegrad.h>

typedef struct fixture_tensor {
    char name[64];
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t numel;
    double *values;
} fixture_tensor;

typedef struct fixture {
    int n;
    fixture_tensor tensors[48];
    char error[256]; /* why loading failed, "" when it worked */
} fixture;

/* Loads tests/fixtures/NAME.txt into f; false (with f->error) on any problem. */
bool fixture_load(fixture *f, const char *name);
void fixture_free(fixture *f);
/* The tensor called `name`, or NULL. */
const fixture_tensor *fixture_get(const fixture *f, const char *name);
/* A new f64 tape tensor holding the fixture tensor `name`, requiring a gradient if asked; NULL
 * if absent. */
tg_tensor *fixture_tensor_on(const fixture *f, tg_tape *t, const char *name, bool requires_grad);
/* Max |x - expected| over all elements (x read as f64), or INFINITY on a shape mismatch. */
double fixture_max_diff(const fixture *f, const char *name, const tg_tensor *x);

#endif

/* fixture.c: the fixture reader (see fixture.h). */
#include "fixture.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TG_TEST_SOURCE_DIR
#error "TG_TEST_SOURCE_DIR must name the tests/ folder"
#endif

static bool fail(fixture *f, FILE *in, const char *why) {
    snprintf(f->error, sizeof f->error, "%s", why);
    if (in) fclose(in);
    fixture_free(f);
    return false;
}

bool fixture_load(fixture *f, const char *name) {
    memset(f, 0, sizeof *f);
    char path[512];
    snprintf(path, sizeof path, "%s/fixtures/%s.txt", TG_TEST_SOURCE_DIR, name);
    FILE *in = fopen(path, "r");
    if (!in) return fail(f, NULL, "cannot open the fixture file");
    char line[1024];
    while (fgets(line, sizeof line, in)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        if (strncmp(line, "tensor ", 7) != 0) return fail(f, in, "expected a tensor header");
        if (f->n == (int)(sizeof f->tensors / sizeof f->tensors[0]))
            return fail(f, in, "too many tensors");
        fixture_tensor *x = &f->tensors[f->n];
        char *p = line + 7;
        int used = 0;
        if (sscanf(p, "%63s %d%n", x->name, &x->ndim, &used) != 2 || x->ndim < 0 ||
            x->ndim > TG_MAX_DIMS)
            return fail(f, in, "bad tensor header");
        p += used;
        x->numel = 1;
        for (int d = 0; d < x->ndim; d++) {
            long long v;
            if (sscanf(p, "%lld%n", &v, &used) != 1 || v < 0) return fail(f, in, "bad shape");
            p += used;
            x->shape[d] = v;
            x->numel *= v;
        }
        x->values = malloc((size_t)(x->numel ? x->numel : 1) * sizeof(double));
        if (!x->values) return fail(f, in, "out of memory");
        f->n++;
        for (int64_t i = 0; i < x->numel; i++)
            if (fscanf(in, "%lf", &x->values[i]) != 1) return fail(f, in, "too few values");
        if (!fgets(line, sizeof line, in) && x->numel) break; /* rest of the last value line */
    }
    fclose(in);
    return true;
}

void fixture_free(fixture *f) {
    for (int i = 0; i < f->n; i++) free(f->tensors[i].values);
    f->n = 0;
}

const fixture_tensor *fixture_get(const fixture *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

tg_tensor *fixture_tensor_on(const fixture *f, tg_tape *t, const char *name, bool requires_grad) {
    const fixture_tensor *x = fixture_get(f, name);
    if (!x) return NULL;
    tg_tensor *y = tg_from_data(t, TG_F64, x->ndim, x->shape, x->values);
    if (y && requires_grad) tg_tensor_set_requires_grad(y, true);
    return y;
}

double fixture_max_diff(const fixture *f, const char *name, const tg_tensor *x) {
    const fixture_tensor *e = fixture_get(f, name);
    if (!e || !x || tg_tensor_numel(x) != e->numel || tg_tensor_ndim(x) != e->ndim)
        return INFINITY;
    for (int d = 0; d < e->ndim; d++)
        if (tg_tensor_dim(x, d) != e->shape[d]) return INFINITY;
    double m = 0;
    for (int64_t i = 0; i < e->numel; i++) {
        double d = fabs(tg_tensor_get(x, i) - e->values[i]);
        if (!(d <= m)) m = d; /* NaN propagates as the worst */
    }
    return m;
}

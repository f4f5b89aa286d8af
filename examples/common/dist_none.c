/* dist_none.c: --dist in a build without MPI (see dist.h): refused, and the rest no-ops. */
#include <stdio.h>

#include "dist.h"

bool ex_dist_begin(int *argc, char ***argv, ex_common *c, const char *name) {
    (void)argc;
    (void)argv;
    if (!c->dist) return true;
    fprintf(stderr,
            "%s: --dist needs tapegrad built with MPI (install openmpi-bin libopenmpi-dev and "
            "reconfigure)\n",
            name);
    return false;
}
int ex_dist_rank(void) { return 0; }
int ex_dist_size(void) { return 1; }
tg_status ex_dist_attach(tg_store *s, tg_tape *t, tg_error *err) {
    (void)s;
    (void)t;
    (void)err;
    return TG_OK;
}
void ex_dist_split(tg_batcher_opts *o) { (void)o; }
tg_status ex_dist_sync(tg_error *err) {
    (void)err;
    return TG_OK;
}
void ex_dist_release(void) {}
int ex_dist_end(int status) { return status; }

/* dist.c: --dist for the examples over libtapegrad_dist (see dist.h). One group per process,
 * kept here, since an example trains one model. */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>

#include <tapegrad/dist.h>

static tg_dist *group;
static bool active;
static int rank, size = 1;

bool ex_dist_begin(int *argc, char ***argv, ex_common *c, const char *name) {
    if (!c->dist) return true;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        fprintf(stderr, "%s: --dist: MPI_Init failed\n", name);
        return false;
    }
    active = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (rank != 0) {
        if (!freopen("/dev/null", "w", stdout))
            fprintf(stderr, "%s: rank %d: stdout kept\n", name, rank);
        c->save = c->csv = c->svg = c->dot = NULL;
        setenv("TG_PROGRESS", "off", 1);
    }
    return true;
}

int ex_dist_rank(void) { return rank; }
int ex_dist_size(void) { return size; }

tg_status ex_dist_attach(tg_store *s, tg_tape *t, tg_error *err) {
    if (!active) return TG_OK;
    group = tg_dist_new(s, MPI_COMM_WORLD, NULL, err);
    if (!group) return err ? err->status : TG_ERR_ARG;
    tg_status st = tg_dist_broadcast(group, err);
    if (st == TG_OK) st = tg_dist_attach(group, t);
    return st;
}

void ex_dist_split(tg_batcher_opts *o) {
    if (group) tg_dist_batcher_split(group, o);
}

tg_status ex_dist_sync(tg_error *err) { return group ? tg_dist_sync(group, err) : TG_OK; }

void ex_dist_release(void) {
    if (group) tg_dist_attach(group, NULL); /* the tape lives on a little longer */
    tg_dist_free(group);
    group = NULL;
}

int ex_dist_end(int status) {
    if (!active) return status;
    if (status != 0) MPI_Abort(MPI_COMM_WORLD, status);
    ex_dist_release();
    MPI_Finalize();
    return status;
}

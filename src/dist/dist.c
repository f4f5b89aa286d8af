/* dist.c: the data-parallel group: its own communicator, the check that every rank built the
 * same store, broadcasting the store from rank 0, agreeing on failures, rank-0 checkpoints, and
 * the bounded wait all communication goes through.
 *
 * Invariant: no call waits on MPI without a deadline. Collectives are the nonblocking forms,
 * tested until done or until opts.timeout_s has passed; errors come back as codes
 * (MPI_ERRORS_RETURN on the group's communicator), never as an abort. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "dist_int.h"

double dist_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double dist_thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

MPI_Datatype dist_mpi_type(tg_dtype dt) { return dt == TG_F64 ? MPI_DOUBLE : MPI_FLOAT; }

tg_status dist_usable(const tg_dist *d, tg_error *err) {
    if (!d) return tg_error_set(err, TG_ERR_NULL, "dist: NULL group");
    if (d->broken)
        return tg_error_set(err, TG_ERR_IO, "dist: rank %d: the group failed earlier (%s)", d->rank,
                            d->broken_msg);
    return TG_OK;
}

static tg_status broken(tg_dist *d, tg_error *err, const char *msg) {
    d->broken = true;
    snprintf(d->broken_msg, sizeof d->broken_msg, "%s", msg);
    return tg_error_set(err, TG_ERR_IO, "dist: rank %d: %s", d->rank, msg);
}

tg_status dist_mpi_fail(tg_dist *d, int rc, const char *what, tg_error *err) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, text, &len);
    char msg[200]; /* the cuts below keep the message whole: at most 184 bytes */
    snprintf(msg, sizeof msg, "%.50s failed: MPI error %d (%.100s)", what, rc, text);
    return broken(d, err, msg);
}

/* The calling thread's timer slack (how late the kernel may end a sleep), set to 1 us for
 * the naps of a wait and restored after; a no-op where there is no such setting. */
typedef long nap_slack;
static nap_slack precise_naps(void) {
#ifdef __linux__
    int was = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    if (was > 0) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
    return was;
#else
    return -1;
#endif
}
static void restore_naps(nap_slack was) {
#ifdef __linux__
    if (was > 0) prctl(PR_SET_TIMERSLACK, (unsigned long)was, 0, 0, 0);
#else
    (void)was;
#endif
}

tg_status dist_wait_poll(tg_dist *d, dist_poll poll, void *ctx, char *what, double *waited,
                         tg_error *err) {
    double start = dist_now(), cpu_start = waited ? dist_thread_cpu() : 0;
    /* A short spin keeps a fast exchange fast; sleeping afterwards leaves the core to the
     * ranks still computing, which on a machine with as many ranks as cores is this rank's
     * peer (spinning 2000 tests cost as much CPU as the step's compute under load). Each test
     * also advances MPI's nonblocking operations. Linux lets a 20 us nap run 50 us late by
     * default (the thread's timer slack), and in a ring each exchange waits until both ranks
     * look: the wait asks for 1 us of slack and restores the thread's own afterwards. */
    nap_slack saved = precise_naps();
    long nap_ns = 20000;
    for (long tries = 0;; tries++) {
        bool done = false;
        tg_status st = poll(d, ctx, &done, what, err);
        if (st != TG_OK) {
            restore_naps(saved);
            return st;
        }
        double now = dist_now();
        if (done) {
            if (waited) {
                *waited += now - start;
                d->stats.wait_cpu_seconds += dist_thread_cpu() - cpu_start;
            }
            restore_naps(saved);
            return TG_OK;
        }
        if (now - start > d->o.timeout_s) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "%s did not complete within %.1f s: another rank failed, stopped or is far "
                     "behind",
                     what, d->o.timeout_s);
            restore_naps(saved);
            return broken(d, err, msg);
        }
        if (tries > 100) {
            /* 20 us naps for the first millisecond; a wait that lasts longer is a peer that
             * is descheduled or far behind, where each wake-up only costs CPU, so the naps
             * then double, up to 1 ms. */
            if (now - start > 1e-3) nap_ns = nap_ns < 500000 ? 2 * nap_ns : 1000000;
            struct timespec nap = {0, nap_ns};
            nanosleep(&nap, NULL);
        }
    }
}

/* The requests dist_wait waits for. */
typedef struct request_set {
    int n;
    MPI_Request *reqs;
} request_set;

static tg_status test_requests(tg_dist *d, void *ctx, bool *done, char *what, tg_error *err) {
    const request_set *w = ctx;
    int flag = 0;
    int rc = MPI_Testall(w->n, w->reqs, &flag, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, what, err);
    *done = flag != 0;
    return TG_OK;
}

tg_status dist_wait(tg_dist *d, int n, MPI_Request *reqs, const char *what, double *waited,
                    tg_error *err) {
    char text[DIST_WHAT_MAX];
    snprintf(text, sizeof text, "%s", what);
    request_set w = {n, reqs};
    return dist_wait_poll(d, test_requests, &w, text, waited, err);
}

/* FNV-1a over bytes, for the layout signature. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Names, roles, dtypes and shapes of every store tensor, in order. */
static uint64_t layout_signature(const tg_store *s) {
    uint64_t h = 14695981039346656037ull;
    int n = tg_store_n_tensors(s);
    h = fnv(h, &n, sizeof n);
    for (int i = 0; i < n; i++) {
        const tg_tensor *x = tg_store_get_tensor(s, i);
        const char *name = tg_tensor_name(x);
        h = fnv(h, name, strlen(name) + 1);
        int head[3] = {(int)tg_tensor_dtype(x), tg_tensor_grad(x) != NULL, tg_tensor_ndim(x)};
        h = fnv(h, head, sizeof head);
        for (int k = 0; k < head[2]; k++) {
            int64_t dim = tg_tensor_dim(x, k);
            h = fnv(h, &dim, sizeof dim);
        }
    }
    return h;
}

/* The lowest rank whose flag is set, or size when none is. */
static tg_status lowest_flagged(tg_dist *d, bool flag, int *lowest, const char *what,
                                tg_error *err) {
    int mine = flag ? d->rank : d->size;
    MPI_Request req;
    int rc = MPI_Iallreduce(&mine, lowest, 1, MPI_INT, MPI_MIN, d->comm, &req);
    if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, what, err);
    return dist_wait(d, 1, &req, what, NULL, err);
}

static tg_status check_layout(tg_dist *d, tg_error *err) {
    uint64_t mine = layout_signature(d->s), root = mine;
    MPI_Request req;
    int rc = MPI_Ibcast(&root, 1, MPI_UINT64_T, 0, d->comm, &req);
    if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, "the layout check", err);
    if (dist_wait(d, 1, &req, "the layout check", NULL, err) != TG_OK) return err->status;
    int lowest;
    if (lowest_flagged(d, mine != root, &lowest, "the layout check", err) != TG_OK)
        return TG_ERR_IO;
    if (lowest < d->size)
        return tg_error_set(err, TG_ERR_ARG,
                            "dist: rank %d's store differs from rank 0's (tensor names, order, "
                            "shapes or dtypes): every rank must build the same model",
                            lowest);
    return TG_OK;
}

tg_dist *tg_dist_new(tg_store *s, MPI_Comm comm, const tg_dist_opts *opts, tg_error *err) {
    tg_error scratch = {0};
    if (!err) err = &scratch;
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (!inited || finalized) {
        tg_error_set(err, TG_ERR_ARG, "dist: MPI is not initialised (call MPI_Init first)");
        return NULL;
    }
    if (!s) {
        tg_error_set(err, TG_ERR_NULL, "dist: NULL store");
        return NULL;
    }
    tg_dist_opts o = opts ? *opts : (tg_dist_opts){0};
    if (o.bucket_bytes == 0) o.bucket_bytes = TG_DIST_BUCKET_DEFAULT;
    if (o.timeout_s == 0) o.timeout_s = 60;
    if (o.bucket_bytes < 0 || !(o.timeout_s > 0) || (o.deterministic && o.det_chunks < 1)) {
        tg_error_set(err, TG_ERR_ARG,
                     "dist: bucket_bytes %lld, timeout %g s, det_chunks %d: sizes and the timeout "
                     "must be positive, and deterministic mode needs det_chunks >= 1",
                     (long long)o.bucket_bytes, o.timeout_s, o.det_chunks);
        return NULL;
    }
    if ((int)o.overlap < (int)TG_DIST_OVERLAP_AUTO ||
        (int)o.overlap > (int)TG_DIST_OVERLAP_OFF) {
        tg_error_set(err, TG_ERR_ARG,
                     "dist: overlap %d is none of TG_DIST_OVERLAP_AUTO, _ON, _OFF", (int)o.overlap);
        return NULL;
    }
    if ((int)o.algo < (int)TG_DIST_ALGO_AUTO || (int)o.algo > (int)TG_DIST_ALGO_SHARED) {
        tg_error_set(err, TG_ERR_ARG,
                     "dist: algo %d is none of TG_DIST_ALGO_AUTO, _RING, _PAIRS, _MPI, _SHARED",
                     (int)o.algo);
        return NULL;
    }
    if ((int)o.shard < (int)TG_DIST_SHARD_AUTO || (int)o.shard > (int)TG_DIST_SHARD_OFF ||
        (o.shard == TG_DIST_SHARD_ON && !o.optim)) {
        tg_error_set(err, TG_ERR_ARG,
                     "dist: shard %d with %s optimiser: it must be one of TG_DIST_SHARD_AUTO, "
                     "_ON, _OFF, and _ON needs tg_dist_opts.optim",
                     (int)o.shard, o.optim ? "an" : "no");
        return NULL;
    }
    tg_dist *d = calloc(1, sizeof *d);
    if (!d) {
        tg_error_set(err, TG_ERR_NOMEM, "dist: out of memory");
        return NULL;
    }
    d->s = s;
    d->o = o;
    d->comm = MPI_COMM_NULL;
    int rc = MPI_Comm_dup(comm, &d->comm);
    if (rc != MPI_SUCCESS) {
        d->comm = MPI_COMM_NULL;
        dist_mpi_fail(d, rc, "duplicating the communicator", err);
        tg_dist_free(d);
        return NULL;
    }
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    if (o.deterministic && o.det_chunks < d->size) {
        tg_error_set(err, TG_ERR_ARG,
                     "dist: deterministic mode with %d parts cannot feed %d ranks (det_chunks "
                     "must be at least the number of ranks)",
                     o.det_chunks, d->size);
        tg_dist_free(d);
        return NULL;
    }
    if (check_layout(d, err) != TG_OK || dist_buckets_make(d, err) != TG_OK) {
        tg_dist_free(d);
        return NULL;
    }
    return d;
}

void tg_dist_free(tg_dist *d) {
    if (!d) return;
    /* The attached tape is not touched: it may be freed already (see tapegrad/dist.h). */
    dist_buckets_free(d);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (d->comm != MPI_COMM_NULL && !finalized) MPI_Comm_free(&d->comm);
    free(d);
}

int tg_dist_rank(const tg_dist *d) { return d ? d->rank : 0; }
tg_dist_algo tg_dist_algo_used(const tg_dist *d) { return d ? d->algo : TG_DIST_ALGO_AUTO; }
int tg_dist_size(const tg_dist *d) { return d ? d->size : 1; }
tg_dist_overlap tg_dist_overlap_used(const tg_dist *d) {
    return d ? d->overlap : TG_DIST_OVERLAP_AUTO;
}

tg_status tg_dist_broadcast(tg_dist *d, tg_error *err) {
    if (dist_usable(d, err) != TG_OK) return TG_ERR_IO;
    int n = tg_store_n_tensors(d->s);
    MPI_Request *reqs = malloc(((size_t)n + 1) * sizeof *reqs);
    if (!reqs) return tg_error_set(err, TG_ERR_NOMEM, "dist: out of memory");
    tg_status st = TG_OK;
    int posted = 0;
    /* parameters in a shared segment (sharded, shared memory) are rank 0's already */
    const bool params_shared = d->shared_params && dist_shared_params_in_place(d);
    for (int i = 0; i < n; i++) {
        tg_tensor *x = tg_store_get_tensor(d->s, i);
        if (params_shared && tg_tensor_grad(x)) continue;
        int rc = MPI_Ibcast(tg_tensor_data(x), (int)tg_tensor_numel(x),
                            dist_mpi_type(tg_tensor_dtype(x)), 0, d->comm, &reqs[posted]);
        if (rc != MPI_SUCCESS) {
            st = dist_mpi_fail(d, rc, "broadcasting the store", err);
            break;
        }
        posted++;
    }
    if (st == TG_OK) st = dist_wait(d, posted, reqs, "broadcasting the store", NULL, err);
    free(reqs);
    return st;
}

void tg_dist_batcher_split(const tg_dist *d, tg_batcher_opts *o) {
    if (!d || !o) return;
    if (d->o.deterministic) {
        o->n_shards = d->o.det_chunks;
        o->shard = d->chunk0;
        o->shard_span = d->n_chunks;
    } else {
        o->n_shards = d->size;
        o->shard = d->rank;
        o->shard_span = 1;
    }
}

int tg_dist_n_chunks(const tg_dist *d) { return d && d->o.deterministic ? d->n_chunks : 1; }

tg_status tg_dist_attach(tg_dist *d, tg_tape *t) {
    if (!d) return TG_ERR_NULL;
    if (d->tape && d->tape != t) {
        tg_tape_set_grad_hook(d->tape, NULL, NULL);
        tg_tape_set_node_hook(d->tape, NULL, NULL);
    }
    d->tape = t;
    if (t) {
        tg_tape_set_grad_hook(t, dist_grad_ready, d);
        tg_tape_set_node_hook(t, dist_node_done, d);
    }
    return TG_OK;
}

/* What a rank says about itself in tg_dist_agree. */
typedef struct verdict {
    int status;
    char message[200];
} verdict;

tg_status tg_dist_agree(tg_dist *d, tg_status status, const char *message, tg_error *err) {
    if (dist_usable(d, err) != TG_OK) return TG_ERR_IO;
    int lowest;
    if (lowest_flagged(d, status != TG_OK, &lowest, "agreeing on the ranks' outcome", err) !=
        TG_OK)
        return TG_ERR_IO;
    if (lowest == d->size) return TG_OK;
    verdict v = {(int)status, ""};
    if (d->rank == lowest)
        snprintf(v.message, sizeof v.message, "%s",
                 message ? message : tg_status_string(status));
    MPI_Request req;
    int rc = MPI_Ibcast(&v, (int)sizeof v, MPI_BYTE, lowest, d->comm, &req);
    if (rc != MPI_SUCCESS) return dist_mpi_fail(d, rc, "sharing a rank's failure", err);
    if (dist_wait(d, 1, &req, "sharing a rank's failure", NULL, err) != TG_OK) return TG_ERR_IO;
    v.message[sizeof v.message - 1] = '\0';
    return tg_error_set(err, v.status == TG_OK ? TG_ERR_IO : (tg_status)v.status, "rank %d: %s",
                        lowest, v.message);
}

tg_status tg_dist_checkpoint_save(tg_dist *d, const char *path, const tg_checkpoint_meta *meta,
                                  tg_error *err) {
    if (dist_usable(d, err) != TG_OK) return TG_ERR_IO;
    /* sharded, each slice's optimiser state is current only on its owner */
    if (dist_gather_state(d, err) != TG_OK) return err->status;
    tg_error mine = {0};
    tg_status st = d->rank == 0 ? tg_checkpoint_save(d->s, path, meta, &mine) : TG_OK;
    return tg_dist_agree(d, st, mine.message, err);
}

tg_status tg_dist_checkpoint_load(tg_dist *d, const char *path, tg_checkpoint_meta *meta_out,
                                  tg_error *err) {
    if (dist_usable(d, err) != TG_OK) return TG_ERR_IO;
    tg_error mine = {0};
    tg_checkpoint_meta *meta = malloc(sizeof *meta);
    if (!meta) return tg_error_set(err, TG_ERR_NOMEM, "dist: out of memory");
    tg_checkpoint_meta_init(meta);
    tg_status st = d->rank == 0 ? tg_checkpoint_load(d->s, path, meta, &mine) : TG_OK;
    st = tg_dist_agree(d, st, mine.message, err);
    if (st == TG_OK) st = tg_dist_broadcast(d, err);
    if (st == TG_OK) {
        MPI_Request req;
        int rc = MPI_Ibcast(meta, (int)sizeof *meta, MPI_BYTE, 0, d->comm, &req);
        st = rc != MPI_SUCCESS
                 ? dist_mpi_fail(d, rc, "broadcasting the checkpoint's metadata", err)
                 : dist_wait(d, 1, &req, "broadcasting the checkpoint's metadata", NULL, err);
    }
    if (st == TG_OK && meta_out) *meta_out = *meta;
    free(meta);
    return st;
}

void tg_dist_get_stats(const tg_dist *d, tg_dist_stats *out) {
    if (!out) return;
    if (!d) {
        *out = (tg_dist_stats){0};
        return;
    }
    *out = d->stats;
    out->n_buckets = d->n_buckets;
    out->params_shared = d->shared_params && dist_shared_params_in_place(d);
}

/* tapegrad/dist.h: data-parallel training over MPI, in the separate library libtapegrad_dist
 * (pkg-config tapegrad-dist), built when meson finds MPI (-Dmpi=auto). The core library does not
 * need MPI; this header includes <mpi.h>, so tapegrad.h does not include it.
 *
 * Every rank holds the whole model and trains on its shard of each global batch. After the
 * backward pass the gradients are averaged across ranks, so every rank takes the same optimiser
 * step. Gradients travel in buckets of parameters in reverse order of creation (roughly the
 * order the sweep finishes them); a bucket's all-reduce starts as soon as the sweep has
 * deposited the last of its gradients (tg_tape_set_grad_hook), while older layers still compute.
 *
 *     MPI_Init(&argc, &argv);
 *     tg_error err = {0};
 *     tg_dist *d = tg_dist_new(store, MPI_COMM_WORLD, NULL, &err);   // after the optimiser
 *     if (!d || tg_dist_broadcast(d, &err) != TG_OK) { fprintf(stderr, "%s\n", err.message); }
 *     tg_dist_attach(d, tape);
 *     tg_batcher_opts bo = {.batch_size = 128, .shuffle = true, .seed = 1, .drop_last = true};
 *     tg_dist_batcher_split(d, &bo);                      // this rank's shard of every batch
 *     // each step: forward on the shard, tg_tape_backward, then
 *     if (tg_dist_sync(d, &err) != TG_OK) { fprintf(stderr, "%s\n", err.message); }
 *     // tg_optim_step, tg_tape_reset; rank 0 saves with tg_dist_checkpoint_save
 *     // (or, with opts.optim set, tg_dist_step in place of tg_dist_sync and tg_optim_step)
 *     tg_dist_free(d);
 *     MPI_Finalize();
 *
 * Faults: the library puts MPI_ERRORS_RETURN on its own copy of the communicator and bounds
 * every wait by opts.timeout_s, so a rank whose peer died or stopped gets an error naming what
 * it waited for instead of hanging; tg_dist_agree tells every rank that one of them failed and
 * why. After such an error the object refuses further work (TG_ERR_IO); the program should then
 * end every rank, e.g. with MPI_Abort. */
#ifndef TAPEGRAD_DIST_H
#define TAPEGRAD_DIST_H

#include <mpi.h>

#include "tapegrad/checkpoint.h"
#include "tapegrad/data.h"
#include "tapegrad/optim.h"
#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

typedef struct tg_dist tg_dist; /* opaque */

/* How each bucket is all-reduced (tg_dist_opts.algo). RING and PAIRS leave the same bits on
 * every rank (they differ from each other in the order of the sums, so in the last bits); MPI
 * leaves what the MPI library gives, which the MPI standard does not promise to be the same
 * bits on every rank.
 * RING: the bucket cut in one chunk per rank, 2 (size - 1) exchanges of a chunk with the
 *   neighbours: the least data any all-reduce moves per rank, in the most rounds.
 * PAIRS: log2(size) exchanges of the whole bucket with rank ^ 1, rank ^ 2, ... (recursive
 *   doubling; a size that is not a power of two uses RING). On 2 ranks it moves the same bytes
 *   as RING in one round instead of two, and a round only finishes when both ranks look, which
 *   they rarely do while computing.
 * MPI: MPI_Iallreduce in place, whatever the MPI library picks.
 * SHARED: for ranks on one machine. The gradients live in a segment of memory every rank maps
 *   (shm_open), and each rank forms the mean of its 1/size slice of a bucket straight from the
 *   peers' memory and writes it into every rank's copy: only notices of zero bytes travel
 *   through MPI (two rounds of them per bucket), and on 2 ranks each rank reads and sums half
 *   a bucket where pairs copies the whole bucket and sums it. Ranks on several machines, or a
 *   segment that cannot be made (a full /dev/shm), run RING instead. The same bits on every
 *   rank; on 2 ranks the same bits as PAIRS.
 * AUTO (0, the default): SHARED when every rank is on one machine; else PAIRS on 2 ranks,
 *   RING on more. docs/distributed.md has the measurements behind the choice. */
typedef enum tg_dist_algo {
    TG_DIST_ALGO_AUTO = 0,
    TG_DIST_ALGO_RING,
    TG_DIST_ALGO_PAIRS,
    TG_DIST_ALGO_MPI,
    TG_DIST_ALGO_SHARED,
} tg_dist_algo;

/* When the buckets' all-reduces start (tg_dist_opts.overlap).
 * ON: each bucket as soon as the sweep has deposited its last gradient, overlapping the rest of
 *   the sweep. Every bucket started early costs looks at its messages during the sweep, and its
 *   exchange only finishes when the peer looks too, so it pays only when much of the gradient
 *   can travel while the sweep still computes.
 * OFF: every bucket in tg_dist_sync, after the whole sweep.
 * AUTO (0, the default): the first synced step runs ON and measures where the sweep deposits
 *   its bytes: the share of the gradient's bytes in the buckets that started before the last
 *   one did (the last one starts when the sweep is all but over, so it has nothing to overlap).
 *   At least TG_DIST_OVERLAP_SHARE of the bytes: ON from then on, else OFF. Rank 0's measure
 *   decides for every rank. LeNet-5 in 64 KiB buckets deposits 96% of its bytes before its
 *   last bucket (ON); the MLP 784-256-128-10 15%, since fc1's weight gradient, 85% of the
 *   bytes, is the sweep's last product (OFF). tg_dist_overlap_used says what was decided. */
typedef enum tg_dist_overlap {
    TG_DIST_OVERLAP_AUTO = 0,
    TG_DIST_OVERLAP_ON,
    TG_DIST_OVERLAP_OFF,
} tg_dist_overlap;
#define TG_DIST_OVERLAP_SHARE 0.5

/* Whether the optimiser step is divided among the ranks (tg_dist_opts.shard), as ZeRO stage 1
 * and PyTorch's ZeroRedundancyOptimizer do. Needs tg_dist_opts.optim and tg_dist_step.
 * ON: every bucket is cut into one slice per rank (as the ring cuts it) and each rank owns one
 *   slice of every bucket. The all-reduce becomes a reduce-scatter (a rank gets the mean
 *   gradient of its own slices only), each rank runs the optimiser on its slices alone
 *   (tg_optim_step_parts), and an all-gather of the updated parameters leaves every rank with
 *   the whole model. Over shared memory that drops the all-reduce's writes into the peers'
 *   gradients and halves (on 2 ranks) the update's passes over parameters, gradients and
 *   state. The optimiser state of slices a rank does not own is neither read nor written on it
 *   (tg_dist_checkpoint_save gathers it to rank 0). After tg_dist_step the gradients are
 *   zeroed (tg_store_zero_grad): their memory carried the parameters of the all-gather.
 * OFF: every rank averages the whole gradient and runs the whole optimiser step.
 * Over shared memory (TG_DIST_ALGO_SHARED) the parameters of every rank live in the shared
 *   segment, so a rank's update of its slice is every rank's at once and the all-gather moves
 *   no values; over the other reductions the updated slices travel through the gradients'
 *   memory and are copied in and out.
 * AUTO (0, the default): ON when opts.optim keeps two or more state buffers per parameter
 *   (Adam's and AdamW's moments, RMSprop with momentum or centred) and the reduction is
 *   TG_DIST_ALGO_SHARED, else OFF. Measured on 2 ranks over shared memory (docs/distributed.md):
 *   the MLP with Adam spent 7-12% less CPU per step sharded; with SGD, with or without
 *   momentum, and LeNet-5 the difference was within the noise, and with the parameters copied
 *   through the gradients' memory instead of shared, sharding cost more than it saved. */
typedef enum tg_dist_shard {
    TG_DIST_SHARD_AUTO = 0,
    TG_DIST_SHARD_ON,
    TG_DIST_SHARD_OFF,
} tg_dist_shard;

/* How gradients are reduced. All-zero fields (or NULL options) mean the defaults. */
typedef struct tg_dist_opts {
    /* Bytes of gradient per bucket (default TG_DIST_BUCKET_DEFAULT). A bucket is closed when
     * the next parameter would take it past this, so a larger parameter gets a bucket of its
     * own. Smaller buckets start sending earlier and overlap more of the sweep; each costs one
     * more message latency. docs/distributed.md derives the best size for a link. */
    int64_t bucket_bytes;
    /* Whether buckets start their all-reduce during the sweep (see tg_dist_overlap; AUTO, the
     * default, decides in the first step). */
    tg_dist_overlap overlap;
    /* The reduction order is fixed: each global batch is cut into det_chunks equal parts, each
     * part's gradient is computed by one backward of its own, and the parts' gradients are
     * summed in part order, rank after rank. Parameters are then the same bits for any number
     * of ranks up to det_chunks (divisor or not), at the cost of the overlap. */
    bool deterministic;
    int det_chunks;
    /* Seconds any wait may last before it fails (default 60). */
    double timeout_s;
    /* The all-reduce of the buckets (see tg_dist_algo); deterministic mode ignores it. */
    tg_dist_algo algo;
    /* The optimiser tg_dist_step runs (over parameters of the same store; it may cover only
     * some of them). NULL: no tg_dist_step and no sharding; call tg_dist_sync, then step. */
    tg_optim *optim;
    /* Whether tg_dist_step divides the optimiser step among the ranks (see tg_dist_shard). */
    tg_dist_shard shard;
} tg_dist_opts;

#define TG_DIST_BUCKET_DEFAULT ((int64_t)256 * 1024)
/* The shortest time between two looks at the messages in flight from inside a sweep: each
 * look costs one MPI test per bucket in flight (about a microsecond), and a sweep of many
 * small nodes (an RNN's) would otherwise pay it thousands of times. */
#define TG_DIST_PROGRESS_US 10

/* The algorithm this group runs: opts.algo with AUTO resolved, and PAIRS on a number of ranks
 * that is not a power of two turned into RING. Deterministic mode's own order is none of
 * these; it reports what the other mode would run. TG_DIST_ALGO_AUTO for NULL. */
tg_dist_algo tg_dist_algo_used(const tg_dist *d);

/* Whether the buckets start during the sweep: ON or OFF as opts.overlap asked, or as AUTO
 * decided in the first tg_dist_sync; AUTO while that is undecided (and for NULL). Deterministic
 * mode never overlaps: OFF. */
tg_dist_overlap tg_dist_overlap_used(const tg_dist *d);
/* Whether tg_dist_step divides the optimiser step among the ranks: ON or OFF, AUTO resolved;
 * OFF without opts.optim, and for NULL. */
tg_dist_shard tg_dist_shard_used(const tg_dist *d);
/* A data-parallel group over a copy of comm (MPI_Comm_dup: collective, every rank calls it)
 * for the parameters of s, which must be made, with the same names, shapes and dtypes and in
 * the same order, on every rank (checked: TG_ERR_ARG naming the first rank that differs). MPI
 * must be initialised. Owned by the caller (tg_dist_free); s must outlive it. NULL, err set, on
 * bad options or when the ranks disagree. */
tg_dist *tg_dist_new(tg_store *s, MPI_Comm comm, const tg_dist_opts *opts, tg_error *err);
/* Frees the object and its communicator. NULL is a no-op. It does not touch the tape it was
 * attached to, which may be gone already: a tape that outlives d must be detached first
 * (tg_dist_attach(d, NULL)), or its next backward calls into freed memory. */
void tg_dist_free(tg_dist *d);

/* This rank and the number of ranks (0 and 1 for NULL). */
int tg_dist_rank(const tg_dist *d);
int tg_dist_size(const tg_dist *d);

/* Copies every tensor of the store, parameters and buffers (optimiser state, running
 * statistics), from rank 0 to all ranks. Collective: call it after making the model and the
 * optimiser, and again after rank 0 alone changed the store. */
tg_status tg_dist_broadcast(tg_dist *d, tg_error *err);

/* Sets the split fields of o (n_shards, shard, shard_span) to this rank's part of every global
 * batch: 1/size of it, or in deterministic mode this rank's run of the det_chunks parts. The
 * global batch should divide evenly (drop_last), so every rank averages over as many samples. */
void tg_dist_batcher_split(const tg_dist *d, tg_batcher_opts *o);

/* Backward passes per step on this rank: 1, or in deterministic mode the number of parts of
 * the global batch this rank holds. Part k of a shard of n samples is rows [k n / parts,
 * (k + 1) n / parts). */
int tg_dist_n_chunks(const tg_dist *d);

/* Reports the gradients of t's sweeps to d (tg_tape_set_grad_hook on t), so that buckets start
 * their all-reduce during tg_tape_backward, and lets d move the started ones on after each node
 * of the sweep (tg_tape_set_node_hook on t; at most every TG_DIST_PROGRESS_US microseconds).
 * One tape per tg_dist; NULL detaches the tape attached before. */
tg_status tg_dist_attach(tg_dist *d, tg_tape *t);

/* Deterministic mode: after the backward of each of this rank's parts, moves the parameters'
 * gradients aside (and zeroes them) for the ordered sum. TG_ERR_ARG in the other mode or after
 * more calls than parts. */
tg_status tg_dist_chunk_done(tg_dist *d, tg_error *err);

/* Ends the step's reduction: starts the buckets not started yet, waits for all, and leaves in
 * every parameter's gradient the mean over ranks (deterministic mode: over parts). Collective.
 * TG_ERR_IO naming the bucket when a wait times out or MPI fails. */
tg_status tg_dist_sync(tg_dist *d, tg_error *err);

/* Ends the step: the reduction of tg_dist_sync followed by the step of opts.optim, which must
 * be set. Unsharded, exactly tg_dist_sync then tg_optim_step. Sharded (tg_dist_shard_used ON):
 * a reduce-scatter, the optimiser over this rank's slices, an all-gather of the parameters,
 * and the gradients zeroed; every rank then holds the same parameters, the same bits as the
 * unsharded step. With the optimiser's skip_nonfinite on, the ranks agree first: a NaN or
 * infinity in any rank's slices refuses the step on every rank (TG_ERR_NONFINITE, naming the
 * rank; nothing updated anywhere). Collective. In sharded mode tg_dist_sync is refused
 * (TG_ERR_ARG): no rank holds the whole mean gradient, so clipping by the global norm needs
 * the unsharded mode. */
tg_status tg_dist_step(tg_dist *d, tg_error *err);

/* Every rank says whether its own part went well (status, and a message when not; message may
 * be NULL) and learns whether all did: TG_OK on all ranks, or on all ranks the failing status
 * of the lowest failing rank with its message, "rank R: message". Collective, bounded by the
 * timeout. Call it after anything that can fail on one rank alone (loading data, a save). */
tg_status tg_dist_agree(tg_dist *d, tg_status status, const char *message, tg_error *err);

/* Rank 0 saves the store (tg_checkpoint_save); every rank returns the outcome (tg_dist_agree).
 * Sharded, the optimiser state of every rank's slices is first gathered into rank 0's store,
 * so the file holds the whole state, as an unsharded run's would.
 * Collective. */
tg_status tg_dist_checkpoint_save(tg_dist *d, const char *path, const tg_checkpoint_meta *meta,
                                  tg_error *err);
/* Rank 0 loads the file into the store, then the store and the metadata are broadcast, so a
 * run saved by any number of ranks resumes on any other (the batcher state in the metadata is
 * the global one). Collective; all or nothing on every rank alike. meta_out may be NULL. */
tg_status tg_dist_checkpoint_load(tg_dist *d, const char *path, tg_checkpoint_meta *meta_out,
                                  tg_error *err);

/* Measurements since tg_dist_new: seconds this rank spent blocked in tg_dist_sync waiting for
 * communication and the CPU time that waiting cost, steps synced, buckets in the layout, and buckets whose all-reduce started
 * during a sweep (not in tg_dist_sync). */
typedef struct tg_dist_stats {
    double wait_seconds;
    double wait_cpu_seconds; /* CPU time this thread used while waiting (tests and naps) */
    int64_t steps;
    int n_buckets;
    int64_t buckets_started_early;
    int64_t progress_looks; /* looks at the messages in flight from the sweep's node hook */
    /* AUTO's measure on this rank in its first step: the share of the gradient's bytes in
     * buckets started during the sweep before the last of them (0 before the first step) */
    double overlap_share;
    /* sharded over shared memory: the parameters live in the segment every rank maps, so an
     * update needs no all-gather of values (false once something moved them out) */
    bool params_shared;
} tg_dist_stats;
void tg_dist_get_stats(const tg_dist *d, tg_dist_stats *out);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif

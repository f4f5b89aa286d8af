/* threadpool.h: the kernels' threads: a lazily started pthread pool with a parallel-for, the
 * process-wide thread count, and per-thread scratch memory (packing buffers) kept for reuse.
 *
 * Invariant: kern_parallel_for never fails and never deadlocks: whenever the pool cannot take
 * a job (one thread wanted, pool busy with another caller's job, a call from inside a task, no
 * worker could be started) the tasks run on the calling thread, in order. */
#ifndef TG_KERN_THREADPOOL_H
#define TG_KERN_THREADPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One task of a job: task indices run at most once each, concurrently and in any order. */
typedef void (*kern_task_fn)(void *ctx, int64_t task);

/* Runs fn(ctx, i) for every i in [0, n_tasks) on at most max_threads threads (the caller is
 * one of them, and also at most kern_threads()), returning when all have finished. */
void kern_parallel_for(int64_t n_tasks, int max_threads, kern_task_fn fn, void *ctx);

/* Runs fn(ctx, rank, n_ranks) once for every rank in [0, n_ranks) at the same time, each on
 * its own thread, where n_ranks (1 <= n_ranks <= max_threads) is what the pool could give
 * (1 when it cannot take the job, as for kern_parallel_for). Because the ranks run
 * concurrently they may wait for each other with kern_barrier_wait. */
typedef void (*kern_team_fn)(void *ctx, int rank, int n_ranks);
void kern_parallel_team(int max_threads, kern_team_fn fn, void *ctx);

/* A barrier for the n ranks of a team: each call returns once all n have called it. Starts
 * zero-initialised; each rank keeps its own `sense`, starting at false. */
typedef struct kern_barrier {
    _Atomic int arrived;
    _Atomic int sense;
} kern_barrier;
void kern_barrier_wait(kern_barrier *b, int n, bool *sense);

/* The thread count in effect (>= 1); set with kern_set_threads (tg_set_threads). */
int kern_threads(void);
/* n <= 0: one per online CPU; capped at KERN_MAX_THREADS. Returns the count now in effect. */
int kern_set_threads(int n);
#define KERN_MAX_THREADS 256

/* The calling thread's scratch block number `slot` (< KERN_SCRATCH_SLOTS) of at least `bytes`
 * bytes, 64-byte aligned, or NULL when memory runs out. Each block is kept for the thread's
 * next call (grown when a larger one is asked for) and freed when the thread exits; its
 * contents do not survive the next call with the same slot. Two slots let a thread hold a
 * buffer it shares with a team (slot 1) while asking for its own (slot 0). */
#define KERN_SCRATCH_SLOTS 2
void *kern_scratch(int slot, size_t bytes);

#endif

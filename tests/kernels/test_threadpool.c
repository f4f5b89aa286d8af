/* test_threadpool.c: the kernels' thread pool (src/ops/kernels/threadpool.c) and the public
 * thread-count knob: every task runs exactly once whatever the thread count, work really is
 * shared between threads, nested and concurrent callers finish, a forked child can use the pool,
 * and per-thread scratch memory is aligned, kept and private. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ops/kernels/kernels.h"
#include "ops/kernels/threadpool.h"
#include "test_util.h"

#define MAX_TASKS 2000

typedef struct counts {
    atomic_int hits[MAX_TASKS];
} counts;

static void count_task(void *ctx, int64_t i) {
    counts *c = ctx;
    atomic_fetch_add(&c->hits[i], 1);
}

/* Runs n tasks on `threads` threads and checks that each ran exactly once. The loops that
 * check every element find the first wrong one and assert once: each passing ck_assert costs
 * Check a write to its report file, which alone took minutes under emulation. */
static void check_once(int64_t n, int threads) {
    static counts c;
    for (int i = 0; i < MAX_TASKS; i++) atomic_store(&c.hits[i], 0);
    kern_parallel_for(n, threads, count_task, &c);
    int64_t bad = 0;
    while (bad < MAX_TASKS && atomic_load(&c.hits[bad]) == (bad < n ? 1 : 0)) bad++;
    ck_assert_msg(bad == MAX_TASKS, "%lld tasks on %d threads: task %lld ran %d times",
                  (long long)n, threads, (long long)bad,
                  bad < MAX_TASKS ? atomic_load(&c.hits[bad]) : 0);
}

START_TEST(test_each_task_once) {
    static const int64_t ns[] = {0, 1, 2, 3, 7, 100, MAX_TASKS};
    static const int threads[] = {1, 2, 3, 4, 8};
    for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
        tg_set_threads(threads[t]);
        for (size_t n = 0; n < sizeof ns / sizeof *ns; n++) {
            check_once(ns[n], threads[t]);
            check_once(ns[n], 1);  /* a caller may ask for fewer than the count in effect */
            check_once(ns[n], 64); /* ...or more: capped by it */
        }
    }
    /* Shrinking and growing again between jobs. */
    tg_set_threads(4);
    check_once(100, 4);
    tg_set_threads(2);
    check_once(100, 4);
    tg_set_threads(3);
    check_once(100, 3);
}
END_TEST

/* Where each task ran, for the _if_awake variant. */
typedef struct where {
    pthread_t caller;
    atomic_int hits[64];
    atomic_int on_other_thread;
} where;

static void where_task(void *ctx, int64_t i) {
    where *w = ctx;
    atomic_fetch_add(&w->hits[i], 1);
    if (!pthread_equal(pthread_self(), w->caller)) atomic_fetch_add(&w->on_other_thread, 1);
}

/* With no worker started (a fresh process), the _if_awake variant runs everything on the
 * caller; right after a job that started the workers it may share, and still runs each task
 * exactly once. The process is fresh only when Check forks a child per test: with CK_FORK=no
 * (as under qemu, tools/test) the earlier tests' workers may still be polling, and then sharing
 * is right. */
START_TEST(test_if_awake) {
    const char *fork_mode = getenv("CK_FORK");
    bool fresh_process = !(fork_mode && strcmp(fork_mode, "no") == 0);
    tg_set_threads(2);
    where *w = calloc(1, sizeof *w);
    w->caller = pthread_self();
    kern_parallel_for_if_awake(64, 2, where_task, w);
    if (fresh_process) ck_assert_int_eq(atomic_load(&w->on_other_thread), 0);
    for (int i = 0; i < 64; i++) ck_assert_int_eq(atomic_load(&w->hits[i]), 1);
    for (int round = 0; round < 50; round++) {
        check_once(100, 2);
        for (int i = 0; i < 64; i++) atomic_store(&w->hits[i], 0);
        kern_parallel_for_if_awake(64, 2, where_task, w);
        for (int i = 0; i < 64; i++) ck_assert_int_eq(atomic_load(&w->hits[i]), 1);
    }
    free(w);
}
END_TEST

/* Two tasks that each wait for the other to have started can only both finish if they run on
 * two threads at once; a bound of seconds turns a broken pool into a failure, not a hang. */
typedef struct rendezvous {
    atomic_int started;
    atomic_int met;
    pthread_t who[2];
} rendezvous;

static void meet_task(void *ctx, int64_t i) {
    rendezvous *r = ctx;
    r->who[i] = pthread_self();
    atomic_fetch_add(&r->started, 1);
    time_t give_up = time(NULL) + 20;
    while (atomic_load(&r->started) < 2 && time(NULL) < give_up) sched_yield();
    if (atomic_load(&r->started) == 2) atomic_fetch_add(&r->met, 1);
}

START_TEST(test_work_is_shared) {
    tg_set_threads(2);
    for (int round = 0; round < 20; round++) {
        rendezvous r = {0};
        kern_parallel_for(2, 2, meet_task, &r);
        ck_assert_msg(atomic_load(&r.met) == 2, "round %d: the two tasks never ran together",
                      round);
        ck_assert(!pthread_equal(r.who[0], r.who[1]));
    }
}
END_TEST

/* A task that itself runs a parallel-for: the inner one runs on the task's thread. */
static void outer_task(void *ctx, int64_t i) {
    counts *inner = (counts *)ctx + 1 + i;
    for (int j = 0; j < MAX_TASKS; j++) atomic_store(&inner->hits[j], 0);
    kern_parallel_for(50, 4, count_task, inner);
    atomic_fetch_add(&((counts *)ctx)->hits[i], 1);
}

START_TEST(test_nested) {
    tg_set_threads(3);
    counts *c = calloc(1 + 6, sizeof *c);
    kern_parallel_for(6, 3, outer_task, c);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(atomic_load(&c->hits[i]), 1);
        for (int j = 0; j < 50; j++) ck_assert_int_eq(atomic_load(&c[1 + i].hits[j]), 1);
    }
    free(c);
}
END_TEST

/* Several user threads posting jobs at once: each job completes exactly, whether the pool
 * took it or it ran on its caller. */
static void *poster(void *arg) {
    counts *c = arg;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < 64; i++) atomic_store(&c->hits[i], 0);
        kern_parallel_for(64, 2, count_task, c);
        for (int i = 0; i < 64; i++)
            if (atomic_load(&c->hits[i]) != 1) return (void *)1;
    }
    return NULL;
}

START_TEST(test_concurrent_callers) {
    tg_set_threads(2);
    enum { N_POSTERS = 4 };
    counts *c = calloc(N_POSTERS, sizeof *c);
    pthread_t th[N_POSTERS];
    for (int i = 0; i < N_POSTERS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, poster, &c[i]), 0);
    for (int i = 0; i < N_POSTERS; i++) {
        void *bad;
        pthread_join(th[i], &bad);
        ck_assert_msg(bad == NULL, "poster %d saw a task run other than once", i);
    }
    free(c);
}
END_TEST

/* A child forked after the pool started has none of its workers: the pool must start afresh
 * there instead of waiting forever for them. */
START_TEST(test_fork_child_uses_pool) {
    /* qemu-user 7.2 cannot run this: a child forked from a process that has threads aborts
     * inside the emulator ("cpu == current_cpu" in cpu_exec) as soon as it starts one of its
     * own. tools/test sets TG_TEST_QEMU for its emulated run; native runs always test this. */
    if (tg_test_emulated()) return;
    tg_set_threads(2);
    check_once(100, 2);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        alarm(30); /* a deadlock kills the child, which the parent sees */
        static counts c;
        kern_parallel_for(100, 2, count_task, &c);
        for (int i = 0; i < 100; i++)
            if (atomic_load(&c.hits[i]) != 1) _exit(2);
        _exit(0);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "forked child failed (status 0x%x)", status);
    check_once(100, 2); /* and the parent's pool still works */
}
END_TEST

START_TEST(test_thread_count) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    ck_assert_int_ge(online, 1);
    ck_assert_int_eq(tg_set_threads(0), (int)online);
    ck_assert_int_eq(tg_get_threads(), (int)online);
    ck_assert_int_eq(tg_set_threads(-5), (int)online);
    ck_assert_int_eq(tg_set_threads(5), 5);
    ck_assert_int_eq(tg_get_threads(), 5);
    ck_assert_int_eq(tg_set_threads(100000), KERN_MAX_THREADS);
    ck_assert_int_eq(tg_set_threads(1), 1);
    ck_assert_int_eq(tg_get_threads(), 1);
}
END_TEST

/* The count before any call: 1, or what the meson test "kernels_threadpool_env" put in
 * TG_THREADS (it also sets TG_TEST_EXPECT_THREADS to the count that must result). */
START_TEST(test_thread_count_default) {
    const char *expect = getenv("TG_TEST_EXPECT_THREADS");
    int want = expect ? atoi(expect) : 1;
    if (!expect && getenv("TG_THREADS")) return; /* run by hand with TG_THREADS: unknowable */
    ck_assert_int_eq(tg_get_threads(), want);
}
END_TEST

/* ---- scratch ---- */

typedef struct scratch_probe {
    char *p;
} scratch_probe;

static void *scratch_in_thread(void *arg) {
    scratch_probe *sp = arg;
    sp->p = kern_scratch(0, 1000);
    if (sp->p) memset(sp->p, 0x5a, 1000);
    return NULL;
}

START_TEST(test_scratch) {
    char *a = kern_scratch(0, 100000);
    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq((uintptr_t)a % 64, 0);
    memset(a, 1, 100000); /* the whole size is ours (ASan would object otherwise) */
    ck_assert_ptr_eq(kern_scratch(0, 5000), a); /* smaller: kept, not reallocated */
    char *b = kern_scratch(0, 1000000);
    ck_assert_ptr_nonnull(b);
    ck_assert_int_eq((uintptr_t)b % 64, 0);
    memset(b, 2, 1000000);
    /* The other slot is a separate block, and growing it leaves slot 0 alone. */
    char *c = kern_scratch(1, 3000000);
    ck_assert_ptr_nonnull(c);
    ck_assert(c + 3000000 <= b || c >= b + 1000000);
    memset(c, 3, 3000000);
    ck_assert_ptr_eq(kern_scratch(0, 10), b);
    for (int i = 0; i < 1000000; i += 4099) ck_assert_int_eq(b[i], 2);
    /* Another thread gets its own block, which does not overlap ours. */
    scratch_probe sp = {0};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, scratch_in_thread, &sp), 0);
    pthread_join(th, NULL);
    ck_assert_ptr_nonnull(sp.p);
    ck_assert(sp.p + 1000 <= b || sp.p >= b + 1000000);
    for (int i = 0; i < 1000000; i += 4099) ck_assert_int_eq(b[i], 2);
}
END_TEST

/* Two tagged allocators: each puts its tag before the block it returns, and its free counts
 * any block that carries the other's tag. The library must free every scratch block with the
 * allocator that made it, even after the application has installed another. */
typedef struct tagged {
    unsigned tag;
    atomic_int made, freed, foreign;
} tagged;

static void *tagged_malloc(size_t size, void *user) {
    tagged *a = user;
    unsigned *p = malloc(size + 16);
    if (!p) return NULL;
    *p = a->tag;
    atomic_fetch_add(&a->made, 1);
    return (char *)p + 16;
}

static void tagged_free(void *ptr, void *user) {
    tagged *a = user;
    unsigned *p = (unsigned *)((char *)ptr - 16);
    if (*p != a->tag) {
        atomic_fetch_add(&a->foreign, 1);
        return; /* not ours: leak it rather than corrupt the heap */
    }
    atomic_fetch_add(&a->freed, 1);
    free(p);
}

static tagged alloc_a = {0xA11A, 0, 0, 0}, alloc_b = {0xB22B, 0, 0, 0};

/* Takes scratch under allocator A, switches to B, grows the block (freeing A's), takes the
 * other slot under B, then exits, which frees the thread's blocks. */
static void *scratch_across_allocators(void *arg) {
    (void)arg;
    tg_set_allocator(&(tg_allocator){tagged_malloc, tagged_free, &alloc_a});
    char *p = kern_scratch(0, 1000);
    if (p) memset(p, 1, 1000);
    tg_set_allocator(&(tg_allocator){tagged_malloc, tagged_free, &alloc_b});
    p = kern_scratch(0, 100000);
    if (p) memset(p, 2, 100000);
    p = kern_scratch(1, 5000);
    if (p) memset(p, 3, 5000);
    return NULL;
}

START_TEST(test_scratch_freed_by_its_allocator) {
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, scratch_across_allocators, NULL), 0);
    pthread_join(th, NULL);
    tg_set_allocator(NULL);
    int a_foreign = atomic_load(&alloc_a.foreign), b_foreign = atomic_load(&alloc_b.foreign);
    int a_made = atomic_load(&alloc_a.made), a_freed = atomic_load(&alloc_a.freed);
    int b_made = atomic_load(&alloc_b.made), b_freed = atomic_load(&alloc_b.freed);
    ck_assert_int_eq(a_foreign, 0); /* blocks of B's handed to A's free */
    ck_assert_int_eq(b_foreign, 0); /* blocks of A's handed to B's free */
    /* A made the thread's record and the first block; B the grown block and slot 1's. */
    ck_assert_int_eq(a_made, 2);
    ck_assert_int_eq(a_freed, 2);
    ck_assert_int_eq(b_made, 2);
    ck_assert_int_eq(b_freed, 2);
}
END_TEST

/* ---- pieces ---- */

static void mark_range(void *ctx, int64_t begin, int64_t end) {
    unsigned char *seen = ctx;
    for (int64_t i = begin; i < end; i++) seen[i]++;
}

/* Pieces cover [0, n) exactly once, in multiples of the alignment but the last, whatever the
 * thread count; too little work is declined (false, nothing run). */
START_TEST(test_pieces_cover_once) {
    enum { N = 1000003 };
    static unsigned char seen[N];
    for (int threads = 1; threads <= 3; threads++) {
        kern_set_threads(threads);
        memset(seen, 0, sizeof seen);
        bool ran = kern_parallel_pieces(N, 1, 64, mark_range, seen);
        ck_assert(ran == (threads > 1));
        if (!ran) mark_range(seen, 0, N);
        int64_t bad = 0;
        while (bad < N && seen[bad] == 1) bad++;
        ck_assert_msg(bad == N, "threads %d: element %lld seen %d times", threads,
                      (long long)bad, bad < N ? seen[bad] : 0);
        memset(seen, 0, sizeof seen);
        ck_assert(!kern_parallel_pieces(100, 1, 64, mark_range, seen));
        for (int i = 0; i < 100; i++) ck_assert_int_eq(seen[i], 0);
    }
    kern_set_threads(1);
}
END_TEST

/* kern_fill over sizes that split between threads: every element written, zeros and others,
 * f32 and f64. */
START_TEST(test_fill_in_pieces) {
    enum { N = (1 << 18) + 3 };
    static double d[N];
    static float f[N];
    kern_set_threads(2);
    const double values[] = {0.0, 2.5, -0.0};
    for (int v = 0; v < 3; v++) {
        for (int64_t i = 0; i < N; i++) d[i] = f[i] = NAN;
        kern_fill(TG_F64, d, N, values[v]);
        kern_fill(TG_F32, f, N, values[v]);
        int64_t bad_d = 0, bad_f = 0;
        while (bad_d < N && d[bad_d] == values[v] && !signbit(d[bad_d]) == !signbit(values[v]))
            bad_d++;
        while (bad_f < N && f[bad_f] == (float)values[v] &&
               !signbit(f[bad_f]) == !signbit(values[v]))
            bad_f++;
        ck_assert_msg(bad_d == N, "f64 element %lld is %g, want %g", (long long)bad_d,
                      bad_d < N ? d[bad_d] : 0.0, values[v]);
        ck_assert_msg(bad_f == N, "f32 element %lld is %g, want %g", (long long)bad_f,
                      bad_f < N ? f[bad_f] : 0.0f, values[v]);
    }
    kern_set_threads(1);
}
END_TEST

/* ---- teams ---- */

#define MAX_RANKS 16

/* A sense-reversing barrier of the test's own, to make ranks wait for one another. */
typedef struct test_barrier {
    atomic_int arrived;
    atomic_int sense;
} test_barrier;

static void test_barrier_wait(test_barrier *b, int n, int *sense) {
    *sense = !*sense;
    if (atomic_fetch_add(&b->arrived, 1) == n - 1) {
        atomic_store(&b->arrived, 0);
        atomic_store(&b->sense, *sense);
        return;
    }
    time_t give_up = time(NULL) + 20;
    while (atomic_load(&b->sense) != *sense && time(NULL) < give_up) sched_yield();
}

typedef struct team_probe {
    atomic_int ran[MAX_RANKS];
    atomic_int n_seen;
    test_barrier barrier;
    atomic_int round_of[MAX_RANKS];
    atomic_int bad;
} team_probe;

/* Each rank publishes the round it is in; between two barrier waits every rank must see every
 * other in the same round, which only holds if all ranks run at once on their own threads. */
static void team_rank(void *ctx, int rank, int n) {
    team_probe *t = ctx;
    atomic_fetch_add(&t->ran[rank], 1);
    atomic_store(&t->n_seen, n);
    int sense = 0;
    for (int round = 1; round <= 300; round++) {
        atomic_store(&t->round_of[rank], round);
        test_barrier_wait(&t->barrier, n, &sense);
        for (int r = 0; r < n; r++)
            if (atomic_load(&t->round_of[r]) != round) atomic_fetch_add(&t->bad, 1);
        test_barrier_wait(&t->barrier, n, &sense);
    }
}

static void check_team(int threads, int max_threads, int want_ranks) {
    tg_set_threads(threads);
    team_probe *t = calloc(1, sizeof *t);
    kern_parallel_team(max_threads, team_rank, t);
    int n = atomic_load(&t->n_seen);
    ck_assert_msg(n == want_ranks, "%d threads, at most %d: team of %d, want %d", threads,
                  max_threads, n, want_ranks);
    for (int r = 0; r < MAX_RANKS; r++) ck_assert_int_eq(atomic_load(&t->ran[r]), r < n ? 1 : 0);
    ck_assert_msg(atomic_load(&t->bad) == 0, "ranks did not run together (%d mismatches)",
                  atomic_load(&t->bad));
    free(t);
}

START_TEST(test_team) {
    check_team(1, 8, 1);
    check_team(2, 8, 2);
    check_team(4, 8, 4); /* more threads than cores */
    check_team(4, 3, 3);
    check_team(3, 1, 1);
}
END_TEST

/* A team asked for from inside a task of a pool job cannot have the pool: a team of one. */
static void team_inside_task(void *ctx, int64_t i) {
    team_probe *t = (team_probe *)ctx + i;
    kern_parallel_team(4, team_rank, t);
}

START_TEST(test_team_nested) {
    tg_set_threads(2);
    team_probe *t = calloc(2, sizeof *t);
    kern_parallel_for(2, 2, team_inside_task, t);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(atomic_load(&t[i].n_seen), 1);
        ck_assert_int_eq(atomic_load(&t[i].ran[0]), 1);
        ck_assert_int_eq(atomic_load(&t[i].bad), 0);
    }
    free(t);
}
END_TEST

/* kern_counter: two ranks take turns through a counter, each waiting for the other's last
 * add before it adds; rank 1 sometimes sleeps 0.2 ms first, past the polling, so that rank 0
 * sleeps in kern_counter_wait and must be woken. What a rank wrote before adding must be
 * visible to the one it wakes. */
enum { COUNTER_ROUNDS = 200 };
typedef struct counter_probe {
    kern_counter c;
    int64_t written[COUNTER_ROUNDS]; /* plain memory, published by the adds */
    atomic_int bad, n_ranks;
} counter_probe;

static void counter_rank(void *ctx, int rank, int n_ranks) {
    counter_probe *p = ctx;
    atomic_store(&p->n_ranks, n_ranks);
    if (n_ranks != 2) return;
    for (int64_t k = rank; k < COUNTER_ROUNDS; k += 2) {
        kern_counter_wait(&p->c, k);
        if (k > 0 && p->written[k - 1] != k - 1) atomic_fetch_add(&p->bad, 1);
        if (rank == 1 && k % 10 == 1) nanosleep(&(struct timespec){0, 200000}, NULL);
        p->written[k] = k;
        kern_counter_add(&p->c, 1);
    }
}

START_TEST(test_counter) {
    tg_set_threads(2);
    counter_probe *p = calloc(1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    kern_parallel_team(2, counter_rank, p);
    ck_assert_int_eq(atomic_load(&p->n_ranks), 2);
    ck_assert_int_eq(atomic_load(&p->c.value), COUNTER_ROUNDS);
    ck_assert_int_eq(atomic_load(&p->c.sleepers), 0);
    ck_assert_int_eq(atomic_load(&p->bad), 0);
    for (int64_t k = 0; k < COUNTER_ROUNDS; k++) ck_assert_int_eq(p->written[k], k);
    free(p);
    tg_set_threads(1);
}
END_TEST

static Suite *threadpool_suite(void) {
    Suite *s = suite_create("threadpool");
    TCase *c = tcase_create("pool");
    tcase_set_timeout(c, 120);
    tcase_add_test(c, test_thread_count_default); /* first: before anything sets the count */
    tcase_add_test(c, test_thread_count);
    tcase_add_test(c, test_each_task_once);
    tcase_add_test(c, test_work_is_shared);
    tcase_add_test(c, test_if_awake);
    tcase_add_test(c, test_nested);
    tcase_add_test(c, test_concurrent_callers);
    tcase_add_test(c, test_fork_child_uses_pool);
    tcase_add_test(c, test_scratch);
    tcase_add_test(c, test_scratch_freed_by_its_allocator);
    tcase_add_test(c, test_pieces_cover_once);
    tcase_add_test(c, test_fill_in_pieces);
    tcase_add_test(c, test_team);
    tcase_add_test(c, test_team_nested);
    tcase_add_test(c, test_counter);
    suite_add_tcase(s, c);
    return s;
}

int main(void) { return tg_test_run(threadpool_suite()); }

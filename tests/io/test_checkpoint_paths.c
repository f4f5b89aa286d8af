/* test_checkpoint_paths.c: what a checkpoint save may replace and what it keeps (issue 11): a
 * path that is not a regular file (a FIFO made here, standing in for /dev/full) is refused and
 * left as it was; a symlink's target gets the checkpoint and the link stays; the old file's
 * mode survives; temporaries of killed saves are cleaned up by the next save; threads saving to
 * one path never share a temporary; and metadata the
 * loader would refuse (a count past the table, strings without their NUL) is refused by the
 * save before anything is read past its array. Everything happens in a fresh temporary folder. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "../data/test_files.h"

static tg_store *small_store(double value) {
    tg_store *s = tg_store_new();
    tg_tensor *w = tg_store_param(s, "w", TG_F64, TG_SHAPE(3));
    ck_assert_ptr_nonnull(w);
    tg_tensor_fill(w, value);
    return s;
}

/* The value a checkpoint at path holds for "w" (all three elements equal). */
static double saved_value(const char *path) {
    tg_store *s = small_store(0.0);
    tg_error err = {0};
    ck_assert_msg(tg_checkpoint_load(s, path, NULL, &err) == TG_OK, "%s", err.message);
    double v = tg_tensor_get(tg_store_find(s, "w"), 0);
    ck_assert_double_eq(tg_tensor_get(tg_store_find(s, "w"), 2), v);
    tg_store_free(s);
    return v;
}

/* Saving to a FIFO (as to /dev/full, a device) renamed a regular file over it. Refused now;
 * the FIFO is never opened (that would block) and is still a FIFO, and nothing else is left. */
START_TEST(test_refuses_non_regular_file) {
    char *dir = tf_mkdtemp();
    char fifo[4096], sub[4096];
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    snprintf(sub, sizeof sub, "%s/folder", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    tg_store *s = small_store(1.0);
    tg_error err = {0};
    ck_assert_int_eq(tg_checkpoint_save(s, fifo, NULL, &err), TG_ERR_IO);
    ck_assert_error(err, TG_ERR_IO, "not a regular file");
    struct stat st;
    ck_assert_int_eq(lstat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    ck_assert_int_eq(tg_checkpoint_save(s, sub, NULL, &err), TG_ERR_IO);
    ck_assert_int_eq(lstat(sub, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
    /* A symlink to the FIFO is refused the same way, and the link stays a link. */
    char link[4096];
    snprintf(link, sizeof link, "%s/to-pipe", dir);
    ck_assert_int_eq(symlink(fifo, link), 0);
    ck_assert_int_eq(tg_checkpoint_save(s, link, NULL, &err), TG_ERR_IO);
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_int_eq(lstat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    ck_assert_int_eq(tf_count_prefix(dir, "pipe.tmp"), 0);
    ck_assert_int_eq(tf_count_prefix(dir, "to-pipe.tmp"), 0);
    tg_store_free(s);
    tf_rmdir(dir);
}
END_TEST

/* A symlink was replaced by a regular file; now its target gets the checkpoint, also through
 * a relative link and a chain of two links. A dangling link is refused. */
START_TEST(test_follows_symlink) {
    char *dir = tf_mkdtemp();
    char target[4096], link[4096], link2[4096], dangling[4096];
    snprintf(target, sizeof target, "%s/real.safetensors", dir);
    snprintf(link, sizeof link, "%s/latest", dir);
    snprintf(link2, sizeof link2, "%s/latest2", dir);
    snprintf(dangling, sizeof dangling, "%s/dangling", dir);
    tg_store *s = small_store(1.0), *s2 = small_store(2.0), *s3 = small_store(3.0);
    ck_assert_int_eq(tg_checkpoint_save(s, target, NULL, NULL), TG_OK);
    ck_assert_int_eq(symlink("real.safetensors", link), 0);
    ck_assert_int_eq(symlink(link, link2), 0);
    ck_assert_int_eq(tg_checkpoint_save(s2, link, NULL, NULL), TG_OK);
    struct stat st;
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_double_eq(saved_value(target), 2.0);
    ck_assert_int_eq(tg_checkpoint_save(s3, link2, NULL, NULL), TG_OK);
    ck_assert_int_eq(lstat(link2, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    ck_assert_double_eq(saved_value(target), 3.0);
    ck_assert_int_eq(symlink("missing/file", dangling), 0);
    tg_error err = {0};
    ck_assert_int_eq(tg_checkpoint_save(s, dangling, NULL, &err), TG_ERR_IO);
    ck_assert_error(err, TG_ERR_IO, "symlink");
    ck_assert_int_eq(lstat(dangling, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    tg_store_free(s);
    tg_store_free(s2);
    tg_store_free(s3);
    tf_rmdir(dir);
}
END_TEST

/* A 0600 checkpoint came back 0644 (a fresh file under the umask). The mode is kept, also
 * bits the umask would clear. */
START_TEST(test_keeps_mode) {
    char *dir = tf_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/ck", dir);
    tg_store *s = small_store(1.0);
    const mode_t modes[] = {0600, 0640, 0666, 0400};
    mode_t old_umask = umask(022);
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        ck_assert_int_eq(tg_checkpoint_save(s, path, NULL, NULL), TG_OK);
        ck_assert_int_eq(chmod(path, modes[i]), 0);
        tg_error err = {0};
        ck_assert_msg(tg_checkpoint_save(s, path, NULL, &err) == TG_OK, "%s", err.message);
        struct stat st;
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_msg((st.st_mode & 07777) == modes[i], "mode %o, want %o",
                      (unsigned)(st.st_mode & 07777), (unsigned)modes[i]);
        ck_assert_int_eq(chmod(path, 0600), 0);
    }
    umask(old_umask);
    tg_store_free(s);
    tf_rmdir(dir);
}
END_TEST

/* A pid that no process has: a child that has exited and been reaped. */
static long dead_pid(void) {
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) _exit(0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    return (long)pid;
}

static void make_old_file(const char *path) {
    tf_write(path, "partial", 7);
    struct timespec old[2] = {{time(NULL) - 3600, 0}, {time(NULL) - 3600, 0}};
    ck_assert_int_eq(utimensat(AT_FDCWD, path, old, 0), 0);
}

/* A killed save leaves "<path>.tmp.<pid>"; the next save removes it once the process is gone
 * and the file is old, and leaves alone a live process's file, a recent one, other names. */
START_TEST(test_removes_stale_temporaries) {
    char *dir = tf_mkdtemp();
    char path[4096], dead_old[4096], dead_new[4096], alive[4096], other[4096], other_ck[4096];
    long pid = dead_pid();
    snprintf(path, sizeof path, "%s/ck", dir);
    snprintf(dead_old, sizeof dead_old, "%s/ck.tmp.%ld", dir, pid);
    snprintf(dead_new, sizeof dead_new, "%s/ck.tmp.%ld", dir, dead_pid());
    snprintf(alive, sizeof alive, "%s/ck.tmp.%ld", dir, (long)getppid());
    snprintf(other, sizeof other, "%s/ck.tmp.12x", dir);
    snprintf(other_ck, sizeof other_ck, "%s/ck2.tmp.%ld", dir, pid);
    make_old_file(dead_old);
    tf_write(dead_new, "partial", 7);
    make_old_file(alive);
    make_old_file(other);
    make_old_file(other_ck);
    /* The numbered form "<pid>.<n>" of this version: cleaned the same way; names that only
     * look like it are kept. */
    char numbered[4096], numbered_alive[4096], bad[4][4096];
    snprintf(numbered, sizeof numbered, "%s/ck.tmp.%ld.17", dir, pid);
    snprintf(numbered_alive, sizeof numbered_alive, "%s/ck.tmp.%ld.0", dir, (long)getppid());
    snprintf(bad[0], sizeof bad[0], "%s/ck.tmp.%ld.", dir, pid);
    snprintf(bad[1], sizeof bad[1], "%s/ck.tmp.%ld.1x", dir, pid);
    snprintf(bad[2], sizeof bad[2], "%s/ck.tmp.%ld.1.2", dir, pid);
    snprintf(bad[3], sizeof bad[3], "%s/ck.tmp..5", dir);
    make_old_file(numbered);
    make_old_file(numbered_alive);
    for (int i = 0; i < 4; i++) make_old_file(bad[i]);
    tg_store *s = small_store(1.0);
    ck_assert_int_eq(tg_checkpoint_save(s, path, NULL, NULL), TG_OK);
    ck_assert(!tf_exists(dead_old));
    ck_assert(!tf_exists(numbered));
    ck_assert(tf_exists(dead_new));
    ck_assert(tf_exists(alive));
    ck_assert(tf_exists(numbered_alive));
    ck_assert(tf_exists(other));
    ck_assert(tf_exists(other_ck));
    for (int i = 0; i < 4; i++) ck_assert_msg(tf_exists(bad[i]), "%s was removed", bad[i]);
    ck_assert_double_eq(saved_value(path), 1.0);
    tg_store_free(s);
    tf_rmdir(dir);
}
END_TEST

/* Two threads of one process saving to one path shared the temporary "<path>.tmp.<pid>": one
 * unlinked the other's half-written file and a rename could install a partial checkpoint or
 * fail. Each save now has its own temporary, so every save succeeds, the file is always one
 * of the two complete stores, and no temporary is left. */
enum { RACE_SAVES = 1000 };

static pthread_barrier_t race_start;

typedef struct race_arg {
    const char *path;
    double value;
    int n_failed;
    tg_error first_error;
} race_arg;

static void *race_saver(void *p) {
    race_arg *a = p;
    tg_store *s = small_store(a->value);
    pthread_barrier_wait(&race_start); /* both save from the start, not one after the other */
    for (int i = 0; i < RACE_SAVES; i++) {
        tg_error err = {0};
        if (tg_checkpoint_save(s, a->path, NULL, &err) != TG_OK && a->n_failed++ == 0)
            a->first_error = err;
    }
    tg_store_free(s);
    return NULL;
}

START_TEST(test_threads_saving_to_one_path) {
    char *dir = tf_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/ck", dir);
    race_arg args[2] = {{path, 1.0, 0, {0}}, {path, 2.0, 0, {0}}};
    pthread_t th[2];
    ck_assert_int_eq(pthread_barrier_init(&race_start, NULL, 2), 0);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, race_saver, &args[i]), 0);
    for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&race_start);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(args[i].n_failed == 0, "%d saves of %g failed, first: %s", args[i].n_failed,
                      args[i].value, args[i].first_error.message);
    double v = saved_value(path);
    ck_assert_msg(v == 1.0 || v == 2.0, "the checkpoint holds %g", v);
    ck_assert_int_eq(tf_count_prefix(dir, "ck.tmp"), 0);
    tf_rmdir(dir);
}
END_TEST

/* meta->n = 1000 read past the keys; a key or value filling its array without a NUL was saved
 * and then refused by the loader. Both are refused by the save, which writes nothing. */
START_TEST(test_refuses_bad_meta) {
    char *dir = tf_mkdtemp();
    char path[4096];
    snprintf(path, sizeof path, "%s/ck", dir);
    tg_store *s = small_store(1.0);
    tg_checkpoint_meta *m = malloc(sizeof *m);
    ck_assert_ptr_nonnull(m);
    tg_error err = {0};
    const int counts[] = {1000, TG_CHECKPOINT_MAX_META + 1, -1, INT32_MIN};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        tg_checkpoint_meta_init(m);
        m->n = counts[i];
        ck_assert_int_eq(tg_checkpoint_save(s, path, m, &err), TG_ERR_ARG);
        ck_assert_error(err, TG_ERR_ARG, "metadata count");
    }
    /* A key without its NUL, then a value without it. */
    tg_checkpoint_meta_init(m);
    m->n = 1;
    memset(m->keys[0], 'k', TG_CHECKPOINT_KEY_MAX);
    snprintf(m->values[0], TG_CHECKPOINT_VALUE_MAX, "v");
    ck_assert_int_eq(tg_checkpoint_save(s, path, m, &err), TG_ERR_ARG);
    ck_assert_error(err, TG_ERR_ARG, "terminating NUL");
    snprintf(m->keys[0], TG_CHECKPOINT_KEY_MAX, "k");
    memset(m->values[0], 'v', TG_CHECKPOINT_VALUE_MAX);
    ck_assert_int_eq(tg_checkpoint_save(s, path, m, &err), TG_ERR_ARG);
    ck_assert_error(err, TG_ERR_ARG, "terminating NUL");
    /* Keys the loader refuses: empty, "step", repeated. */
    const char *keys[][2] = {{"", "x"}, {"step", "x"}, {"a", "a"}};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        tg_checkpoint_meta_init(m);
        m->n = 2;
        snprintf(m->keys[0], TG_CHECKPOINT_KEY_MAX, "%s", keys[i][0]);
        snprintf(m->keys[1], TG_CHECKPOINT_KEY_MAX, "%s", keys[i][1]);
        ck_assert_int_eq(tg_checkpoint_save(s, path, m, &err), TG_ERR_ARG);
        ck_assert_int_eq(err.status, TG_ERR_ARG);
    }
    ck_assert(!tf_exists(path));
    /* The longest strings that fit are saved and read back. */
    tg_checkpoint_meta_init(m);
    m->n = 1;
    memset(m->keys[0], 'k', TG_CHECKPOINT_KEY_MAX - 1);
    memset(m->values[0], 'v', TG_CHECKPOINT_VALUE_MAX - 1);
    ck_assert_msg(tg_checkpoint_save(s, path, m, &err) == TG_OK, "%s", err.message);
    tg_checkpoint_meta got;
    ck_assert_msg(tg_checkpoint_load(s, path, &got, &err) == TG_OK, "%s", err.message);
    ck_assert_int_eq(got.n, 1);
    ck_assert_str_eq(got.keys[0], m->keys[0]);
    ck_assert_str_eq(got.values[0], m->values[0]);
    free(m);
    tg_store_free(s);
    tf_rmdir(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("io_checkpoint_paths");
    TCase *tc = tcase_create("paths");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_refuses_non_regular_file);
    tcase_add_test(tc, test_follows_symlink);
    tcase_add_test(tc, test_keeps_mode);
    tcase_add_test(tc, test_removes_stale_temporaries);
    tcase_add_test(tc, test_threads_saving_to_one_path);
    tcase_add_test(tc, test_refuses_bad_meta);
    suite_add_tcase(s, tc);
    return tg_test_run(s);
}

/* xp.h: what every experiment shares around its measurement: the command line (--seed,
 * --threads, --data, --quick, --out, --help, plus flags of its own), the images it trains on
 * (an MNIST-format folder, or a synthetic set made in memory), output paths, and the checks
 * that state the lesson's finding and decide the exit status.
 *
 *     xp_options o = xp_defaults();
 *     int rc = xp_parse(argc, argv, &prog, &o);   // 0 go on, 1 bad flag, 2 --help shown
 *     ...
 *     xp_expect(&o, ratio < 0.3, "depth 4: first/last bias-gradient ratio %.3f < 0.3", ratio);
 *     return xp_finish(&o);                        // 1 when any expectation failed
 *
 * Invariant: an experiment's numbers depend only on its flags and data (threads change the
 * time, not the bits, because the kernels split work in a fixed order). */
#ifndef EXPERIMENTS_COMMON_XP_H
#define EXPERIMENTS_COMMON_XP_H

#include <stdbool.h>
#include <stdint.h>

#include <tapegrad.h>

#include "args.h"
#include "classify.h"

/* --data's value that asks for the synthetic set instead of a folder. */
#define XP_SYNTHETIC "synthetic"

typedef struct xp_options {
    uint64_t seed;
    long threads;     /* 0: one per online CPU */
    const char *data; /* a folder, or XP_SYNTHETIC */
    bool quick;       /* the small run the test suite makes: seconds, same finding */
    const char *out;  /* folder for the CSV and SVG files; created when missing */
    int n_failed;     /* expectations that did not hold so far */
} xp_options;

/* seed 1, threads 0, the examples' default data folder, full run, out "out". */
xp_options xp_defaults(void);

/* Parses the shared flags and the experiment's own (prog->extra), prints --help from both;
 * then applies --threads. Returns 0 to go on, 1 after a bad command line (message printed), 2
 * after --help. */
int xp_parse(int argc, char **argv, const ex_program *prog, xp_options *o);

/* "<out>/<file>" into buf (size bytes), creating the folder <out> (and its parents) first.
 * TG_ERR_IO (err set) when the folder cannot be made or the path does not fit. */
tg_status xp_out_path(const xp_options *o, const char *file, char *buf, size_t size,
                      tg_error *err);

/* The training and test images: from o->data, the training set cut to its first n_train
 * images and the test set to its first n_test (0: all of it). With --data synthetic, a set
 * of 28x28 images in 10 classes (two bright bars whose places depend on the class, over
 * noise) is made from o->seed instead: it needs nothing on disk, so the tests use it. */
tg_status xp_load_images(const xp_options *o, int64_t n_train, int64_t n_test, ex_images *d,
                         tg_error *err);

/* A batch of `n` training images starting at index `first` (wrapping around), flattened to
 * (n, rows * cols) and normalised by d's mean and std, in dtype; labels copied to `labels`
 * (n of them). The tensor lives on t. NULL when t holds an error. */
tg_tensor *xp_image_batch(tg_tape *t, const ex_images *d, bool test_set, int64_t first, int64_t n,
                          tg_dtype dtype, int64_t *labels);

/* A fixed batch a lesson measures its networks on: the first n images of the test set (or of
 * the training set), and xp_probe_batch, which makes it in f32 on t through a void pointer to
 * an xp_probe, for measuring code that takes any batch maker. */
typedef struct xp_probe {
    const ex_images *d;
    bool test_set;
    int64_t n;
} xp_probe;
tg_tensor *xp_probe_batch(tg_tape *t, void *probe, int64_t *labels);

/* The logits (b, classes) of the images x (b, rows * cols) on t; NULL when t holds an error. */
typedef tg_tensor *(*xp_logits_fn)(tg_tape *t, const void *net, tg_tensor *x);

/* Runs logits over the first n test images in batches on a no-grad tape of its own and counts
 * the predictions (the largest logit): *accuracy the percentage right; pred, when not NULL,
 * receives every prediction; with same_as not NULL, *agree the percentage equal to it. */
tg_status xp_evaluate(const ex_images *d, int64_t n, xp_logits_fn logits, const void *net,
                      int64_t *pred, const int64_t *same_as, double *agree, double *accuracy,
                      tg_error *err);

/* States one finding: prints "check: <text>: ok" or "...: FAILED" on stdout and counts the
 * failures into o->n_failed. Returns ok. */
bool xp_expect(xp_options *o, bool ok, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The exit status: 0 when every expectation held, else 1 (after a line saying how many
 * failed). */
int xp_finish(const xp_options *o);

/* Prints "<prog>: <message>" on stderr and returns 1, for `return xp_fail(...)`. */
int xp_fail(const char *prog, const char *message);

#endif

/* xp.c: the experiments' command line, data, output paths and findings.
 *
 * Invariant: the synthetic set is a function of the seed alone (drawn with tg_rng), so a test
 * that runs on it sees the same numbers on every machine. */
#include "xp.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_OPTS 32

xp_options xp_defaults(void) {
    xp_options o = {.seed = 1, .threads = 0, .data = ex_default_image_dir(), .quick = false,
                    .out = "out"};
    return o;
}

int xp_parse(int argc, char **argv, const ex_program *prog, xp_options *o) {
    ex_opt opts[MAX_OPTS] = {
        {"--seed", "S", "seed of the initial weights, the batches and the synthetic data",
         EX_OPT_U64, &o->seed, 0, 0, NULL},
        {"--threads", "N", "threads for the kernels; 0 means one per CPU", EX_OPT_LONG,
         &o->threads, 0, 256, NULL},
        {"--data", "DIR", prog->data_help, EX_OPT_STRING, &o->data, 0, 0, NULL},
        {"--quick", "", "the small run of the test suite (seconds, same finding)", EX_OPT_FLAG,
         &o->quick, 0, 0, NULL},
        {"--out", "DIR", "folder for the CSV and SVG files (created when missing)",
         EX_OPT_STRING, &o->out, 0, 0, NULL},
    };
    int n = 5;
    for (int i = 0; i < prog->n_extra && n < MAX_OPTS; i++) opts[n++] = prog->extra[i];
    int rc = ex_parse_opts(argc, argv, prog, opts, n);
    if (rc == 0) tg_set_threads((int)o->threads);
    return rc;
}

/* mkdir -p: each prefix of the path in turn, an existing folder being fine. */
static bool make_dirs(const char *path) {
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) return false;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char keep = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return false;
        buf[i] = keep;
    }
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

tg_status xp_out_path(const xp_options *o, const char *file, char *buf, size_t size,
                      tg_error *err) {
    if (!make_dirs(o->out))
        return tg_error_set(err, TG_ERR_IO, "cannot create the output folder '%.200s': %s",
                            o->out, strerror(errno));
    int n = snprintf(buf, size, "%s/%s", o->out, file);
    if (n < 0 || (size_t)n >= size)
        return tg_error_set(err, TG_ERR_IO, "output path '%.200s/%.100s' is too long", o->out,
                            file);
    return TG_OK;
}

/* One 28x28 picture of class `label`: a horizontal and a vertical bar whose rows and columns
 * depend on the class, each moved by up to a pixel, over faint noise. */
static void synthetic_image(tg_rng *rng, int label, uint8_t *img) {
    const int side = 28;
    for (int i = 0; i < side * side; i++) img[i] = (uint8_t)tg_rng_below(rng, 40);
    int dy = (int)tg_rng_below(rng, 3) - 1, dx = (int)tg_rng_below(rng, 3) - 1;
    int row = 3 + 2 * label + dy, col = 3 + (7 * label) % 22 + dx;
    for (int x = 4; x < side - 4; x++) img[row * side + x] = (uint8_t)(200 + tg_rng_below(rng, 56));
    for (int y = 4; y < side - 4; y++) img[y * side + col] = (uint8_t)(200 + tg_rng_below(rng, 56));
}

static tg_dataset *synthetic_set(tg_rng *rng, int64_t n, tg_error *err) {
    uint8_t *px = malloc((size_t)n * 28 * 28);
    uint8_t *labels = malloc((size_t)n);
    tg_dataset *d = NULL;
    if (!px || !labels) {
        tg_error_set(err, TG_ERR_NOMEM, "synthetic data: out of memory for %lld images",
                     (long long)n);
    } else {
        for (int64_t i = 0; i < n; i++) {
            labels[i] = (uint8_t)(i % 10);
            synthetic_image(rng, labels[i], px + i * 28 * 28);
        }
        d = tg_dataset_from_memory(n, 28, 28, px, labels, err);
    }
    free(px);
    free(labels);
    return d;
}

/* The first n images of d as a new dataset (d itself when n is 0 or not smaller). */
static tg_dataset *cut(tg_dataset *d, int64_t n, tg_error *err) {
    if (n <= 0 || n >= tg_dataset_count(d)) return d;
    tg_dataset *part = tg_dataset_from_memory(n, tg_dataset_rows(d), tg_dataset_cols(d),
                                              tg_dataset_images(d), tg_dataset_labels(d), err);
    tg_dataset_free(d);
    return part;
}

tg_status xp_load_images(const xp_options *o, int64_t n_train, int64_t n_test, ex_images *d,
                         tg_error *err) {
    memset(d, 0, sizeof *d);
    if (strcmp(o->data, XP_SYNTHETIC) == 0) {
        tg_rng rng;
        tg_rng_seed(&rng, o->seed ^ 0x5eed5eedull);
        d->train = synthetic_set(&rng, n_train > 0 ? n_train : 2000, err);
        d->test = d->train ? synthetic_set(&rng, n_test > 0 ? n_test : 500, err) : NULL;
        if (!d->test) {
            ex_images_free(d);
            return err ? err->status : TG_ERR_NOMEM;
        }
        d->rows = d->cols = 28;
        d->n_classes = 10;
    } else {
        ex_common c = {.data = o->data, .limit = n_train};
        tg_status st = ex_images_load(&c, d, err);
        if (st != TG_OK) return st;
        d->test = cut(d->test, n_test, err);
        if (!d->test) {
            ex_images_free(d);
            return err ? err->status : TG_ERR_NOMEM;
        }
    }
    /* The mean and std of the training pixels used (ex_images_load computed them for a
     * folder already; the same formula again costs little and covers both cases). */
    const uint8_t *px = tg_dataset_images(d->train);
    int64_t n = tg_dataset_count(d->train) * d->rows * d->cols;
    double sum = 0, sum_sq = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = px[i] / 255.0;
        sum += v;
        sum_sq += v * v;
    }
    d->mean = sum / (double)n;
    double var = sum_sq / (double)n - d->mean * d->mean;
    d->std = var > 1e-12 ? sqrt(var) : 1.0;
    return TG_OK;
}

tg_tensor *xp_image_batch(tg_tape *t, const ex_images *d, bool test_set, int64_t first, int64_t n,
                          tg_dtype dtype, int64_t *labels) {
    if (tg_tape_status(t) != TG_OK) return NULL;
    const tg_dataset *set = test_set ? d->test : d->train;
    int64_t count = tg_dataset_count(set), dim = d->rows * d->cols;
    tg_tensor *x = tg_zeros(t, dtype, TG_SHAPE(n, dim));
    if (!x) return NULL;
    const uint8_t *px = tg_dataset_images(set), *lab = tg_dataset_labels(set);
    double *d64 = dtype == TG_F64 ? tg_tensor_data(x) : NULL;
    float *d32 = dtype == TG_F64 ? NULL : tg_tensor_data(x);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = (first + i) % count;
        for (int64_t j = 0; j < dim; j++) {
            double v = (px[k * dim + j] / 255.0 - d->mean) / d->std;
            if (d64)
                d64[i * dim + j] = v;
            else
                d32[i * dim + j] = (float)v;
        }
        labels[i] = lab[k];
    }
    return x;
}

enum { XP_EVAL_BATCH = 500 };

tg_status xp_evaluate(const ex_images *d, int64_t n, xp_logits_fn logits, const void *net,
                      int64_t *pred, const int64_t *same_as, double *agree, double *accuracy,
                      tg_error *err) {
    tg_tape *t = tg_tape_new();
    int64_t *labels = malloc(XP_EVAL_BATCH * sizeof(int64_t));
    tg_status st =
        !t || !labels ? tg_error_set(err, TG_ERR_NOMEM, "evaluate: out of memory") : TG_OK;
    if (st == TG_OK) tg_tape_set_grad_enabled(t, false);
    int64_t correct = 0, same = 0;
    for (int64_t first = 0; first < n && st == TG_OK; first += XP_EVAL_BATCH) {
        int64_t b = n - first < XP_EVAL_BATCH ? n - first : XP_EVAL_BATCH;
        tg_tensor *y = logits(t, net, xp_image_batch(t, d, true, first, b, TG_F32, labels));
        if (!y) {
            st = tg_error_set(err, tg_tape_status(t), "evaluate: %s", tg_tape_error(t));
            break;
        }
        int64_t classes = tg_tensor_dim(y, 1);
        for (int64_t i = 0; i < b; i++) {
            int64_t best = 0;
            for (int64_t k = 1; k < classes; k++)
                if (tg_tensor_get(y, i * classes + k) > tg_tensor_get(y, i * classes + best))
                    best = k;
            correct += best == labels[i];
            if (pred) pred[first + i] = best;
            if (same_as) same += best == same_as[first + i];
        }
        tg_tape_reset(t);
    }
    if (st == TG_OK) {
        *accuracy = 100.0 * (double)correct / (double)n;
        if (same_as) *agree = 100.0 * (double)same / (double)n;
    }
    tg_tape_free(t);
    free(labels);
    return st;
}

tg_tensor *xp_probe_batch(tg_tape *t, void *probe, int64_t *labels) {
    const xp_probe *p = probe;
    return xp_image_batch(t, p->d, p->test_set, 0, p->n, TG_F32, labels);
}

bool xp_expect(xp_options *o, bool ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("check: ");
    vprintf(fmt, ap);
    va_end(ap);
    printf(": %s\n", ok ? "ok" : "FAILED");
    if (!ok) o->n_failed++;
    return ok;
}

int xp_finish(const xp_options *o) {
    fflush(stdout);
    if (o->n_failed == 0) return 0;
    fprintf(stderr, "%d expectation(s) of the lesson did not hold\n", o->n_failed);
    return 1;
}

int xp_fail(const char *prog, const char *message) {
    fprintf(stderr, "%s: %s\n", prog, message);
    return 1;
}

/* classify.c: the image classifiers' data loading and training run: Adam over the store,
 * shuffled normalised batches, cross-entropy, a test pass after every epoch, and the outputs
 * (stdout lines, progress, CSV, SVG, checkpoint, DOT).
 *
 * Invariant: everything that decides the next step (parameters, Adam's moments and step count,
 * the batcher's position and generator, the history) is in the store or the checkpoint's
 * metadata, and the learning rate is a function of the epoch number alone, so stopping after
 * any epoch and resuming changes no bit of the result. */
#include "classify.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "history.h"
#include "progress.h"
#include "resume.h"

/* Test batches are larger than training ones: no graph is kept, so memory stays small. */
#define EVAL_BATCH 500

tg_status ex_images_load(const ex_common *c, ex_images *d, tg_error *err) {
    memset(d, 0, sizeof *d);
    tg_error e = {0};
    tg_dataset *train = tg_dataset_load_dir(c->data, "train", &e);
    tg_dataset *test = train ? tg_dataset_load_dir(c->data, "t10k", &e) : NULL;
    if (!train || !test) {
        tg_dataset_free(train);
        d->missing = true;
        if (err) *err = e;
        return e.status;
    }
    d->rows = tg_dataset_rows(train);
    d->cols = tg_dataset_cols(train);
    if (tg_dataset_rows(test) != d->rows || tg_dataset_cols(test) != d->cols) {
        tg_dataset_free(train);
        tg_dataset_free(test);
        return tg_error_set(err, TG_ERR_FORMAT,
                            "data in '%.150s': training images are %lldx%lld, test images "
                            "%lldx%lld",
                            c->data, (long long)d->rows, (long long)d->cols,
                            (long long)tg_dataset_rows(test), (long long)tg_dataset_cols(test));
    }
    if (c->limit > 0 && c->limit < tg_dataset_count(train)) {
        tg_dataset *part = tg_dataset_from_memory(c->limit, d->rows, d->cols,
                                                  tg_dataset_images(train),
                                                  tg_dataset_labels(train), err);
        tg_dataset_free(train);
        if (!part) {
            tg_dataset_free(test);
            return err ? err->status : TG_ERR_NOMEM;
        }
        train = part;
    }
    d->train = train;
    d->test = test;
    int a = tg_dataset_n_classes(train), b = tg_dataset_n_classes(test);
    d->n_classes = a > b ? a : b;
    /* The training pixels' mean and standard deviation, in double over every byte used. */
    const uint8_t *px = tg_dataset_images(train);
    int64_t n = tg_dataset_count(train) * d->rows * d->cols;
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

void ex_images_free(ex_images *d) {
    tg_dataset_free(d->train);
    tg_dataset_free(d->test);
    memset(d, 0, sizeof *d);
}

static const ex_history_spec history_spec = {
    .n_cols = 4,
    .cols = {{"train_loss", "train", 0, EX_TRAIN_COLOUR},
             {"test_loss", "test", 0, EX_TEST_COLOUR},
             {"train_accuracy", "train", 1, EX_TRAIN_COLOUR},
             {"test_accuracy", "test", 1, EX_TEST_COLOUR}},
    .n_panels = 2,
    .panel_title = {"cross-entropy loss", "accuracy"},
    .panel_y_label = {"loss", "accuracy (%)"},
    .trace_legend = "train, running",
    .trace_colour = EX_TRACE_COLOUR,
};

/* Correct predictions in logits (B, n_classes) against labels. buf holds B * n_classes. */
static int64_t count_correct(const tg_tensor *logits, const int64_t *labels, double *buf) {
    int64_t rows = tg_tensor_dim(logits, 0), k = tg_tensor_dim(logits, 1), right = 0;
    if (tg_tensor_copy_out(logits, TG_F64, buf) != TG_OK) return 0;
    for (int64_t r = 0; r < rows; r++) {
        const double *row = buf + r * k;
        int64_t best = 0;
        for (int64_t j = 1; j < k; j++)
            if (row[j] > row[best]) best = j;
        right += best == labels[r];
    }
    return right;
}

/* Everything a run holds, so that one function can release it on every path. */
typedef struct run {
    const ex_common *c;
    const ex_classifier *m;
    const ex_images *d;
    tg_store *s;
    tg_tape *t;
    tg_optim *opt;
    tg_batcher *train, *test;
    ex_history_spec spec; /* history_spec with the model's title */
    ex_history hist;
    double *scores; /* EVAL_BATCH or batch rows of n_classes */
    char config[256];
} run;

/* Test loss (mean) and accuracy (%) with the current parameters; no graph is recorded. */
static bool evaluate(run *r, double *loss, double *accuracy) {
    tg_tape *t = r->t;
    bool was = tg_tape_set_grad_enabled(t, false);
    double loss_sum = 0;
    int64_t right = 0, seen = 0;
    tg_tensor *x;
    const int64_t *y;
    bool ok = true;
    while (tg_batcher_next(r->test, t, &x, &y)) {
        tg_tensor *logits = r->m->forward(t, r->m->model, x);
        tg_tensor *l = tg_cross_entropy(t, logits, y, 0.0, TG_REDUCE_SUM);
        if (!l) {
            ok = false;
            break;
        }
        loss_sum += tg_tensor_item(l);
        right += count_correct(logits, y, r->scores);
        seen += tg_tensor_dim(logits, 0);
        tg_tape_reset(t);
    }
    if (ok && tg_tape_status(t) != TG_OK) ok = false;
    if (!ok) {
        fprintf(stderr, "%s: test pass: %s\n", r->m->name, tg_tape_error(t));
        return false;
    }
    tg_tape_set_grad_enabled(t, was);
    *loss = seen ? loss_sum / (double)seen : NAN;
    *accuracy = seen ? 100.0 * (double)right / (double)seen : NAN;
    return true;
}

static bool write_outputs(run *r) {
    tg_error err = {0};
    if (ex_history_write_files(&r->hist, r->c->csv, r->c->svg, &err) == TG_OK) return true;
    fprintf(stderr, "%s: %s\n", r->m->name, err.message);
    return false;
}

/* The graph of the step just taken backward; false (the error on the tape) on failure. */
static bool write_dot(run *r, tg_tensor *x, tg_tensor *logits, tg_tensor *loss) {
    char title[128];
    snprintf(title, sizeof title, "%s: one training step, batch of %lld", r->m->name,
             (long long)tg_tensor_dim(x, 0));
    tg_tensor_set_name(x, "images");
    tg_tensor_set_name(logits, "logits");
    tg_tensor_set_name(loss, "loss");
    tg_dot_options o = {.show_grad_norms = true, .title = title};
    return tg_tape_write_dot_path(r->t, r->c->dot, &o) == TG_OK;
}

/* One epoch of training; *train_loss and *train_acc are its means. */
static bool train_epoch(run *r, long epoch, bool *dot_pending, double *train_loss,
                        double *train_acc) {
    const ex_common *c = r->c;
    tg_tape *t = r->t;
    tg_error err = {0};
    if (tg_optim_set_lr(r->opt, c->lr * pow(r->m->lr_decay, (double)(epoch - 1)), &err) != TG_OK) {
        fprintf(stderr, "%s: %s\n", r->m->name, err.message);
        return false;
    }
    int64_t n_batches = tg_batcher_n_batches(r->train);
    int64_t stride = n_batches / 25 > 1 ? n_batches / 25 : 1;
    ex_progress p;
    ex_progress_begin(&p, "loss", epoch, c->epochs, n_batches);
    double loss_sum = 0, trace_sum = 0;
    int64_t right = 0, seen = 0, trace_n = 0, batch = 0;
    tg_tensor *x;
    const int64_t *y;
    int refused_in_row = 0;
    while (tg_batcher_next(r->train, t, &x, &y)) {
        batch++;
        tg_tensor *logits = r->m->forward(t, r->m->model, x);
        tg_tape_push_scope(t, "loss");
        tg_tensor *loss = tg_cross_entropy(t, logits, y, 0.0, TG_REDUCE_MEAN);
        tg_tape_pop_scope(t);
        tg_store_zero_grad(r->s);
        if (!loss || tg_tape_backward(t, loss, NULL, 0) != TG_OK) {
            ex_progress_end(&p);
            fprintf(stderr, "%s: epoch %ld, batch %lld: %s\n", r->m->name, epoch,
                    (long long)batch, tg_tape_error(t));
            return false;
        }
        if (ex_dist_sync(&err) != TG_OK) {
            ex_progress_end(&p);
            fprintf(stderr, "%s: epoch %ld, batch %lld: %s\n", r->m->name, epoch,
                    (long long)batch, err.message);
            return false;
        }
        if (*dot_pending) {
            *dot_pending = false;
            if (!write_dot(r, x, logits, loss)) {
                ex_progress_end(&p);
                fprintf(stderr, "%s: %s\n", r->m->name, tg_tape_error(t));
                return false;
            }
        }
        tg_status st = tg_optim_step(r->opt, &err);
        if (st == TG_ERR_NONFINITE && ++refused_in_row < EX_MAX_REFUSED) {
            /* The optimiser found NaN/Inf in a gradient and changed nothing: the batch is
             * skipped (and left out of the epoch's loss), training goes on with the next. */
            fprintf(stderr, "\n%s: epoch %ld, batch %lld skipped: %s\n", r->m->name, epoch,
                    (long long)batch, err.message);
            tg_tape_reset(t);
            continue;
        }
        if (st != TG_OK) {
            ex_progress_end(&p);
            fprintf(stderr, "%s: %s%s\n", r->m->name, err.message,
                    st == TG_ERR_NONFINITE ? " (stopping: every recent batch was non-finite; "
                                             "try a lower --lr)"
                                           : "");
            return false;
        }
        refused_in_row = 0;
        double l = tg_tensor_item(loss);
        int64_t b = tg_tensor_dim(x, 0);
        loss_sum += l;
        right += count_correct(logits, y, r->scores);
        seen += b;
        trace_sum += l;
        trace_n++;
        if (trace_n == stride || batch == n_batches) {
            ex_history_add_trace(&r->hist, (double)(epoch - 1) + (double)batch / (double)n_batches,
                                 trace_sum / (double)trace_n);
            trace_sum = 0;
            trace_n = 0;
        }
        ex_progress_step(&p, b, l);
        tg_tape_reset(t);
    }
    ex_progress_end(&p);
    if (tg_tape_status(t) != TG_OK) {
        fprintf(stderr, "%s: epoch %ld: %s\n", r->m->name, epoch, tg_tape_error(t));
        return false;
    }
    *train_loss = batch ? loss_sum / (double)batch : NAN;
    *train_acc = seen ? 100.0 * (double)right / (double)seen : NAN;
    return true;
}

static bool save(run *r, long epoch) {
    ex_run_state st = {.step = tg_optim_steps(r->opt), .epochs_done = epoch};
    tg_batcher_get_state(r->train, &st.data);
    tg_error err = {0};
    if (ex_checkpoint_save(r->c->save, r->s, r->config, &st, &err) != TG_OK) {
        fprintf(stderr, "%s: %s\n", r->m->name, err.message);
        return false;
    }
    return true;
}

/* Makes the optimiser, history, batchers and buffers, and restores a checkpoint if asked;
 * *first_epoch is the first epoch still to train. */
static bool prepare(run *r, long *first_epoch) {
    const ex_common *c = r->c;
    const ex_images *d = r->d;
    tg_error err = {0};
    tg_adam_options ao = tg_adam_defaults(c->lr);
    r->opt = tg_optim_adam(r->s, &ao, &err);
    tg_optim_set_skip_nonfinite(r->opt, true); /* a NaN batch is skipped, not learnt */
    r->spec = history_spec;
    r->spec.title = r->m->title;
    if (!r->opt || ex_history_init(&r->hist, r->s, &r->spec, &err) != TG_OK) goto fail;
    tg_batcher_opts bo = {.batch_size = c->batch,
                          .shuffle = true,
                          .seed = c->seed,
                          .dtype = c->dtype,
                          .flatten = r->m->flatten,
                          .normalize = true,
                          .mean = d->mean,
                          .std = d->std};
    /* Under --dist the store (with Adam's state) becomes rank 0's, and each rank takes its
     * share of every training batch; the test pass stays whole on every rank. */
    if (ex_dist_attach(r->s, r->t, &err) != TG_OK) goto fail;
    ex_dist_split(&bo);
    r->train = tg_batcher_new(d->train, &bo, &err);
    if (!r->train) goto fail;
    bo.batch_size = EVAL_BATCH;
    bo.shuffle = false;
    bo.n_shards = bo.shard = bo.shard_span = 0;
    r->test = tg_batcher_new(d->test, &bo, &err);
    if (!r->test) goto fail;
    int64_t rows = c->batch > EVAL_BATCH ? c->batch : EVAL_BATCH;
    r->scores = malloc((size_t)rows * (size_t)d->n_classes * sizeof *r->scores);
    if (!r->scores) {
        tg_error_set(&err, TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(r->config, sizeof r->config,
             "%s: %s; %s; batch %ld; %lld training images of %lldx%lld; %d classes", r->m->name,
             r->m->arch, tg_dtype_name(c->dtype), c->batch,
             (long long)tg_dataset_count(d->train), (long long)d->rows, (long long)d->cols,
             d->n_classes);
    *first_epoch = 1;
    if (c->resume) {
        ex_run_state st;
        if (ex_checkpoint_resume(c->resume, r->s, r->config, &st, &err) != TG_OK ||
            tg_batcher_set_state(r->train, &st.data, &err) != TG_OK)
            goto fail;
        *first_epoch = (long)st.epochs_done + 1;
        printf("resumed from %s after epoch %lld (step %lld)\n", c->resume,
               (long long)st.epochs_done, (long long)st.step);
    }
    return true;
fail:
    fprintf(stderr, "%s: %s\n", r->m->name, err.message);
    return false;
}

int ex_classify_run(const ex_common *c, tg_store *s, const ex_classifier *m, const ex_images *d) {
    run r = {.c = c, .m = m, .d = d, .s = s};
    int status = 1;
    long first;
    tg_set_threads((int)c->threads);
    r.t = tg_tape_new();
    if (!r.t) {
        fprintf(stderr, "%s: out of memory\n", m->name);
        return 1;
    }
    if (!prepare(&r, &first)) goto done;
    printf("%s: %lld parameters; %lld training and %lld test images (%lldx%lld, %d classes); "
           "batch %ld, Adam lr %g; %d threads, %s kernels%s\n",
           m->name, (long long)tg_store_n_param_elements(s),
           (long long)tg_dataset_count(d->train), (long long)tg_dataset_count(d->test),
           (long long)d->rows, (long long)d->cols, d->n_classes, c->batch, c->lr,
           tg_get_threads(), tg_cpu_level_name(tg_get_cpu_level()),
           ex_dist_size() > 1 ? "; data-parallel over MPI ranks" : "");
    if (ex_dist_size() > 1) printf("%d ranks, %ld samples per rank and batch\n", ex_dist_size(), c->batch / ex_dist_size());
    fflush(stdout); /* before stderr's progress, when both go to one pipe */
    bool dot_pending = c->dot != NULL;
    if (first > c->epochs)
        printf("the checkpoint already holds %ld epochs; nothing to train\n", first - 1);
    for (long epoch = first; epoch <= c->epochs; epoch++) {
        double start = ex_now(), row[4];
        if (!train_epoch(&r, epoch, &dot_pending, &row[0], &row[2])) goto done;
        if (!evaluate(&r, &row[1], &row[3])) goto done;
        double seconds = ex_now() - start;
        tg_error err = {0};
        if (ex_history_add_epoch(&r.hist, row, seconds, &err) != TG_OK) {
            fprintf(stderr, "%s: %s\n", m->name, err.message);
            goto done;
        }
        printf("epoch %ld/%ld  train loss %.4f  accuracy %.2f%%  |  test loss %.4f  "
               "accuracy %.2f%%  |  %.1f s\n",
               epoch, c->epochs, row[0], row[2], row[1], row[3], seconds);
        fflush(stdout);
        if (!write_outputs(&r)) goto done;
        if (c->save && !save(&r, epoch)) goto done;
    }
    if (!write_outputs(&r)) goto done;
    int64_t n = ex_history_n_epochs(&r.hist);
    if (n > 0) {
        const double *last = (const double *)tg_tensor_data(r.hist.epochs) + (n - 1) * 4;
        bool reached = last[3] >= m->min_accuracy;
        printf("final test accuracy %.2f%% after %lld epoch%s", last[3], (long long)n,
               n == 1 ? "" : "s");
        if (m->min_accuracy > 0)
            printf(" (target %g%%: %s)", m->min_accuracy, reached ? "reached" : "NOT reached");
        printf("\n");
        if (!reached) goto done;
    }
    status = 0;
done:
    ex_dist_release();
    free(r.scores);
    tg_batcher_free(r.train);
    tg_batcher_free(r.test);
    tg_optim_free(r.opt);
    tg_tape_free(r.t);
    return status;
}

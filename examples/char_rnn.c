/* char_rnn.c: a character-level language model (embedding -> RNN, LSTM or GRU cell unrolled
 * over --seq characters -> linear -> next-character logits) trained with Adam and gradient
 * clipping on a text file, by default the fortune cookie databases of Debian's `fortunes`
 * package (tools/get-fortunes). It prints bits per character on the training windows and on
 * held-out text after every epoch, and samples text at the end. Public API only.
 *
 * Invariant: every random choice (initial weights, training windows, the sample) comes from a
 * generator seeded by --seed, and the window generator is saved in checkpoints, so a resumed
 * run reproduces the uninterrupted one bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tapegrad.h>

#include "common/args.h"
#include "common/epochs.h"
#include "common/history.h"
#include "common/progress.h"
#include "common/dist.h"
#include "common/resume.h"
#include "common/sample.h"

#define LN2 0.69314718055994530942
/* Held-out windows evaluated after each epoch, at most (spread evenly over the held-out text). */
#define MAX_EVAL_WINDOWS 256
/* The DOT picture unrolls this many characters: a full --seq unroll is too big to lay out. */
#define DOT_SEQ 4

static const char *const cell_words[] = {"rnn", "lstm", "gru", NULL};
enum { CELL_RNN, CELL_LSTM, CELL_GRU };

typedef struct model {
    int kind;
    tg_embedding embed;
    tg_rnn_cell rnn;
    tg_lstm_cell lstm;
    tg_gru_cell gru;
    tg_linear out;
    int64_t hidden;
} model;

typedef struct settings {
    int cell;
    long hidden, embed, seq, steps;
    double clip, temperature, holdout, lr_decay;
    long sample_len;
    const char *prime;
} settings;

/* ---- the model ---- */

static tg_status model_init(model *m, tg_store *s, const settings *o, int64_t vocab, tg_dtype dt,
                            tg_rng *rng, tg_error *err) {
    memset(m, 0, sizeof *m);
    m->kind = o->cell;
    m->hidden = o->hidden;
    tg_status st = tg_embedding_init(&m->embed, s, "embed", vocab, o->embed, dt, rng, err);
    if (st != TG_OK) return st;
    if (o->cell == CELL_RNN)
        st = tg_rnn_cell_init(&m->rnn, s, "rnn", o->embed, o->hidden, true, dt, rng, err);
    else if (o->cell == CELL_LSTM)
        st = tg_lstm_cell_init(&m->lstm, s, "lstm", o->embed, o->hidden, true, dt, rng, err);
    else
        st = tg_gru_cell_init(&m->gru, s, "gru", o->embed, o->hidden, true, dt, rng, err);
    if (st != TG_OK) return st;
    return tg_linear_init(&m->out, s, "out", o->hidden, vocab, true, dt, rng, err);
}

/* Logits (T * B, vocab) for time-major ids (T, B), from a zero state. */
static tg_tensor *model_forward(tg_tape *t, const model *m, int64_t T, int64_t B,
                                const int64_t *ids) {
    /* A scope per layer: the --dot graph draws each as a cluster. */
    tg_tape_push_scope(t, "embed");
    tg_tensor *x = tg_embedding_forward(t, &m->embed, 2, (const int64_t[]){T, B}, ids);
    tg_tape_pop_scope(t);
    tg_tensor *h;
    tg_tape_push_scope(t, cell_words[m->kind]);
    if (m->kind == CELL_RNN)
        h = tg_rnn_cell_unroll(t, &m->rnn, x, NULL, NULL);
    else if (m->kind == CELL_LSTM)
        h = tg_lstm_cell_unroll(t, &m->lstm, x, NULL, NULL, NULL, NULL);
    else
        h = tg_gru_cell_unroll(t, &m->gru, x, NULL, NULL);
    tg_tape_pop_scope(t);
    tg_tape_push_scope(t, "out");
    h = tg_reshape(t, h, 2, (const int64_t[]){T * B, m->hidden});
    h = tg_linear_forward(t, &m->out, h);
    tg_tape_pop_scope(t);
    return h;
}

/* One step for sampling: x (1, E), state h and c (NULL: zeros) -> h'; *c_out gets c' (LSTM). */
static tg_tensor *model_step(tg_tape *t, const model *m, tg_tensor *x, tg_tensor *h, tg_tensor *c,
                             tg_tensor **c_out) {
    *c_out = NULL;
    if (m->kind == CELL_RNN) return tg_rnn_cell_step(t, &m->rnn, x, h);
    if (m->kind == CELL_LSTM) return tg_lstm_cell_step(t, &m->lstm, x, h, c, c_out);
    return tg_gru_cell_step(t, &m->gru, x, h);
}

/* ---- data ---- */

typedef struct corpus {
    char path[4096];
    tg_text *text;
    const int64_t *train, *held; /* ids, n_train and n_held of them */
    int64_t n_train, n_held;
    bool load_failed; /* the text could not be read at all */
} corpus;

#define TEXT_HINT                                                                             \
    "(tools/get-fortunes makes data/fortunes/fortunes.txt of the tapegrad folder, the default, " \
    "from Debian's fortunes package; --data FILE reads any text file)"

static tg_status corpus_load(corpus *cp, const ex_common *c, const settings *o, tg_error *err) {
    memset(cp, 0, sizeof *cp);
    char *path = cp->path;
    size_t size = sizeof cp->path;
    struct stat sb;
    if (stat(c->data, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(path, size, "%s/fortunes.txt", c->data);
    else
        snprintf(path, size, "%s", c->data);
    tg_error e = {0};
    cp->text = tg_text_load(path, c->limit, &e);
    if (!cp->text) {
        /* main adds TEXT_HINT on its own line: in the message it would overflow a tg_error. */
        cp->load_failed = true;
        if (err) *err = e;
        return e.status;
    }
    int64_t n = tg_text_length(cp->text);
    int64_t held = (int64_t)((double)n * o->holdout);
    if (held < o->seq + 1) held = o->seq + 1;
    if (n - held < o->seq + 1) {
        tg_text_free(cp->text);
        cp->text = NULL;
        return tg_error_set(err, TG_ERR_ARG,
                            "'%.200s' holds %lld bytes: too few for training windows of %ld "
                            "plus held-out text of %lld",
                            path, (long long)n, o->seq + 1, (long long)held);
    }
    const int64_t *ids = tg_text_ids(cp->text);
    cp->train = ids;
    cp->n_train = n - held;
    cp->held = ids + cp->n_train;
    cp->n_held = held;
    return TG_OK;
}

/* B windows of T + 1 ids at random starts of the training text, written time-major: inputs
 * in[t * B + b] and next characters out[t * B + b]. */
static void draw_batch(const corpus *cp, tg_rng *rng, int64_t T, int64_t B, int64_t *in,
                       int64_t *out) {
    for (int64_t b = 0; b < B; b++) {
        int64_t start = (int64_t)tg_rng_below(rng, (uint64_t)(cp->n_train - T));
        for (int64_t j = 0; j < T; j++) {
            in[j * B + b] = cp->train[start + j];
            out[j * B + b] = cp->train[start + j + 1];
        }
    }
}

/* ---- the run ---- */

static const ex_history_spec history_spec = {
    .n_cols = 2,
    .cols = {{"train_bpc", "train", 0, EX_TRAIN_COLOUR},
             {"heldout_bpc", "held-out", 0, EX_TEST_COLOUR}},
    .n_panels = 1,
    .panel_title = {"bits per character"},
    .panel_y_label = {"bits per character"},
    .trace_legend = "train, running",
    .trace_colour = EX_TRACE_COLOUR,
};

typedef struct run {
    const ex_common *c;
    const settings *o;
    corpus cp;
    tg_store *s;
    tg_tape *t;
    model m;
    tg_optim *opt;
    tg_rng windows; /* draws the training windows */
    ex_history_spec spec;
    ex_history hist;
    int64_t *in, *out; /* one batch of ids, (T, B) each */
    char config[256], title[128];
} run;

/* Mean held-out bits per character over up to MAX_EVAL_WINDOWS windows spread evenly. */
static bool evaluate(run *r, double *bpc) {
    int64_t T = r->o->seq, B = r->c->batch;
    int64_t n_win = (r->cp.n_held - 1) / T;
    if (n_win > MAX_EVAL_WINDOWS) n_win = MAX_EVAL_WINDOWS;
    int64_t spacing = (r->cp.n_held - 1 - T) / (n_win > 1 ? n_win - 1 : 1);
    bool was = tg_tape_set_grad_enabled(r->t, false);
    double sum = 0;
    int64_t count = 0;
    for (int64_t w0 = 0; w0 < n_win; w0 += B) {
        int64_t nb = n_win - w0 < B ? n_win - w0 : B;
        for (int64_t b = 0; b < nb; b++) {
            int64_t start = (w0 + b) * spacing;
            for (int64_t j = 0; j < T; j++) {
                r->in[j * nb + b] = r->cp.held[start + j];
                r->out[j * nb + b] = r->cp.held[start + j + 1];
            }
        }
        tg_tensor *loss = tg_cross_entropy(r->t, model_forward(r->t, &r->m, T, nb, r->in), r->out,
                                           0.0, TG_REDUCE_SUM);
        if (!loss) {
            fprintf(stderr, "char_rnn: held-out pass: %s\n", tg_tape_error(r->t));
            return false;
        }
        sum += tg_tensor_item(loss);
        count += T * nb;
        tg_tape_reset(r->t);
    }
    tg_tape_set_grad_enabled(r->t, was);
    *bpc = sum / (double)count / LN2;
    return true;
}

/* The graph of a training step unrolled over DOT_SEQ characters, drawn from a copy of the
 * window generator so that training itself is not changed. */
static bool write_dot(run *r) {
    int64_t T = r->o->seq < DOT_SEQ ? r->o->seq : DOT_SEQ, B = r->c->batch;
    tg_rng copy = r->windows;
    draw_batch(&r->cp, &copy, T, B, r->in, r->out);
    tg_tensor *logits = model_forward(r->t, &r->m, T, B, r->in);
    tg_tensor *loss = tg_cross_entropy(r->t, logits, r->out, 0.0, TG_REDUCE_MEAN);
    tg_store_zero_grad(r->s);
    char title[160];
    snprintf(title, sizeof title,
             "char_rnn (%s): one training step unrolled over %lld characters (training uses %ld)",
             cell_words[r->o->cell], (long long)T, r->o->seq);
    tg_tensor_set_name(logits, "logits");
    tg_tensor_set_name(loss, "loss");
    tg_dot_options d = {.show_grad_norms = true, .title = title};
    bool ok = loss && tg_tape_backward(r->t, loss, NULL, 0) == TG_OK &&
              tg_tape_write_dot_path(r->t, r->c->dot, &d) == TG_OK;
    if (!ok) fprintf(stderr, "char_rnn: graph: %s\n", tg_tape_error(r->t));
    tg_store_zero_grad(r->s);
    tg_tape_reset(r->t);
    return ok;
}

/* Keeps columns [lo, lo + nb) of the (T, B) ids in in and out, as (T, nb), in place: a --dist
 * rank's share of the global batch every rank drew alike. */
static void keep_columns(int64_t *in, int64_t *out, int64_t T, int64_t B, int64_t lo, int64_t nb) {
    for (int64_t j = 0; j < T; j++)
        for (int64_t b = 0; b < nb; b++) {
            in[j * nb + b] = in[j * B + lo + b];
            out[j * nb + b] = out[j * B + lo + b];
        }
}

static bool train_epoch(run *r, long epoch, double *bpc) {
    const ex_common *c = r->c;
    int64_t T = r->o->seq, B = c->batch, n = r->o->steps;
    int64_t lo = B * ex_dist_rank() / ex_dist_size();
    int64_t nb = B * (ex_dist_rank() + 1) / ex_dist_size() - lo; /* this rank's windows */
    int64_t stride = n / 25 > 1 ? n / 25 : 1;
    tg_error err = {0};
    if (tg_optim_set_lr(r->opt, c->lr * pow(r->o->lr_decay, (double)(epoch - 1)), &err) != TG_OK)
        goto fail;
    ex_progress p;
    ex_progress_begin(&p, "bpc", epoch, c->epochs, n);
    double sum = 0, trace_sum = 0;
    int64_t trace_n = 0;
    int refused_in_row = 0;
    for (int64_t step = 1; step <= n; step++) {
        draw_batch(&r->cp, &r->windows, T, B, r->in, r->out);
        if (nb != B) keep_columns(r->in, r->out, T, B, lo, nb);
        tg_tensor *loss =
            tg_cross_entropy(r->t, model_forward(r->t, &r->m, T, nb, r->in), r->out, 0.0,
                             TG_REDUCE_MEAN);
        tg_store_zero_grad(r->s);
        if (!loss || tg_tape_backward(r->t, loss, NULL, 0) != TG_OK) {
            ex_progress_end(&p);
            fprintf(stderr, "char_rnn: epoch %ld, step %lld: %s\n", epoch, (long long)step,
                    tg_tape_error(r->t));
            return false;
        }
        if (ex_dist_sync(&err) != TG_OK) {
            ex_progress_end(&p);
            goto fail;
        }
        /* Long unrolls can make gradients explode; clipping the global norm bounds a step. A
         * gradient that is NaN/Inf anyway makes the optimiser refuse the step and change
         * nothing: that batch is skipped (left out of the loss), unless it keeps happening. */
        if (r->o->clip > 0 && tg_clip_grad_norm(r->s, r->o->clip, 2.0, false, NULL, &err) != TG_OK) {
            ex_progress_end(&p);
            goto fail;
        }
        tg_status st = tg_optim_step(r->opt, &err);
        if (st == TG_ERR_NONFINITE && ++refused_in_row < EX_MAX_REFUSED) {
            fprintf(stderr, "\nchar_rnn: epoch %ld, step %lld skipped: %s\n", epoch,
                    (long long)step, err.message);
            tg_tape_reset(r->t);
            continue;
        }
        if (st != TG_OK) {
            ex_progress_end(&p);
            goto fail;
        }
        refused_in_row = 0;
        double b = tg_tensor_item(loss) / LN2;
        sum += b;
        trace_sum += b;
        if (++trace_n == stride || step == n) {
            ex_history_add_trace(&r->hist, (double)(epoch - 1) + (double)step / (double)n,
                                 trace_sum / (double)trace_n);
            trace_sum = 0;
            trace_n = 0;
        }
        ex_progress_step(&p, B, b);
        tg_tape_reset(r->t);
    }
    ex_progress_end(&p);
    *bpc = sum / (double)n;
    return true;
fail:
    fprintf(stderr, "char_rnn: %s\n", err.message);
    return false;
}

/* Feeds the prime text, then samples sample_len characters, printing as it goes. The state is
 * copied off the tape after each character so the tape can be reset. */
static bool sample_text(run *r) {
    const settings *o = r->o;
    tg_tape *t = r->t;
    tg_dtype dt = r->c->dtype;
    int64_t H = r->m.hidden, V = tg_text_vocab_size(r->cp.text);
    double *buf = calloc((size_t)(2 * H + V), sizeof *buf);
    if (!buf) {
        fprintf(stderr, "char_rnn: out of memory\n");
        return false;
    }
    double *hv = buf, *cv = buf + H, *logits = buf + 2 * H;
    tg_rng rng;
    tg_rng_seed(&rng, r->c->seed ^ 0x5eed5a3b1e0fULL);
    bool was = tg_tape_set_grad_enabled(t, false), ok = true;
    long n_prime = (long)strlen(o->prime);
    int64_t id = 0;
    printf("sample (%s, temperature %g):\n%s", cell_words[o->cell], o->temperature, o->prime);
    for (long i = 0; ok && i < n_prime + o->sample_len; i++) {
        if (i < n_prime) {
            id = tg_text_id(r->cp.text, (unsigned char)o->prime[i]);
            if (id < 0) id = 0; /* a byte the corpus never uses: feed its first symbol */
        }
        tg_tensor *h = tg_zeros(t, dt, TG_SHAPE(1, H)), *c = tg_zeros(t, dt, TG_SHAPE(1, H));
        ok = h && c && tg_tensor_copy_in(h, TG_F64, hv) == TG_OK &&
             tg_tensor_copy_in(c, TG_F64, cv) == TG_OK;
        tg_tensor *x = ok ? tg_embedding_forward(t, &r->m.embed, 1, (const int64_t[]){1}, &id)
                          : NULL;
        tg_tensor *c_next = NULL;
        tg_tensor *h_next = model_step(t, &r->m, x, h, c, &c_next);
        tg_tensor *out = tg_linear_forward(t, &r->m.out, h_next);
        ok = out && tg_tensor_copy_out(h_next, TG_F64, hv) == TG_OK &&
             (!c_next || tg_tensor_copy_out(c_next, TG_F64, cv) == TG_OK) &&
             tg_tensor_copy_out(out, TG_F64, logits) == TG_OK;
        if (!ok) {
            fprintf(stderr, "\nchar_rnn: sampling: %s\n", tg_tape_error(t));
            break;
        }
        if (i + 1 >= n_prime) {
            id = ex_sample_id(logits, V, o->temperature, &rng);
            putchar(tg_text_byte(r->cp.text, id));
        }
        tg_tape_reset(t);
    }
    printf("\n");
    tg_tape_reset(t);
    tg_tape_set_grad_enabled(t, was);
    free(buf);
    return ok;
}

/* Model, optimiser, history and buffers; then the checkpoint if resuming. */
static bool prepare(run *r, long *first_epoch) {
    const ex_common *c = r->c;
    const settings *o = r->o;
    tg_error err = {0};
    int64_t vocab = tg_text_vocab_size(r->cp.text);
    tg_rng init;
    tg_rng_seed(&init, c->seed);
    /* A generator of its own for the windows, so that changing the model's size does not
     * change which windows it trains on. */
    tg_rng_seed(&r->windows, c->seed + 0x9e3779b97f4a7c15ULL);
    if (model_init(&r->m, r->s, o, vocab, c->dtype, &init, &err) != TG_OK) goto fail;
    tg_adam_options ao = tg_adam_defaults(c->lr);
    r->opt = tg_optim_adam(r->s, &ao, &err);
    tg_optim_set_skip_nonfinite(r->opt, true); /* a NaN batch is skipped, not learnt */
    r->spec = history_spec;
    const char *base = strrchr(r->cp.path, '/');
    snprintf(r->title, sizeof r->title, "%s on %.100s", cell_words[o->cell],
             base ? base + 1 : r->cp.path);
    r->spec.title = r->title;
    if (!r->opt || ex_history_init(&r->hist, r->s, &r->spec, &err) != TG_OK) goto fail;
    /* Under --dist every rank starts from rank 0's store (model, Adam, history). */
    if (ex_dist_attach(r->s, r->t, &err) != TG_OK) goto fail;
    r->in = malloc((size_t)(o->seq * c->batch) * sizeof *r->in);
    r->out = malloc((size_t)(o->seq * c->batch) * sizeof *r->out);
    if (!r->in || !r->out) {
        tg_error_set(&err, TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(r->config, sizeof r->config,
             "char_rnn: %s, hidden %ld, embedding %ld; %s; batch %ld; seq %ld; %ld steps per "
             "epoch; %lld + %lld bytes, %d symbols",
             cell_words[o->cell], o->hidden, o->embed, tg_dtype_name(c->dtype), c->batch, o->seq,
             o->steps, (long long)r->cp.n_train, (long long)r->cp.n_held, (int)vocab);
    *first_epoch = 1;
    if (c->resume) {
        ex_run_state st;
        if (ex_checkpoint_resume(c->resume, r->s, r->config, &st, &err) != TG_OK) goto fail;
        r->windows = st.data.rng;
        *first_epoch = (long)st.epochs_done + 1;
        printf("resumed from %s after epoch %lld (step %lld)\n", c->resume,
               (long long)st.epochs_done, (long long)st.step);
    }
    return true;
fail:
    fprintf(stderr, "char_rnn: %s\n", err.message);
    return false;
}

static bool epoch_train(void *r, long epoch, double *bpc) { return train_epoch(r, epoch, bpc); }
static bool epoch_evaluate(void *r, double *bpc) { return evaluate(r, bpc); }

static int train(run *r) {
    const ex_common *c = r->c;
    long first;
    if (!prepare(r, &first)) return 1;
    printf("char_rnn: %s, %lld parameters; %lld training and %lld held-out bytes, %d symbols; "
           "batch %ld x %ld characters, %ld steps per epoch; Adam lr %g; %d threads\n",
           cell_words[r->o->cell], (long long)tg_store_n_param_elements(r->s),
           (long long)r->cp.n_train, (long long)r->cp.n_held, tg_text_vocab_size(r->cp.text),
           c->batch, r->o->seq, r->o->steps, c->lr, tg_get_threads());
    fflush(stdout); /* before stderr's progress, when both go to one pipe */
    if (c->dot && !write_dot(r)) return 1;
    ex_epochs e = {.prog = "char_rnn",
                   .c = c,
                   .hist = &r->hist,
                   .ctx = r,
                   .train_epoch = epoch_train,
                   .evaluate = epoch_evaluate,
                   .store = r->s,
                   .opt = r->opt,
                   .windows = &r->windows,
                   .config = r->config};
    if (!ex_epochs_run(&e, first) || !ex_epochs_write_outputs(&e)) return 1;
    if (r->o->sample_len > 0 && !sample_text(r)) return 1;
    return 0;
}

static const char *default_text_path(void) {
    const char *env = getenv("TG_TEXT_DATA");
    return env && *env ? env : EX_SOURCE_ROOT "/data/fortunes/fortunes.txt";
}

int main(int argc, char **argv) {
    ex_common c = {.epochs = 5,
                   .batch = 32,
                   .lr = 1e-2,
                   .seed = 1,
                   .threads = 0,
                   .data = default_text_path(),
                   .dtype = TG_F32};
    settings o = {.cell = CELL_LSTM,
                  .hidden = 128,
                  .embed = 32,
                  .seq = 64,
                  .steps = 400,
                  .clip = 5.0,
                  .temperature = 0.7,
                  .holdout = 0.05,
                  .lr_decay = 0.85,
                  .sample_len = 400,
                  .prime = "The "};
    const ex_opt extra[] = {
        {"--cell", "C", "the recurrent cell", EX_OPT_CHOICE, &o.cell, 0, 0, cell_words},
        {"--hidden", "H", "state size of the cell", EX_OPT_LONG, &o.hidden, 1, 4096, NULL},
        {"--embed", "E", "size of the character embedding", EX_OPT_LONG, &o.embed, 1, 4096, NULL},
        {"--seq", "T", "characters per training window (backpropagation through time)",
         EX_OPT_LONG, &o.seq, 1, 4096, NULL},
        {"--steps", "N", "batches per epoch (windows are drawn at random)", EX_OPT_LONG, &o.steps,
         1, 100000000, NULL},
        {"--clip", "X", "clip the gradients' global norm to X (0: no clipping)", EX_OPT_DOUBLE,
         &o.clip, 0, 1e9, NULL},
        {"--lr-decay", "G", "learning rate of epoch e is lr * G^(e-1)", EX_OPT_DOUBLE, &o.lr_decay,
         0.01, 1, NULL},
        {"--holdout", "F", "fraction of the text, at its end, kept for held-out bpc",
         EX_OPT_DOUBLE, &o.holdout, 0, 0.9, NULL},
        {"--temperature", "X", "sampling temperature (0: always the likeliest character)",
         EX_OPT_DOUBLE, &o.temperature, 0, 100, NULL},
        {"--sample", "N", "characters to sample at the end", EX_OPT_LONG, &o.sample_len, 0,
         1000000, NULL},
        {"--prime", "TEXT", "text fed to the model before sampling", EX_OPT_STRING, &o.prime, 0,
         0, NULL},
    };
    const ex_program prog = {
        .name = "char_rnn",
        .about = "Trains a character-level language model (embedding, an RNN, LSTM or GRU cell\n"
                 "unrolled over --seq characters, a linear layer to next-character logits) with\n"
                 "Adam on a text file, prints bits per character on training windows and on\n"
                 "held-out text (the file's end) after every epoch, and samples text at the end.\n"
                 "The default corpus is Debian's fortune cookie databases: run tools/get-fortunes.\n",
        .data_help = "a text file, or a folder holding fortunes.txt ($TG_TEXT_DATA if set)",
        .extra = extra,
        .n_extra = (int)(sizeof extra / sizeof extra[0]),
    };
    int parsed = ex_parse_args(argc, argv, &prog, &c);
    if (parsed) return parsed == 2 ? 0 : 2;
    if (!ex_dist_begin(&argc, &argv, &c, "char_rnn")) return 1;
    if (!ex_check_outputs("char_rnn", &c)) return ex_dist_end(1);
    tg_set_threads((int)c.threads);

    run r = {.c = &c, .o = &o};
    tg_error err = {0};
    if (corpus_load(&r.cp, &c, &o, &err) != TG_OK) {
        fprintf(stderr, "char_rnn: %s\n", err.message);
        if (r.cp.load_failed) fprintf(stderr, "  %s\n", TEXT_HINT);
        return ex_dist_end(1);
    }
    r.s = tg_store_new();
    r.t = tg_tape_new();
    int status = 1;
    if (!r.s || !r.t)
        fprintf(stderr, "char_rnn: out of memory\n");
    else
        status = train(&r);
    free(r.in);
    free(r.out);
    ex_dist_release();
    tg_optim_free(r.opt);
    tg_tape_free(r.t);
    tg_store_free(r.s);
    tg_text_free(r.cp.text);
    return ex_dist_end(status);
}

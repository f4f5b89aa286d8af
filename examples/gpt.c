/* gpt.c: a character-level transformer (token and learned position embeddings, plus embeddings
 * of the --prev characters before each position -> pre-norm blocks of causal multi-head
 * attention and a GELU MLP, each after a token shift of --shift channels -> layer norm ->
 * linear to next-character logits) trained with AdamW, a warmup and a cosine decay, on the
 * same text as char_rnn (by default the fortune cookie databases of Debian's `fortunes`,
 * tools/get-fortunes).
 * It prints bits per character on the training windows and on held-out text after every epoch,
 * and samples text at the end. --time caps the training's CPU time, so that models can be
 * compared at an equal budget. Public API only.
 *
 * Invariant: every random choice (initial weights, training windows, the sample) comes from a
 * generator seeded by --seed, the window generator is saved in checkpoints and the learning
 * rate is a function of the optimiser's step count, so a resumed run reproduces the
 * uninterrupted one bit for bit (unless --time cut it short). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <tapegrad.h>

#include "common/args.h"
#include "common/epochs.h"
#include "common/history.h"
#include "common/progress.h"
#include "common/resume.h"
#include "common/sample.h"

#define LN2 0.69314718055994530942
#define PI 3.14159265358979323846
/* Held-out windows evaluated after each epoch, at most (spread evenly over the held-out text). */
#define MAX_EVAL_WINDOWS 256
#define MAX_LAYERS 16
/* The DOT picture covers this many positions of one layer's worth of a window. */
#define DOT_SEQ 4
/* At most this many earlier characters get their own input embedding (--prev). */
#define MAX_PREV 8

typedef struct model {
    tg_embedding wte, wpe;
    /* prev[k - 1] embeds the character k positions back (row vocab: before the window). */
    tg_embedding prev[MAX_PREV];
    int64_t n_prev, vocab;
    int64_t shift; /* channels of the stream moved one position later before each block */
    int64_t *back; /* room for one batch of ids moved k positions later */
    tg_transformer_block blocks[MAX_LAYERS];
    tg_layernorm ln_f;
    tg_linear head;
    int64_t width, n_layers, ctx;
    int64_t *positions; /* 0 .. ctx - 1 */
} model;

typedef struct settings {
    long layers, heads, width, ff, seq, steps, warmup, decay, prev, shift, eval_window;
    double clip, temperature, holdout, min_lr, time_budget, weight_decay;
    bool gpt2_init;
    long sample_len;
    const char *prime;
} settings;

/* ---- the model ---- */

static tg_status init_linear(tg_linear *l, double std, tg_rng *rng, tg_error *err) {
    tg_status st = tg_init_normal(l->weight, rng, 0.0, std, err);
    if (st == TG_OK && l->bias) st = tg_init_zeros(l->bias, err);
    return st;
}

/* GPT-2's initialisation (--gpt2-init): every weight N(0, 0.02), biases 0, and the two
 * projections that end a residual branch (attention's out_proj, the MLP's second layer)
 * N(0, 0.02 / sqrt(2 L)), so that the sum of 2 L branches starts as small as one. At this size
 * and budget it trained no faster than the layers' PyTorch defaults (docs/examples.md), which
 * stay the default. */
static tg_status gpt2_init(model *m, tg_rng *rng, tg_error *err) {
    double res = 0.02 / sqrt(2.0 * (double)m->n_layers);
    tg_status st = TG_OK;
    for (int64_t l = 0; st == TG_OK && l < m->n_layers; l++) {
        tg_transformer_block *b = &m->blocks[l];
        st = tg_init_normal(b->self_attn.in_proj_weight, rng, 0.0, 0.02, err);
        if (st == TG_OK) st = init_linear(&b->self_attn.out_proj, res, rng, err);
        if (st == TG_OK) st = init_linear(&b->linear1, 0.02, rng, err);
        if (st == TG_OK) st = init_linear(&b->linear2, res, rng, err);
    }
    if (st == TG_OK) st = init_linear(&m->head, 0.02, rng, err);
    return st;
}

static tg_status model_init(model *m, tg_store *s, const settings *o, int64_t vocab,
                            int64_t max_batch, tg_dtype dt, tg_rng *rng, tg_error *err) {
    memset(m, 0, sizeof *m);
    m->width = o->width;
    m->n_layers = o->layers;
    m->ctx = o->seq;
    m->n_prev = o->prev;
    m->shift = o->shift;
    m->vocab = vocab;
    m->positions = malloc((size_t)o->seq * sizeof *m->positions);
    m->back = malloc((size_t)(o->seq * (max_batch > 2 ? max_batch : 2)) * sizeof *m->back);
    if (!m->positions || !m->back) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < o->seq; i++) m->positions[i] = i;
    tg_status st = tg_embedding_init(&m->wte, s, "wte", vocab, o->width, dt, rng, err);
    if (st == TG_OK) st = tg_embedding_init(&m->wpe, s, "wpe", o->seq, o->width, dt, rng, err);
    /* GPT-2 starts its embeddings small (std 0.02 and 0.01), not at N(0, 1). */
    if (st == TG_OK) st = tg_init_normal(m->wte.weight, rng, 0.0, 0.02, err);
    if (st == TG_OK) st = tg_init_normal(m->wpe.weight, rng, 0.0, 0.01, err);
    for (int64_t k = 1; st == TG_OK && k <= m->n_prev; k++) {
        char name[32];
        snprintf(name, sizeof name, "wte_prev%lld", (long long)k);
        st = tg_embedding_init(&m->prev[k - 1], s, name, vocab + 1, o->width, dt, rng, err);
        if (st == TG_OK) st = tg_init_normal(m->prev[k - 1].weight, rng, 0.0, 0.02, err);
    }
    for (long l = 0; st == TG_OK && l < o->layers; l++) {
        char name[32];
        snprintf(name, sizeof name, "h.%ld", l);
        st = tg_transformer_block_init(&m->blocks[l], s, name, o->width, o->heads, o->ff, dt, rng,
                                       err);
    }
    if (st == TG_OK)
        st = tg_layernorm_init(&m->ln_f, s, "ln_f", TG_SHAPE(o->width), 1e-5, true, dt, err);
    if (st == TG_OK) st = tg_linear_init(&m->head, s, "head", o->width, vocab, true, dt, rng, err);
    if (st == TG_OK && o->gpt2_init) st = gpt2_init(m, rng, err);
    return st;
}

/* Logits (B * T, vocab) for batch-major ids (B, T), T <= ctx. */
static tg_tensor *model_forward(tg_tape *t, const model *m, int64_t B, int64_t T,
                                const int64_t *ids) {
    tg_tape_push_scope(t, "embed");
    tg_tensor *x = tg_embedding_forward(t, &m->wte, 2, (const int64_t[]){B, T}, ids);
    x = tg_add(t, x, tg_embedding_forward(t, &m->wpe, 1, (const int64_t[]){T}, m->positions));
    /* The characters 1..n_prev positions back, each through its own table, give every position
     * the last few characters before any attention has been learned: the n-gram statistics the
     * LSTM reads through its recurrence from its first steps. */
    for (int64_t k = 1; k <= m->n_prev; k++) {
        for (int64_t b = 0; b < B; b++)
            for (int64_t j = 0; j < T; j++)
                m->back[b * T + j] = j >= k ? ids[b * T + j - k] : m->vocab;
        x = tg_add(t, x, tg_embedding_forward(t, &m->prev[k - 1], 2, (const int64_t[]){B, T},
                                              m->back));
    }
    tg_tape_pop_scope(t);
    for (int64_t l = 0; l < m->n_layers; l++) {
        char name[32];
        snprintf(name, sizeof name, "h.%lld", (long long)l);
        tg_tape_push_scope(t, name);
        if (m->shift > 0) {
            /* A token shift: the block reads, in the stream's first `shift` channels, what the
             * previous position held there (zeros at the first), so that every block sees its
             * neighbour's features without spending attention on it. */
            tg_tensor *head = tg_slice(t, tg_slice(t, x, 2, 0, m->shift, 1), 1, 0, T - 1, 1);
            tg_tensor *parts[2] = {
                tg_pad(t, head, 6, (const int64_t[]){0, 0, 1, 0, 0, 0}, 0.0),
                tg_slice(t, x, 2, m->shift, m->width, 1)};
            x = tg_concat(t, 2, parts, 2);
        }
        x = tg_transformer_block_forward(t, &m->blocks[l], x, true);
        tg_tape_pop_scope(t);
    }
    tg_tape_push_scope(t, "head");
    x = tg_layernorm_forward(t, &m->ln_f, tg_reshape(t, x, TG_SHAPE(B * T, m->width)));
    x = tg_linear_forward(t, &m->head, x);
    tg_tape_pop_scope(t);
    return x;
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
    struct stat sb;
    if (stat(c->data, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(cp->path, sizeof cp->path, "%s/fortunes.txt", c->data);
    else
        snprintf(cp->path, sizeof cp->path, "%s", c->data);
    tg_error e = {0};
    cp->text = tg_text_load(cp->path, c->limit, &e);
    if (!cp->text) {
        cp->load_failed = true;
        if (err) *err = e;
        return e.status;
    }
    int64_t n = tg_text_length(cp->text);
    int64_t held = (int64_t)((double)n * o->holdout);
    if (held < o->eval_window + 1) held = o->eval_window + 1;
    if (n - held < o->seq + 1) {
        tg_text_free(cp->text);
        cp->text = NULL;
        return tg_error_set(err, TG_ERR_ARG,
                            "'%.200s' holds %lld bytes: too few for training windows of %ld "
                            "plus held-out text of %lld",
                            cp->path, (long long)n, o->seq + 1, (long long)held);
    }
    const int64_t *ids = tg_text_ids(cp->text);
    cp->train = ids;
    cp->n_train = n - held;
    cp->held = ids + cp->n_train;
    cp->n_held = held;
    return TG_OK;
}

/* B windows of T + 1 ids at random starts of the training text, batch-major: inputs
 * in[b * T + j] and next characters out[b * T + j]. */
static void draw_batch(const corpus *cp, tg_rng *rng, int64_t T, int64_t B, int64_t *in,
                       int64_t *out) {
    for (int64_t b = 0; b < B; b++) {
        int64_t start = (int64_t)tg_rng_below(rng, (uint64_t)(cp->n_train - T));
        memcpy(in + b * T, cp->train + start, (size_t)T * sizeof *in);
        memcpy(out + b * T, cp->train + start + 1, (size_t)T * sizeof *out);
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
    int64_t *in, *out; /* one batch of ids, (B, T) each */
    double cpu_start;  /* process CPU seconds when training began */
    double train_cpu;  /* of which training took this many (held-out passes left out) */
    bool out_of_time;
    char config[320], title[128];
} run;

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The learning rate of optimiser step `step` (from 0): a linear warmup over the first --warmup
 * steps, then a cosine from lr down to lr * min_lr at step --decay, and that floor after. The
 * schedule does not depend on --epochs, so a run resumed for more epochs continues the one it
 * resumes exactly. With --time the progress is the larger of the step's and the budget's
 * fraction. */
static double learning_rate(const run *r, int64_t step) {
    double lr = r->c->lr, w = (double)r->o->warmup;
    if ((double)step < w) return lr * ((double)step + 1.0) / w;
    int64_t total = r->o->decay;
    double f = total > r->o->warmup ? ((double)step - w) / (double)(total - r->o->warmup) : 1.0;
    if (r->o->time_budget > 0) {
        double ft = (cpu_seconds() - r->cpu_start) / r->o->time_budget;
        f = ft > f ? ft : f;
    }
    if (f > 1.0) f = 1.0;
    double floor = r->o->min_lr;
    return lr * (floor + (1.0 - floor) * 0.5 * (1.0 + cos(PI * f)));
}

/* The summed loss (nats) of the n positions [end - n, end) of nb held-out windows starting at
 * starts[], each predicted from the context [end - T, end); -1 on failure (message printed). */
static double score_span(run *r, const int64_t *starts, int64_t nb, int64_t end, int64_t n) {
    int64_t T = end < r->o->seq ? end : r->o->seq, lo = end - T;
    int64_t *labels = r->out; /* n <= T: nb * n fit */
    for (int64_t b = 0; b < nb; b++) {
        memcpy(r->in + b * T, r->cp.held + starts[b] + lo, (size_t)T * sizeof *r->in);
        memcpy(labels + b * n, r->cp.held + starts[b] + end - n + 1, (size_t)n * sizeof *labels);
    }
    tg_tape *t = r->t;
    int64_t V = tg_text_vocab_size(r->cp.text);
    tg_tensor *logits = tg_reshape(t, model_forward(t, &r->m, nb, T, r->in), TG_SHAPE(nb, T, V));
    if (n < T) logits = tg_slice(t, logits, 1, T - n, T, 1);
    tg_tensor *loss = tg_cross_entropy(t, tg_reshape(t, logits, TG_SHAPE(nb * n, V)), labels, 0.0,
                                       TG_REDUCE_SUM);
    if (!loss) {
        fprintf(stderr, "gpt: held-out pass: %s\n", tg_tape_error(t));
        return -1;
    }
    double sum = tg_tensor_item(loss);
    tg_tape_reset(t);
    return sum;
}

/* Mean held-out bits per character over up to MAX_EVAL_WINDOWS windows of --eval-window
 * characters spread evenly: char_rnn's windows when both use 64, so that the two programs score
 * the same characters. Past the context (--seq) a window is scored in spans of a quarter
 * context, each predicted from the --seq characters before its end, so that every character
 * has at least three quarters of a context behind it (all it has in the window, near the
 * start); with --seq at least the window, that is one pass per window. */
static bool evaluate(run *r, double *bpc) {
    int64_t W = r->o->eval_window, T = r->o->seq, B = r->c->batch;
    int64_t n_win = (r->cp.n_held - 1) / W;
    if (n_win > MAX_EVAL_WINDOWS) n_win = MAX_EVAL_WINDOWS;
    int64_t spacing = (r->cp.n_held - 1 - W) / (n_win > 1 ? n_win - 1 : 1);
    int64_t span = T / 4 > 1 ? T / 4 : 1, first = W < T ? W : T;
    int64_t starts[MAX_EVAL_WINDOWS];
    bool was = tg_tape_set_grad_enabled(r->t, false);
    double sum = 0;
    int64_t count = 0;
    for (int64_t w0 = 0; w0 < n_win; w0 += B) {
        int64_t nb = n_win - w0 < B ? n_win - w0 : B;
        for (int64_t b = 0; b < nb; b++) starts[b] = (w0 + b) * spacing;
        double part = score_span(r, starts, nb, first, first);
        for (int64_t end = first; part >= 0 && end < W;) {
            int64_t n = W - end < span ? W - end : span;
            end += n;
            double more = score_span(r, starts, nb, end, n);
            part = more < 0 ? -1 : part + more;
        }
        if (part < 0) {
            tg_tape_set_grad_enabled(r->t, was);
            return false;
        }
        sum += part;
        count += W * nb;
    }
    tg_tape_set_grad_enabled(r->t, was);
    *bpc = sum / (double)count / LN2;
    return true;
}

/* The graph of a training step over DOT_SEQ positions, drawn from a copy of the window
 * generator so that training itself is not changed. */
static bool write_dot(run *r) {
    int64_t T = r->o->seq < DOT_SEQ ? r->o->seq : DOT_SEQ, B = 2;
    tg_rng copy = r->windows;
    draw_batch(&r->cp, &copy, T, B, r->in, r->out);
    tg_tensor *logits = model_forward(r->t, &r->m, B, T, r->in);
    tg_tensor *loss = tg_cross_entropy(r->t, logits, r->out, 0.0, TG_REDUCE_MEAN);
    tg_store_zero_grad(r->s);
    char title[160];
    snprintf(title, sizeof title,
             "gpt: one training step on 2 windows of %lld characters (training uses %ld x %ld)",
             (long long)T, r->c->batch, r->o->seq);
    tg_tensor_set_name(logits, "logits");
    tg_tensor_set_name(loss, "loss");
    tg_dot_options d = {.show_grad_norms = true, .title = title, .collapse_repeats = true};
    bool ok = loss && tg_tape_backward(r->t, loss, NULL, 0) == TG_OK &&
              tg_tape_write_dot_path(r->t, r->c->dot, &d) == TG_OK;
    if (!ok) fprintf(stderr, "gpt: graph: %s\n", tg_tape_error(r->t));
    tg_store_zero_grad(r->s);
    tg_tape_reset(r->t);
    return ok;
}

static bool train_epoch(run *r, long epoch, double *bpc) {
    const ex_common *c = r->c;
    int64_t T = r->o->seq, B = c->batch, n = r->o->steps;
    int64_t stride = n / 25 > 1 ? n / 25 : 1;
    tg_error err = {0};
    ex_progress p;
    ex_progress_begin(&p, "bpc", epoch, c->epochs, n);
    double sum = 0, trace_sum = 0;
    int64_t trace_n = 0, done = 0;
    int refused_in_row = 0;
    for (int64_t step = 1; step <= n; step++) {
        if (r->o->time_budget > 0 && cpu_seconds() - r->cpu_start >= r->o->time_budget) {
            r->out_of_time = true;
            break;
        }
        if (tg_optim_set_lr(r->opt, learning_rate(r, tg_optim_steps(r->opt)), &err) != TG_OK)
            goto fail;
        draw_batch(&r->cp, &r->windows, T, B, r->in, r->out);
        tg_tensor *loss = tg_cross_entropy(r->t, model_forward(r->t, &r->m, B, T, r->in), r->out,
                                           0.0, TG_REDUCE_MEAN);
        tg_store_zero_grad(r->s);
        if (!loss || tg_tape_backward(r->t, loss, NULL, 0) != TG_OK) {
            ex_progress_end(&p);
            fprintf(stderr, "gpt: epoch %ld, step %lld: %s\n", epoch, (long long)step,
                    tg_tape_error(r->t));
            return false;
        }
        if (r->o->clip > 0 && tg_clip_grad_norm(r->s, r->o->clip, 2.0, false, NULL, &err) != TG_OK) {
            ex_progress_end(&p);
            goto fail;
        }
        tg_status st = tg_optim_step(r->opt, &err);
        if (st == TG_ERR_NONFINITE && ++refused_in_row < EX_MAX_REFUSED) {
            fprintf(stderr, "\ngpt: epoch %ld, step %lld skipped: %s\n", epoch, (long long)step,
                    err.message);
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
        done++;
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
    *bpc = done ? sum / (double)done : NAN;
    return true;
fail:
    fprintf(stderr, "gpt: %s\n", err.message);
    return false;
}

/* Feeds the prime text, then samples sample_len characters, printing as it goes: each
 * character is predicted from the last (up to --seq) characters, run through the whole model. */
static bool sample_text(run *r) {
    const settings *o = r->o;
    tg_tape *t = r->t;
    int64_t V = tg_text_vocab_size(r->cp.text), T = o->seq;
    long n_prime = (long)strlen(o->prime);
    int64_t *hist = malloc((size_t)(n_prime + o->sample_len + 1) * sizeof *hist);
    double *logits = malloc((size_t)(T * V) * sizeof *logits);
    if (!hist || !logits) {
        free(hist);
        free(logits);
        fprintf(stderr, "gpt: out of memory\n");
        return false;
    }
    tg_rng rng;
    tg_rng_seed(&rng, r->c->seed ^ 0x5eed5a3b1e0fULL);
    bool was = tg_tape_set_grad_enabled(t, false), ok = true;
    int64_t len = 0;
    for (long i = 0; i < n_prime; i++) {
        int64_t id = tg_text_id(r->cp.text, (unsigned char)o->prime[i]);
        hist[len++] = id < 0 ? 0 : id; /* a byte the corpus never uses: its first symbol */
    }
    if (len == 0) hist[len++] = 0;
    printf("sample (temperature %g):\n%s", o->temperature, o->prime);
    for (long i = 0; ok && i < o->sample_len; i++) {
        int64_t n = len < T ? len : T;
        tg_tensor *out = model_forward(t, &r->m, 1, n, hist + len - n);
        ok = out && tg_tensor_copy_out(out, TG_F64, logits) == TG_OK;
        if (!ok) {
            fprintf(stderr, "\ngpt: sampling: %s\n", tg_tape_error(t));
            break;
        }
        int64_t id = ex_sample_id(logits + (n - 1) * V, V, o->temperature, &rng);
        hist[len++] = id;
        putchar(tg_text_byte(r->cp.text, id));
        tg_tape_reset(t);
    }
    printf("\n");
    tg_tape_reset(t);
    tg_tape_set_grad_enabled(t, was);
    free(hist);
    free(logits);
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
    tg_rng_seed(&r->windows, c->seed + 0x9e3779b97f4a7c15ULL);
    if (o->width % o->heads != 0) {
        tg_error_set(&err, TG_ERR_ARG, "--width %ld does not divide by --heads %ld", o->width,
                     o->heads);
        goto fail;
    }
    if (o->shift > o->width) {
        tg_error_set(&err, TG_ERR_ARG, "--shift %ld is more than the --width %ld channels",
                     o->shift, o->width);
        goto fail;
    }
    if (model_init(&r->m, r->s, o, vocab, c->batch, c->dtype, &init, &err) != TG_OK) goto fail;
    tg_adam_options ao = tg_adamw_defaults(c->lr);
    ao.weight_decay = o->weight_decay;
    ao.beta2 = 0.99; /* a shorter memory of the squares suits a short run */
    r->opt = tg_optim_adamw(r->s, &ao, &err);
    if (r->opt) tg_optim_set_skip_nonfinite(r->opt, true);
    r->spec = history_spec;
    const char *base = strrchr(r->cp.path, '/');
    snprintf(r->title, sizeof r->title, "transformer on %.100s", base ? base + 1 : r->cp.path);
    r->spec.title = r->title;
    if (!r->opt || ex_history_init(&r->hist, r->s, &r->spec, &err) != TG_OK) goto fail;
    r->in = malloc((size_t)(o->seq * c->batch) * sizeof *r->in);
    r->out = malloc((size_t)(o->seq * c->batch) * sizeof *r->out);
    if (!r->in || !r->out) {
        tg_error_set(&err, TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    snprintf(r->config, sizeof r->config,
             "gpt: %ld layers, %ld heads, width %ld, MLP %ld, prev %ld, shift %ld; "
             "%s; batch %ld; seq %ld; %ld steps per epoch; warmup %ld, decay %ld; %s init; "
             "%lld + %lld bytes, %d symbols",
             o->layers, o->heads, o->width, o->ff, o->prev, o->shift, tg_dtype_name(c->dtype),
             c->batch, o->seq,
             o->steps, o->warmup, o->decay, o->gpt2_init ? "GPT-2" : "PyTorch",
             (long long)r->cp.n_train, (long long)r->cp.n_held, (int)vocab);
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
    fprintf(stderr, "gpt: %s\n", err.message);
    return false;
}

/* The training's CPU time is taken before the held-out pass, which does not count. */
static bool epoch_train(void *ctx, long epoch, double *bpc) {
    run *r = ctx;
    bool ok = train_epoch(r, epoch, bpc);
    r->train_cpu = cpu_seconds() - r->cpu_start;
    return ok;
}
static bool epoch_evaluate(void *r, double *bpc) { return evaluate(r, bpc); }
static bool epoch_stop(void *r) { return ((run *)r)->out_of_time; }

static int train(run *r) {
    const ex_common *c = r->c;
    long first;
    if (!prepare(r, &first)) return 1;
    printf("gpt: %ld layers, %ld heads, width %ld, MLP %ld, context %ld; %lld parameters; %lld "
           "training and %lld held-out bytes, %d symbols; batch %ld, %ld steps per epoch; AdamW "
           "lr %g (warmup %ld, cosine to %g x at step %ld); %d threads\n",
           r->o->layers, r->o->heads, r->o->width, r->o->ff, r->o->seq,
           (long long)tg_store_n_param_elements(r->s), (long long)r->cp.n_train,
           (long long)r->cp.n_held, tg_text_vocab_size(r->cp.text), c->batch, r->o->steps, c->lr,
           r->o->warmup, r->o->min_lr, r->o->decay, tg_get_threads());
    fflush(stdout); /* before stderr's progress, when both go to one pipe */
    if (c->dot && !write_dot(r)) return 1;
    r->cpu_start = cpu_seconds();
    ex_epochs e = {.prog = "gpt",
                   .c = c,
                   .hist = &r->hist,
                   .ctx = r,
                   .train_epoch = epoch_train,
                   .evaluate = epoch_evaluate,
                   .stop = epoch_stop,
                   .store = r->s,
                   .opt = r->opt,
                   .windows = &r->windows,
                   .config = r->config};
    if (!ex_epochs_run(&e, first)) return 1;
    printf("trained %lld steps in %.1f s of CPU time%s\n", (long long)tg_optim_steps(r->opt),
           r->train_cpu, r->out_of_time ? " (the --time budget)" : "");
    if (!ex_epochs_write_outputs(&e)) return 1;
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
                   .lr = 6e-3,
                   .seed = 1,
                   .threads = 0,
                   .data = default_text_path(),
                   .dtype = TG_F32};
    settings o = {.layers = 2,
                  .heads = 4,
                  .width = 64,
                  .ff = 256,
                  .seq = 32,
                  .prev = 4,
                  .shift = 16,
                  .eval_window = 64,
                  .steps = 400,
                  .warmup = 100,
                  .decay = 2000,
                  .clip = 1.0,
                  .temperature = 0.7,
                  .holdout = 0.05,
                  .min_lr = 0.1,
                  .weight_decay = 0.01,
                  .time_budget = 0,
                  .sample_len = 400,
                  .prime = "The "};
    const ex_opt extra[] = {
        {"--layers", "L", "transformer blocks", EX_OPT_LONG, &o.layers, 1, MAX_LAYERS, NULL},
        {"--heads", "H", "attention heads per block (must divide --width)", EX_OPT_LONG, &o.heads,
         1, 256, NULL},
        {"--width", "E", "embedding width", EX_OPT_LONG, &o.width, 1, 4096, NULL},
        {"--ff", "F", "hidden width of each block's MLP", EX_OPT_LONG, &o.ff, 1, 16384, NULL},
        {"--seq", "T", "characters per training window (the context)", EX_OPT_LONG, &o.seq, 1,
         4096, NULL},
        {"--prev", "K", "the K characters before each position get their own input embeddings",
         EX_OPT_LONG, &o.prev, 0, MAX_PREV, NULL},
        {"--shift", "C", "a token shift: the stream's first C channels move one position later "
         "before each block", EX_OPT_LONG, &o.shift, 0, 4096, NULL},
        {"--eval-window", "W", "held-out windows of W characters (char_rnn's are 64)",
         EX_OPT_LONG, &o.eval_window, 1, 1 << 20, NULL},
        {"--steps", "N", "batches per epoch (windows are drawn at random)", EX_OPT_LONG, &o.steps,
         1, 100000000, NULL},
        {"--warmup", "N", "steps of linear learning-rate warmup", EX_OPT_LONG, &o.warmup, 1,
         100000000, NULL},
        {"--decay", "N", "the cosine decay of the learning rate ends at step N", EX_OPT_LONG,
         &o.decay, 1, 100000000, NULL},
        {"--min-lr", "X", "the cosine decay ends at lr * X", EX_OPT_DOUBLE, &o.min_lr, 0, 1, NULL},
        {"--weight-decay", "X", "AdamW's decoupled weight decay", EX_OPT_DOUBLE, &o.weight_decay,
         0, 1, NULL},
        {"--time", "S", "stop training after S seconds of CPU time (0: no limit)", EX_OPT_DOUBLE,
         &o.time_budget, 0, 1e9, NULL},
        {"--gpt2-init", NULL, "GPT-2's initialisation instead of the layers' PyTorch defaults",
         EX_OPT_FLAG, &o.gpt2_init, 0, 0, NULL},
        {"--clip", "X", "clip the gradients' global norm to X (0: no clipping)", EX_OPT_DOUBLE,
         &o.clip, 0, 1e9, NULL},
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
        .name = "gpt",
        .about = "Trains a character-level transformer (token and position embeddings plus\n"
                 "embeddings of the --prev characters before each position, --layers pre-norm\n"
                 "blocks of causal multi-head attention and a GELU MLP each after a token shift\n"
                 "of --shift channels, a linear layer to next-character logits) with AdamW on a\n"
                 "text file, prints bits per character on training windows and on held-out\n"
                 "text (the file's end) after every epoch, and samples text at the end. The\n"
                 "default corpus is Debian's fortune cookie databases: run tools/get-fortunes.\n",
        .data_help = "a text file, or a folder holding fortunes.txt ($TG_TEXT_DATA if set)",
        .extra = extra,
        .n_extra = (int)(sizeof extra / sizeof extra[0]),
    };
    int parsed = ex_parse_args(argc, argv, &prog, &c);
    if (parsed) return parsed == 2 ? 0 : 2;
    if (!ex_check_outputs("gpt", &c)) return 1;
    tg_set_threads((int)c.threads);

    run r = {.c = &c, .o = &o};
    tg_error err = {0};
    if (corpus_load(&r.cp, &c, &o, &err) != TG_OK) {
        fprintf(stderr, "gpt: %s\n", err.message);
        if (r.cp.load_failed) fprintf(stderr, "  %s\n", TEXT_HINT);
        return 1;
    }
    r.s = tg_store_new();
    r.t = tg_tape_new();
    int status = 1;
    if (!r.s || !r.t)
        fprintf(stderr, "gpt: out of memory\n");
    else
        status = train(&r);
    free(r.in);
    free(r.out);
    free(r.m.positions);
    free(r.m.back);
    tg_optim_free(r.opt);
    tg_tape_free(r.t);
    tg_store_free(r.s);
    tg_text_free(r.cp.text);
    return status;
}

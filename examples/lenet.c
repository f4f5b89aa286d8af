/* lenet.c: LeNet-5 trained on Fashion-MNIST (or any MNIST-format set) with Adam, from the
 * public API only: conv 6@5x5 (padding 2) -> ReLU or tanh -> 2x2 pool -> conv 16@5x5 -> act ->
 * 2x2 pool -> 120 -> 84 -> classes. The data, loop, checkpoints and pictures are shared with
 * mlp (examples/common).
 *
 * Invariant: the model is a function of --seed alone (layers initialised as PyTorch's Conv2d
 * and Linear, from one generator, in layer order). */
#include <stdio.h>
#include <string.h>

#include <tapegrad.h>

#include "common/args.h"
#include "common/classify.h"
#include "common/dist.h"

static const char *const act_words[] = {"relu", "tanh", NULL};
static const char *const pool_words[] = {"max", "avg", NULL};

typedef struct lenet {
    tg_conv2d conv1, conv2;
    tg_pool2d pool;
    tg_linear fc1, fc2, fc3;
    bool tanh_act;
} lenet;

static tg_tensor *act(tg_tape *t, const lenet *m, tg_tensor *x) {
    return m->tanh_act ? tg_tanh(t, x) : tg_relu(t, x);
}

/* x: (B, 1, rows, cols) -> logits (B, n_classes). Each layer records in its own scope, so
 * the graph written by --dot draws it as a cluster (conv1 holds its convolution, activation
 * and pooling). */
static tg_tensor *lenet_forward(tg_tape *t, const void *model, tg_tensor *x) {
    const lenet *m = model;
    tg_tape_push_scope(t, "conv1");
    tg_tensor *h = tg_pool2d_forward(t, &m->pool, act(t, m, tg_conv2d_forward(t, &m->conv1, x)));
    tg_tape_pop_scope(t);
    tg_tape_push_scope(t, "conv2");
    h = tg_pool2d_forward(t, &m->pool, act(t, m, tg_conv2d_forward(t, &m->conv2, h)));
    h = tg_flatten(t, h, 1, -1);
    tg_tape_pop_scope(t);
    tg_tape_push_scope(t, "fc1");
    h = act(t, m, tg_linear_forward(t, &m->fc1, h));
    tg_tape_pop_scope(t);
    tg_tape_push_scope(t, "fc2");
    h = act(t, m, tg_linear_forward(t, &m->fc2, h));
    tg_tape_pop_scope(t);
    tg_tape_push_scope(t, "fc3");
    h = tg_linear_forward(t, &m->fc3, h);
    tg_tape_pop_scope(t);
    return h;
}

/* Size after conv1 (same size), pool, conv2 (5x5, no padding), pool. */
static int64_t feature_side(int64_t side) { return ((side / 2) - 4) / 2; }

static tg_status lenet_init(lenet *m, tg_store *s, const ex_images *d, bool avg_pool,
                            tg_dtype dtype, tg_rng *rng, tg_error *err) {
    int64_t fh = feature_side(d->rows), fw = feature_side(d->cols);
    if (fh < 1 || fw < 1)
        return tg_error_set(err, TG_ERR_SHAPE, "images of %lldx%lld are too small for LeNet-5 "
                                               "(at least 12x12)",
                            (long long)d->rows, (long long)d->cols);
    tg_status st;
    if ((st = tg_conv2d_init(&m->conv1, s, "conv1", 1, 6, 5, 5,
                             &(tg_conv2d_params){.padding = {2, 2}}, true, dtype, rng, err)) !=
            TG_OK ||
        (st = tg_conv2d_init(&m->conv2, s, "conv2", 6, 16, 5, 5, NULL, true, dtype, rng, err)) !=
            TG_OK ||
        (st = tg_pool2d_init(&m->pool, avg_pool ? TG_POOL_AVG : TG_POOL_MAX,
                             &(tg_pool2d_params){.kernel = {2, 2}}, err)) != TG_OK ||
        (st = tg_linear_init(&m->fc1, s, "fc1", 16 * fh * fw, 120, true, dtype, rng, err)) !=
            TG_OK ||
        (st = tg_linear_init(&m->fc2, s, "fc2", 120, 84, true, dtype, rng, err)) != TG_OK ||
        (st = tg_linear_init(&m->fc3, s, "fc3", 84, d->n_classes, true, dtype, rng, err)) != TG_OK)
        return st;
    return TG_OK;
}

int main(int argc, char **argv) {
    ex_common c = {.epochs = 5,
                   .batch = 64,
                   .lr = 2e-3,
                   .seed = 1,
                   .threads = 0,
                   .data = ex_default_image_dir(),
                   .dtype = TG_F32};
    int act_choice = 0, pool_choice = 0;
    double min_accuracy = 0, lr_decay = 0.7;
    const ex_opt extra[] = {
        {"--act", "F", "the nonlinearity after each layer", EX_OPT_CHOICE, &act_choice, 0, 0,
         act_words},
        {"--pool", "P", "the pooling", EX_OPT_CHOICE, &pool_choice, 0, 0, pool_words},
        {"--lr-decay", "G", "learning rate of epoch e is lr * G^(e-1)", EX_OPT_DOUBLE, &lr_decay,
         0.01, 1, NULL},
        {"--min-accuracy", "A", "exit with status 1 if the final test accuracy is below A%",
         EX_OPT_DOUBLE, &min_accuracy, 0, 100, NULL},
    };
    const ex_program prog = {
        .name = "lenet",
        .about = "Trains LeNet-5 (conv 6@5x5 pad 2, pool, conv 16@5x5, pool, 120, 84, classes)\n"
                 "on an MNIST-format image set with Adam and cross-entropy, and reports the test\n"
                 "accuracy after every epoch. With Fashion-MNIST and the defaults it reaches\n"
                 "about 89-90% in 5 epochs.\n",
        .data_help = "folder with train-/t10k- images and labels in IDX format",
        .extra = extra,
        .n_extra = (int)(sizeof extra / sizeof extra[0]),
    };
    int parsed = ex_parse_args(argc, argv, &prog, &c);
    if (parsed) return parsed == 2 ? 0 : 2;
    if (!ex_dist_begin(&argc, &argv, &c, "lenet")) return 1;
    if (!ex_check_outputs("lenet", &c)) return ex_dist_end(1);

    ex_images d;
    tg_error err = {0};
    if (ex_images_load(&c, &d, &err) != TG_OK) {
        fprintf(stderr, "lenet: %s\n", err.message);
        if (d.missing) fprintf(stderr, "  %s\n", EX_IMAGES_HINT);
        return ex_dist_end(1);
    }
    tg_store *s = tg_store_new();
    lenet m = {.tanh_act = act_choice == 1};
    tg_rng rng;
    tg_rng_seed(&rng, c.seed);
    int status = 1;
    if (!s) {
        fprintf(stderr, "lenet: out of memory\n");
    } else if (lenet_init(&m, s, &d, pool_choice == 1, c.dtype, &rng, &err) != TG_OK) {
        fprintf(stderr, "lenet: %s\n", err.message);
    } else {
        char arch[96], title[160];
        snprintf(title, sizeof title, "%s on %.120s", "LeNet-5", c.data);
        snprintf(arch, sizeof arch, "LeNet-5 %s %s-pool, %d classes", act_words[act_choice],
                 pool_words[pool_choice], d.n_classes);
        ex_classifier clf = {.name = "lenet",
                             .title = title,
                             .arch = arch,
                             .flatten = false,
                             .forward = lenet_forward,
                             .model = &m,
                             .lr_decay = lr_decay,
                             .min_accuracy = min_accuracy};
        status = ex_classify_run(&c, s, &clf, &d);
    }
    tg_store_free(s);
    ex_images_free(&d);
    return ex_dist_end(status);
}

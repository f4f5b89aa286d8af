/* mlp.c: a 784-256-128-10 ReLU perceptron trained on Fashion-MNIST (or any MNIST-format set)
 * with Adam, from the public API only: tg_linear layers, tg_relu, tg_cross_entropy. The data,
 * the loop, the checkpoints and the pictures are shared with lenet (examples/common).
 *
 * Invariant: the model is a function of --seed alone (layers initialised as PyTorch's
 * nn.Linear, from one generator, in layer order). */
#include <stdio.h>
#include <string.h>

#include <tapegrad.h>

#include "common/args.h"
#include "common/classify.h"
#include "common/dist.h"

typedef struct mlp {
    tg_linear fc1, fc2, fc3;
} mlp;

/* x: (B, rows * cols) -> logits (B, n_classes). */
static tg_tensor *mlp_forward(tg_tape *t, const void *model, tg_tensor *x) {
    const mlp *m = model;
    /* One scope per layer: the --dot graph draws each as a cluster. */
    tg_tape_push_scope(t, "fc1");
    tg_tensor *h = tg_relu(t, tg_linear_forward(t, &m->fc1, x));
    tg_tape_pop_scope(t);
    tg_tape_push_scope(t, "fc2");
    h = tg_relu(t, tg_linear_forward(t, &m->fc2, h));
    tg_tape_pop_scope(t);
    tg_tape_push_scope(t, "fc3");
    h = tg_linear_forward(t, &m->fc3, h);
    tg_tape_pop_scope(t);
    return h;
}

int main(int argc, char **argv) {
    ex_common c = {.epochs = 5,
                   .batch = 64,
                   .lr = 1e-3,
                   .seed = 1,
                   .threads = 0,
                   .data = ex_default_image_dir(),
                   .dtype = TG_F32};
    long hidden1 = 256, hidden2 = 128;
    double min_accuracy = 0, lr_decay = 0.6;
    const ex_opt extra[] = {
        {"--hidden1", "H", "width of the first hidden layer", EX_OPT_LONG, &hidden1, 1, 65536,
         NULL},
        {"--hidden2", "H", "width of the second hidden layer", EX_OPT_LONG, &hidden2, 1, 65536,
         NULL},
        {"--lr-decay", "G", "learning rate of epoch e is lr * G^(e-1)", EX_OPT_DOUBLE, &lr_decay,
         0.01, 1, NULL},
        {"--min-accuracy", "A", "exit with status 1 if the final test accuracy is below A%",
         EX_OPT_DOUBLE, &min_accuracy, 0, 100, NULL},
    };
    const ex_program prog = {
        .name = "mlp",
        .about = "Trains a multilayer perceptron (pixels -> 256 -> 128 -> classes, ReLU) on an\n"
                 "MNIST-format image set with Adam and cross-entropy, and reports the test\n"
                 "accuracy after every epoch. With Fashion-MNIST and the defaults it reaches\n"
                 "about 88-89% in 5 epochs.\n",
        .data_help = "folder with train-/t10k- images and labels in IDX format",
        .extra = extra,
        .n_extra = (int)(sizeof extra / sizeof extra[0]),
    };
    int parsed = ex_parse_args(argc, argv, &prog, &c);
    if (parsed) return parsed == 2 ? 0 : 2;
    if (!ex_dist_begin(&argc, &argv, &c, "mlp")) return 1;
    if (!ex_check_outputs("mlp", &c)) return ex_dist_end(1);

    ex_images d;
    tg_error err = {0};
    if (ex_images_load(&c, &d, &err) != TG_OK) {
        fprintf(stderr, "mlp: %s\n", err.message);
        if (d.missing) fprintf(stderr, "  %s\n", EX_IMAGES_HINT);
        return ex_dist_end(1);
    }
    tg_store *s = tg_store_new();
    mlp m;
    tg_rng rng;
    tg_rng_seed(&rng, c.seed);
    int status = 1;
    if (!s) {
        fprintf(stderr, "mlp: out of memory\n");
    } else if (tg_linear_init(&m.fc1, s, "fc1", d.rows * d.cols, hidden1, true, c.dtype, &rng,
                              &err) != TG_OK ||
               tg_linear_init(&m.fc2, s, "fc2", hidden1, hidden2, true, c.dtype, &rng, &err) !=
                   TG_OK ||
               tg_linear_init(&m.fc3, s, "fc3", hidden2, d.n_classes, true, c.dtype, &rng,
                              &err) != TG_OK) {
        fprintf(stderr, "mlp: %s\n", err.message);
    } else {
        char arch[96], title[160];
        snprintf(title, sizeof title, "%s on %.120s", "MLP", c.data);
        snprintf(arch, sizeof arch, "%lld-%ld-%ld-%d relu", (long long)(d.rows * d.cols), hidden1,
                 hidden2, d.n_classes);
        ex_classifier clf = {.name = "mlp",
                             .title = title,
                             .arch = arch,
                             .flatten = true,
                             .forward = mlp_forward,
                             .model = &m,
                             .lr_decay = lr_decay,
                             .min_accuracy = min_accuracy};
        status = ex_classify_run(&c, s, &clf, &d);
    }
    tg_store_free(s);
    ex_images_free(&d);
    return ex_dist_end(status);
}

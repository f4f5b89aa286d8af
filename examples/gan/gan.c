/* gan.c: the GAN example's command line and adversarial step; the tasks are mixture.c (eight
 * Gaussians in the plane, where mode coverage can be counted) and fashion.c (Fashion-MNIST with
 * a generator that upsamples by nearest-neighbour doubling and convolution).
 *
 * The step is the usual alternation: the discriminator D takes a step on BCE(D(x), 1) +
 * BCE(D(G(z)), 0) with G's output held constant, then the generator takes one on
 * BCE(D(G(z')), 1) = -log D(G(z')), the non-saturating loss, whose gradient stays large while
 * D rejects G's samples easily (the early phase). Each optimiser covers its own network's
 * parameters only ("gen." or "disc."), so D's gradients from the G step are never applied. */
#include "gan.h"

#include <stdio.h>
#include <string.h>

static const char *const task_words[] = {"mixture", "fashion", NULL};

static double mean_sigmoid(tg_tape *t, tg_tensor *logits) {
    tg_tensor *m = tg_mean_all(t, tg_sigmoid(t, logits));
    return m ? tg_tensor_item(m) : 0.0;
}

tg_status gan_step(const gan_pair *p, tg_tape *t, const gan_batch_maker *m, gan_losses *out,
                   tg_error *err) {
    /* Discriminator: G's samples are made with recording off, so they are constants here. */
    tg_store_zero_grad(p->s);
    tg_tensor *real = m->real(t, m->ctx), *z = m->noise(t, m->ctx);
    bool was = tg_tape_set_grad_enabled(t, false);
    tg_tensor *fake = p->gen(t, p->g, z, true);
    tg_tape_set_grad_enabled(t, was);
    tg_tensor *lr = p->disc(t, p->d, real, true), *lf = p->disc(t, p->d, fake, true);
    tg_tensor *ones = lr ? tg_ones(t, tg_tensor_dtype(lr), 2, (int64_t[]){tg_tensor_dim(lr, 0), 1})
                         : NULL;
    tg_tensor *zeros = lf ? tg_zeros(t, tg_tensor_dtype(lf), 2,
                                     (int64_t[]){tg_tensor_dim(lf, 0), 1})
                          : NULL;
    tg_tensor *ld = tg_add(t, tg_bce_with_logits(t, lr, ones, TG_REDUCE_MEAN),
                           tg_bce_with_logits(t, lf, zeros, TG_REDUCE_MEAN));
    if (!ld || tg_tape_backward(t, ld, NULL, 0) != TG_OK)
        return tg_error_set(err, tg_tape_status(t), "discriminator step: %s", tg_tape_error(t));
    out->d = tg_tensor_item(ld);
    out->d_real = mean_sigmoid(t, lr);
    out->d_fake = mean_sigmoid(t, lf);
    tg_status st = tg_optim_step(p->opt_d, err);
    tg_tape_reset(t);
    if (st != TG_OK) return st;

    /* Generator: through D, whose gradients are computed but left unused. */
    tg_store_zero_grad(p->s);
    z = m->noise(t, m->ctx);
    tg_tensor *lg = p->disc(t, p->d, p->gen(t, p->g, z, true), true);
    ones = lg ? tg_ones(t, tg_tensor_dtype(lg), 2, (int64_t[]){tg_tensor_dim(lg, 0), 1}) : NULL;
    tg_tensor *loss_g = tg_bce_with_logits(t, lg, ones, TG_REDUCE_MEAN);
    if (!loss_g || tg_tape_backward(t, loss_g, NULL, 0) != TG_OK)
        return tg_error_set(err, tg_tape_status(t), "generator step: %s", tg_tape_error(t));
    out->g = tg_tensor_item(loss_g);
    st = tg_optim_step(p->opt_g, err);
    tg_tape_reset(t);
    return st;
}

int main(int argc, char **argv) {
    gan_options o = {.xp = xp_defaults(), .steps = 0, .epochs = 0, .limit = 0, .batch = 0,
                     .lr = 0, .min_modes = 0};
    o.xp.out = "out/gan";
    int task = 0;
    const ex_opt extra[] = {
        {"--task", "T", "mixture: 8 Gaussians in the plane; fashion: Fashion-MNIST images",
         EX_OPT_CHOICE, &task, 0, 0, task_words},
        {"--steps", "N", "mixture: adversarial steps (0: 6000, --quick 3000)", EX_OPT_LONG,
         &o.steps, 0, 10000000, NULL},
        {"--epochs", "N", "fashion: epochs (0: 5, --quick 3)", EX_OPT_LONG, &o.epochs, 0, 1000,
         NULL},
        {"--limit", "N", "fashion: training images used (0: 24000, --quick 2000)", EX_OPT_LONG,
         &o.limit, 0, 100000000, NULL},
        {"--batch", "B", "samples per step (0: 256 for mixture, 64 for fashion)", EX_OPT_LONG,
         &o.batch, 0, 65536, NULL},
        {"--lr", "R", "Adam's learning rate for both networks (0: 1e-3 mixture, 2e-4 fashion)",
         EX_OPT_DOUBLE, &o.lr, 0, 1, NULL},
        {"--min-modes", "K", "mixture: exit with status 1 when fewer than K of the 8 modes are "
         "covered at the end", EX_OPT_LONG, &o.min_modes, 0, 8, NULL},
    };
    const ex_program prog = {
        .name = "gan",
        .about = "Trains a generative adversarial network (a generator G against a discriminator\n"
                 "D, Adam, the non-saturating loss) and draws what G makes as it learns.\n"
                 "--task mixture: 2-D points from a ring of 8 Gaussians; writes samples over\n"
                 "training (SVG) and counts the modes covered. --task fashion: Fashion-MNIST\n"
                 "with a generator that doubles by nearest neighbour, then convolves (7 -> 28);\n"
                 "writes a grid of samples per epoch (PNG).\n",
        .data_help = "fashion: folder with train-/t10k- images in IDX format, or 'synthetic'",
        .extra = extra,
        .n_extra = (int)(sizeof extra / sizeof extra[0]),
    };
    int rc = xp_parse(argc, argv, &prog, &o.xp);
    if (rc) return rc == 2 ? 0 : 2;
    return task == 0 ? gan_mixture(&o) : gan_fashion(&o);
}

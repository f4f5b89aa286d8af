/* epochs.c: the text generators' epoch loop (epochs.h). Each failure prints one line naming the
 * program, so that the callers only decide what to do next. */
#include "epochs.h"

#include <stdio.h>

#include "progress.h"
#include "resume.h"

bool ex_epochs_save(const ex_epochs *e, long epoch) {
    ex_run_state st = {.step = tg_optim_steps(e->opt),
                       .epochs_done = epoch,
                       .data = {.epoch = epoch, .position = 0, .rng = *e->windows}};
    tg_error err = {0};
    if (ex_checkpoint_save(e->c->save, e->store, e->config, &st, &err) != TG_OK) {
        fprintf(stderr, "%s: %s\n", e->prog, err.message);
        return false;
    }
    return true;
}

bool ex_epochs_write_outputs(const ex_epochs *e) {
    tg_error err = {0};
    if (ex_history_write_files(e->hist, e->c->csv, e->c->svg, &err) != TG_OK) {
        fprintf(stderr, "%s: %s\n", e->prog, err.message);
        return false;
    }
    return true;
}

bool ex_epochs_run(const ex_epochs *e, long first) {
    const ex_common *c = e->c;
    if (first > c->epochs)
        printf("the checkpoint already holds %ld epochs; nothing to train\n", first - 1);
    for (long epoch = first; epoch <= c->epochs; epoch++) {
        double start = ex_now(), row[2];
        if (!e->train_epoch(e->ctx, epoch, &row[0]) || !e->evaluate(e->ctx, &row[1])) return false;
        double seconds = ex_now() - start;
        tg_error err = {0};
        if (ex_history_add_epoch(e->hist, row, seconds, &err) != TG_OK) {
            fprintf(stderr, "%s: %s\n", e->prog, err.message);
            return false;
        }
        printf("epoch %ld/%ld  train %.4f bpc  |  held-out %.4f bpc  |  %.1f s\n", epoch, c->epochs,
               row[0], row[1], seconds);
        fflush(stdout);
        if (!ex_epochs_write_outputs(e) || (c->save && !ex_epochs_save(e, epoch))) return false;
        if (e->stop && e->stop(e->ctx)) break;
    }
    return true;
}

/* gradcheck.c: the style-transfer losses' gradient with respect to the image, proven against
 * central finite differences. In f64, on a 3-channel 8x8 image and a two-layer random network
 * (widths 4 and 6, pooling between), tg_gradcheck compares the tape's gradient of the total loss
 * (content + style) with (L(x + h e_i) - L(x - h e_i)) / 2h for each of the 192 pixels; the
 * content and style losses are checked on their own too, so one cannot hide the other's error.
 * A gradient that is zero everywhere would agree with the differences of a constant loss, so
 * the test also asks that the gradient is far from zero. Exit status 0 when all holds. */
#include <math.h>
#include <stdio.h>

#include "style.h"

enum { SIDE = 8, N_PX = 3 * SIDE * SIDE };

typedef struct check_ctx {
    const st_net *net;
    const st_targets *tgt;
    int which; /* 0 total, 1 content, 2 style */
} check_ctx;

static int loss_fn(tg_tape *t, tg_tensor *const *in, tg_tensor **out, void *ctx) {
    const check_ctx *c = ctx;
    st_losses l = st_loss(t, c->net, c->tgt, in[0], 3.0);
    out[0] = c->which == 0 ? l.total : c->which == 1 ? l.content : l.style;
    return out[0] ? 1 : -1;
}

static void fill(double *v, int n, tg_rng *rng) {
    for (int i = 0; i < n; i++) v[i] = tg_rng_uniform(rng);
}

int main(void) {
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_rng rng;
    tg_rng_seed(&rng, 5);
    tg_error err = {0};
    st_net net;
    st_targets tgt;
    const int widths[2] = {4, 6};
    double content[N_PX], style[N_PX], image[N_PX];
    fill(content, N_PX, &rng), fill(style, N_PX, &rng), fill(image, N_PX, &rng);
    int failed = 0;
    if (!s || !t || st_net_init(&net, s, TG_F64, 2, widths, &rng, &err) != TG_OK ||
        st_targets_init(&tgt, &net, s, t,
                        tg_from_data(t, TG_F64, TG_SHAPE(1, 3, SIDE, SIDE), content),
                        tg_from_data(t, TG_F64, TG_SHAPE(1, 3, SIDE, SIDE), style), 1,
                        &err) != TG_OK) {
        fprintf(stderr, "style_gradcheck: setup: %s\n", err.message);
        return 1;
    }
    tg_tensor *x = tg_store_param(s, "image", TG_F64, TG_SHAPE(1, 3, SIDE, SIDE));
    if (!x || tg_tensor_copy_in(x, TG_F64, image) != TG_OK) return 1;
    static const char *const names[3] = {"total", "content", "style"};
    for (int which = 0; which < 3; which++) {
        check_ctx c = {&net, &tgt, which};
        tg_gradcheck_report rep;
        tg_gradcheck(loss_fn, &c, 1, &x, NULL, &rep);
        bool ok = rep.ok && rep.n_checked == N_PX;
        printf("%s loss: %lld entries, worst pixel %lld: analytic %.9g numeric %.9g: %s\n",
               names[which], (long long)rep.n_checked, (long long)rep.worst_index, rep.analytic,
               rep.numeric, ok ? "ok" : rep.message);
        failed += !ok;
    }
    /* The gradient itself, through the store parameter as the program takes it. */
    tg_store_zero_grad(s);
    st_losses l = st_loss(t, &net, &tgt, x, 3.0);
    double norm = 0;
    if (l.total && tg_tape_backward(t, l.total, NULL, 0) == TG_OK) {
        const double *g = tg_tensor_data(tg_tensor_grad(x));
        for (int i = 0; i < N_PX; i++) norm += g[i] * g[i];
    }
    norm = sqrt(norm);
    bool nonzero = norm > 1e-3;
    printf("gradient norm %.6g (must exceed 1e-3): %s\n", norm, nonzero ? "ok" : "FAILED");
    failed += !nonzero;
    tg_tape_free(t);
    tg_store_free(s);
    return failed ? 1 : 0;
}

/* style_transfer.c: the style-transfer example. The pixels of an image start as the content
 * photo's and are moved by Adam to keep the content photo's feature map at one layer of a
 * random convolutional network while taking on the Gram matrices (texture statistics) of a
 * painting's feature maps at every layer (style.h); only the image is optimised, the filters
 * never change. Writes the content, the style and the result side by side, the image over the
 * steps, and the losses (CSV, SVG).
 *
 * Invariant: a run is a function of its flags and the two pictures: the filters come from
 * --seed, and the steps are deterministic whatever --threads is. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "montage.h"
#include "progress.h"
#include "style.h"
#include "svg.h"
#include "xp.h"

enum { N_LAYERS = 4, CONTENT_LAYER = 2, N_SNAPS = 5, SYNTH_SIDE = 40 };
static const int widths[N_LAYERS] = {48, 64, 96, 128};

typedef struct options {
    xp_options xp;
    long steps;
    double lr, style_weight, min_fall, max_content;
} options;

/* The synthetic pair the tests use: a content of two soft discs on a gradient, and a style of
 * thin diagonal stripes in two colours, which a texture loss can tell apart from the content
 * at every layer. */
static tg_status synthetic(ex_picture *c, ex_picture *s, tg_error *err) {
    c->width = c->height = s->width = s->height = SYNTH_SIDE;
    c->rgb = malloc(sizeof(float) * SYNTH_SIDE * SYNTH_SIDE * 3);
    s->rgb = malloc(sizeof(float) * SYNTH_SIDE * SYNTH_SIDE * 3);
    if (!c->rgb || !s->rgb) {
        ex_picture_free(c), ex_picture_free(s);
        return tg_error_set(err, TG_ERR_NOMEM, "synthetic pictures: out of memory");
    }
    for (int y = 0; y < SYNTH_SIDE; y++)
        for (int x = 0; x < SYNTH_SIDE; x++) {
            float *pc = c->rgb + (y * SYNTH_SIDE + x) * 3, *ps = s->rgb + (y * SYNTH_SIDE + x) * 3;
            double d1 = hypot(x - 13.0, y - 14.0), d2 = hypot(x - 28.0, y - 26.0);
            double disc = 1.0 / (1.0 + exp(d1 - 8.0)) + 1.0 / (1.0 + exp(d2 - 6.0));
            pc[0] = (float)(0.2 + 0.6 * disc), pc[1] = (float)(0.3 + 0.4 * y / SYNTH_SIDE);
            pc[2] = (float)(0.7 - 0.5 * disc);
            int band = ((x + y) / 3) % 2;
            ps[0] = band ? 0.9f : 0.1f, ps[1] = band ? 0.8f : 0.2f, ps[2] = band ? 0.1f : 0.6f;
        }
    return TG_OK;
}

static tg_status load(const options *o, ex_picture *c, ex_picture *s, tg_error *err) {
    if (strcmp(o->xp.data, XP_SYNTHETIC) == 0) return synthetic(c, s, err);
    char path[4096];
    snprintf(path, sizeof path, "%s/style/content.ppm", o->xp.data);
    tg_status st = ex_ppm_read(path, c, err);
    if (st != TG_OK) return st;
    snprintf(path, sizeof path, "%s/style/style.ppm", o->xp.data);
    st = ex_ppm_read(path, s, err);
    if (st != TG_OK) ex_picture_free(c);
    return st;
}

/* A picture as a (1, 3, H, W) tensor on t (the PPM's interleaved RGB to planes). */
static tg_tensor *as_tensor(tg_tape *t, const ex_picture *p) {
    tg_tensor *x = tg_zeros(t, TG_F32, TG_SHAPE(1, 3, p->height, p->width));
    if (!x) return NULL;
    float *d = tg_tensor_data(x);
    int64_t plane = (int64_t)p->width * p->height;
    for (int64_t i = 0; i < plane; i++)
        for (int ch = 0; ch < 3; ch++) d[ch * plane + i] = p->rgb[i * 3 + ch];
    return x;
}

/* The image parameter's planes back into an interleaved picture (same size). */
static void to_picture(const tg_tensor *x, ex_picture *p) {
    const float *d = tg_tensor_data(x);
    int64_t plane = (int64_t)p->width * p->height;
    for (int64_t i = 0; i < plane; i++)
        for (int ch = 0; ch < 3; ch++) p->rgb[i * 3 + ch] = d[ch * plane + i];
}

enum { COL_STEP, COL_TOTAL, COL_STYLE, COL_CONTENT, N_COLS };

static tg_status write_curves(const options *o, const double *rows, int n, tg_error *err) {
    static const char *const names[N_COLS] = {"step", "total", "style", "content"};
    char path[4096];
    tg_status st = xp_out_path(&o->xp, "style_transfer.csv", path, sizeof path, err);
    if (st == TG_OK) st = ex_csv_write(path, N_COLS, names, n, rows, err);
    if (st != TG_OK) return st;
    double *col = malloc(sizeof(double) * (size_t)n * N_COLS);
    if (!col) return tg_error_set(err, TG_ERR_NOMEM, "curves: out of memory");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < N_COLS; j++) col[j * n + i] = rows[i * N_COLS + j];
    ex_panel p = {.title = "each loss relative to its target's mean square",
                  .x_label = "Adam step on the pixels", .y_label = "loss", .y_log = true,
                  .n_series = 2,
                  .series = {{"style (mean over the layers' Gram matrices)", n, col,
                              col + COL_STYLE * n, NULL, false},
                             {"content (feature map of layer 3)", n, col, col + COL_CONTENT * n,
                              NULL, false}}};
    st = xp_out_path(&o->xp, "style_transfer_losses.svg", path, sizeof path, err);
    if (st == TG_OK) st = ex_svg_write(path, "Style transfer: losses", 1, &p, err);
    free(col);
    return st;
}

static int run(options *o) {
    long steps = o->steps ? o->steps : o->xp.quick ? 80 : 400;
    tg_error err = {0};
    ex_picture content = {0}, style = {0}, snaps[N_SNAPS] = {{0}};
    if (load(o, &content, &style, &err) != TG_OK) {
        fprintf(stderr, "style_transfer: %s (tools/get-images fetches the pictures and prints "
                "the folder to give --data)\n", err.message);
        return 1;
    }
    int rc = 1;
    tg_store *s = tg_store_new();
    tg_tape *t = tg_tape_new();
    tg_optim *opt = NULL;
    double *rows = calloc((size_t)steps + 1, sizeof(double) * N_COLS);
    for (int i = 0; i < N_SNAPS; i++) {
        snaps[i].width = content.width, snaps[i].height = content.height;
        snaps[i].rgb = malloc(sizeof(float) * 3 * (size_t)content.width * content.height);
        if (!snaps[i].rgb) rows = (free(rows), NULL);
    }
    if (!s || !t || !rows) {
        fprintf(stderr, "style_transfer: out of memory\n");
        goto done;
    }
    st_net net;
    st_targets tgt;
    tg_rng rng;
    tg_rng_seed(&rng, o->xp.seed);
    tg_tensor *image = tg_store_param(s, "image", TG_F32,
                                      TG_SHAPE(1, 3, content.height, content.width));
    if (!image) {
        fprintf(stderr, "style_transfer: %s\n", tg_store_error(s));
        goto done;
    }
    if (st_net_init(&net, s, TG_F32, N_LAYERS, widths, &rng, &err) != TG_OK ||
        st_targets_init(&tgt, &net, s, t, as_tensor(t, &content), as_tensor(t, &style),
                        CONTENT_LAYER, &err) != TG_OK) {
        fprintf(stderr, "style_transfer: %s\n", err.message);
        goto done;
    }
    /* The content loss of the painting itself: what an image with no trace of the photo's
     * content scores, the scale the final content loss is judged on. */
    double no_content = NAN;
    if (style.width == content.width && style.height == content.height) {
        bool was = tg_tape_set_grad_enabled(t, false);
        st_losses ref = st_loss(t, &net, &tgt, as_tensor(t, &style), o->style_weight);
        tg_tape_set_grad_enabled(t, was);
        if (!ref.content) {
            fprintf(stderr, "style_transfer: %s\n", tg_tape_error(t));
            goto done;
        }
        no_content = tg_tensor_item(ref.content);
        tg_tape_reset(t);
    }
    tg_tensor *start = as_tensor(t, &content);
    if (!start || tg_tensor_copy_out(start, TG_F32, tg_tensor_data(image)) != TG_OK) {
        fprintf(stderr, "style_transfer: %s\n", tg_tape_error(t));
        goto done;
    }
    tg_tape_reset(t);
    tg_adam_options ao = tg_adam_defaults(o->lr);
    ao.params = "image";
    if (!(opt = tg_optim_adam(s, &ao, &err))) {
        fprintf(stderr, "style_transfer: %s\n", err.message);
        goto done;
    }
    printf("style_transfer: %dx%d content, %dx%d style; random network of %d layers (widths "
           "%d %d %d %d, 3x3 filters, pooling by 2 between); %ld Adam steps on the pixels, lr "
           "%g, style weight %g\n", content.width, content.height, style.width, style.height,
           N_LAYERS, widths[0], widths[1], widths[2], widths[3], steps, o->lr, o->style_weight);
    const long snap_at[N_SNAPS] = {0, steps / 10, steps / 4, steps / 2, steps};
    int next_snap = 0;
    long per_line = steps >= 10 ? steps / 10 : 1;
    double t0 = ex_now();
    float *px = tg_tensor_data(image);
    int64_t n_px = tg_tensor_numel(image);
    for (long k = 0; k <= steps; k++) {
        tg_store_zero_grad(s);
        st_losses l = st_loss(t, &net, &tgt, image, o->style_weight);
        if (!l.total || tg_tape_backward(t, l.total, NULL, 0) != TG_OK) {
            fprintf(stderr, "style_transfer: step %ld: %s\n", k, tg_tape_error(t));
            goto done;
        }
        double *r = rows + k * N_COLS;
        r[COL_STEP] = (double)k, r[COL_TOTAL] = tg_tensor_item(l.total);
        r[COL_STYLE] = tg_tensor_item(l.style), r[COL_CONTENT] = tg_tensor_item(l.content);
        tg_tape_reset(t);
        if (next_snap < N_SNAPS && k == snap_at[next_snap]) to_picture(image, &snaps[next_snap++]);
        if (k == steps) break;
        if (tg_optim_step(opt, &err) != TG_OK) {
            fprintf(stderr, "style_transfer: step %ld: %s\n", k, err.message);
            goto done;
        }
        /* The image stays a picture: pixels outside [0, 1] cannot be drawn. */
        for (int64_t i = 0; i < n_px; i++) px[i] = px[i] < 0 ? 0 : px[i] > 1 ? 1 : px[i];
        if ((k + 1) % per_line == 0) {
            printf("step %4ld  style %.4f  content %.4f  total %.4f  (%.0f s)\n", k + 1,
                   r[COL_STYLE], r[COL_CONTENT], r[COL_TOTAL], ex_now() - t0);
            fflush(stdout);
        }
    }
    const double *first = rows, *last = rows + steps * N_COLS;
    char path[4096];
    const ex_picture *trio[3] = {&content, &style, &snaps[N_SNAPS - 1]};
    const ex_picture *over[N_SNAPS];
    for (int i = 0; i < N_SNAPS; i++) over[i] = &snaps[i];
    if (xp_out_path(&o->xp, "style_transfer.png", path, sizeof path, &err) != TG_OK ||
        ex_montage_write(path, 3, trio, 3, &err) != TG_OK ||
        xp_out_path(&o->xp, "style_transfer_steps.png", path, sizeof path, &err) != TG_OK ||
        ex_montage_write(path, N_SNAPS, over, N_SNAPS, &err) != TG_OK ||
        write_curves(o, rows, (int)steps + 1, &err) != TG_OK) {
        fprintf(stderr, "style_transfer: %s\n", err.message);
        goto done;
    }
    printf("style_transfer: wrote style_transfer.png (content, style, result), "
           "style_transfer_steps.png (steps %ld %ld %ld %ld %ld), the losses (CSV, SVG) in %s\n",
           snap_at[0], snap_at[1], snap_at[2], snap_at[3], snap_at[4], o->xp.out);
    xp_expect(&o->xp, last[COL_STYLE] * o->min_fall < first[COL_STYLE],
              "style loss fell by more than %gx: %.4f -> %.4f (%.1fx)", o->min_fall,
              first[COL_STYLE], last[COL_STYLE], first[COL_STYLE] / last[COL_STYLE]);
    if (isnan(no_content))
        xp_expect(&o->xp, last[COL_CONTENT] < o->max_content, "content kept: content loss %.4f "
                  "< %g", last[COL_CONTENT], o->max_content);
    else
        xp_expect(&o->xp, last[COL_CONTENT] < o->max_content * no_content,
                  "content kept: content loss %.4f < %g x %.4f, the painting's own content loss",
                  last[COL_CONTENT], o->max_content, no_content);
    rc = xp_finish(&o->xp);
done:
    tg_optim_free(opt);
    tg_tape_free(t);
    tg_store_free(s);
    free(rows);
    for (int i = 0; i < N_SNAPS; i++) ex_picture_free(&snaps[i]);
    ex_picture_free(&content);
    ex_picture_free(&style);
    return rc;
}

int main(int argc, char **argv) {
    options o = {.xp = xp_defaults(), .steps = 0, .lr = 0.02, .style_weight = 0.1,
                 .min_fall = 5.0, .max_content = 0.8};
    o.xp.out = "out/style_transfer";
    o.xp.data = EX_SOURCE_ROOT "/data/images";
    const ex_opt extra[] = {
        {"--steps", "N", "Adam steps on the pixels (0: 400, --quick 80)", EX_OPT_LONG, &o.steps,
         0, 1000000, NULL},
        {"--lr", "R", "Adam's learning rate (pixels are in [0, 1])", EX_OPT_DOUBLE, &o.lr, 1e-6,
         1, NULL},
        {"--style-weight", "W", "weight of the style loss against the content loss",
         EX_OPT_DOUBLE, &o.style_weight, 0, 1e9, NULL},
        {"--min-fall", "F", "exit with status 1 unless the style loss falls by more than F "
         "times", EX_OPT_DOUBLE, &o.min_fall, 1, 1e9, NULL},
        {"--max-content", "C", "exit with status 1 unless the final content loss is below C "
         "times the style image's own (or below C, for pictures of different sizes)",
         EX_OPT_DOUBLE, &o.max_content, 0, 1e9, NULL},
    };
    const ex_program prog = {
        .name = "style_transfer",
        .about = "Moves the pixels of a photo (Adam on the image, not on weights) so that its\n"
                 "feature maps in a random convolutional network keep the photo's content at\n"
                 "one layer and take on a painting's Gram matrices (texture statistics) at\n"
                 "four scales. Writes content | style | result and the image over the steps\n"
                 "(PNG), and the losses (CSV, SVG).\n",
        .data_help = "folder with style/content.ppm and style/style.ppm (tools/get-images), or "
                     "'synthetic'",
        .extra = extra,
        .n_extra = (int)(sizeof extra / sizeof extra[0]),
    };
    int rc = xp_parse(argc, argv, &prog, &o.xp);
    if (rc) return rc == 2 ? 0 : 2;
    return run(&o);
}

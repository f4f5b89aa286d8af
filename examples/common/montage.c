/* montage.c: the grid of pictures of montage.h, written through the PNG writer. */
#include "montage.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "png.h"

enum { GAP = 4 };

tg_status ex_montage_write(const char *path, int n, const ex_picture *const *pics, int per_row,
                           tg_error *err) {
    if (n < 1 || per_row < 1 || !pics)
        return tg_error_set(err, TG_ERR_ARG, "montage %s: %d pictures, %d per row",
                            path ? path : "?", n, per_row);
    int cw = 0, ch = 0;
    for (int i = 0; i < n; i++) {
        if (!pics[i] || !pics[i]->rgb || pics[i]->width < 1 || pics[i]->height < 1)
            return tg_error_set(err, TG_ERR_ARG, "montage %s: picture %d is empty",
                                path ? path : "?", i);
        if (pics[i]->width > cw) cw = pics[i]->width;
        if (pics[i]->height > ch) ch = pics[i]->height;
    }
    int cols = n < per_row ? n : per_row, rows = (n + per_row - 1) / per_row;
    int w = cols * cw + (cols - 1) * GAP, h = rows * ch + (rows - 1) * GAP;
    uint8_t *px = malloc((size_t)w * h * 3);
    if (!px) return tg_error_set(err, TG_ERR_NOMEM, "montage %s: out of memory", path);
    memset(px, 255, (size_t)w * h * 3);
    for (int i = 0; i < n; i++) {
        const ex_picture *p = pics[i];
        int x0 = (i % per_row) * (cw + GAP), y0 = (i / per_row) * (ch + GAP);
        for (int y = 0; y < p->height; y++)
            for (int x = 0; x < p->width * 3; x++) {
                float v = p->rgb[(size_t)y * p->width * 3 + x];
                v = v < 0 ? 0 : v > 1 ? 1 : v;
                px[((size_t)(y0 + y) * w + x0) * 3 + x] = (uint8_t)(v * 255.0f + 0.5f);
            }
    }
    tg_status st = ex_png_write(path, w, h, 3, px, err);
    free(px);
    return st;
}

/* cell.c: the LSTM cell's gate arithmetic (cell.h). For f32 at a SIMD level each row is one
 * pass (vec_f32.h's lstm rows: the gates' sums, sigmoids and tanhs, c' and h' with every
 * intermediate kept in registers); otherwise, and for f64, the plain loops below: the forward
 * runs the sigmoids and tanhs through kern_unary a gate block at a time and the products in
 * plain loops. Both evaluate the same expressions in the same order, with the same sigmoid and
 * tanh, so they give the same bits. The backward needs no transcendental function, only the
 * saved activations:
 *   dc' = g_c + g_h o (1 - tc^2)
 *   dz_i = dc' tg i (1 - i)   dz_f = dc' c f (1 - f)   dz_g = dc' i (1 - tg^2)
 *   dz_o = g_h tc o (1 - o)   dc = dc' f
 * with i f o the sigmoids, tg = tanh(g), tc = tanh(c'). Also the two small maps of the tanh
 * cell's sequence op (rnn_seq in lstm.c). */
#include "cell.h"
#include "kernels.h"
#include "vec.h"

/* The plain forward: a gate block at a time through kern_unary (with gx, the sums go to act
 * first and are mapped there in place). */
#define LSTM_FORWARD(T)                                                                            \
    static void forward_##T(const kern_lstm_fwd *p) {                                              \
        tg_dtype dt = sizeof(T) == sizeof(float) ? TG_F32 : TG_F64;                                \
        const int64_t H = p->H, ag = p->act_gs;                                                    \
        for (int64_t b = 0; b < p->B; b++) {                                                       \
            const T *zr = (const T *)p->z + b * p->z_rs, *cr = (const T *)p->c + b * p->c_rs;      \
            T *a = (T *)p->act + b * p->act_rs, *h = (T *)p->h + b * p->h_rs;                      \
            T *cn = (T *)p->cn + b * p->cn_rs;                                                     \
            int64_t zg = p->z_gs;                                                                  \
            if (p->gx) {                                                                           \
                const T *xr = (const T *)p->gx + b * p->gx_rs;                                     \
                for (int g = 0; g < 4; g++)                                                        \
                    for (int64_t j = 0; j < H; j++)                                                \
                        a[g * ag + j] = xr[g * p->gx_gs + j] + zr[g * zg + j];                     \
                zr = a, zg = ag;                                                                   \
            }                                                                                      \
            if (zg == H && ag == H) /* i and f side by side: one call */                           \
                kern_unary(KERN_SIGMOID, dt, 2 * H, zr, a, 0.0);                                   \
            else                                                                                   \
                for (int g = 0; g < 2; g++) kern_unary(KERN_SIGMOID, dt, H, zr + g * zg, a + g * ag, 0.0); \
            kern_unary(KERN_TANH, dt, H, zr + 2 * zg, a + 2 * ag, 0.0);                            \
            kern_unary(KERN_SIGMOID, dt, H, zr + 3 * zg, a + 3 * ag, 0.0);                         \
            for (int64_t j = 0; j < H; j++) cn[j] = a[ag + j] * cr[j] + a[j] * a[2 * ag + j];      \
            kern_unary(KERN_TANH, dt, H, cn, a + 4 * ag, 0.0);                                     \
            for (int64_t j = 0; j < H; j++) h[j] = a[3 * ag + j] * a[4 * ag + j];                  \
        }                                                                                          \
    }

/* One row of the backward: dz (4 gates dg apart), dc, or both in one pass (dL/dc' computed
 * once); ag is act's gate stride; dh, when not NULL, is added to gh first. Separate row
 * functions keep the loops free of branches (and the pointers restrict), so that they
 * vectorise. */
#define LSTM_BACKWARD(T)                                                                           \
    static inline T grad_h_##T(const T *restrict gh, const T *restrict dh, int64_t j) {            \
        return dh ? gh[j] + dh[j] : gh[j];                                                         \
    }                                                                                              \
    static inline T dcp_##T(const T *a, T g, const T *gc, int64_t ag, int64_t j) {                 \
        return gc[j] + g * a[3 * ag + j] * ((T)1 - a[4 * ag + j] * a[4 * ag + j]);                 \
    }                                                                                              \
    static void row_dz_##T(int64_t H, int64_t ag, const T *restrict a, const T *restrict cr,       \
                           const T *restrict gh, const T *restrict dh, const T *restrict gc,       \
                           int64_t dg, T *restrict dz) {                                           \
        for (int64_t j = 0; j < H; j++) {                                                          \
            T g = grad_h_##T(gh, dh, j), d = dcp_##T(a, g, gc, ag, j);                             \
            T si = a[j], sf = a[ag + j], tg = a[2 * ag + j], so = a[3 * ag + j];                   \
            T tc = a[4 * ag + j];                                                                  \
            dz[j] = d * tg * si * ((T)1 - si);                                                     \
            dz[dg + j] = d * cr[j] * sf * ((T)1 - sf);                                             \
            dz[2 * dg + j] = d * si * ((T)1 - tg * tg);                                            \
            dz[3 * dg + j] = g * tc * so * ((T)1 - so);                                            \
        }                                                                                          \
    }                                                                                              \
    static void row_both_##T(int64_t H, int64_t ag, const T *restrict a, const T *restrict cr,     \
                             const T *restrict gh, const T *restrict dh, const T *restrict gc,     \
                             int64_t dg, T *restrict dz, T *restrict dc) {                         \
        for (int64_t j = 0; j < H; j++) {                                                          \
            T g = grad_h_##T(gh, dh, j), d = dcp_##T(a, g, gc, ag, j);                             \
            T si = a[j], sf = a[ag + j], tg = a[2 * ag + j], so = a[3 * ag + j];                   \
            T tc = a[4 * ag + j];                                                                  \
            dz[j] = d * tg * si * ((T)1 - si);                                                     \
            dz[dg + j] = d * cr[j] * sf * ((T)1 - sf);                                             \
            dz[2 * dg + j] = d * si * ((T)1 - tg * tg);                                            \
            dz[3 * dg + j] = g * tc * so * ((T)1 - so);                                            \
            dc[j] = d * sf;                                                                        \
        }                                                                                          \
    }                                                                                              \
    static void row_dc_##T(int64_t H, int64_t ag, const T *restrict a, const T *restrict gh,       \
                           const T *restrict dh, const T *restrict gc, T *restrict dc) {           \
        for (int64_t j = 0; j < H; j++)                                                            \
            dc[j] = dcp_##T(a, grad_h_##T(gh, dh, j), gc, ag, j) * a[ag + j];                      \
    }                                                                                              \
    static void backward_##T(const kern_lstm_bwd *p) {                                             \
        const int64_t H = p->H, ag = p->act_gs, dg = p->dz_gs;                                     \
        for (int64_t b = 0; b < p->B; b++) {                                                       \
            const T *a = (const T *)p->act + b * p->act_rs, *cr = (const T *)p->c + b * p->c_rs;   \
            const T *gh = (const T *)p->gh + b * p->gh_rs, *gc = (const T *)p->gc + b * p->gc_rs;  \
            const T *dh = p->dh ? (const T *)p->dh + b * p->dh_rs : NULL;                          \
            T *dz = p->dz ? (T *)p->dz + b * p->dz_rs : NULL;                                      \
            T *dc = p->dc ? (T *)p->dc + b * p->dc_rs : NULL;                                      \
            if (dz && dc)                                                                          \
                row_both_##T(H, ag, a, cr, gh, dh, gc, dg, dz, dc);                                \
            else if (dz)                                                                           \
                row_dz_##T(H, ag, a, cr, gh, dh, gc, dg, dz);                                      \
            else if (dc)                                                                           \
                row_dc_##T(H, ag, a, gh, dh, gc, dc);                                              \
        }                                                                                          \
    }

LSTM_FORWARD(float)
LSTM_FORWARD(double)
LSTM_BACKWARD(float)
LSTM_BACKWARD(double)

void kern_lstm_forward(tg_dtype dtype, const kern_lstm_fwd *f) {
    if (dtype == TG_F32) {
        if (f->B > 0 && f->H > 0 && kern_vec_lstm_forward_f32(f)) return;
        forward_float(f);
    } else {
        forward_double(f);
    }
}

void kern_lstm_backward(tg_dtype dtype, const kern_lstm_bwd *b) {
    if (dtype == TG_F32) {
        if (b->B > 0 && b->H > 0 && kern_vec_lstm_backward_f32(b)) return;
        backward_float(b);
    } else {
        backward_double(b);
    }
}

#define CELL_MAPS(T)                                                                               \
    static void add_##T(int64_t n, const T *a, const T *b, T *out) {                               \
        for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];                                      \
    }                                                                                              \
    static void tanh_grad_##T(int64_t n, const T *restrict g, const T *restrict dh,                \
                              const T *restrict h, T *restrict dz) {                               \
        if (dh)                                                                                    \
            for (int64_t i = 0; i < n; i++) dz[i] = (g[i] + dh[i]) * ((T)1 - h[i] * h[i]);         \
        else                                                                                       \
            for (int64_t i = 0; i < n; i++) dz[i] = g[i] * ((T)1 - h[i] * h[i]);                   \
    }

CELL_MAPS(float)
CELL_MAPS(double)

void kern_cell_add(tg_dtype dtype, int64_t n, const void *a, const void *b, void *out) {
    if (dtype == TG_F32)
        add_float(n, a, b, out);
    else
        add_double(n, a, b, out);
}

void kern_rnn_tanh_backward(tg_dtype dtype, int64_t n, const void *g, const void *dh, const void *h,
                            void *dz) {
    if (dtype == TG_F32)
        tanh_grad_float(n, g, dh, h, dz);
    else
        tanh_grad_double(n, g, dh, h, dz);
}

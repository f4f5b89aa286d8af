/* cell.c: the LSTM cell's gate arithmetic in two passes over the rows (cell.h): the forward
 * runs the sigmoids and tanhs through kern_unary (SIMD for f32) a gate block at a time and the
 * products in plain loops; the backward needs no transcendental function, only the saved
 * activations:
 *   dc' = g_c + g_h o (1 - tc^2)
 *   dz_i = dc' tg i (1 - i)   dz_f = dc' c f (1 - f)   dz_g = dc' i (1 - tg^2)
 *   dz_o = g_h tc o (1 - o)   dc = dc' f
 * with i f o the sigmoids, tg = tanh(g), tc = tanh(c'). Also the two small maps of the tanh
 * cell's sequence op (rnn_seq in lstm.c). */
#include "cell.h"
#include "kernels.h"

#define LSTM_FORWARD(T)                                                                            \
    static void forward_##T(int64_t B, int64_t H, const T *z, int64_t z_rs, int64_t zg,            \
                            const T *c, int64_t c_rs, T *hn, int64_t h_rs, T *cno, int64_t cn_rs,  \
                            T *act, int64_t a_rs, int64_t ag) {                                    \
        tg_dtype dt = sizeof(T) == sizeof(float) ? TG_F32 : TG_F64;                                \
        for (int64_t b = 0; b < B; b++) {                                                          \
            const T *zr = z + b * z_rs, *cr = c + b * c_rs;                                        \
            T *a = act + b * a_rs, *h = hn + b * h_rs, *cn = cno + b * cn_rs;                      \
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
 * once); ag is act's gate stride. Separate row functions keep the loops free of branches (and the pointers restrict),
 * so that they vectorise. */
#define LSTM_BACKWARD(T)                                                                           \
    static inline T dcp_##T(const T *a, const T *gh, const T *gc, int64_t ag, int64_t j) {         \
        return gc[j] + gh[j] * a[3 * ag + j] * ((T)1 - a[4 * ag + j] * a[4 * ag + j]);             \
    }                                                                                              \
    static void row_dz_##T(int64_t H, int64_t ag, const T *restrict a, const T *restrict cr,       \
                           const T *restrict gh, const T *restrict gc, int64_t dg,                 \
                           T *restrict dz) {                                                       \
        for (int64_t j = 0; j < H; j++) {                                                          \
            T d = dcp_##T(a, gh, gc, ag, j), si = a[j], sf = a[ag + j], tg = a[2 * ag + j];        \
            T so = a[3 * ag + j], tc = a[4 * ag + j];                                              \
            dz[j] = d * tg * si * ((T)1 - si);                                                     \
            dz[dg + j] = d * cr[j] * sf * ((T)1 - sf);                                             \
            dz[2 * dg + j] = d * si * ((T)1 - tg * tg);                                            \
            dz[3 * dg + j] = gh[j] * tc * so * ((T)1 - so);                                        \
        }                                                                                          \
    }                                                                                              \
    static void row_both_##T(int64_t H, int64_t ag, const T *restrict a, const T *restrict cr,     \
                             const T *restrict gh, const T *restrict gc, int64_t dg,               \
                             T *restrict dz, T *restrict dc) {                                     \
        for (int64_t j = 0; j < H; j++) {                                                          \
            T d = dcp_##T(a, gh, gc, ag, j), si = a[j], sf = a[ag + j], tg = a[2 * ag + j];        \
            T so = a[3 * ag + j], tc = a[4 * ag + j];                                              \
            dz[j] = d * tg * si * ((T)1 - si);                                                     \
            dz[dg + j] = d * cr[j] * sf * ((T)1 - sf);                                             \
            dz[2 * dg + j] = d * si * ((T)1 - tg * tg);                                            \
            dz[3 * dg + j] = gh[j] * tc * so * ((T)1 - so);                                        \
            dc[j] = d * sf;                                                                        \
        }                                                                                          \
    }                                                                                              \
    static void row_dc_##T(int64_t H, int64_t ag, const T *restrict a, const T *restrict gh,       \
                           const T *restrict gc, T *restrict dc) {                                 \
        for (int64_t j = 0; j < H; j++) dc[j] = dcp_##T(a, gh, gc, ag, j) * a[ag + j];             \
    }                                                                                              \
    static void backward_##T(int64_t B, int64_t H, const T *act, int64_t a_rs, int64_t ag,         \
                             const T *c, int64_t c_rs, const T *gh, int64_t gh_rs, const T *gc,    \
                             int64_t gc_rs, T *dz, int64_t dz_rs, int64_t dg, T *dc,               \
                             int64_t dc_rs) {                                                      \
        for (int64_t b = 0; b < B; b++) {                                                          \
            const T *a = act + b * a_rs, *ghr = gh + b * gh_rs, *gcr = gc + b * gc_rs;             \
            if (dz && dc)                                                                          \
                row_both_##T(H, ag, a, c + b * c_rs, ghr, gcr, dg, dz + b * dz_rs, dc + b * dc_rs); \
            else if (dz)                                                                           \
                row_dz_##T(H, ag, a, c + b * c_rs, ghr, gcr, dg, dz + b * dz_rs);                  \
            else if (dc)                                                                           \
                row_dc_##T(H, ag, a, ghr, gcr, dc + b * dc_rs);                                    \
        }                                                                                          \
    }

LSTM_FORWARD(float)
LSTM_FORWARD(double)
LSTM_BACKWARD(float)
LSTM_BACKWARD(double)

void kern_lstm_forward(tg_dtype dtype, int64_t B, int64_t H, const void *z, int64_t z_rs,
                       int64_t z_gs, const void *c, int64_t c_rs, void *h, int64_t h_rs, void *cn,
                       int64_t cn_rs, void *act, int64_t act_rs, int64_t act_gs) {
    if (dtype == TG_F32)
        forward_float(B, H, z, z_rs, z_gs, c, c_rs, h, h_rs, cn, cn_rs, act, act_rs, act_gs);
    else
        forward_double(B, H, z, z_rs, z_gs, c, c_rs, h, h_rs, cn, cn_rs, act, act_rs, act_gs);
}

void kern_lstm_backward(tg_dtype dtype, int64_t B, int64_t H, const void *act, int64_t act_rs,
                        int64_t act_gs, const void *c, int64_t c_rs, const void *gh, int64_t gh_rs,
                        const void *gc, int64_t gc_rs, void *dz, int64_t dz_rs, int64_t dz_gs,
                        void *dc, int64_t dc_rs) {
    if (dtype == TG_F32)
        backward_float(B, H, act, act_rs, act_gs, c, c_rs, gh, gh_rs, gc, gc_rs, dz, dz_rs, dz_gs,
                       dc, dc_rs);
    else
        backward_double(B, H, act, act_rs, act_gs, c, c_rs, gh, gh_rs, gc, gc_rs, dz, dz_rs,
                        dz_gs, dc, dc_rs);
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

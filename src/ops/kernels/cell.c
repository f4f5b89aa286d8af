/* cell.c: the LSTM cell's gate arithmetic in two passes over the rows (cell.h): the forward
 * runs the sigmoids and tanhs through kern_unary (SIMD for f32) a gate block at a time and the
 * products in plain loops; the backward needs no transcendental function, only the saved
 * activations:
 *   dc' = g_c + g_h o (1 - tc^2)
 *   dz_i = dc' tg i (1 - i)   dz_f = dc' c f (1 - f)   dz_g = dc' i (1 - tg^2)
 *   dz_o = g_h tc o (1 - o)   dc = dc' f
 * with i f o the sigmoids, tg = tanh(g), tc = tanh(c'). */
#include "cell.h"
#include "kernels.h"

#define LSTM_FORWARD(T)                                                                            \
    static void forward_##T(int64_t B, int64_t H, const T *z, int64_t z_rs, const T *c,            \
                            int64_t c_rs, T *out, T *act) {                                        \
        tg_dtype dt = sizeof(T) == sizeof(float) ? TG_F32 : TG_F64;                                \
        for (int64_t b = 0; b < B; b++) {                                                          \
            const T *zr = z + b * z_rs, *cr = c + b * c_rs;                                        \
            T *a = act + b * 5 * H, *h = out + b * 2 * H, *cn = h + H;                             \
            kern_unary(KERN_SIGMOID, dt, 2 * H, zr, a, 0.0);                                       \
            kern_unary(KERN_TANH, dt, H, zr + 2 * H, a + 2 * H, 0.0);                              \
            kern_unary(KERN_SIGMOID, dt, H, zr + 3 * H, a + 3 * H, 0.0);                           \
            for (int64_t j = 0; j < H; j++) cn[j] = a[H + j] * cr[j] + a[j] * a[2 * H + j];        \
            kern_unary(KERN_TANH, dt, H, cn, a + 4 * H, 0.0);                                      \
            for (int64_t j = 0; j < H; j++) h[j] = a[3 * H + j] * a[4 * H + j];                    \
        }                                                                                          \
    }

/* One row of the backward: dz (4H) and dc (H) when not NULL. Separate row functions keep the
 * loops free of branches (and the pointers restrict), so that they vectorise. */
#define LSTM_BACKWARD(T)                                                                           \
    static inline T dcp_##T(const T *a, const T *gh, const T *gc, int64_t H, int64_t j) {          \
        return gc[j] + gh[j] * a[3 * H + j] * ((T)1 - a[4 * H + j] * a[4 * H + j]);                \
    }                                                                                              \
    static void row_dz_##T(int64_t H, const T *restrict a, const T *restrict cr,                   \
                           const T *restrict gh, const T *restrict gc, T *restrict dz) {           \
        for (int64_t j = 0; j < H; j++) {                                                          \
            T d = dcp_##T(a, gh, gc, H, j), si = a[j], sf = a[H + j], tg = a[2 * H + j];           \
            T so = a[3 * H + j], tc = a[4 * H + j];                                                \
            dz[j] = d * tg * si * ((T)1 - si);                                                     \
            dz[H + j] = d * cr[j] * sf * ((T)1 - sf);                                              \
            dz[2 * H + j] = d * si * ((T)1 - tg * tg);                                             \
            dz[3 * H + j] = gh[j] * tc * so * ((T)1 - so);                                         \
        }                                                                                          \
    }                                                                                              \
    static void row_dc_##T(int64_t H, const T *restrict a, const T *restrict gh,                   \
                           const T *restrict gc, T *restrict dc) {                                 \
        for (int64_t j = 0; j < H; j++) dc[j] = dcp_##T(a, gh, gc, H, j) * a[H + j];               \
    }                                                                                              \
    static void backward_##T(int64_t B, int64_t H, const T *act, const T *c, int64_t c_rs,         \
                             const T *g, int64_t g_rs, T *dz, T *dc) {                             \
        for (int64_t b = 0; b < B; b++) {                                                          \
            const T *a = act + b * 5 * H, *gh = g + b * g_rs;                                      \
            if (dz) row_dz_##T(H, a, c + b * c_rs, gh, gh + H, dz + b * 4 * H);                    \
            if (dc) row_dc_##T(H, a, gh, gh + H, dc + b * H);                                      \
        }                                                                                          \
    }

LSTM_FORWARD(float)
LSTM_FORWARD(double)
LSTM_BACKWARD(float)
LSTM_BACKWARD(double)

void kern_lstm_forward(tg_dtype dtype, int64_t B, int64_t H, const void *z, int64_t z_rs,
                       const void *c, int64_t c_rs, void *out, void *act) {
    if (dtype == TG_F32)
        forward_float(B, H, z, z_rs, c, c_rs, out, act);
    else
        forward_double(B, H, z, z_rs, c, c_rs, out, act);
}

void kern_lstm_backward(tg_dtype dtype, int64_t B, int64_t H, const void *act, const void *c,
                        int64_t c_rs, const void *g, int64_t g_rs, void *dz, void *dc) {
    if (dtype == TG_F32)
        backward_float(B, H, act, c, c_rs, g, g_rs, dz, dc);
    else
        backward_double(B, H, act, c, c_rs, g, g_rs, dz, dc);
}

/* spmm_neon.c: the AArch64 NEON sparse kernels (f32 and f64) from the spmm_simd.h template.
 * Built only for AArch64 (src/ops/kernels/meson.build), where NEON is always there. */
#include "spmm.h"

#define TARGET

#include "simd_neon.h"
#define VGATHER(x, c) kern_neon_gather_f32(x, c)
#define FN(name)      name##_neon_f32
#include "spmm_simd.h"
#undef VGATHER
#undef FN

#define SIMD_F64
#include "simd_neon.h"
#define VGATHER(x, c) kern_neon_gather_f64(x, c)
#define FN(name)      name##_neon_f64
#include "spmm_simd.h"

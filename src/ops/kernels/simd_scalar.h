/* simd_scalar.h: the vector vocabulary of the kernel templates (simd_avx512.h lists the names)
 * on plain scalars, a "vector" of one lane: f32, or f64 when the includer has defined SIMD_F64.
 * It gives the templates their portable instances, so the C path runs the same loops as the
 * SIMD ones. A mask is the count of first lanes (0 or 1). No include guard: include it again,
 * with or without SIMD_F64, for the next instantiation. */
#include "simd_reset.h"

#ifndef SIMD_F64
#define T       float
#define VZERO() 0.0f
#else
#define T       double
#define VZERO() 0.0
#endif
#define V                T
#define VL               1
#define VLOAD(p)         (*(p))
#define VSTORE(p, v)     (*(p) = (v))
#define VSET1(x)         ((T)(x))
#define VFMA(a, b, c)    ((a) * (b) + (c))
#define VADD(a, b)       ((a) + (b))
#define VHSUM(x)         (x)
#define MASK             int
#define MASK_FIRST(n)    (n)
#define VLOADM(p, m)     ((m) > 0 ? *(p) : (T)0)
#define VSTOREM(p, m, v) ((m) > 0 ? (void)(*(p) = (v)) : (void)0)
#define VLOADN(p, n)     VLOADM(p, n)
#define VSTOREN(p, n, v) VSTOREM(p, n, v)

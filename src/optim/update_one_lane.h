/* update_one_lane.h: update_simd.h's vocabulary on one-lane "vectors", plain values of T, for
 * the portable instances (f32 and f64), which also finish every vector loop's tail. Included
 * right before update_simd.h, which #undefs these again; the includer defines T, FN and VSQRT
 * (sqrtf or sqrt). */
#define V              T
#define VL             1
#define TARGET
#define VADD(a, b)     ((a) + (b))
#define VSUB(a, b)     ((a) - (b))
#define VMUL(a, b)     ((a) * (b))
#define VDIV(a, b)     ((a) / (b))
#define VSET1(x)       (x)
#define VLOAD(p)       (*(p))
#define VSTORE(p, v)   (*(p) = (v))
#define VKEEP_GE(a, b) ((a) >= (b) ? (a) : (b))

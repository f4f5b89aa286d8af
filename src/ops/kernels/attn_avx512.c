/* attn_avx512.c: the AVX-512 instance of the fused causal-attention kernels (attn_simd.h), f32.
 *
 * Only the functions here carry target("avx512f"); the driver (attn.c) calls them only when
 * the level in effect is AVX-512. Tiles: scores 4 rows x 4 vectors (64 keys, 16 accumulators
 * of the 32 zmm registers), products 8 rows x 2 vectors (D = 16, a head of the gpt case, is
 * one vector: 8 accumulators). */
#include "attn.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <math.h>

#include "simd_avx512.h"
#define ATTN_LEVEL       kern_attn_avx512_f32
#define TARGET           __attribute__((target("avx512f")))
#define FN(name)         attn_##name##_avx512
#define VSUB             _mm512_sub_ps
#define VMUL             _mm512_mul_ps
#define VDIV             _mm512_div_ps
#define VMAX             _mm512_max_ps
#define VHMAX            _mm512_reduce_max_ps
#define ATTN_VEXP        1
#define VROUND(x)        _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VSCALE2          _mm512_scalef_ps
#define A_ROWS           4
#define A_VECS           4
#define B_VECS           2
#include "attn_simd.h"
#endif

/* simd_reset.h: forgets the vector vocabulary that simd_avx512.h, simd_avx2.h and simd_neon.h
 * define, so that the next of them can define it again for another instruction set or element
 * type. Each of them includes this first; no include guard. */
#undef T
#undef V
#undef VL
#undef VLOAD
#undef VSTORE
#undef VSET1
#undef VZERO
#undef VFMA
#undef VADD
#undef VHSUM
#undef MASK
#undef MASK_FIRST
#undef VLOADM
#undef VSTOREM
#undef VLOADN
#undef VSTOREN

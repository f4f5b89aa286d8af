/* cpu.h: which instruction set the CPU-specific kernels may use, detected once at run time.
 *
 * Invariant: kern_cpu_level() never returns a level the CPU (and OS) cannot run, whatever was
 * asked through TG_CPU or tg_set_cpu_level, so a kernel chosen by it cannot fault. */
#ifndef TG_KERN_CPU_H
#define TG_KERN_CPU_H

#include "tapegrad/runtime.h"

/* The level in effect: the best supported, lowered by TG_CPU or tg_set_cpu_level. Cheap (one
 * atomic load after the first call) so kernels may call it on every invocation. */
tg_cpu_level kern_cpu_level(void);
/* The best level the machine supports. */
tg_cpu_level kern_cpu_best(void);
/* Sets the level in effect, clamped as tg_set_cpu_level documents: never a level this
 * machine cannot run; returns it. */
tg_cpu_level kern_cpu_set_level(tg_cpu_level level);

#endif

/* tapegrad/registry.h: read-only introspection of the registered ops, for reports and tools.
 *
 * Every op tapegrad can record is listed once in a registry (its name, whether it is twice
 * differentiable, whether it has a backward rule). Ops are addressed by their index, 0 to
 * tg_op_registry_count() - 1; names are unique. The built-in ops come first, in a fixed order;
 * after them come the custom ops user code registered (tapegrad/custom_op.h) in the order of
 * their tg_custom_op_new, so freeing one moves the indices of those after it. Nothing here
 * changes any state, so these calls are safe from any thread, provided no thread frees a
 * custom op that another is asking about.
 *
 *     for (int i = 0; i < tg_op_registry_count(); i++)
 *         printf("%s%s\n", tg_op_registry_name(i), tg_op_registry_smooth(i) ? " (smooth)" : "");
 *
 *     tg_tensor *y = tg_relu(t, x);   // x requires a gradient
 *     int relu = tg_op_registry_find("relu");
 *     int64_t n = tg_op_registry_recorded(t, relu);   // 1: one relu node on t
 */
#ifndef TAPEGRAD_REGISTRY_H
#define TAPEGRAD_REGISTRY_H

#include "tapegrad/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

TG_PUBLIC_BEGIN

/* The number of registered ops. */
int tg_op_registry_count(void);
/* The i-th op's name ("matmul"): a static string for a built-in op, the op's own for a custom
 * one (valid until its tg_custom_op_free); NULL when i is out of range. */
const char *tg_op_registry_name(int i);
/* The index of the op named `name`, or -1 (also for NULL). */
int tg_op_registry_find(const char *name);
/* Whether the i-th op is twice differentiable wherever it is differentiable, so that a
 * second-order gradient check applies to it; false out of range. */
bool tg_op_registry_smooth(int i);
/* Whether the i-th op has a backward rule; false out of range. */
bool tg_op_registry_has_backward(int i);
/* How many nodes of the i-th op are recorded on tape t since its last reset; 0 for a NULL t or
 * an index out of range. Results of ops run with recording off, or with no input requiring a
 * gradient, are not nodes and do not count. */
int64_t tg_op_registry_recorded(const tg_tape *t, int i);

TG_PUBLIC_END

#ifdef __cplusplus
}
#endif
#endif

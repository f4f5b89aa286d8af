/* registry.c: the table of every op, built from ops.def. The graph code reaches ops only
 * through node->op and this table (for reports), never by name. */
#include "op_util.h"

#define TG_OP(name) extern const tg_op_desc tg_op_##name;
#include "ops.def"
#undef TG_OP

static const tg_op_desc *const registry[] = {
#define TG_OP(name) &tg_op_##name,
#include "ops.def"
#undef TG_OP
};

int tg_op_count(void) { return (int)(sizeof registry / sizeof registry[0]); }

const tg_op_desc *tg_op_at(int i) { return i >= 0 && i < tg_op_count() ? registry[i] : NULL; }

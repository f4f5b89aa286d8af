/* graph.h: the private layout of tensors, nodes, arenas, tapes and stores, and the helpers that
 * src/graph and src/ops share. Never installed; nothing in include/ may depend on it.
 *
 * Invariant: a node's inputs were all created before it, so the tape's node list (newest first
 * through `prev`) is a topological order and the reverse sweep needs no sort. */
#ifndef TG_GRAPH_H
#define TG_GRAPH_H

#include <stdarg.h>
#include <stddef.h>

#include "tapegrad.h"

/* ---- allocation: the hook lives with the kernels, the bottom layer, which allocate too ---- */
#include "../ops/kernels/alloc.h"

/* ---- arenas (arena.c): bump allocation in chunks; reset keeps the memory ---- */
typedef struct tg_chunk tg_chunk;
typedef struct tg_arena {
    tg_chunk *head;    /* first chunk; after a reset the only one if the step spilled over */
    tg_chunk *current; /* chunk being filled */
    size_t used_in_current;
    size_t bytes_used; /* over all chunks since the last reset */
    size_t high_water; /* the most bytes_used has reached, to size the merged chunk */
    unsigned n_resets; /* picks the skew the next step starts at (see tg_arena_reset) */
    tg_chunk *retired; /* chunks a merge replaced, freed TG_ARENA_SKEWS resets later */
} tg_arena;

#define TG_ARENA_ALIGN 64
/* A reset starts the next step TG_ARENA_SKEW_UNIT * (resets mod TG_ARENA_SKEWS) bytes into the
 * first chunk, so a step that repeats the previous ones puts no tensor header where one of the
 * last TG_ARENA_SKEWS - 1 steps put one: a stale pointer then never aliases a live header
 * exactly, and its generation gives it away. That needs any two tensor headers of a step to be
 * further apart than the largest skew: a header is at least 104 bytes, so every allocation
 * holding one takes at least 128 (two TG_ARENA_ALIGN lines), more than 4 * 16. The price is that
 * allocations are TG_ARENA_ALIGN-aligned only relative to the step's start: in absolute terms
 * they are 16-byte aligned (the kernels load and store unaligned). */
#define TG_ARENA_SKEWS 5
#define TG_ARENA_SKEW_UNIT 16
void tg_arena_init(tg_arena *a);
/* 16-byte aligned (see the skew); NULL when out of memory */
void *tg_arena_alloc(tg_arena *a, size_t size);
void tg_arena_reset(tg_arena *a);                /* O(1) unless it merges spilled chunks */
void tg_arena_release(tg_arena *a);              /* frees every chunk, retired ones too */
size_t tg_arena_reserved(const tg_arena *a);

/* ---- tensors ---- */
typedef enum tg_role {
    TG_ROLE_INPUT,        /* a leaf created on a tape */
    TG_ROLE_INTERMEDIATE, /* produced by an op */
    TG_ROLE_PARAM,        /* a store parameter */
    TG_ROLE_BUFFER        /* a store tensor without gradient */
} tg_role;

typedef struct tg_node tg_node;

#define TG_NAME_MAX 64

/* A tensor's generation: TG_GEN_STORE for store tensors (never stale), otherwise the word its
 * tape carried when it was made. A tape's word changes at every reset and differs between
 * tapes, and is never TG_GEN_STORE, so an input whose word is not its tape's current one was
 * made before a reset of its tape, and its memory may belong to newer tensors. Both are
 * arbitrary-looking 64-bit words, so zeroed memory or data is not mistaken for either. */
#define TG_GEN_STORE UINT64_C(0x7a1d0c5e9b38f264)

/* A header is sized to its tensor's rank: shape and strides point at 2 * ndim int64 right after
 * the struct, in the same allocation, so a rank-1 header with its dims takes 128 bytes instead
 * of the 320 that room for TG_MAX_DIMS took. The name is stored only for the tensors that have
 * one. Fields are ordered largest first so that the struct has no padding holes. */
struct tg_tensor {
    char *data;                   /* first element */
    int64_t *shape;               /* ndim sizes, right after the struct */
    int64_t *strides;             /* ndim strides in elements, after shape */
    tg_node *node;         /* the node that produced it, NULL for leaves and unrecorded results */
    tg_tensor *grad;       /* accumulated (leaves) or latest sweep's (intermediates) gradient */
    tg_tensor *sweep_grad; /* gradient being summed by a sweep; valid only while... */
    uint64_t sweep_epoch;  /* ...this equals the running sweep's process-unique number */
    int64_t id;            /* creation order in its tape or store */
    uint64_t gen;
    const tg_tape *tape; /* the tape it was made on (NULL in a store); only ever compared */
    /* With a gradient hook on the tape, the oldest node of the running sweep that takes this
     * leaf as an input: where its gradient is final. Valid while final_use_epoch is the sweep's. */
    const tg_node *final_use;
    uint64_t final_use_epoch;
    /* "" (a static empty string) or a copy in the tensor's arena: a store tensor's holds
     * TG_NAME_MAX bytes (renaming writes into it), a tape tensor's is made by tg_tensor_set_name */
    const char *name;
    /* One byte each, so that a rank-1 header with its dims fits 128 bytes. */
    uint8_t dtype; /* a tg_dtype */
    int8_t ndim;
    uint8_t role; /* a tg_role */
    bool requires_grad;
    bool sweep_grad_owned; /* sweep_grad is a sum the sweep made for this tensor alone */
    /* A parameter's gradient whose values are zero though its memory was not cleared:
     * tg_store_zero_grad defers the fill, so that a step's first deposit copies instead of
     * adding to zeros (no pass that writes zeros, one read less). tg_tensor_grad clears it
     * before handing the gradient out. */
    bool zero_pending;
};

/* Bytes of a tensor header of rank ndim, dims included (before the arena rounds it up). */
#define TG_TENSOR_HEADER_BYTES(ndim) (sizeof(tg_tensor) + 2 * (size_t)(ndim) * sizeof(int64_t))
/* A rank-1 header and its dims in two lines is what keeps the op chain under 640 bytes of tape
 * per op (tests/graph/test_tape.c): a field added here must not push it over. */
_Static_assert(TG_TENSOR_HEADER_BYTES(1) <= 128, "a rank-1 tensor header outgrew 128 bytes");

/* ---- nodes ---- */
#define TG_MAX_INPUTS 4 /* inputs kept inside the node; ops with more (concat) use the arena */
#define TG_MAX_IATTR (2 * TG_MAX_DIMS + 4)
#define TG_MAX_FATTR 4

typedef struct tg_op_desc tg_op_desc;

struct tg_node {
    const tg_op_desc *op;
    tg_tensor **inputs; /* n_inputs entries: inline_inputs, or an arena array when more */
    tg_tensor *inline_inputs[TG_MAX_INPUTS];
    tg_tensor *out;
    tg_node *prev; /* the node recorded before this one */
    const char *file;            /* where the op was called */
    /* What the backward rule needs from the forward that is not a tensor (integer indices):
     * a copy in the tape's arena made by tg_node_save, so it is never a fake input of the node
     * and lives exactly as long as the node. NULL and 0 when nothing was saved. */
    const void *saved;
    size_t saved_bytes;
    int64_t id; /* position on the tape */
    int n_inputs;
    int line;
    int32_t scope;               /* the tape's scope in force when recorded (0: top level) */
    bool released;               /* a sweep without TG_RETAIN_GRAPH went through it */
    /* The attributes come last: a node of an op flagged TG_OPF_NO_ATTR is allocated without
     * them (TG_NODE_BYTES_NO_ATTR), which halves the node of the elementwise ops that make up
     * most of a tape. Such an op's rule and describer must never touch iattr or fattr. */
    int64_t iattr[TG_MAX_IATTR]; /* op-specific integer attributes (axes, shapes, strides) */
    double fattr[TG_MAX_FATTR];  /* op-specific real attributes (scalars) */
};
#define TG_NODE_BYTES_NO_ATTR offsetof(tg_node, iattr)

/* The backward rule: given the gradient g of the node's output, sets grads[i] for each input i
 * for which tg_node_needs_grad is true (others stay NULL), computing them with ops on `t` so
 * that the rule itself can be recorded. Returns NULL-free results or leaves an error on t. */
typedef void (*tg_backward_fn)(tg_tape *t, const tg_node *n, tg_tensor *g, tg_tensor **grads);

/* What an op's DOT label adds after its name ("axes=(1)"), or NULL. Writes at most size-1. */
typedef void (*tg_describe_fn)(const tg_node *n, char *buf, size_t size);

enum {
    TG_OPF_SMOOTH = 1u << 0,  /* twice differentiable: second-order gradcheck applies */
    TG_OPF_VIEW = 1u << 1,    /* the result shares the input's memory */
    TG_OPF_CONSTANT_GRAD = 1u << 2, /* derivative zero wherever it exists (step) */
    TG_OPF_NO_ATTR = 1u << 3, /* its nodes carry no iattr/fattr (allocated without them) */
    /* its rule sums its inputs' gradients into the sweep itself (tg_sweep_segment) and returns
     * none: a recomputed segment, whose inputs are every tensor the segment reads */
    TG_OPF_OWN_SWEEP = 1u << 4
};

struct tg_op_desc {
    const char *name;
    int n_inputs;
    tg_backward_fn backward;
    tg_describe_fn describe; /* may be NULL */
    unsigned flags;
};

static inline bool tg_node_needs_grad(const tg_node *n, int i) {
    return n->inputs[i] && n->inputs[i]->requires_grad;
}

/* ---- scopes (scope.c) ---- */
/* Every scope the tape has seen since its last reset, interned once, so that a node keeps a
 * 4-byte index instead of a string. Entry 0 is the top level (""). Scopes form a tree: an
 * entry is (parent, name), its path the parent's path + "/" + name. The arrays are allocated
 * with tg_alloc and kept across resets, so steady-state steps allocate nothing. */
typedef struct tg_scope_entry {
    int32_t parent;   /* the scope in force when it was pushed; -1 for entry 0 */
    uint32_t path;    /* offset of the NUL-terminated full path in text */
    uint32_t name;    /* offset of the pushed name (the path's last part) in text */
    int depth;        /* number of pushes from the top level */
} tg_scope_entry;

typedef struct tg_scope_table {
    tg_scope_entry *entries;
    int32_t n, cap;
    char *text;
    size_t text_len, text_cap;
    int32_t *slots; /* open addressing on (parent, name): entry index, -1 for empty */
    size_t n_slots; /* a power of two, more than twice n; 0 before the first push */
} tg_scope_table;

/* Re-interns the scopes still open after the table is cleared by tg_tape_reset. */
void tg_scope_reset(tg_tape *t);
void tg_scope_release(tg_tape *t);

/* ---- tapes and stores ---- */
#define TG_ERROR_MAX 512

/* A reference a tape keeps on something its nodes point at that user code may free while the
 * tape still needs it (a custom op): release(obj) runs when the tape is reset or freed. The
 * entries live in the tape's arena (tape.c). */
typedef struct tg_tape_ref {
    void (*release)(void *obj);
    void *obj;
    struct tg_tape_ref *next;
} tg_tape_ref;

struct tg_tape {
    tg_arena arena;
    uint64_t gen;    /* the generation word of tensors made since the last reset */
    uint64_t serial; /* process-unique, so that two tapes never share a word */
    uint64_t n_resets;
    tg_tape *live_prev, *live_next; /* the list of live tapes (tape.c), for tensors of another */
    tg_node *last;       /* newest node */
    int64_t n_nodes;
    int64_t n_tensors;
    bool grad_enabled;
    tg_status status;
    char error[TG_ERROR_MAX];
    const char *site_file; /* the call site in force, set by the _at entry points */
    int site_line;
    tg_tensor *loss;       /* what the last backward started from, for DOT */
    bool anomaly;          /* anomaly mode as the user set it (anomaly.c) */
    bool anomaly_forward;  /* tg_record checks op results now: anomaly on and no sweep running */
    bool attr_nonfinite;   /* the op being recorded has an infinite/NaN fill or constant:
                            * set by tg_note_fattr, cleared by tg_op_enter and tg_record */
    int32_t scope;         /* the scope in force, an index into scopes */
    int scope_depth;       /* pushes not yet popped, failed ones included */
    int32_t scope_stack[TG_SCOPE_MAX_DEPTH]; /* the scope in force before each push */
    tg_scope_table scopes;
    int64_t last_sweep_visits; /* nodes the latest sweep ran a backward rule for (tests) */
    uint64_t running_epoch;    /* the number of the sweep running on this tape, 0 when none */
    bool sweep_deposits;       /* that sweep is a tg_tape_backward's: it fills leaves' .grad */
    /* Recomputation (recompute.c): the tape segments run on, made at the first segment; on
     * that tape, `home` is the tape it serves, where gradients of tensors not on it are summed
     * (see tg_sweep_segment). */
    tg_tape *scratch;
    tg_tape *home;
    tg_grad_hook grad_hook;    /* tg_tape_set_grad_hook: called at each parameter's final deposit */
    void *grad_hook_ctx;
    tg_node_hook node_hook;    /* tg_tape_set_node_hook: called after each node a sweep visits */
    void *node_hook_ctx;
    tg_tape_ref *refs; /* kept references (tg_tape_keep), newest first */
};

/* Full path and pushed name of scope k ("" for 0 or any k out of range). Inline, being plain
 * reads of the table, so that error messages can name the scope without error.c and scope.c
 * depending on each other. */
static inline const char *tg_scope_path(const tg_tape *t, int32_t k) {
    if (!t || k <= 0 || k >= t->scopes.n) return "";
    return t->scopes.text + t->scopes.entries[k].path;
}
static inline const char *tg_scope_name(const tg_tape *t, int32_t k) {
    if (!t || k <= 0 || k >= t->scopes.n) return "";
    return t->scopes.text + t->scopes.entries[k].name;
}

struct tg_store {
    tg_arena arena;
    tg_tensor **params; /* parameters and buffers, in creation order */
    int n_tensors;
    int cap_tensors;
    tg_status status;
    char error[TG_ERROR_MAX];
};

/* ---- stores (store.c) ---- */
/* Forgets the tensors made after the first n (no-op when there are no more than n): a layer
 * whose making fails part-way takes back what it made, so the store is as before the call.
 * Their memory stays in the store's arena until tg_store_free; their names are free again. */
void tg_store_forget_from(tg_store *s, int n);

/* ---- references a tape keeps (tape.c) ---- */
/* Whether t already keeps a reference on obj. */
bool tg_tape_keeps(const tg_tape *t, const void *obj);
/* Keeps obj until t is reset or freed, then calls release(obj) once; false with the error on t
 * when out of memory (release is not called then). */
bool tg_tape_keep(tg_tape *t, void *obj, void (*release)(void *obj));

/* ---- errors (error.c) ---- */
/* Keeps the first error on the tape (later ones are dropped) and returns NULL, so an op can
 * `return tg_fail(...)`. The message gets " [at file:line]" from the tape's site. */
tg_tensor *tg_fail(tg_tape *t, tg_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
tg_status tg_fail_status(tg_tape *t, tg_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* The same without " [at file:line]": for calls that are not ops (scopes, writing DOT), where
 * the site in force belongs to the last op called, not to where things went wrong. */
tg_status tg_fail_unsited(tg_tape *t, tg_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Formats a shape as "(2, 3)" into buf. Returns buf. */
const char *tg_shape_str(const tg_tensor *x, char *buf, size_t size);
const char *tg_dims_str(int ndim, const int64_t *shape, char *buf, size_t size);
#define TG_SHAPE_STR_MAX 96

/* Sets the tape's call site if file is not NULL (an _at entry point called from outside). */
static inline void tg_tape_set_site(tg_tape *t, const char *file, int line) {
    if (file) {
        t->site_file = file;
        t->site_line = line;
    }
}

/* ---- tensors (tensor.c) ---- */
/* A new contiguous tensor on the tape with uninitialised data; NULL (error on tape) on failure. */
tg_tensor *tg_tensor_alloc(tg_tape *t, tg_dtype dtype, int ndim, const int64_t *shape);
/* A new tensor header on the tape sharing x's data with the given layout (a view). */
tg_tensor *tg_tensor_view(tg_tape *t, const tg_tensor *x, int ndim, const int64_t *shape,
                          const int64_t *strides, int64_t offset_elements);
#define TG_MAX_NUMEL (INT64_C(1) << 40) /* the most elements a tensor may have */
/* The one checked product of sizes. Every element count, stride or scratch size computed from
 * user-given sizes goes through it (or tg_numel_checked, built on it), never a bare `*`:
 * *out = a * b for a, b >= 0, or false (out unchanged) when either is negative or the product
 * exceeds limit (TG_MAX_NUMEL for element counts, INT64_MAX for strides and offsets). */
static inline bool tg_size_mul(int64_t a, int64_t b, int64_t limit, int64_t *out) {
    int64_t p;
#if defined(__GNUC__)
    /* Every tensor creation runs this: one multiply and an overflow flag, no division. */
    if ((a | b) < 0 || __builtin_mul_overflow(a, b, &p) || p > limit) return false;
#else
    if (a < 0 || b < 0 || (b > 0 && a > limit / b)) return false;
    p = a * b;
#endif
    *out = p;
    return true;
}
/* The element count of a shape through tg_size_mul: false when a size is negative or a
 * running product of the sizes exceeds TG_MAX_NUMEL (a zero size makes everything after it
 * free, as the count is then 0). */
static inline bool tg_numel_checked(int ndim, const int64_t *shape, int64_t *numel) {
    int64_t total = 1;
    for (int i = 0; i < ndim; i++)
        if (!tg_size_mul(total, shape[i], TG_MAX_NUMEL, &total)) return false;
    *numel = total;
    return true;
}
/* Validates dtype and shape (ndim in range, sizes >= 0, at most TG_MAX_NUMEL elements): the
 * first form describes the problem into msg, the second keeps it as the tape's error. */
tg_status tg_shape_problem(const char *op, tg_dtype dtype, int ndim, const int64_t *shape,
                           char *msg, size_t size);
bool tg_check_shape(tg_tape *t, const char *op, tg_dtype dtype, int ndim, const int64_t *shape);
/* A contiguous tensor in an arena (uninitialised data), or NULL when memory runs out. */
tg_tensor *tg_tensor_new_in_arena(tg_arena *a, int64_t id, tg_dtype dtype, int ndim,
                                  const int64_t *shape);
int64_t tg_numel_of(int ndim, const int64_t *shape);
void tg_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
bool tg_same_shape(const tg_tensor *a, const tg_tensor *b);

/* The check every op runs on its inputs (through tg_op_enter) and the sweep on its output: true
 * for a tensor made on t since its last reset, a store tensor, or a tensor made on another live
 * tape since that tape's last reset. The first two cost one comparison each; the third walks
 * the list of live tapes (tape.c) comparing pointers, and reads only that tape's word. A stale
 * header's memory may hold anything: only x->gen and x->tape are read, which a newer tensor
 * overwrites with a different word (or data, equal by chance 1 in 2^64). */
bool tg_tensor_is_current_elsewhere(const tg_tensor *x);
static inline bool tg_tensor_is_current(const tg_tape *t, const tg_tensor *x) {
    return x->gen == t->gen || x->gen == TG_GEN_STORE || tg_tensor_is_current_elsewhere(x);
}

/* ---- recording (tape.c) ---- */
/* Records a node for `out` if recording is on and some input requires a gradient; marks out as
 * an op result either way. Returns out, or NULL (error on the tape) when memory runs out. The
 * caller fills out->node's attributes when out->node is set. */
tg_tensor *tg_record(tg_tape *t, const tg_op_desc *op, tg_tensor *out, int n_inputs,
                     tg_tensor *const *inputs);
/* Tells tg_record that the op about to be recorded has the real attributes vals[0..n-1] (a
 * fill, a constant, a bound). When one is not finite, anomaly mode does not blame the op for
 * infinities in its result (pad with -inf, x + -inf made them on purpose), only for NaN. */
static inline void tg_note_fattr(tg_tape *t, int n, const double *vals) {
    for (int i = 0; i < n; i++)
        if (vals[i] - vals[i] != 0.0) t->attr_nonfinite = true; /* inf - inf and NaN are NaN */
}
/* Copies `bytes` bytes from data into t's arena and hangs them on node n (n->saved,
 * n->saved_bytes), replacing whatever n held. Zero bytes save nothing (saved = NULL). Returns
 * false with TG_ERR_NOMEM kept on the tape, naming n's op, when memory runs out. */
bool tg_node_save(tg_tape *t, tg_node *n, const void *data, size_t bytes);
/* The same without the copy: `bytes` bytes of the tape's arena hung on n, for the caller to
 * fill (a saved blob built in place); NULL with TG_ERR_NOMEM kept on the tape. */
void *tg_node_save_space(tg_tape *t, tg_node *n, size_t bytes);

/* ---- anomaly mode (anomaly.c): NaN/Inf checks, run only while t->anomaly is set ---- */
/* tg_record's check of an op's result `out` computed from `inputs`: false, with the error kept
 * on the tape, when out holds NaN or Inf and every input is finite (or an input leaf holds
 * NaN). With t->attr_nonfinite (tg_note_fattr) only NaN made from finite inputs is blamed. */
bool tg_anomaly_forward(tg_tape *t, const tg_op_desc *op, const tg_tensor *out, int n_inputs,
                        tg_tensor *const *inputs);
/* The sweep's check of what node n's backward rule returned (grads, one per input, NULL where
 * none), given that the output gradient it was handed was finite: false with the error kept. */
bool tg_anomaly_backward(tg_tape *t, const tg_node *n, tg_tensor *const *grads);
/* The sweep's check of a gradient it formed itself (the seed, a sum of contributions, a
 * leaf's deposit): `what` says which, e.g. "the sum of the gradients reaching the output of
 * mul". False with the error kept. */
bool tg_anomaly_gradient(tg_tape *t, const tg_tensor *g, const char *what);

/* ---- recomputation's part of the sweep (backward.c) ---- */
/* The gradient x holds in the sweep numbered epoch, or NULL. */
tg_tensor *tg_sweep_in_flight(const tg_tensor *x, uint64_t epoch);
/* Sweeps the scratch tape s (s->home set) back from outs[i] seeded with grads[i] (NULL: none)
 * as part of the sweep numbered epoch running on s->home: every node of s is visited newest
 * first, and a gradient reaching a tensor that is not s's (a parameter, a tensor of the home
 * tape) is summed into that tensor's in-flight gradient of this epoch, allocated on the home
 * tape, in the order the home sweep would have summed it had the nodes been recorded there.
 * Nothing is recorded. Errors are kept on s. */
tg_status tg_sweep_segment(tg_tape *s, uint64_t epoch, int n, tg_tensor *const *outs,
                           tg_tensor *const *grads);

/* ---- a parameter's gradient written where it ends up (backward.c) ---- */
/* For a rule that is about to compute, without recording, the gradient a node gives the leaf
 * x: a tensor on t of x's shape whose memory is x's own gradient buffer, or NULL. Written
 * there and returned as the rule's result, the contribution needs no copy when it is deposited
 * (the deposit sees it is already in place): for a weight, a pass over as many bytes as the
 * weight (0.94 MB a step for the MLP) saved.
 *
 * Given only when that is the deposit's whole work: the running sweep is a tg_tape_backward
 * that does not record, the gradient is one tg_store_zero_grad cleared (zero_pending) and no
 * other contribution reached x yet in this sweep (a later one is added to it, as to any first
 * contribution). Never with anomaly mode, a gradient or node hook (their code may read
 * gradients during the sweep) or in a recomputed segment. zero_pending stays set until the
 * deposit, so a sweep that fails before it still leaves the gradient reading as zeros; in the
 * meantime nothing may ask tg_tensor_grad for x (which would write those zeros over it). */
tg_tensor *tg_sweep_grad_target(tg_tape *t, const tg_tensor *x);

/* ---- the op registry (src/ops/registry.c) ---- */
int tg_op_count(void);
const tg_op_desc *tg_op_at(int i);

#endif

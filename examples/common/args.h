/* args.h: the command line shared by the examples: the common flags every example takes
 * (--epochs, --batch, --lr, --seed, --threads, --data, --save, --resume, --dot, --limit, --csv,
 * --svg, --dtype, --dist) plus a table of flags of the example's own, and --help generated from both.
 *
 * Invariant: a flag's value is stored only after it parsed completely and within its range, so
 * after a failed parse nothing is half-set; every rejection prints one line naming the flag. */
#ifndef EXAMPLES_COMMON_ARGS_H
#define EXAMPLES_COMMON_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include <tapegrad.h>

/* The examples' optimisers refuse a step whose gradient holds NaN/Inf
 * (tg_optim_set_skip_nonfinite) and the batch is skipped; this many refusals in a row stop the
 * run, since then training has diverged rather than met one bad batch. */
#define EX_MAX_REFUSED 10

/* The flags every example takes. The caller fills in its defaults before parsing; --help shows
 * them as they are then. */
typedef struct ex_common {
    long epochs;       /* total epochs of the run (a resumed run continues up to this) */
    long batch;        /* samples per batch */
    double lr;         /* learning rate */
    uint64_t seed;     /* initial weights, shuffling, sampling */
    long threads;      /* tg_set_threads; 0: one per online CPU */
    const char *data;  /* a data folder (or file, for text) */
    const char *save;  /* checkpoint written after every epoch, or NULL */
    const char *resume; /* checkpoint to continue from, or NULL */
    const char *dot;   /* DOT graph of one training step, or NULL */
    long limit;        /* use only the first N training samples; 0: all */
    const char *csv;   /* per-epoch table, or NULL */
    const char *svg;   /* curves, or NULL */
    tg_dtype dtype;
    bool dist; /* --dist: data-parallel over MPI (common/dist.h) */
} ex_common;

typedef enum ex_opt_kind {
    EX_OPT_LONG,   /* value: long *, within [lo, hi] */
    EX_OPT_U64,    /* value: uint64_t *, any unsigned 64-bit number */
    EX_OPT_DOUBLE, /* value: double *, within [lo, hi] */
    EX_OPT_STRING, /* value: const char ** (points into argv) */
    EX_OPT_CHOICE, /* value: int *, the index of the word in `choices` */
    EX_OPT_FLAG    /* value: bool *, set to true by the flag alone; takes no value */
} ex_opt_kind;

/* One flag of an example's own. */
typedef struct ex_opt {
    const char *name;    /* "--hidden" */
    const char *metavar; /* "H" */
    const char *help;    /* one line */
    ex_opt_kind kind;
    void *value;
    double lo, hi;
    const char *const *choices; /* NULL-terminated, for EX_OPT_CHOICE */
} ex_opt;

/* What --help says about the program: its name, a paragraph of description (lines ending in
 * '\n'), and where the default data comes from. */
typedef struct ex_program {
    const char *name;
    const char *about;
    const char *data_help;
    const ex_opt *extra;
    int n_extra;
} ex_program;

/* Parses argv: "--flag VALUE" and "--flag=VALUE" both work. Returns 0 to go on, 1 after an
 * error (one line on stderr naming the flag, then a hint to try --help), 2 after --help (the
 * text went to stdout). */
int ex_parse_args(int argc, char **argv, const ex_program *prog, ex_common *c);

/* Tries every output the command line names (--save, --dot, --csv, --svg) before any data is
 * loaded or any epoch spent; false after printing one line naming the flag and the path. */
bool ex_check_outputs(const char *name, const ex_common *c);

/* Where the examples look for data by default, whatever folder they are run from: the source
 * tree they were built from (meson passes its absolute path). */
#ifndef EX_SOURCE_ROOT
#define EX_SOURCE_ROOT "."
#endif

/* What tools/get-fashion-mnist and --data do, said after an image set failed to load. Printed
 * on its own line rather than added to a tg_error, whose 256 characters it would overflow. */
#define EX_IMAGES_HINT                                                                         \
    "(tools/get-fashion-mnist puts Fashion-MNIST in data/fashion-mnist of the tapegrad "       \
    "folder, the default; --data DIR reads any MNIST-format folder)"

/* The parser without the common flags, for programs whose whole command line is their own
 * table (the experiments): the same syntax, messages, return values and --help. */
int ex_parse_opts(int argc, char **argv, const ex_program *prog, const ex_opt *opts, int n_opts);

/* The data folder a user most likely means: $TG_DATA_DIR when set and not empty, else
 * data/fashion-mnist in the source tree by its absolute path (where tools/get-fashion-mnist puts
 * it by default). */
const char *ex_default_image_dir(void);

#endif

/* args.c: parses the examples' command lines: one table of the common flags, one of the
 * example's own, looked up the same way, and --help printed from the two tables.
 *
 * Invariant: a value is written to its target only after it parsed in full and fell within
 * range, so a rejected command line leaves the caller's defaults untouched for that flag. */
#include "args.h"

#include "outfile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const dtype_words[] = {"f32", "f64", NULL};

/* The most flags one program has: the common ones plus its own. */
#define MAX_OPTS 48

/* The common flags as table rows over the fields of c; dtype goes through *dtype_index. */
static int common_opts(ex_common *c, int *dtype_index, const char *data_help, ex_opt *out) {
    const ex_opt rows[] = {
        {"--epochs", "N", "total epochs; a resumed run continues up to N", EX_OPT_LONG, &c->epochs,
         1, 100000, NULL},
        {"--batch", "B", "samples per batch", EX_OPT_LONG, &c->batch, 1, 1000000, NULL},
        {"--lr", "X", "learning rate", EX_OPT_DOUBLE, &c->lr, 1e-12, 100, NULL},
        {"--seed", "S", "seed of the initial weights, the shuffling and the sampling", EX_OPT_U64,
         &c->seed, 0, 0, NULL},
        {"--threads", "N", "threads for the kernels; 0 means one per CPU", EX_OPT_LONG, &c->threads,
         0, 256, NULL},
        {"--data", "PATH", data_help, EX_OPT_STRING, &c->data, 0, 0, NULL},
        {"--limit", "N", "use only the first N training images, or bytes of text (0: all)",
         EX_OPT_LONG, &c->limit, 0, 1e15, NULL},
        {"--save", "PATH", "write a checkpoint (safetensors) after every epoch", EX_OPT_STRING,
         &c->save, 0, 0, NULL},
        {"--resume", "PATH", "continue the run saved in PATH, bit for bit", EX_OPT_STRING,
         &c->resume, 0, 0, NULL},
        {"--dot", "PATH", "write one training step's graph, with gradient norms, as DOT",
         EX_OPT_STRING, &c->dot, 0, 0, NULL},
        {"--csv", "PATH", "write the per-epoch results as CSV", EX_OPT_STRING, &c->csv, 0, 0,
         NULL},
        {"--svg", "PATH", "draw the curves as an SVG chart", EX_OPT_STRING, &c->svg, 0, 0, NULL},
        {"--dtype", "T", "element type: f32 or f64", EX_OPT_CHOICE, dtype_index, 0, 0,
         dtype_words},
        {"--dist", NULL,
         "data-parallel training under mpirun: each rank trains on its share of every batch",
         EX_OPT_FLAG, &c->dist, 0, 0, NULL},
    };
    int n = (int)(sizeof rows / sizeof rows[0]);
    memcpy(out, rows, sizeof rows);
    return n;
}

/* The current value of a flag's target, for --help's "(default ...)". */
static void describe_value(const ex_opt *o, char *buf, size_t size) {
    switch (o->kind) {
    case EX_OPT_LONG:
        snprintf(buf, size, "%ld", *(const long *)o->value);
        break;
    case EX_OPT_U64:
        snprintf(buf, size, "%" PRIu64, *(const uint64_t *)o->value);
        break;
    case EX_OPT_DOUBLE:
        snprintf(buf, size, "%g", *(const double *)o->value);
        break;
    case EX_OPT_STRING: {
        const char *s = *(const char *const *)o->value;
        if (s)
            snprintf(buf, size, "'%s'", s);
        else
            snprintf(buf, size, "none");
        break;
    }
    case EX_OPT_CHOICE:
        snprintf(buf, size, "%s", o->choices[*(const int *)o->value]);
        break;
    case EX_OPT_FLAG:
        snprintf(buf, size, "%s", *(const bool *)o->value ? "on" : "off");
        break;
    }
}

static void print_help(const ex_program *prog, const ex_opt *opts, int n) {
    printf("usage: %s [options]\n%s\noptions:\n", prog->name, prog->about);
    for (int i = 0; i < n; i++) {
        char head[64], value[128];
        if (opts[i].kind == EX_OPT_FLAG)
            snprintf(head, sizeof head, "%s", opts[i].name);
        else
            snprintf(head, sizeof head, "%s %s", opts[i].name, opts[i].metavar);
        describe_value(&opts[i], value, sizeof value);
        printf("  %-18s %s (default %s)\n", head, opts[i].help, value);
        if (opts[i].kind == EX_OPT_CHOICE) {
            printf("  %-18s one of:", "");
            for (int k = 0; opts[i].choices[k]; k++) printf(" %s", opts[i].choices[k]);
            printf("\n");
        }
    }
    printf("  %-18s show this text\n", "--help");
}

/* Parses `text` into the flag's target; false (target untouched) when it does not fit. */
static bool set_value(const ex_opt *o, const char *text) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case EX_OPT_LONG: {
        long v = strtol(text, &end, 10);
        if (errno || end == text || *end || v < o->lo || v > o->hi) return false;
        *(long *)o->value = v;
        return true;
    }
    case EX_OPT_U64: {
        /* strtoull accepts "-1" as a huge number; a seed written with a sign is a mistake. */
        if (text[0] < '0' || text[0] > '9') return false;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno || end == text || *end) return false;
        *(uint64_t *)o->value = (uint64_t)v;
        return true;
    }
    case EX_OPT_DOUBLE: {
        double v = strtod(text, &end);
        if (errno || end == text || *end || !(v >= o->lo && v <= o->hi)) return false;
        *(double *)o->value = v;
        return true;
    }
    case EX_OPT_STRING:
        if (!*text) return false;
        *(const char **)o->value = text;
        return true;
    case EX_OPT_CHOICE:
        for (int k = 0; o->choices[k]; k++) {
            if (strcmp(text, o->choices[k]) == 0) {
                *(int *)o->value = k;
                return true;
            }
        }
        return false;
    case EX_OPT_FLAG:
        return false; /* a flag is set by its name alone; "--quick=x" is a mistake */
    }
    return false;
}

static void describe_range(const ex_opt *o, char *buf, size_t size) {
    switch (o->kind) {
    case EX_OPT_LONG:
        snprintf(buf, size, "a whole number from %.0f to %.0f", o->lo, o->hi);
        break;
    case EX_OPT_U64:
        snprintf(buf, size, "a whole number from 0 to %" PRIu64, UINT64_MAX);
        break;
    case EX_OPT_DOUBLE:
        snprintf(buf, size, "a number from %g to %g", o->lo, o->hi);
        break;
    case EX_OPT_STRING:
        snprintf(buf, size, "a non-empty string");
        break;
    case EX_OPT_FLAG:
        snprintf(buf, size, "no value");
        break;
    case EX_OPT_CHOICE: {
        size_t used = (size_t)snprintf(buf, size, "one of");
        for (int k = 0; o->choices[k] && used < size; k++)
            used += (size_t)snprintf(buf + used, size - used, " %s", o->choices[k]);
        break;
    }
    }
}

/* The loop both entry points share: opts[0..n) are all the flags there are. */
static int parse_table(int argc, char **argv, const ex_program *prog, const ex_opt *opts, int n) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(prog, opts, n);
            return 2;
        }
        const ex_opt *o = NULL;
        const char *value = NULL;
        for (int k = 0; k < n && !o; k++) {
            size_t len = strlen(opts[k].name);
            if (strncmp(arg, opts[k].name, len) != 0) continue;
            if (arg[len] == '=') {
                o = &opts[k];
                value = arg + len + 1;
            } else if (arg[len] == '\0') {
                o = &opts[k];
                if (o->kind == EX_OPT_FLAG) {
                    *(bool *)o->value = true;
                    value = "";
                } else {
                    value = i + 1 < argc ? argv[++i] : NULL;
                }
            }
        }
        if (!o) {
            fprintf(stderr, "%s: unknown option '%s' (try --help)\n", prog->name, arg);
            return 1;
        }
        if (!value) {
            fprintf(stderr, "%s: %s needs a value (try --help)\n", prog->name, o->name);
            return 1;
        }
        if (o->kind == EX_OPT_FLAG && arg[strlen(o->name)] == '\0') continue;
        if (!set_value(o, value)) {
            char range[160];
            describe_range(o, range, sizeof range);
            fprintf(stderr, "%s: bad value '%s' for %s: expected %s\n", prog->name, value,
                    o->name, range);
            return 1;
        }
    }
    return 0;
}

bool ex_check_outputs(const char *name, const ex_common *c) {
    const char *const outputs[][2] = {
        {"--save", c->save}, {"--dot", c->dot}, {"--csv", c->csv}, {"--svg", c->svg}};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
        tg_error err = {0};
        if (outputs[i][1] && ex_outfile_check(outputs[i][1], outputs[i][0], &err) != TG_OK) {
            fprintf(stderr, "%s: %s\n", name, err.message);
            return false;
        }
    }
    return true;
}

int ex_parse_args(int argc, char **argv, const ex_program *prog, ex_common *c) {
    ex_opt opts[MAX_OPTS];
    int dtype_index = c->dtype == TG_F64 ? 1 : 0;
    int n = common_opts(c, &dtype_index, prog->data_help, opts);
    for (int i = 0; i < prog->n_extra && n < MAX_OPTS; i++) opts[n++] = prog->extra[i];
    int rc = parse_table(argc, argv, prog, opts, n);
    if (rc == 0) c->dtype = dtype_index == 1 ? TG_F64 : TG_F32;
    return rc;
}

int ex_parse_opts(int argc, char **argv, const ex_program *prog, const ex_opt *opts, int n_opts) {
    return parse_table(argc, argv, prog, opts, n_opts);
}

const char *ex_default_image_dir(void) {
    const char *env = getenv("TG_DATA_DIR");
    return env && *env ? env : EX_SOURCE_ROOT "/data/fashion-mnist";
}

/* dot_check.h: what the DOT test suites share: reading text back, writing DOT for a tape,
 * counting, the structure every output must have, and rendering with Graphviz. */
#ifndef TG_DOT_CHECK_H
#define TG_DOT_CHECK_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "test_util.h"

/* The whole of f from its start, NUL-terminated (malloc'd). */
static inline char *read_stream(FILE *f) {
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    ck_assert_int_ge(len, 0);
    rewind(f);
    char *buf = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    return buf;
}

/* The file at path, or NULL if it cannot be opened. */
static inline char *read_path(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = read_stream(f);
    fclose(f);
    return text;
}

static inline void write_path(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    ck_assert_int_eq(fclose(f), 0);
}

/* What tg_tape_write_dot writes for t (malloc'd); the call must succeed. */
static inline char *dot_text(tg_tape *t, const tg_dot_options *o) {
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    tg_status s = tg_tape_write_dot(t, f, o);
    ck_assert_msg(s == TG_OK, "write_dot: %s", tg_tape_error(t));
    char *text = read_stream(f);
    fclose(f);
    return text;
}

static inline int count_of(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

#define ck_assert_contains(text, needle)                                                           \
    ck_assert_msg(strstr((text), (needle)) != NULL, "expected\n  %s\nin:\n%s", (needle), (text))

/* Structure every output must have, checked line by line: each statement on one line with
 * its quotes balanced (so no label spans lines), every edge between nodes declared earlier
 * and into an op node (or the cap's note), each node declared once, and clusters balanced.
 * Edges run with the data (from an earlier op to a later one) unless marked as a collapsed
 * recurrence; without clusters, collapsing or the cap, every op node is declared, in tape
 * order. */
static inline void check_structure(const char *text) {
    ck_assert_msg(strncmp(text, "digraph tapegrad {\n", 19) == 0, "bad header:\n%s", text);
    size_t len = strlen(text);
    ck_assert_msg(len >= 2 && strcmp(text + len - 2, "}\n") == 0, "bad end:\n%s", text);
    ck_assert_msg(strstr(text, "0x") == NULL, "an address leaked into:\n%s", text);
    bool flat = strstr(text, "subgraph") == NULL && strstr(text, "\\nx") == NULL &&
                strstr(text, "omitted") == NULL;
    enum { MAX_DECL = 4096 };
    static char declared[MAX_DECL][16];
    int n_declared = 0, open_clusters = 0;
    long last_op = -1;
    for (const char *line = text; *line; line += strcspn(line, "\n") + 1) {
        int n = (int)strcspn(line, "\n"), quotes = 0;
        for (int i = 0; i < n; i++) {
            if (line[i] == '\\')
                i++;
            else if (line[i] == '"')
                quotes++;
        }
        ck_assert_msg(quotes % 2 == 0, "unbalanced quotes in line: %.*s", n, line);
        char a[16], b[16];
        int end;
        if (strncmp(line + strspn(line, " "), "subgraph cluster_", 17) == 0) {
            open_clusters++;
        } else if (open_clusters > 0 && strncmp(line + strspn(line, " "), "}\n", 2) == 0) {
            open_clusters--;
        } else if (sscanf(line, "  %15[a-z0-9] -> %15[a-z0-9]", a, b) == 2) {
            bool seen_a = false, seen_b = false;
            for (int k = 0; k < n_declared; k++) {
                seen_a |= strcmp(declared[k], a) == 0;
                seen_b |= strcmp(declared[k], b) == 0;
            }
            ck_assert_msg(seen_a && seen_b, "edge before its nodes: %.*s", n, line);
            ck_assert_msg(b[0] == 'n' || strcmp(b, "omitted") == 0, "an edge into a leaf: %.*s",
                          n, line);
            bool recurrence = strstr(line, "constraint=false") != NULL &&
                              (size_t)(strstr(line, "constraint=false") - line) < (size_t)n;
            if (a[0] == 'n' && b[0] == 'n' && !recurrence)
                ck_assert_msg(atol(a + 1) < atol(b + 1), "edge against data flow: %.*s", n, line);
        } else if (end = 0, sscanf(line, "  %15[a-z0-9] [label=%n", a, &end) == 1 && end > 0) {
            ck_assert_int_lt(n_declared, MAX_DECL);
            for (int k = 0; k < n_declared; k++)
                ck_assert_msg(strcmp(declared[k], a) != 0, "%s declared twice", a);
            if (a[0] == 'n' && flat) {
                ck_assert_msg(atol(a + 1) == last_op + 1, "op nodes out of tape order: %s", a);
                last_op = atol(a + 1);
            }
            strcpy(declared[n_declared++], a);
        }
    }
    ck_assert_int_eq(open_clusters, 0);
}

/* Renders text with `dot -Tsvg` and asserts exit status 0, an empty stderr and an SVG. */
static inline void assert_renders(const char *dir, const char *name, const char *text) {
    char dot[600], svg[600], err[600], cmd[2000];
    snprintf(dot, sizeof dot, "%s/%s.dot", dir, name);
    snprintf(svg, sizeof svg, "%s/%s.svg", dir, name);
    snprintf(err, sizeof err, "%s/%s.err", dir, name);
    write_path(dot, text);
    snprintf(cmd, sizeof cmd, "dot -Tsvg '%s' -o '%s' 2>'%s'", dot, svg, err);
    int rc = system(cmd);
    char *errors = read_path(err), *image = read_path(svg);
    ck_assert_ptr_nonnull(errors);
    ck_assert_msg(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "dot exited with %d on %s: %s",
                  rc, name, errors);
    ck_assert_msg(errors[0] == '\0', "dot wrote to stderr on %s: %s", name, errors);
    ck_assert_msg(image && strstr(image, "<svg"), "dot wrote no SVG for %s", name);
    free(errors);
    free(image);
}

#endif

#!/usr/bin/env python3
"""header_example.py: turns the example that opens a public header into a C program.

Every header in include/tapegrad/ opens with a comment whose first indented code block (lines
" *     code", a bare " *" inside it being a blank line) shows how the header is used. Most such
examples are fragments that use a few variables the surrounding text describes (a tape t, an
input x, a store). CONTEXT below names those variables, as parameters of the function the
fragment becomes, so that the fragment compiles and links against the library exactly as
written; an example with no free variables is also run (its exit status must be 0).

    header_example.py gen HEADER OUT.c      write the program for one header
    header_example.py list DIR NAME...      fail unless NAME... are exactly DIR's headers
                                            (meson's list must not miss a new header)

A line that is only "..." stands for code left out. After file-scope definitions (a block
that starts with "static") it ends them and the rest is the function's body; elsewhere it
becomes a comment.
"""
import os
import re
import sys

INDENT = " *     "

# header -> the parameters the fragment's free variables become; None: the example is a whole
# program (it has a main). An empty string: no free variables, so the example also runs.
CONTEXT = {
    "attention.h": "tg_store *s, tg_tape *t, tg_tensor *x, tg_rng rng, tg_error err",
    "base.h": "",
    "binary.h": "int64_t n_steps, tg_tape *tape, tg_tensor *x, "
                "const int64_t *labels, tg_store *store, tg_optim *opt, tg_error err",
    "binpack.h": "tg_linear fc, tg_tape *t, tg_tensor *x",
    "checkpoint.h": "tg_store *store, int64_t step",
    "conv.h": "tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b",
    "custom_op.h": "tg_tape *t, tg_tensor *x",
    "data.h": "",
    "derivatives.h": "tg_tape *t, const double *xs",
    "dist.h": "int argc, char **argv, tg_store *store, tg_tape *tape",
    "dot.h": "tg_tape *t, tg_tensor *loss",
    "gradcheck.h": "tg_tensor *x",
    "init.h": "tg_store *s",
    "nn.h": "tg_tape *t, tg_tensor *x",
    "norm.h": "tg_tape *t, tg_tensor *x, tg_tensor *gamma, tg_tensor *beta, tg_tensor *rm, "
              "tg_tensor *rv",
    "ops.h": "tg_tape *t, tg_tensor *x, tg_tensor *w, tg_tensor *b",
    "optim.h": "tg_store *store, tg_tape *tape, int n_epochs, int n_batches, "
               "tg_tensor *(*forward)(tg_tape *, int)",
    "prune.h": "tg_store *store, tg_tape *tape, tg_linear fc1, tg_linear fc2, tg_optim *opt, "
               "tg_error err, int64_t n_steps, tg_tensor *(*loss_of_batch)(tg_tape *, int64_t)",
    "recompute.h": "tg_tape *t, tg_linear fc, tg_tensor *x",
    "registry.h": "tg_tape *t, tg_tensor *x",
    "rng.h": "",
    "runtime.h": None,
    "sparse.h": "tg_tape *t, tg_tensor *w, tg_tensor *x",
    "stats.h": "tg_store *s",
    "tape.h": "",
    "tensor.h": "",
}


# Examples without free variables that are still not run, and why.
NOT_RUN = {"data.h": "it reads data/fashion-mnist, which a test machine may lack"}


def opening_example(text):
    """The first indented block of the opening comment that holds a statement. Indented prose
    is told apart by where it starts: a block whose first line is indented further (the
    continuation of a table row), or that follows a list item's first line (" *   - ..."), is
    not code."""
    lines = text.splitlines()
    end = next((i for i, line in enumerate(lines) if "*/" in line), None)
    if end is None:
        raise ValueError("no opening comment")
    blocks, cur, before = [], [], ""
    for line in lines[:end + 1]:
        if line.startswith(INDENT):
            if not cur:
                cur_before = before
            cur.append(line[len(INDENT):])
        elif line.rstrip() == " *" and cur:
            cur.append("")
        else:
            if cur:
                blocks.append((cur_before, cur))
                cur = []
            before = line
    if cur:
        blocks.append((cur_before, cur))
    for before, block in blocks:
        while block and block[-1] == "":
            block.pop()
        prose = block[0][:1].isspace() or re.match(r"^ \*\s+- ", before)
        if not prose and any(";" in line for line in block):
            return block
    raise ValueError("the opening comment has no example (an indented block with a ';')")


def program(name, block):
    params = CONTEXT[name]
    if params is None:
        if not any("main(" in line for line in block):
            raise ValueError("listed as a whole program, but the example has no main()")
        return "\n".join(block) + "\n"
    file_scope, body = [], block
    cut = [i for i, line in enumerate(block) if line.strip() == "..."]
    if cut and block[0].startswith("static"):
        file_scope, body = block[:cut[0]], block[cut[0] + 1:]
    body = ["/* ... */" if line.strip() == "..." else line for line in body]
    runs = params == "" and name not in NOT_RUN
    out = ["#include <stdio.h>", "#include <tapegrad.h>", "#include <tapegrad/%s>" % name, ""]
    out += file_scope + [""]
    out.append("static int example(%s) {" % (params or "void"))
    out += ["    " + line if line else "" for line in body]
    out += ["    return 0;", "}", "", "int main(void) {"]
    if runs:
        out.append("    return example();")
    else:
        # Compiled and linked, not run: its inputs are the surrounding text's.
        out.append("    int (*volatile f)(%s) = example;" % (params or "void"))
        out.append("    return f == NULL;")
    out.append("}")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) == 4 and argv[1] == "gen":
        header, out = argv[2], argv[3]
        name = os.path.basename(header)
        if name not in CONTEXT:
            sys.stderr.write("header_example.py: %s is not in CONTEXT: add its example's "
                             "free variables there\n" % name)
            return 1
        try:
            with open(header, encoding="utf-8") as f:
                code = program(name, opening_example(f.read()))
        except (OSError, ValueError) as e:
            sys.stderr.write("header_example.py: %s: %s\n" % (header, e))
            return 1
        with open(out, "w", encoding="utf-8") as f:
            f.write("/* The opening example of include/tapegrad/%s, made a program by "
                    "tests/docs/header_example.py; edit the header. */\n" % name)
            f.write(code)
        return 0
    if len(argv) >= 3 and argv[1] == "list":
        have = sorted(n for n in os.listdir(argv[2]) if n.endswith(".h"))
        listed = sorted(argv[3:])
        if have != listed:
            sys.stderr.write("header_example.py: tests/docs/meson.build lists %s but %s holds %s\n"
                             % (listed, argv[2], have))
            return 1
        missing = [n for n in have if n not in CONTEXT]
        if missing:
            sys.stderr.write("header_example.py: no CONTEXT for %s\n" % missing)
            return 1
        print("%d headers, each with its example compiled" % len(have))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

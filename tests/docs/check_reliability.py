#!/usr/bin/env python3
"""check_reliability.py: every row of docs/reliability.md's "Bad input" section names a test
that exists and runs.

    check_reliability.py ROOT

Each table row in the section (from "## Bad input" to the next "## " heading) must end in a
cell of the form `tests/DIR/FILE.c`: `fn`, `fn2`; `tests/...`: `fn3` (one or more files, each
with one or more functions). Each file must exist, define each function with START_TEST(fn)
and register it with tcase_add_test or tcase_add_loop_test; otherwise the row's claim is not
backed, and this script lists every such row and exits 1.
"""
import os
import re
import sys


def section(text, heading):
    lines = text.splitlines()
    out, inside = [], False
    for line in lines:
        if line.startswith("## "):
            inside = line.strip() == heading
            continue
        if inside:
            out.append(line)
    return out


def main():
    root = sys.argv[1]
    with open(os.path.join(root, "docs", "reliability.md"), encoding="utf-8") as f:
        rows = [l for l in section(f.read(), "## Bad input") if l.startswith("|")]
    rows = [r for r in rows if not re.match(r"^\|\s*(Input tried|---)", r)]
    problems, checked = [], 0
    sources = {}
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        cite = cells[-1]
        groups = re.findall(r"`(tests/[\w/]+\.c)`:\s*((?:`\w+`(?:,\s*)?)+)", cite)
        if not groups:
            problems.append("no test cited: " + row)
            continue
        for path, fns in groups:
            full = os.path.join(root, path)
            if path not in sources:
                try:
                    with open(full, encoding="utf-8") as f:
                        sources[path] = f.read()
                except OSError:
                    sources[path] = None
            src = sources[path]
            if src is None:
                problems.append("%s does not exist (row: %s)" % (path, cells[0]))
                continue
            for fn in re.findall(r"`(\w+)`", fns):
                checked += 1
                if not re.search(r"START_TEST\(\s*%s\s*\)" % re.escape(fn), src):
                    problems.append("%s has no test %s (row: %s)" % (path, fn, cells[0]))
                elif not re.search(r"tcase_add_(?:loop_)?test\(\s*\w+\s*,\s*%s\s*[,)]" % re.escape(fn), src):
                    problems.append("%s never runs %s (row: %s)" % (path, fn, cells[0]))
    if not rows:
        problems.append("no rows found under '## Bad input'")
    for p in problems:
        print("docs/reliability.md:", p)
    print("%d rows, %d cited tests, %d problems" % (len(rows), checked, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

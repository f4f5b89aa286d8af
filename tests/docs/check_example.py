#!/usr/bin/env python3
"""check_example.py: runs a doc example and checks what it prints, or checks two copies agree.

The least-squares example fits w to X w = y with X = [[1,2],[3,4],[5,6]], y = [5,11,17], whose
exact solution is w = (1, 2); the run passes only if both printed numbers are within 1e-3.

The custom-op example defines swish as a user op and proves it with the gradient checkers; it
passes only if it exits 0 and prints that both orders passed.

    check_example.py run EXE          the example exits 0 and prints "w = ~1 ~2"
    check_example.py run-custom EXE   the example exits 0 and prints "swish: first order ok, ..."
    check_example.py same A.c B.c     the two extracted examples are the same program
"""
import re
import subprocess
import sys

EXPECTED = (1.0, 2.0)
TOLERANCE = 1e-3


def check_run(exe):
    proc = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        return "exited with status %d" % proc.returncode
    m = re.search(r"^w = (\S+) (\S+)\s*$", proc.stdout, re.MULTILINE)
    if not m:
        return "printed no line of the form 'w = A B'"
    try:
        got = (float(m.group(1)), float(m.group(2)))
    except ValueError:
        return "printed non-numbers: %r" % m.group(0)
    for g, e in zip(got, EXPECTED):
        # `not <=` so that a NaN fails too.
        if not abs(g - e) <= TOLERANCE:
            return "w = %r, expected %r within %g" % (got, EXPECTED, TOLERANCE)
    return None


CUSTOM_LINE = "swish: first order ok, second order ok"


def check_run_custom(exe):
    proc = subprocess.run([exe], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        return "exited with status %d" % proc.returncode
    if CUSTOM_LINE not in proc.stdout.splitlines():
        return "did not print the line %r" % CUSTOM_LINE
    return None


def body(path):
    """The program without the one-line provenance comment the extractor puts on top."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if lines and lines[0].startswith("/* Extracted from"):
        lines = lines[1:]
    return [line.rstrip() for line in lines]


def main(argv):
    if len(argv) == 3 and argv[1] == "run":
        problem = check_run(argv[2])
    elif len(argv) == 3 and argv[1] == "run-custom":
        problem = check_run_custom(argv[2])
    elif len(argv) == 4 and argv[1] == "same":
        a, b = body(argv[2]), body(argv[3])
        problem = None
        if a != b:
            diff = next(i for i in range(max(len(a), len(b)))
                        if i >= len(a) or i >= len(b) or a[i] != b[i])
            problem = "the examples differ from line %d: %r vs %r" % (
                diff + 1, a[diff] if diff < len(a) else "<end>",
                b[diff] if diff < len(b) else "<end>")
    else:
        sys.stderr.write("usage: check_example.py run EXE | run-custom EXE | same A.c B.c\n")
        return 2
    if problem:
        sys.stderr.write("check_example.py: %s\n" % problem)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

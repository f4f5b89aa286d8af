#!/usr/bin/env python3
"""experiment_test.py: the quick test of one lesson, run by meson with the Python that runs meson.

    experiment_test.py EXE OUT [ARGS...]

Runs EXE --quick --data synthetic --threads 1 --out OUT [ARGS...] (the synthetic set is made by
the program itself, so nothing is downloaded) and fails unless:
  - it exits 0, which each lesson does only when its finding held (its "check:" lines say which);
  - it printed at least one "check: ...: ok" line and no FAILED one;
  - it wrote at least one CSV and one SVG into OUT, and every one is well formed: a CSV has a
    header and rows of the header's width with numbers or empty cells; an SVG parses as XML and
    has a title, axis labels, a legend per panel, a line or marker per series, and on a
    logarithmic axis tick labels that are powers of ten.
OUT is made afresh and kept for a look after a failure.
"""
import csv
import math
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

SVG_NS = "{http://www.w3.org/2000/svg}"


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def check_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    check(len(rows) >= 2, "%s: no data rows" % path)
    width = len(rows[0])
    for i, row in enumerate(rows[1:], 2):
        check(len(row) == width, "%s line %d: %d cells, header has %d" % (path, i, len(row), width))
        for cell in row:
            if cell:
                float(cell)  # raises on anything that is not a number


def is_power_of_ten(label):
    try:
        v = float(label)
    except ValueError:
        return False
    return v > 0 and abs(math.log10(v) - round(math.log10(v))) < 1e-9


def check_svg(path):
    root = ET.parse(path).getroot()
    check(root.tag == SVG_NS + "svg", "%s: not an SVG document" % path)
    check(root.find(SVG_NS + "title") is not None, "%s: no title" % path)
    legends = [g for g in root.iter(SVG_NS + "g") if g.get("class") == "legend"]
    check(legends, "%s: no legend" % path)
    n_series = sum(len(g.findall(SVG_NS + "line")) for g in legends)
    lines = list(root.iter(SVG_NS + "polyline")) + list(root.iter(SVG_NS + "circle"))
    check(len(lines) >= n_series, "%s: %d lines or markers for %d series" % (path, len(lines), n_series))
    texts = ["".join(t.itertext()) for t in root.iter(SVG_NS + "text")]
    rotated = [t for t in root.iter(SVG_NS + "text") if "rotate" in (t.get("transform") or "")]
    check(rotated and all("".join(t.itertext()).strip() for t in rotated),
          "%s: a y axis without a label" % path)
    # A tick label written in scientific notation only comes from a log axis, whose ticks must
    # all be powers of ten.
    for label in texts:
        if re.fullmatch(r"1e-?\d+", label):
            check(is_power_of_ten(label), "%s: log tick %r" % (path, label))


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    exe, out, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    cmd = [exe, "--quick", "--data", "synthetic", "--threads", "1", "--out", out] + extra
    run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=600)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    try:
        check(run.returncode == 0, "%s exited %d: the lesson's finding did not hold"
              % (os.path.basename(exe), run.returncode))
        checks = [l for l in run.stdout.splitlines() if l.startswith("check: ")]
        check(checks, "no check: lines printed")
        check(all(l.endswith(": ok") for l in checks), "a check failed")
        files = sorted(os.listdir(out))
        csvs = [f for f in files if f.endswith(".csv")]
        svgs = [f for f in files if f.endswith(".svg")]
        check(csvs and svgs, "expected CSV and SVG files in %s, found %r" % (out, files))
        for f in csvs:
            check_csv(os.path.join(out, f))
        for f in svgs:
            check_svg(os.path.join(out, f))
    except Failure as e:
        print("FAILED: %s" % e)
        return 1
    print("ok: %d checks held; %s well formed" % (len(checks), ", ".join(csvs + svgs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

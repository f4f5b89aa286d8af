#!/usr/bin/env python3
"""example_test.py: the examples' tests, run by meson with the Python that runs meson.

Each mode runs an example program on data this script generates (a small synthetic MNIST-format
set, or a small synthetic text), so the tests are deterministic and need no downloaded data:

    train   EXE OUT --kind images|text --epochs N --max-loss X [--min-accuracy A] [ARGS...]
            a short training run must reach the stated loss; its CSV, SVG and DOT must be
            well formed (the SVG parsed as XML, with axes, ticks, legend and one line per series)
    resume  EXE OUT --kind images|text [ARGS...]
            2 epochs straight and 1 epoch + checkpoint + resume for 1 more give the same
            tensors bit for bit; a checkpoint of another configuration is refused
    flags   EXE OUT --kind images|text
            --help works; bad flags, bad values, missing data and unwritable outputs exit
            non-zero with a message;
            an image classifier's exit status says whether --min-accuracy was reached
    progress EXE OUT --kind images|text [ARGS...]
            on a terminal (a pty) the progress line is redrawn in place with batch count,
            loss, throughput and ETA; on a pipe there is one plain line per epoch

OUT is a folder (made afresh) for the data and the outputs, kept for a look after a failure.
"""
import argparse
import csv
import json
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

SVG_NS = "{http://www.w3.org/2000/svg}"
# The source tree the examples were built from: their default data lives there.
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT = 120


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


# ---- data ----

def write_idx(path, dims, data):
    """An IDX file of unsigned bytes: magic 0x00000803-style header, big-endian sizes."""
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, len(dims)))
        for d in dims:
            f.write(struct.pack(">I", d))
        f.write(bytes(data))


def make_image(rng, label, side=28):
    """A 28x28 picture of class `label`: two bars whose places depend on the class, moved by
    up to one pixel, over faint noise. Classes differ in where the ink is, as digits do."""
    img = [rng.randrange(0, 40) for _ in range(side * side)]
    dy, dx = rng.randrange(-1, 2), rng.randrange(-1, 2)
    row = 3 + 2 * label + dy
    col = 3 + (7 * label) % 22 + dx
    for x in range(4, side - 4):
        img[row * side + x] = 200 + rng.randrange(0, 56)
    for y in range(4, side - 4):
        img[y * side + col] = 200 + rng.randrange(0, 56)
    return img


def make_images(folder, n_train=512, n_test=200, seed=5):
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(seed)
    for split, n in (("train", n_train), ("t10k", n_test)):
        labels = [i % 10 for i in range(n)]
        rng.shuffle(labels)
        pixels = []
        for lab in labels:
            pixels.extend(make_image(rng, lab))
        write_idx(os.path.join(folder, split + "-images-idx3-ubyte"), (n, 28, 28), pixels)
        write_idx(os.path.join(folder, split + "-labels-idx1-ubyte"), (n,), labels)
    return folder


def make_text(folder, n_bytes=24000, seed=5):
    """Sentences from a tiny grammar: enough structure for a model to learn quickly."""
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(seed)
    subjects = ["the cat", "a dog", "my friend", "the old man", "every bird"]
    verbs = ["sees", "likes", "finds", "follows"]
    objects = ["the red ball", "a green tree", "the small house", "some fish"]
    parts = []
    size = 0
    while size < n_bytes:
        s = "%s %s %s.\n" % (rng.choice(subjects), rng.choice(verbs), rng.choice(objects))
        parts.append(s)
        size += len(s)
    path = os.path.join(folder, "corpus.txt")
    with open(path, "w") as f:
        f.write("".join(parts)[:n_bytes])
    return path


def make_data(kind, out):
    if kind == "images":
        return make_images(os.path.join(out, "data"))
    return make_text(os.path.join(out, "data"))


# ---- running ----

def run(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=TIMEOUT, **kw)
    return proc


def run_ok(cmd):
    proc = run(cmd)
    sys.stdout.write("$ %s\n%s" % (" ".join(map(str, cmd)), proc.stdout))
    sys.stdout.write(proc.stderr)
    check(proc.returncode == 0, "%s exited with status %d" % (cmd[0], proc.returncode))
    return proc


def fresh(out):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    return out


# ---- checking outputs ----

def read_csv(path, kind, epochs):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    want = (["epoch", "train_loss", "test_loss", "train_accuracy", "test_accuracy", "seconds"]
            if kind == "images" else ["epoch", "train_bpc", "heldout_bpc", "seconds"])
    check(rows and rows[0] == want, "CSV header %r, expected %r" % (rows[:1], want))
    body = rows[1:]
    check(len(body) == epochs, "CSV has %d rows for %d epochs" % (len(body), epochs))
    table = []
    for i, r in enumerate(body):
        check(len(r) == len(want), "CSV row %d has %d cells" % (i + 1, len(r)))
        vals = [float(c) for c in r]
        check(vals[0] == i + 1, "CSV row %d is epoch %g" % (i + 1, vals[0]))
        check(all(math.isfinite(v) for v in vals), "CSV row %d: %r" % (i + 1, r))
        check(vals[-1] >= 0, "CSV row %d: negative seconds" % (i + 1))
        table.append(dict(zip(want, vals)))
    return table


def check_svg(path, legends):
    """Parses the SVG and checks it is a chart: axes box, ticks with numbers, axis labels, a
    legend naming every series, and a line or marker for every series."""
    root = ET.parse(path).getroot()
    check(root.tag == SVG_NS + "svg", "SVG root is <%s>" % root.tag)
    for attr in ("width", "height", "viewBox"):
        check(attr in root.attrib, "SVG root lacks %s" % attr)
    texts = ["".join(t.itertext()) for t in root.iter(SVG_NS + "text")]
    numbers = [t for t in texts if re.fullmatch(r"-?\d+(\.\d+)?", t)]
    check(len(numbers) >= 4, "SVG has %d tick labels" % len(numbers))
    check("epoch" in texts, "SVG has no 'epoch' axis label")
    legend = [g for g in root.iter(SVG_NS + "g") if g.get("class") == "legend"]
    check(legend, "SVG has no legend")
    legend_texts = ["".join(t.itertext()) for g in legend for t in g.iter(SVG_NS + "text")]
    for name in legends:
        check(name in legend_texts, "SVG legend lacks %r (has %r)" % (name, legend_texts))
    lines = list(root.iter(SVG_NS + "polyline"))
    check(len(lines) >= len(legends), "SVG has %d lines for %d series" % (len(lines), len(legends)))
    for pl in lines:
        pts = pl.get("points").split()
        for p in pts:
            x, y = (float(v) for v in p.split(","))
            check(math.isfinite(x) and math.isfinite(y), "SVG point %r" % p)


def check_dot(path):
    with open(path) as f:
        text = f.read()
    check(text.startswith("digraph"), "DOT file does not start with 'digraph'")
    check("|grad|" in text, "DOT graph shows no gradient norms")
    check("parameter" in text, "DOT graph shows no parameters")
    check("subgraph cluster_" in text, "DOT graph draws no layer scopes as clusters")
    dot = shutil.which("dot")
    if dot:
        proc = run([dot, "-Tsvg", path, "-o", path + ".svg"])
        check(proc.returncode == 0 and not proc.stderr,
              "dot could not render %s: %s" % (path, proc.stderr))


# ---- modes ----

def mode_train(a, extra):
    out = fresh(a.out)
    data = make_data(a.kind, out)
    csv_path, svg_path, dot_path = (os.path.join(out, n) for n in ("run.csv", "run.svg", "run.dot"))
    run_ok([a.exe, "--data", data, "--epochs", a.epochs, "--csv", csv_path, "--svg", svg_path,
            "--dot", dot_path] + extra)
    table = read_csv(csv_path, a.kind, a.epochs)
    key = "train_loss" if a.kind == "images" else "heldout_bpc"
    first, last = table[0][key], table[-1][key]
    print("%s: first epoch %.4f, last %.4f (must be <= %g)" % (key, first, last, a.max_loss))
    check(last <= a.max_loss, "%s %.4f after %d epochs; the target is %g" %
          (key, last, a.epochs, a.max_loss))
    if a.min_accuracy is not None:
        acc = table[-1]["test_accuracy"]
        check(acc >= a.min_accuracy, "test accuracy %.2f%%; the target is %g%%" %
              (acc, a.min_accuracy))
    check_svg(svg_path, ["train, running", "train", "test" if a.kind == "images" else "held-out"])
    check_dot(dot_path)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {k: blob[base + v["data_offsets"][0]:base + v["data_offsets"][1]]
               for k, v in header.items()}
    return tensors, meta


def mode_resume(a, extra):
    out = fresh(a.out)
    data = make_data(a.kind, out)
    ck = {n: os.path.join(out, n + ".safetensors") for n in ("straight", "half", "resumed")}
    base = [a.exe, "--data", data] + extra
    run_ok(base + ["--epochs", 2, "--save", ck["straight"]])
    run_ok(base + ["--epochs", 1, "--save", ck["half"]])
    proc = run_ok(base + ["--epochs", 2, "--resume", ck["half"], "--save", ck["resumed"]])
    check("resumed from" in proc.stdout, "the resumed run does not say it resumed")
    straight, meta_s = read_safetensors(ck["straight"])
    resumed, meta_r = read_safetensors(ck["resumed"])
    check(sorted(straight) == sorted(resumed), "the checkpoints hold different tensors")
    params = [k for k in straight if not k.startswith(("optim.", "log."))]
    check(len(params) >= 4, "only %d parameters in the checkpoint: %r" % (len(params), params))
    for name in sorted(straight):
        if name == "log.seconds":
            continue  # wall-clock time, the one thing a rerun does not reproduce
        check(straight[name] == resumed[name],
              "tensor %s differs between the straight and the resumed run" % name)
    check(meta_s == meta_r, "metadata differs: %r vs %r" % (meta_s, meta_r))
    print("%d tensors (%d parameters) identical bit for bit; metadata %r" %
          (len(straight) - 1, len(params), meta_s))
    # A checkpoint of another configuration is refused, naming both.
    proc = run(base + ["--epochs", 2, "--batch", 7, "--resume", ck["half"]])
    sys.stdout.write(proc.stderr)
    check(proc.returncode != 0, "resuming with another batch size was accepted")
    check("another run" in proc.stderr, "the refusal does not say why: %r" % proc.stderr)
    # ... naming the setting that differs on both sides, with the message whole.
    check(re.search(r"it has 'batch \d+' where this run has 'batch 7'\n", proc.stderr),
          "the refusal does not name both batch sizes in full: %r" % proc.stderr)
    # A damaged checkpoint is refused with a message, not a crash.
    bad = os.path.join(out, "bad.safetensors")
    with open(ck["half"], "rb") as f:
        blob = f.read()
    with open(bad, "wb") as f:
        f.write(blob[:len(blob) // 2])
    proc = run(base + ["--epochs", 2, "--resume", bad])
    check(proc.returncode == 1 and proc.stderr.strip(),
          "a truncated checkpoint gave status %d, stderr %r" % (proc.returncode, proc.stderr))


def mode_flags(a, extra):
    out = fresh(a.out)
    data = make_data(a.kind, out)
    proc = run([a.exe, "--help"])
    check(proc.returncode == 0, "--help exited with %d" % proc.returncode)
    for flag in ("--epochs", "--batch", "--lr", "--seed", "--threads", "--data", "--save",
                 "--resume", "--dot", "--limit", "--csv", "--svg"):
        check(flag in proc.stdout, "--help does not mention %s" % flag)
    bad = [
        (["--epochs", "many"], "--epochs"),
        (["--epochs", "0"], "--epochs"),
        (["--epochs=-3"], "--epochs"),
        (["--batch", "1.5"], "--batch"),
        (["--lr", "-1"], "--lr"),
        (["--lr", "nan"], "--lr"),
        (["--seed", "-1"], "--seed"),
        (["--threads", "100000"], "--threads"),
        (["--dtype", "f16"], "--dtype"),
        (["--lr"], "--lr"),
        (["--no-such-flag"], "--no-such-flag"),
        (["stray"], "stray"),
    ]
    transformer = os.path.basename(a.exe).startswith("gpt")
    if a.kind == "text" and not transformer:
        bad.append((["--cell", "transformer"], "--cell"))
    if transformer:
        bad += [(["--layers", "0"], "--layers"), (["--heads", "3"], "--heads"),
                (["--prev", "9"], "--prev"),
                (["--shift", "65"], "--shift"), (["--eval-window", "0"], "--eval-window")]
    for args, name in bad:
        sets_epochs = any(x.startswith("--epochs") for x in args)
        proc = run([a.exe, "--data", data] + ([] if sets_epochs else ["--epochs", "1"]) + args)
        check(proc.returncode != 0, "%r was accepted" % args)
        check(name in proc.stderr, "the message for %r does not name %s: %r" %
              (args, name, proc.stderr))
        check("Traceback" not in proc.stderr and proc.returncode > 0, "%r crashed" % args)
    missing = os.path.join(out, "no-such-folder")
    proc = run([a.exe, "--data", missing, "--epochs", "1"])
    check(proc.returncode != 0 and missing in proc.stderr,
          "missing data: status %d, stderr %r" % (proc.returncode, proc.stderr))
    # The hint after a load failure stays whole even when the path fills the message.
    long_missing = os.path.join(out, "x" * 200)
    hint_end = ("--data DIR reads any MNIST-format folder)" if a.kind == "images" else
                "--data FILE reads any text file)")
    proc = run([a.exe, "--data", long_missing, "--epochs", "1"])
    check(proc.returncode != 0 and hint_end in proc.stderr,
          "the hint after a long missing path is cut off: %r" % proc.stderr)
    # Run from another folder without --data, the default is the source tree's data, by its
    # absolute path; never a path relative to wherever the example happens to be run.
    env = {k: v for k, v in os.environ.items() if k not in ("TG_DATA_DIR", "TG_TEXT_DATA")}
    default = (os.path.join(SOURCE_ROOT, "data", "fashion-mnist") if a.kind == "images" else
               os.path.join(SOURCE_ROOT, "data", "fortunes", "fortunes.txt"))
    proc = run([a.exe, "--help"], cwd=out, env=env)
    check("(default '%s')" % default in proc.stdout,
          "--help does not give %s as the default data: %r" % (default, proc.stdout))
    if not os.path.exists(default):
        proc = run([a.exe, "--epochs", "1"], cwd=out, env=env)
        check(proc.returncode == 1 and "'%s" % default in proc.stderr,
              "without data, a run from another folder does not name %s: %r" %
              (default, proc.stderr))
    # Outputs that cannot be written stop the run with status 1 and the path in the message.
    quick = (["--limit", "64", "--batch", "32"] if a.kind == "images" else
             ["--steps", "2", "--width", "8", "--heads", "2", "--ff", "8", "--seq", "8",
              "--batch", "4", "--sample", "0"] if transformer else
             ["--steps", "2", "--hidden", "8", "--embed", "4", "--seq", "8", "--batch", "4",
              "--sample", "0"])
    unwritable = os.path.join(out, "no-such-folder", "file")
    for flag in ("--dot", "--csv", "--svg", "--save"):
        for target in (unwritable, out):  # a missing folder, and a path that is a folder
            proc = run([a.exe, "--data", data, "--epochs", "1", flag, target] + quick)
            check(proc.returncode == 1 and "'%s'" % target in proc.stderr,
                  "%s to %s: status %d, stderr %r" % (flag, target, proc.returncode,
                                                      proc.stderr))
            # ... before any training: no epoch (nor progress) line was printed.
            check(not re.search(r"\bepoch\b", proc.stdout + proc.stderr),
                  "%s to %s was found only after training: %r" % (flag, target,
                                                                  proc.stdout + proc.stderr))
    if a.kind == "images":
        # The exit status tells whether the stated accuracy was reached: an untrained model
        # (a learning rate of 1e-12) cannot reach 99%, a trained one easily passes 60%.
        base = [a.exe, "--data", data, "--epochs", "1", "--limit", "128", "--batch", "32"]
        proc = run(base + ["--lr", "1e-12", "--min-accuracy", "99"])
        check(proc.returncode == 1 and "NOT reached" in proc.stdout,
              "a missed target gave status %d: %r" % (proc.returncode, proc.stdout))
        proc = run([a.exe, "--data", data, "--epochs", "2", "--batch", "32",
                    "--min-accuracy", "60"])
        check(proc.returncode == 0 and "reached" in proc.stdout,
              "a reached target gave status %d: %r" % (proc.returncode, proc.stdout))
    print("%d bad command lines refused, each with a message naming the flag" % len(bad))


def mode_progress(a, extra):
    import pty
    out = fresh(a.out)
    data = make_data(a.kind, out)
    cmd = [str(c) for c in [a.exe, "--data", data, "--epochs", 2] + extra]
    env = dict(os.environ)
    env.pop("TG_PROGRESS", None)
    # A pipe: one plain line per epoch, nothing redrawn.
    proc = run(cmd, env=env)
    check(proc.returncode == 0, "status %d: %s" % (proc.returncode, proc.stderr))
    plain = [l for l in proc.stderr.splitlines() if l.startswith("epoch ")]
    check(len(plain) == 2, "on a pipe stderr has %d epoch lines: %r" % (len(plain), proc.stderr))
    check("\r" not in proc.stderr and "\033" not in proc.stderr,
          "on a pipe stderr holds terminal controls: %r" % proc.stderr)
    check(all("samples/s" in l for l in plain), "plain lines lack throughput: %r" % plain)
    # A terminal: stderr is a pty; stdout stays a pipe so the two can be told apart.
    master, slave = pty.openpty()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    p.stdout.read()
    check(p.wait(timeout=TIMEOUT) == 0, "status %d on a terminal" % p.returncode)
    os.close(master)
    tty = b"".join(chunks).decode("utf-8", "replace")
    draws = re.findall(r"\r\x1b\[Kepoch (\d+)/2  batch (\d+)/(\d+)  (\w+) [0-9.]+  "
                       r"\d+ samples/s  ETA [0-9:?]+", tty)
    check(draws, "no progress line on the terminal: %r" % tty[:300])
    check({d[0] for d in draws} == {"1", "2"}, "progress lines for epochs %r" %
          sorted({d[0] for d in draws}))
    check(any(d[1] == d[2] for d in draws), "the last batch of an epoch is never drawn")
    check(tty.rstrip("\r\n").endswith("\r\x1b[K"), "the live line is not erased at the end")
    check("\n" not in tty, "a line break was written to the terminal: %r" % tty)
    print("%d redraws on the terminal, 2 plain lines on a pipe" % len(draws))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["train", "resume", "flags", "progress"])
    ap.add_argument("exe")
    ap.add_argument("out")
    ap.add_argument("--kind", choices=["images", "text"], required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--max-loss", type=float, default=math.inf)
    ap.add_argument("--min-accuracy", type=float)
    a, extra = ap.parse_known_args()
    a.exe = os.path.abspath(a.exe)  # some checks run it from another folder
    try:
        {"train": mode_train, "resume": mode_resume, "flags": mode_flags,
         "progress": mode_progress}[a.mode](a, extra)
    except Failure as e:
        print("FAIL: %s" % e)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

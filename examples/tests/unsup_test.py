#!/usr/bin/env python3
"""unsup_test.py: the tests of the unsupervised examples and their PNG writer, run by meson.

    png EXE OUT          png_check writes PNG files; each must decode (chunk CRCs, zlib stream,
                         Adler-32 checked by Python's zlib) to exactly the pattern written, and
                         bad calls must be refused
    gan-mixture EXE OUT  the GAN's quick run on the 8 Gaussians must cover at least 6 modes
                         (the program's exit status) after starting from none, and its CSV and
                         SVG must be well formed
    gan-fashion EXE OUT  the quick run on the synthetic image set: samples must move toward the
                         data without collapsing (exit status), one PNG grid per epoch that
                         decodes, and the last grid must differ from the untrained one
    autoencoder EXE OUT  the quick run on the synthetic set: the reconstruction error must fall
                         and beat the noisy input's, and the pictures must be well formed
    style-transfer EXE OUT  the quick run on the synthetic pair: the style loss must fall by
                         more than 5x with the content loss below 0.8x the style image's own (exit status and CSV), the
                         result must differ from the content, and corrupt pictures are refused
    colourise EXE OUT    the quick run on synthetic photos: the held-out chroma error must fall
                         below half the untrained network's and half the mean-chroma baseline's,
                         the grid's columns must be grey, coloured and true, and a corrupt photo
                         is refused

OUT is a folder made afresh, kept for a look after a failure.
"""
import csv
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib

SVG = "{http://www.w3.org/2000/svg}"


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def unfilter(kind, line, prev, bpp):
    """Undoes PNG filter `kind` (0 none, 1 left, 2 up, 3 mean, 4 Paeth) on one row."""
    out = bytearray(len(line))
    for i, v in enumerate(line):
        a = out[i - bpp] if i >= bpp else 0
        b = prev[i] if prev is not None else 0
        c = prev[i - bpp] if prev is not None and i >= bpp else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        out[i] = (v + pred) & 0xFF
    return bytes(out)


def read_png(path):
    """(width, height, channels, rows of bytes), checking the signature, every CRC, the zlib
    stream and the filter bytes, and undoing the filters."""
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "%s: bad signature" % path)
    at, idat, header, types = 8, b"", None, []
    while at < len(data):
        (n,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + n]
        (crc,) = struct.unpack(">I", data[at + 8 + n:at + 12 + n])
        check(zlib.crc32(kind + body) & 0xFFFFFFFF == crc, "%s: bad CRC in %s" % (path, kind))
        types.append(kind)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        at += 12 + n
    check(types[0] == b"IHDR" and types[-1] == b"IEND", "%s: chunks %s" % (path, types))
    w, h, depth, colour, _, _, _ = header
    check(depth == 8 and colour in (0, 2), "%s: depth %d colour type %d" % (path, depth, colour))
    ch = 1 if colour == 0 else 3
    raw = zlib.decompress(idat)  # checks the zlib header and the Adler-32
    row = w * ch + 1
    check(len(raw) == row * h, "%s: %d bytes of scanlines, want %d" % (path, len(raw), row * h))
    rows, prev = [], None
    for y in range(h):
        kind = raw[y * row]
        check(kind <= 4, "%s: row %d has filter %d" % (path, y, kind))
        prev = unfilter(kind, raw[y * row + 1:(y + 1) * row], prev, ch)
        rows.append(prev)
    return w, h, ch, rows


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def svg_root(path):
    root = ET.parse(path).getroot()
    check(root.tag == SVG + "svg", "%s: not an SVG" % path)
    return root


def run(args, want=0):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    check(p.returncode == want, "%s exited %d, want %d" % (" ".join(args), p.returncode, want))
    return p.stdout


def test_png(exe, out):
    run([exe, out])
    for name, w, h, ch in [("grey_300x250.png", 300, 250, 1), ("rgb_7x3.png", 7, 3, 3),
                           ("one.png", 1, 1, 1)]:
        pw, ph, pch, rows = read_png(os.path.join(out, name))
        check((pw, ph, pch) == (w, h, ch), "%s: %dx%dx%d" % (name, pw, ph, pch))
        for y in range(h):
            want = bytes((7 * x + 13 * y + 5 * c) % 256 for x in range(w) for c in range(ch))
            check(rows[y] == want, "%s: row %d differs from the pattern" % (name, y))
    # 300x250 grey is 75250 bytes of scanlines, more than one stored block (65535 at most); each
    # row is a run of equal steps, which the left filter turns into one repeated byte.
    data = open(os.path.join(out, "grey_300x250.png"), "rb").read()
    check(data.count(b"IDAT") == 1, "one image chunk expected")
    check(len(data) < 75250 // 20, "grey_300x250.png is not compressed: %d bytes" % len(data))
    # Noise: nothing to compress, so stored blocks, a few bytes over the scanlines.
    w, h, _, rows = read_png(os.path.join(out, "noise_200x150.png"))
    size = os.path.getsize(os.path.join(out, "noise_200x150.png"))
    check((w, h) == (200, 150) and size < 201 * 150 + 100, "noise: %dx%d, %d bytes" % (w, h, size))
    check(len(set(rows[0])) > 100, "noise row 0 has %d distinct bytes" % len(set(rows[0])))
    # Rows repeating every 100 rows (25,600 bytes back): only far matches shrink it, to about 1/3.
    w, h, ch, rows = read_png(os.path.join(out, "repeat_rgb_85x300.png"))
    check((w, h, ch) == (85, 300, 3), "repeat: %dx%dx%d" % (w, h, ch))
    for y in range(100, 300):
        check(rows[y] == rows[y - 100], "repeat: row %d differs from row %d" % (y, y - 100))
    size = os.path.getsize(os.path.join(out, "repeat_rgb_85x300.png"))
    check(size < (85 * 3 + 1) * 300 // 2, "repeat: %d bytes, the far matches were not found" % size)
    # Two 3x4 tiles at scale 2 with 4-pixel gaps: 2 (8 + 4) + 4 wide, 6 + 8 high.
    w, h, _, rows = read_png(os.path.join(out, "tiles.png"))
    check((w, h) == (28, 14), "tiles.png is %dx%d" % (w, h))
    check(rows[0][0] == 128, "the ground is mid grey")
    check(rows[4][4] == 0, "the first tile's first value (0) is black: %d" % rows[4][4])
    check(rows[9][11] == round(11 / 23 * 255), "first tile, last value: %d" % rows[9][11])
    check(not os.path.exists(os.path.join(out, "refused.png")), "a refused call left a file")


def test_gan_mixture(exe, out):
    # Batches of 64 rather than the default 256: a quarter of the time (most of a minute under
    # AddressSanitizer), and still 7 or 8 of the 8 modes for seeds 1-4 at every CPU level.
    run([exe, "--task", "mixture", "--quick", "--batch", "64", "--min-modes", "6", "--threads",
         "2", "--out", out])
    rows = read_csv(os.path.join(out, "gan_mixture.csv"))
    check(int(float(rows[0]["modes_covered"])) <= 1, "the untrained generator already covers modes")
    last = int(float(rows[-1]["modes_covered"]))
    check(last >= 6, "%d modes covered at the end" % last)
    root = svg_root(os.path.join(out, "gan_mixture_samples.svg"))
    dots = root.findall(".//" + SVG + "circle")
    check(len(dots) >= 4 * 1900, "%d points drawn in the sample panels" % len(dots))
    texts = " ".join(t.text or "" for t in root.iter(SVG + "text"))
    check("%d of 8 modes covered" % last in texts, "the last panel does not state its count")
    svg_root(os.path.join(out, "gan_mixture_curves.svg"))


def test_gan_fashion(exe, out):
    run([exe, "--task", "fashion", "--quick", "--data", "synthetic", "--threads", "2", "--out", out])
    rows = read_csv(os.path.join(out, "gan_fashion.csv"))
    check(len(rows) == 4, "%d rows for epochs 0..3" % len(rows))
    grids = []
    for e in range(4):
        w, h, ch, px = read_png(os.path.join(out, "gan_fashion_epoch%d.png" % e))
        # 8 tiles of 28x28 at scale 2 with 4-pixel gaps: 8 (56 + 4) + 4.
        check((w, h, ch) == (484, 484, 1), "epoch %d grid is %dx%dx%d" % (e, w, h, ch))
        grids.append(b"".join(px))
    diff = sum(abs(a - b) for a, b in zip(grids[0], grids[-1])) / len(grids[0])
    check(diff > 5, "the last grid is nearly the untrained one (mean difference %.1f)" % diff)
    svg_root(os.path.join(out, "gan_fashion_curves.svg"))


def test_autoencoder(exe, out):
    run([exe, "--quick", "--data", "synthetic", "--threads", "2", "--out", out])
    rows = read_csv(os.path.join(out, "autoencoder.csv"))
    check(len(rows) == 4, "%d rows for epochs 0..3" % len(rows))
    errors = [float(r["test_mse"]) for r in rows]
    check(errors[-1] < errors[1] < errors[0], "the test error did not fall: %s" % errors)
    check(errors[-1] < 0.5 * float(rows[-1]["noisy_input_mse"]), "no better than the noisy input")
    # Clean, noisy and 4 reconstructions (epochs 0..3) of 10 images: 10 (56 + 4) + 4 square.
    w, h, ch, px = read_png(os.path.join(out, "autoencoder_denoise.png"))
    check((w, h, ch) == (604, 6 * 60 + 4, 1), "denoise grid is %dx%dx%d" % (w, h, ch))
    clean, noisy = px[4:60], px[64:120]
    check(clean != noisy, "the noisy row equals the clean one")
    root = svg_root(os.path.join(out, "autoencoder_codes.svg"))
    check(len(root.findall(".//" + SVG + "circle")) >= 2 * 500, "fewer points than test images")
    texts = [t.text or "" for t in root.iter(SVG + "text")]
    check(all("class %d" % c in texts for c in range(10)), "the legend does not name the classes")
    svg_root(os.path.join(out, "autoencoder_noise.svg"))


def test_style_transfer(exe, out):
    # The synthetic pair's style losses are far smaller than the photos' (0.85 against 577 at
    # the start), so its style weight is larger than the default the photos use.
    said = run([exe, "--quick", "--data", "synthetic", "--style-weight", "10", "--threads", "2",
         "--out", out])
    rows = read_csv(os.path.join(out, "style_transfer.csv"))
    check(len(rows) == 81, "%d rows for steps 0..80" % len(rows))
    first, last = rows[0], rows[-1]
    check(float(first["content"]) == 0.0, "the image does not start as the content")
    check(float(last["style"]) * 5 < float(first["style"]), "style loss %s -> %s: not 5x lower"
          % (first["style"], last["style"]))
    check("content kept: content loss %.4f < 0.8 x" % float(last["content"]) in said
          and said.count(": ok\n") == 2, "the program's two checks did not both hold")
    # Content, style and result, 40x40 each, 4 pixels apart.
    w, h, ch, px = read_png(os.path.join(out, "style_transfer.png"))
    check((w, h, ch) == (128, 40, 3), "style_transfer.png is %dx%dx%d" % (w, h, ch))
    content = b"".join(r[0:120] for r in px)
    result = b"".join(r[264:384] for r in px)
    diff = sum(abs(a - b) for a, b in zip(content, result)) / len(content)
    check(diff > 5, "the result is nearly the content (mean difference %.1f)" % diff)
    w, h, ch, _ = read_png(os.path.join(out, "style_transfer_steps.png"))
    check((w, h, ch) == (5 * 44 - 4, 40, 3), "style_transfer_steps.png is %dx%dx%d" % (w, h, ch))
    svg_root(os.path.join(out, "style_transfer_losses.svg"))
    # Corrupt pictures: a header that lies about its size, and a file cut short.
    bad = os.path.join(out, "bad", "style")
    os.makedirs(bad)
    with open(os.path.join(bad, "content.ppm"), "wb") as f:
        f.write(b"P6\n4 4\n255\n" + bytes(48))
    for body, what in [(b"P6\n99999999 4\n255\n", "not a binary PPM"),
                       (b"P6\n4 4\n255\n" + bytes(20), "ends after 20")]:
        with open(os.path.join(bad, "style.ppm"), "wb") as f:
            f.write(body)
        p = subprocess.run([exe, "--data", os.path.dirname(bad), "--out", os.path.join(out, "x")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        check(p.returncode == 1 and what in p.stderr,
              "a corrupt style.ppm gave exit %d and %r" % (p.returncode, p.stderr))


def test_colourise(exe, out):
    said = run([exe, "--quick", "--data", "synthetic", "--threads", "2", "--out", out])
    rows = read_csv(os.path.join(out, "colourise.csv"))
    check(len(rows) == 11, "%d rows for the 11 evaluations" % len(rows))
    first, last = rows[0], rows[-1]
    base = float(last["test_baseline_mse"])
    check(float(last["test_mse"]) < 0.5 * base, "held-out error %s is not below half the "
          "mean-chroma baseline's %s" % (last["test_mse"], base))
    check(float(last["test_mse"]) < 0.5 * float(first["test_mse"]), "the held-out error did not "
          "fall: %s -> %s" % (first["test_mse"], last["test_mse"]))
    check("check: held-out chroma error" in said and ": ok\n" in said, "the program's check")
    # Two held-out 48x36 photos, grey | predicted | true, 4 pixels apart.
    w, h, ch, px = read_png(os.path.join(out, "colourise_test.png"))
    check((w, h, ch) == (3 * 48 + 8, 2 * 36 + 4, 3), "colourise_test.png is %dx%dx%d" % (w, h, ch))
    grey = px[0][0:144]
    check(all(grey[i] == grey[i + 1] == grey[i + 2] for i in range(0, 144, 3)),
          "the first column is not grey")
    pred, true = px[0][156:300], px[0][312:456]
    check(any(pred[i] != pred[i + 1] for i in range(0, 144, 3)), "the prediction has no colour")
    check(true != grey, "the true photo equals its grey")
    read_png(os.path.join(out, "colourise_train.png"))
    svg_root(os.path.join(out, "colourise_error.svg"))
    # A corrupt photo in the held-out folder is refused with a message.
    bad = os.path.join(out, "bad", "colour")
    for part in ("train", "test"):
        os.makedirs(os.path.join(bad, part))
        with open(os.path.join(bad, part, "a.ppm"), "wb") as f:
            f.write(b"P6\n40 40\n255\n" + bytes(40 * 40 * 3 if part == "train" else 100))
    p = subprocess.run([exe, "--data", os.path.dirname(bad), "--out", os.path.join(out, "x")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    check(p.returncode == 1 and "ends after 100" in p.stderr,
          "a corrupt held-out photo gave exit %d and %r" % (p.returncode, p.stderr))


def main():
    mode, exe, out = sys.argv[1:4]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    tests = {"png": test_png, "gan-mixture": test_gan_mixture, "gan-fashion": test_gan_fashion,
             "autoencoder": test_autoencoder, "style-transfer": test_style_transfer,
             "colourise": test_colourise}
    try:
        tests[mode](exe, out)
    except Failure as e:
        print("FAILED:", e)
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

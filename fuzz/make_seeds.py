#!/usr/bin/python3
"""Writes the seed corpora of the fuzz harnesses (fuzz/corpus/NAME/), small files that start
libFuzzer (tools/fuzz) in the interesting places and that fuzz_replay_NAME checks in every
build: for each loader, valid minimal inputs plus edge cases a corrupt or hostile file has.
The files are committed; rerun this after changing it. Inputs that once found a bug go to
fuzz/regressions/NAME/ instead, by hand, named after the bug.

Usage: python3 fuzz/make_seeds.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(kind, name, data):
    path = os.path.join(HERE, "corpus", kind, name)
    with open(path, "wb") as f:
        f.write(data)


# ---- safetensors: the harness's store holds w (F32, 2x3), b (F64, 4), e (F32, 0x3) ----

def safetensors(header, data, pad=True):
    raw = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


W = struct.pack("<6f", *[0.25 * i for i in range(6)])
B = struct.pack("<4d", 1.0, -2.0, 1e-300, float("inf"))
BATCHER = "tgbatch1 2 17 0123456789abcdef 0000000000000001 1 3ff0000000000000"


def full(meta=None, order=("w", "b", "e")):
    spec = {"w": ("F32", [2, 3], W), "b": ("F64", [4], B), "e": ("F32", [0, 3], b"")}
    header, data = {}, b""
    for name in order:
        dtype, shape, raw = spec[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta is not None:
        header["__metadata__"] = meta
    return header, data


h, d = full({"step": "5", "batcher": BATCHER, "note": "caf\u00e9 \"q\"\n"})
write("checkpoint", "valid-full", safetensors(h, d))
h, d = full(None, order=("e", "b", "w"))
write("checkpoint", "valid-reordered-no-meta", safetensors(h, d, pad=False))
write("checkpoint", "valid-only-w", safetensors({"w": full()[0]["w"]}, W))
write("checkpoint", "extra-tensor", safetensors(
    {**full()[0], "x": {"dtype": "F32", "shape": [1], "data_offsets": [56, 60]}}, full()[1] + b"\0\0\0\0"))
write("checkpoint", "wrong-shape", safetensors(
    {"w": {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 24]}}, W))
write("checkpoint", "other-dtype", safetensors(
    {"w": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]}}, W[:12]))
write("checkpoint", "empty-object", safetensors({}, b""))
write("checkpoint", "header-too-long", struct.pack("<Q", 1 << 62) + b"{}")
write("checkpoint", "truncated-data", safetensors(*full())[:-5])
write("checkpoint", "gap-in-offsets", safetensors(
    {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [4, 28]}}, b"\0" * 4 + W))
write("checkpoint", "huge-shape", safetensors(
    {"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 24]}}, W))
write("checkpoint", "escapes", safetensors(
    b'{"w\\u00e9\\ud83d\\ude00\\n":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
    b'"__metadata__":{"step":"9223372036854775807","k\\"":"\\u0041\\/"}}', b"\0" * 4))
write("checkpoint", "step-overflow", safetensors(*full({"step": "18446744073709551616"})))
write("checkpoint", "bad-batcher-state", safetensors(*full({"step": "0", "batcher": "tgbatch1 -1 0 x"})))
write("checkpoint", "length-only", struct.pack("<Q", 2))
# The file an independent writer made for tests/io: other names, spacing, a 0-d tensor.
with open(os.path.join(HERE, "..", "tests", "fixtures", "io_pywriter.safetensors"), "rb") as f:
    write("checkpoint", "pywriter", f.read())

# ---- IDX: magic 00 00 08 NDIM, big-endian u32 dims, then the bytes ----

def idx(dims, data=None, type_byte=8):
    n = 1
    for x in dims:
        n *= x
    body = bytes((i * 37) % 256 for i in range(n)) if data is None else data
    return bytes([0, 0, type_byte, len(dims)]) + b"".join(struct.pack(">I", x) for x in dims) + body


write("idx", "images-3x2x2", idx([3, 2, 2]))
write("idx", "images-1x1x1", idx([1, 1, 1], b"\xff"))
write("idx", "labels-2", idx([2], b"\x03\x09"))
write("idx", "labels-5", idx([5]))
write("idx", "matrix-2x3", idx([2, 3]))
write("idx", "four-dims", idx([1, 2, 1, 2]))
write("idx", "truncated", idx([3, 2, 2])[:-1])
write("idx", "oversized", idx([3, 2, 2]) + b"\0")
write("idx", "float-type", idx([2], b"\0" * 8, type_byte=0x0D))
write("idx", "zero-dim", idx([0, 2, 2], b""))
write("idx", "five-dims", bytes([0, 0, 8, 5]) + struct.pack(">5I", 1, 1, 1, 1, 1) + b"\0")
write("idx", "huge-dims", bytes([0, 0, 8, 3]) + struct.pack(">3I", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
write("idx", "magic-only", bytes([0, 0, 8, 3]))
write("idx", "empty", b"")

# ---- text: any bytes ----

write("text", "hello", b"hello, world\n")
write("text", "one-byte", b"x")
write("text", "empty", b"")
write("text", "all-bytes", bytes(range(256)))
write("text", "utf8", "na\u00efve caf\u00e9 \u2603 \U0001f600\n".encode())
write("text", "nul-and-crlf", b"a\0b\r\nc\0\0\xff")

"""Reads a safetensors file the way a PyTorch user without the safetensors package would: the
header with json, each tensor with torch.frombuffer, and prints what torch got, one line per
tensor, for tests/io/test_torch_reads.c to compare with the store it saved:

    tensor NAME DTYPE NDIM D0 D1 ... : V0 V1 ...   (values as float.hex, exact)
    meta KEY HEX                                   (the value's UTF-8 bytes in hex)

Usage: /usr/bin/python3 tests/io/read_with_torch.py FILE (needs python3-torch).
"""
import json
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F64": torch.float64}


def main(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        begin, end = e["data_offsets"]
        dtype = DTYPES[e["dtype"]]
        if end > begin:
            t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(e["shape"])
        else:
            t = torch.empty(e["shape"], dtype=dtype)
        assert list(t.shape) == e["shape"] and t.dtype == dtype
        values = [float(v).hex() for v in t.reshape(-1).tolist()]
        print("tensor", name, e["dtype"], t.dim(), *t.shape, ":", *values)
    for key, value in meta.items():
        print("meta", key, value.encode("utf-8").hex())


if __name__ == "__main__":
    main(sys.argv[1])

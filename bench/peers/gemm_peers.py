#!/usr/bin/python3
"""gemm_peers.py: times the same products as bench/gemm_bench.c with a peer library.

    gemm_peers.py numpy|torch [--f64] [--reps R] [--min-time S] MxKxN ...

Prints one line per shape in gemm_bench's format (median of at least R calls and S seconds,
after warm-up). numpy calls np.matmul(a, b, out=c); torch calls torch.mm(a, b, out=c), both on
C-contiguous (row-major) operands, as gemm_bench does. The thread count is whatever the
environment says (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS; bench/run sets them), since OpenBLAS
reads it when it loads; torch also gets torch.set_num_threads(OMP_NUM_THREADS).
"""
import os
import sys
import time

from peer_blas import report_blas


def parse(argv):
    if len(argv) < 2 or argv[1] not in ("numpy", "torch"):
        sys.exit(__doc__)
    opts = {"lib": argv[1], "f64": False, "reps": 5, "min_time": 0.3, "shapes": []}
    i = 2
    while i < len(argv):
        a = argv[i]
        if a == "--f64":
            opts["f64"] = True
        elif a == "--reps":
            i += 1
            opts["reps"] = int(argv[i])
        elif a == "--min-time":
            i += 1
            opts["min_time"] = float(argv[i])
        else:
            m, k, n = (int(x) for x in a.split("x"))
            opts["shapes"].append((m, k, n))
        i += 1
    return opts


def main():
    o = parse(sys.argv)
    threads = int(os.environ.get("OMP_NUM_THREADS", os.environ.get("OPENBLAS_NUM_THREADS", "1")))
    if o["lib"] == "numpy":
        import numpy as np

        dt = np.float64 if o["f64"] else np.float32
        rng = np.random.default_rng(1)

        def setup(m, k, n):
            a = rng.uniform(-1, 1, (m, k)).astype(dt)
            b = rng.uniform(-1, 1, (k, n)).astype(dt)
            c = np.empty((m, n), dt)
            return lambda: np.matmul(a, b, out=c)

        version = "numpy " + np.__version__
    else:
        import torch

        torch.set_num_threads(threads)
        dt = torch.float64 if o["f64"] else torch.float32
        g = torch.Generator().manual_seed(1)

        def setup(m, k, n):
            a = torch.rand((m, k), generator=g, dtype=dt) * 2 - 1
            b = torch.rand((k, n), generator=g, dtype=dt) * 2 - 1
            c = torch.empty((m, n), dtype=dt)
            return lambda: torch.mm(a, b, out=c)

        version = "torch %s (%d threads)" % (torch.__version__, torch.get_num_threads())

    print("# %s, %s, %d threads" % (version, "f64" if o["f64"] else "f32", threads), flush=True)
    for m, k, n in o["shapes"]:
        call = setup(m, k, n)
        call()
        call()
        times = []
        start = time.perf_counter()
        while len(times) < o["reps"] or (time.perf_counter() - start < o["min_time"]
                                         and len(times) < 100000):
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        times.sort()
        med = times[len(times) // 2]
        print("%dx%dx%d threads=%d reps=%d median_s=%.9f best_s=%.9f gflops=%.2f"
              % (m, k, n, threads, len(times), med, times[0], 2.0 * m * n * k / med * 1e-9),
              flush=True)
    report_blas(o["lib"])


if __name__ == "__main__":
    main()

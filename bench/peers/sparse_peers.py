"""sparse_peers.py: PyTorch's side of bench/run-sparse: the same pruned networks as
bench/sparse_bench.c, read from its --dump folder, run dense and with CSR weights.

    sparse_peers.py DIR [--reps R] [--min-time S] [--sparsities 0,50,...] [--batches 1,64]

Activations are columns (features, batch) as in sparse_bench. Dense: relu(torch.addmm(b, W, h));
CSR: relu(torch.sparse.addmm(b, A, h)) with A = W.to_sparse_csr(), PyTorch's CSR product on
the CPU. Prints sparse_bench's line format (impl torch_dense, torch_csr) with the same checksum
of the output, so bench/run-sparse can check both sides computed the same thing. Threads: the
environment's (bench/run-sparse sets OMP_NUM_THREADS and OpenBLAS's).
"""
import os
import sys
import time

from peer_blas import report_blas

MODELS = [("mlp", [784, 300, 100, 10]), ("lenet_fc", [400, 120, 84, 10])]


def parse(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    o = {"dir": argv[1], "reps": 20, "min_time": 0.2, "sparsities": [0, 50, 80, 90, 95, 98],
         "batches": [1, 64]}
    i = 2
    while i < len(argv):
        key = argv[i]
        val = argv[i + 1]
        if key == "--reps":
            o["reps"] = int(val)
        elif key == "--min-time":
            o["min_time"] = float(val)
        elif key == "--sparsities":
            o["sparsities"] = [float(s) for s in val.split(",")]
        elif key == "--batches":
            o["batches"] = [int(b) for b in val.split(",")]
        else:
            sys.exit(__doc__)
        i += 2
    return o


def fmt(s):
    return ("%g" % s)


def main():
    import numpy as np
    import torch
    import warnings

    warnings.filterwarnings("ignore", message=".*Sparse CSR tensor support is in beta.*")
    o = parse(sys.argv)
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(threads)
    print("# torch %s sparse_peers: f32, %d threads" % (torch.__version__, torch.get_num_threads()),
          flush=True)
    for name, widths in MODELS:
        biases = [torch.from_numpy(np.fromfile(os.path.join(o["dir"], "%s-b%d.f32" % (name, l)),
                                               dtype=np.float32)).reshape(-1, 1)
                  for l in range(3)]
        for s in o["sparsities"]:
            ws = [torch.from_numpy(np.fromfile(
                os.path.join(o["dir"], "%s-s%s-w%d.f32" % (name, fmt(s), l)),
                dtype=np.float32)).reshape(widths[l + 1], widths[l]) for l in range(3)]
            csrs = [w.to_sparse_csr() for w in ws]
            for batch in o["batches"]:
                x = torch.from_numpy(_inputs(widths[0], batch))
                bs = [b.expand(b.shape[0], batch).contiguous() for b in biases]

                def dense():
                    h = x
                    for l in range(3):
                        h = torch.addmm(bs[l], ws[l], h)
                        if l < 2:
                            h = torch.relu(h)
                    return h

                def csr():
                    h = x
                    for l in range(3):
                        h = torch.sparse.addmm(bs[l], csrs[l], h)
                        if l < 2:
                            h = torch.relu(h)
                    return h

                with torch.no_grad():
                    for impl, call in (("torch_dense", dense), ("torch_csr", csr)):
                        for _ in range(3):
                            y = call()
                        check = float(y.double().sum())
                        times = []
                        start = time.perf_counter()
                        while len(times) < o["reps"] or (time.perf_counter() - start < o["min_time"]
                                                         and len(times) < 100000):
                            t0 = time.perf_counter()
                            call()
                            times.append(time.perf_counter() - t0)
                        times.sort()
                        print("%s s=%s batch=%d impl=%s reps=%d median_s=%.9g best_s=%.9g "
                              "check=%.6g" % (name, fmt(s), batch, impl, len(times),
                                              times[len(times) // 2], times[0], check), flush=True)
    report_blas("torch")


def _inputs(n_in, batch):
    """sparse_bench's input: uniform(-1, 1) from its generator (PCG32, seed 7) is not
    reproduced here; the dump folder holds it instead."""
    import numpy as np

    path = os.path.join(sys.argv[1], "x-%d-%d.f32" % (n_in, batch))
    return np.fromfile(path, dtype=np.float32).reshape(n_in, batch)


if __name__ == "__main__":
    main()

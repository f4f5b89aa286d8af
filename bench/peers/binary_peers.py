"""binary_peers.py: PyTorch's side of bench/run-binary: the same binary-weight networks as
bench/binary_bench.c, read from its --dump folder (the +-alpha weights unpacked to f32,
transposed to (in, out), the biases and the inputs), run with PyTorch's dense f32 product.

    binary_peers.py DIR [--reps R] [--min-time S] [--batches 1,64]

Activations are rows (batch, features). Real activations: relu(torch.addmm(b, h, Wt)) per layer
("torch_dense"); binary activations: the first layer as that, then torch.addmm(b, sign(h), Wt)
with sign(0) = +1 ("torch_dense_bin"). Prints binary_bench's line format with the same checksum
of the output, so bench/run-binary can check both sides computed the same thing. Threads: the
environment's (bench/run-binary sets OMP_NUM_THREADS and OpenBLAS's).
"""
import os
import sys
import time

from peer_blas import report_blas

MODELS = [("mlp", [784, 300, 100, 10]), ("lenet_fc", [400, 120, 84, 10])]


def parse(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    o = {"dir": argv[1], "reps": 20, "min_time": 0.2, "batches": [1, 64]}
    i = 2
    while i + 1 < len(argv):
        key, val = argv[i], argv[i + 1]
        if key == "--reps":
            o["reps"] = int(val)
        elif key == "--min-time":
            o["min_time"] = float(val)
        elif key == "--batches":
            o["batches"] = [int(b) for b in val.split(",")]
        else:
            sys.exit(__doc__)
        i += 2
    return o


def main():
    import numpy as np
    import torch

    o = parse(sys.argv)
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(threads)
    print("# torch %s binary_peers: f32, %d threads" % (torch.__version__, torch.get_num_threads()),
          flush=True)

    def load(name, shape):
        return torch.from_numpy(np.fromfile(os.path.join(o["dir"], name),
                                            dtype=np.float32)).reshape(shape)

    for name, widths in MODELS:
        wts = [load("%s-wt%d.f32" % (name, l), (widths[l], widths[l + 1])) for l in range(3)]
        bs = [load("%s-b%d.f32" % (name, l), (widths[l + 1],)) for l in range(3)]
        for batch in o["batches"]:
            x = load("x-%d-%d.f32" % (widths[0], batch), (batch, widths[0]))

            def dense():
                h = x
                for l in range(3):
                    h = torch.addmm(bs[l], h, wts[l])
                    if l < 2:
                        h = torch.relu(h)
                return h

            def dense_bin():
                h = torch.addmm(bs[0], x, wts[0])
                for l in (1, 2):
                    s = torch.where(h >= 0, 1.0, -1.0)
                    h = torch.addmm(bs[l], s, wts[l])
                return h

            with torch.no_grad():
                for impl, call in (("torch_dense", dense), ("torch_dense_bin", dense_bin)):
                    for _ in range(3):
                        y = call()
                    check = float(y.double().sum())
                    times, cpu = [], []
                    start = time.perf_counter()
                    while len(times) < o["reps"] or (time.perf_counter() - start < o["min_time"]
                                                     and len(times) < 100000):
                        t0, c0 = time.perf_counter(), time.process_time()
                        call()
                        cpu.append(time.process_time() - c0)
                        times.append(time.perf_counter() - t0)
                    times.sort()
                    cpu.sort()
                    print("%s batch=%d impl=%s reps=%d median_s=%.9g best_s=%.9g cpu_s=%.9g "
                          "check=%.6g" % (name, batch, impl, len(times), times[len(times) // 2],
                                          times[0], cpu[len(cpu) // 2], check), flush=True)
    report_blas("torch")


if __name__ == "__main__":
    main()

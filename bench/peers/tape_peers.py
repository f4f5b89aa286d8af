#!/usr/bin/python3
"""tape_peers.py: the op chain of bench/tape_bench.c in PyTorch, at the same sizes.

    tape_peers.py [--reps R] [--min-time S] N_OPS ...

y = tanh(y) * w on 16-element f32 tensors (tanh and mul alternating), then sum and backward,
as a PyTorch user writes it. Times are this process's CPU time (time.process_time), medians
over the repetitions, per op, in the same line format as tape_bench (bytes_per_op is 0:
PyTorch's graph memory is not measured here).
"""
import os
import sys
import time

from peer_blas import report_blas


def main():
    reps, min_time, sizes = 5, 0.5, []
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a in ("--reps", "--min-time") and args:
            v = args.pop(0)
            if a == "--reps":
                reps = int(v)
            else:
                min_time = float(v)
        elif a.isdigit():
            sizes.append(int(a))
        else:
            sys.exit(__doc__)
    if not sizes:
        sys.exit(__doc__)
    import torch

    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    torch.set_num_threads(threads)
    print("# torch %s, f32, %d threads" % (torch.__version__, torch.get_num_threads()),
          flush=True)
    g = torch.Generator().manual_seed(4)
    x = (torch.rand(16, generator=g) * 2 - 1).requires_grad_()
    w = (torch.rand(16, generator=g) + 0.5).requires_grad_()
    for n_ops in sizes:
        fwd, bwd = [], []
        start = time.process_time()
        it = 0
        while len(fwd) < 1000 and (len(fwd) < reps or time.process_time() - start < min_time):
            t0 = time.process_time()
            y = x
            for _ in range(n_ops // 2):
                y = torch.tanh(y) * w
            loss = y.sum()
            t1 = time.process_time()
            loss.backward()
            t2 = time.process_time()
            del y, loss
            x.grad = None
            w.grad = None
            it += 1
            if it == 1:
                continue  # warm-up, as tape_bench
            fwd.append((t1 - t0) / n_ops)
            bwd.append((t2 - t1) / n_ops)
        fwd.sort()
        bwd.sort()
        print("tape n_ops=%d reps=%d fwd_s=%.12f bwd_s=%.12f bytes_per_op=0" % (
            n_ops, len(fwd), fwd[len(fwd) // 2], bwd[len(bwd) // 2]), flush=True)
    report_blas("torch")


if __name__ == "__main__":
    main()

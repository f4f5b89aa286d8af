#!/usr/bin/python3
"""split_peers.py: bench/split_bench.c's GRU training step in PyTorch, for the same run.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 split_peers.py [--rounds R] [T ...]

The GRU (B=32, I=64, H=128, f32, one thread) written as a PyTorch user writes it from
primitives: one input product for all steps, torch.chunk into the T steps and each step's
product into its gates, PyTorch's GRUCell arithmetic, loss = sum of the last state squared,
backward. Prints the CPU time (user + system) median over the rounds per T, in
split_bench's units, and which BLAS this process ran.
"""
import resource
import sys

from peer_blas import report_blas


def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def main():
    args = sys.argv[1:]
    rounds, ts = 7, []
    while args:
        a = args.pop(0)
        if a == "--rounds" and args:
            rounds = int(args.pop(0))
        elif a.isdigit():
            ts.append(int(a))
        else:
            sys.exit(__doc__)
    ts = ts or [16, 64, 256]
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(16)
    B, I, H = 32, 64, 128
    cell = torch.nn.GRUCell(I, H)
    report_blas("torch")
    print("# split_peers: torch %s GRU from torch.chunk, B=%d I=%d H=%d, f32, %d thread, %d rounds"
          % (torch.__version__, B, I, H, torch.get_num_threads(), rounds))
    for T in ts:
        x = torch.rand(T, B, I) * 2 - 1

        def step():
            t0 = cpu()
            gx = torch.nn.functional.linear(x.reshape(T * B, I), cell.weight_ih, cell.bias_ih)
            h = torch.zeros(B, H)
            for row in torch.chunk(gx.reshape(T, B, 3 * H), T, 0):
                gi = torch.chunk(row.squeeze(0), 3, -1)
                gh = torch.chunk(torch.nn.functional.linear(h, cell.weight_hh, cell.bias_hh), 3, -1)
                r = torch.sigmoid(gi[0] + gh[0])
                z = torch.sigmoid(gi[1] + gh[1])
                n = torch.tanh(gi[2] + r * gh[2])
                h = n + z * (h - n)
            (h * h).sum().backward()
            t1 = cpu()
            cell.zero_grad()
            return t1 - t0

        step()
        times = sorted(step() for _ in range(rounds))
        print("T=%-4d torch-chunk %8.3f ms" % (T, 1e3 * times[len(times) // 2]), flush=True)


if __name__ == "__main__":
    main()

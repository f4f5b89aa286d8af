#!/usr/bin/python3
"""checkpoint_peers.py: the two models of bench/checkpoint_bench.c in PyTorch, trained with and
without torch.utils.checkpoint (the input projection inside the segments, as tapegrad's
default), for the time a training step takes (CPU time of the process,
median over the steps). PyTorch keeps no tape whose bytes could be counted the same way, so
peak_bytes is 0: only the time overhead of recomputation is compared.

    checkpoint_peers.py [--reps R] [--min-time S] [--seg K] CASE MODE
    CASE: mlp lstm   MODE: plain recompute
"""
import os
import sys
import time

from peer_blas import report_blas


def main():
    a = sys.argv[1:]
    reps, min_time, seg = 10, 2.0, 0
    while len(a) > 2:
        k, v = a.pop(0), a.pop(0)
        if k == "--reps":
            reps = int(v)
        elif k == "--min-time":
            min_time = float(v)
        elif k == "--seg":
            seg = int(v)
        else:
            sys.exit(__doc__)
    if len(a) != 2 or a[0] not in ("mlp", "lstm") or a[1] not in ("plain", "recompute"):
        sys.exit(__doc__)
    case, mode = a
    rec = mode == "recompute"
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    print("# torch %s, f32, %d threads" % (torch.__version__, torch.get_num_threads()),
          flush=True)
    torch.manual_seed(7)
    if case == "mlp":
        seg = seg or 4
        layers = nn.ModuleList([nn.Linear(128, 128) for _ in range(32)])
        head = nn.Linear(128, 10)
        params = list(layers.parameters()) + list(head.parameters())
        x = torch.randn(512, 128)
        y = torch.randint(0, 10, (512,))

        def span(first, n):
            def f(h):
                for i in range(first, first + n):
                    h = F.relu(layers[i](h))
                return h
            return f

        def loss_fn():
            h = x
            for i in range(0, 32, seg):
                f = span(i, min(seg, 32 - i))
                h = checkpoint(f, h, use_reentrant=False) if rec else f(h)
            return F.cross_entropy(head(h), y)
    else:
        seg = seg or 8
        T, B, I, H = 64, 32, 65, 128
        k = 1 / H ** 0.5
        w_ih = nn.Parameter(torch.empty(4 * H, I).uniform_(-k, k))
        w_hh = nn.Parameter(torch.empty(4 * H, H).uniform_(-k, k))
        bias = nn.Parameter(torch.empty(4 * H).uniform_(-k, k))
        out = nn.Linear(H, I)
        params = [w_ih, w_hh, bias] + list(out.parameters())
        sym = torch.randint(0, I, (T * B + 1,))
        x = F.one_hot(sym[:T * B], I).float().reshape(T, B, I)
        y = sym[1:T * B + 1].clone()

        def steps(xss):
            def f(h, c):
                hs = []
                for xs in xss:
                    z = F.linear(xs, w_ih, bias) + h @ w_hh.t()
                    i, fg, g, o = z.split(H, 1)
                    c = torch.sigmoid(fg) * c + torch.sigmoid(i) * torch.tanh(g)
                    h = torch.sigmoid(o) * torch.tanh(c)
                    hs.append(h)
                return torch.cat(hs, 0), h, c
            return f

        def loss_fn():
            h = torch.zeros(B, H)
            c = torch.zeros(B, H)
            parts = []
            for s in range(0, T, seg):
                f = steps(x[s:s + seg])
                hs, h, c = checkpoint(f, h, c, use_reentrant=False) if rec else f(h, c)
                parts.append(hs)
            return F.cross_entropy(out(torch.cat(parts, 0)), y)

    opt = torch.optim.SGD(params, lr=0.01)
    times = []
    start = time.process_time()
    it = 0
    while len(times) < 2000 and (len(times) < reps or time.process_time() - start < min_time):
        t0 = time.process_time()
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        t1 = time.process_time()
        it += 1
        if it > 1:
            times.append(t1 - t0)
    times.sort()
    print("ckpt case=%s mode=%s reps=%d step_s=%.9f peak_bytes=0 loss=%.9g seg=%d" % (
        case, mode, len(times), times[len(times) // 2], loss.item(), seg), flush=True)
    report_blas("torch")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""derivatives_peers.py: PyTorch's side of bench/run-derivatives, on the function of
bench/derivatives_bench.c, y = tanh(tanh(x W1) W2), x (B, N), W1 and W2 (N, N), one thread.

The inputs are drawn once and copied by every call. Cases, each the CPU time of one call
including the forward pass:
  forward     the forward pass, x requiring a gradient;
  vjp         forward and one torch.autograd.grad of <y, u>;
  jvp_fwd     forward mode: torch.autograd.forward_ad dual tensors, one pass;
  jvp_dbl     the double-backward trick, torch.autograd.functional.jvp;
  hvp         torch.autograd.functional.hvp of sum(y^2) (double backward).
Prints "name cpu_us=<median> best_us=<min> reps=<n>" per case, and the BLAS report line of
bench/peers/peer_blas.py so the runner can check which kernels ran.

    derivatives_peers.py [--batch B] [--width N] [--reps R] [--f64]
"""
import argparse
import importlib.machinery
import importlib.util
import os
import statistics
import time

import torch
import torch.autograd.forward_ad as fwAD
from torch.autograd.functional import hvp, jvp

HERE = os.path.dirname(os.path.abspath(__file__))


def report_blas():
    path = os.path.join(HERE, "peer_blas.py")
    loader = importlib.machinery.SourceFileLoader("peer_blas", path)
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader("peer_blas", loader))
    loader.exec_module(mod)
    mod.report_blas("torch")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--f64", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    dt = torch.float64 if a.f64 else torch.float32
    g = torch.Generator().manual_seed(14)
    w1 = torch.randn(a.width, a.width, generator=g, dtype=dt) / a.width ** 0.5
    w2 = torch.randn(a.width, a.width, generator=g, dtype=dt) / a.width ** 0.5

    def f(x):
        return torch.tanh(torch.tanh(x @ w1) @ w2)

    def sq(x):
        y = f(x)
        return (y * y).sum()

    x0 = torch.randn(a.batch, a.width, generator=g, dtype=dt)
    v0 = torch.randn(a.batch, a.width, generator=g, dtype=dt)

    def inputs():  # drawn once; each call copies them, as tapegrad's does
        return x0.clone().requires_grad_(True), v0.clone()

    def forward():
        x, _ = inputs()
        return f(x)

    def vjp():
        x, v = inputs()
        return torch.autograd.grad(f(x), x, v)[0]

    def jvp_fwd():
        x, v = inputs()
        with fwAD.dual_level():
            out = f(fwAD.make_dual(x.detach(), v))
            return fwAD.unpack_dual(out).tangent

    def jvp_dbl():
        x, v = inputs()
        return jvp(f, x.detach(), v)[1]

    def hvp_case():
        x, v = inputs()
        return hvp(sq, x.detach(), v)[1]

    report_blas()
    print("# torch %s derivatives: batch %d width %d %s, 1 thread" %
          (torch.__version__, a.batch, a.width, "f64" if a.f64 else "f32"))
    cases = [("forward", forward), ("vjp", vjp), ("jvp_fwd", jvp_fwd), ("jvp_dbl", jvp_dbl),
             ("hvp", hvp_case)]
    for name, fn in cases:
        for _ in range(3):
            fn()
        times = []
        for _ in range(a.reps):
            t0 = time.process_time()
            fn()
            times.append(time.process_time() - t0)
        print("%s cpu_us=%.1f best_us=%.1f reps=%d" %
              (name, 1e6 * statistics.median(times), 1e6 * min(times), a.reps))


if __name__ == "__main__":
    main()

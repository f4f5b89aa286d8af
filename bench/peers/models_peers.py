#!/usr/bin/python3
"""models_peers.py: the training cases of bench/models_bench.c, in PyTorch.

    models_peers.py [--reps R] [--min-time S] [--epochs E] [--data DIR] CASE ...
    CASE: mlp lenet rnn lstm gpt chain epoch mlp_adam lenet_adam lstm_adam

Same models, shapes, dtype (f32), initialisation (PyTorch's defaults, which tapegrad's layers
copy), loss (mean cross entropy) and optimiser (SGD, lr 0.1; Adam, lr 1e-3, for the _adam
cases) as models_bench, and the same
output lines. The thread count comes from the environment (OMP_NUM_THREADS; bench/run-models
sets it, and OPENBLAS_NUM_THREADS, which OpenBLAS reads when it loads) and is also passed to
torch.set_num_threads. A step is what a PyTorch user writes: zero_grad, forward, loss,
backward, step, on a batch already in memory as a tensor.
"""
import os
import resource
import sys
import time

from peer_blas import report_blas


def parse(argv):
    o = {"reps": 20, "min_time": 1.0, "epochs": 5, "data": "data/fashion-mnist", "cases": []}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a in ("--reps", "--min-time", "--epochs", "--data") and i + 1 < len(argv):
            key = a[2:].replace("-", "_")
            o[key] = argv[i + 1] if key == "data" else (float if key == "min_time" else int)(
                argv[i + 1])
            i += 2
            continue
        if a.startswith("-") or a not in ("mlp", "lenet", "rnn", "lstm", "gpt", "chain", "epoch",
                                                 "mlp_adam", "lenet_adam", "lstm_adam"):
            sys.exit(__doc__)
        o["cases"].append(a)
        i += 1
    if not o["cases"]:
        sys.exit(__doc__)
    return o


def main():
    o = parse(sys.argv)
    threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    print("# torch %s, f32, %d threads" % (torch.__version__, torch.get_num_threads()),
          flush=True)

    def report(name, times, extra=""):
        times = sorted(times)
        print("%s threads=%d reps=%d median_s=%.9f best_s=%.9f%s"
              % (name, threads, len(times), times[len(times) // 2], times[0], extra), flush=True)

    def time_steps(name, model, x, y, loss_of):
        # The _adam cases run torch.optim.Adam with its defaults (lr 1e-3), as models_bench does.
        if name.endswith("_adam"):
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        else:
            opt = torch.optim.SGD(model.parameters(), lr=0.1)

        def step():
            opt.zero_grad()
            loss = loss_of(model, x, y)
            loss.backward()
            t0 = time.perf_counter()
            opt.step()
            return time.perf_counter() - t0  # the update's share is reported beside the step

        for _ in range(3):
            step()
        times, cpu, update = [], [], []
        start = time.perf_counter()
        while len(times) < o["reps"] or (time.perf_counter() - start < o["min_time"]
                                         and len(times) < 100000):
            t0, c0 = time.perf_counter(), time.process_time()
            update.append(step())
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        cpu.sort()
        update.sort()
        report(name, times, " cpu_s=%.9f update_s=%.9f" % (cpu[len(cpu) // 2],
                                                           update[len(update) // 2]))

    def mlp():
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))

    def classify(model, x, y):
        return F.cross_entropy(model(x), y)

    g = torch.Generator().manual_seed(1)
    for case in o["cases"]:
        if case in ("mlp", "mlp_adam"):
            torch.manual_seed(1)
            x = torch.rand((64, 784), generator=g)
            y = torch.randint(0, 10, (64,), generator=g)
            time_steps(case, mlp(), x, y, classify)
        elif case in ("lenet", "lenet_adam"):
            torch.manual_seed(2)
            model = nn.Sequential(
                nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
            x = torch.rand((64, 1, 28, 28), generator=g)
            y = torch.randint(0, 10, (64,), generator=g)
            time_steps(case, model, x, y, classify)
        elif case in ("rnn", "lstm", "lstm_adam"):
            torch.manual_seed(3)
            T, B, H, V = 64, 32, 128, 65

            class Char(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.cell = nn.LSTM(V, H) if case.startswith("lstm") else nn.RNN(V, H)
                    self.fc = nn.Linear(H, V)

                def forward(self, x):
                    hs, _ = self.cell(x)
                    return self.fc(hs.reshape(T * B, H))

            sym = torch.randint(0, V, (T * B + B,), generator=g)
            x = F.one_hot(sym[:T * B], V).float().reshape(T, B, V)
            y = sym[B:].clone()
            time_steps(case, Char(), x, y, classify)
        elif case == "gpt":
            # examples/gpt's default model: 2 pre-norm blocks (width 64, 4 heads, MLP 256,
            # GELU, causal), token and position embeddings, a final layer norm, 65 symbols.
            torch.manual_seed(6)
            T, B, E, H, F_, L, V = 64, 32, 64, 4, 256, 2, 65

            class GPT(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.wte = nn.Embedding(V, E)
                    self.wpe = nn.Embedding(T, E)
                    self.h = nn.ModuleList(
                        nn.TransformerEncoderLayer(E, H, F_, dropout=0.0, activation="gelu",
                                                   batch_first=True, norm_first=True)
                        for _ in range(L))
                    self.ln_f = nn.LayerNorm(E)
                    self.head = nn.Linear(E, V)
                    self.register_buffer("mask", torch.triu(
                        torch.full((T, T), float("-inf")), diagonal=1))
                    self.register_buffer("pos", torch.arange(T))

                def forward(self, ids):
                    x = self.wte(ids) + self.wpe(self.pos)
                    for blk in self.h:
                        x = blk(x, src_mask=self.mask)
                    return self.head(self.ln_f(x)).reshape(B * T, V)

            sym = torch.randint(0, V, (B, T + 1), generator=g)
            time_steps("gpt", GPT(), sym[:, :T].contiguous(), sym[:, 1:].reshape(-1).clone(),
                       classify)
        elif case == "chain":
            n_ops = 1000
            x = (torch.rand(16, generator=g) * 2 - 1).requires_grad_()
            w = (torch.rand(16, generator=g) + 0.5).requires_grad_()
            fwd, bwd, tot = [], [], []
            start = time.perf_counter()
            it = 0
            while it < 3 or len(fwd) < o["reps"] or (time.perf_counter() - start < o["min_time"]
                                                      and len(fwd) < 100000):
                t0 = time.perf_counter()
                y = x
                for _ in range(n_ops // 2):
                    y = torch.tanh(y) * w
                loss = y.sum()
                t1 = time.perf_counter()
                loss.backward()
                t2 = time.perf_counter()
                x.grad = None
                w.grad = None
                if it >= 3:
                    fwd.append((t1 - t0) / (n_ops + 1))
                    bwd.append((t2 - t1) / (n_ops + 1))
                    tot.append(fwd[-1] + bwd[-1])
                it += 1
            fwd.sort()
            bwd.sort()
            report("chain", tot, " fwd_s=%.9f bwd_s=%.9f" % (fwd[len(fwd) // 2],
                                                             bwd[len(bwd) // 2]))
        elif case == "epoch":
            epoch(o, threads, torch, nn, F, mlp, report)
    report_blas("torch")


def load_idx(path):
    import numpy as np

    with open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def epoch(o, threads, torch, nn, F, mlp, report):
    """Epochs of the MLP over Fashion-MNIST kept as bytes (as tapegrad keeps it), each batch
    converted to f32 / 255 when drawn; then the test accuracy and the peak resident memory."""
    d = o["data"]
    try:
        xtr = torch.from_numpy(load_idx(os.path.join(d, "train-images-idx3-ubyte")).copy())
        ytr = torch.from_numpy(load_idx(os.path.join(d, "train-labels-idx1-ubyte")).copy())
        xte = torch.from_numpy(load_idx(os.path.join(d, "t10k-images-idx3-ubyte")).copy())
        yte = torch.from_numpy(load_idx(os.path.join(d, "t10k-labels-idx1-ubyte")).copy())
        data = "real"
    except OSError:
        g = torch.Generator().manual_seed(5)
        xtr = torch.randint(0, 256, (60000, 28, 28), generator=g, dtype=torch.uint8)
        ytr = torch.randint(0, 10, (60000,), generator=g, dtype=torch.uint8)
        xte = torch.randint(0, 256, (10000, 28, 28), generator=g, dtype=torch.uint8)
        yte = torch.randint(0, 10, (10000,), generator=g, dtype=torch.uint8)
        data = "synthetic"
    xtr, xte = xtr.reshape(-1, 784), xte.reshape(-1, 784)
    ytr, yte = ytr.long(), yte.long()
    torch.manual_seed(7)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(8)
    n = xtr.shape[0]
    times = []
    for _ in range(o["epochs"]):
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=g)
        for i in range(0, n, 64):
            idx = order[i:i + 64]
            x = xtr[idx].float().div_(255)
            opt.zero_grad()
            F.cross_entropy(model(x), ytr[idx]).backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        right = sum(int((model(xte[i:i + 1000].float() / 255).argmax(1) == yte[i:i + 1000]).sum())
                    for i in range(0, xte.shape[0], 1000))
    acc = right / xte.shape[0]
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report("epoch", times, " test_acc=%.4f data=%s maxrss_kb=%d" % (acc, data, rss))


if __name__ == "__main__":
    main()

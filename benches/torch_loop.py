#!/usr/bin/env python3
"""One PyTorch training loop of the CLIP-sized FPE model with four choices of its sparse layer (a benchmark, not
a test).

The model: 512 -> 512 (the FPE layer, 14.5 % of its weights live) -> ReLU -> 100 (dense output layer), softmax
cross-entropy, Adam (lr 1e-3), batch 500, synthetic Gaussian data (50 000 samples, 100 classes: the shapes of
the CLIP workload in /work/shared/bench/torch/fpe_torch.py `clip`). The sparse layer is

  (a) masked     ``nn.Linear`` with the mask installed by ``torch.nn.utils.prune.custom_from_mask`` (what
                 ``neurosplit.torch.expand_`` installs; PyTorch's dense fp32 product on ``weight_orig * mask``)
  (b) neurosplit ``neurosplit.torch.SparseLinear`` (neurosplit's CSR kernels through autograd)
  (c) sparseprop ``sparseprop.modules.SparseLinear`` (``pip install sparseprop``)
  (d) sparselab  ``sparselab.SparseLinear`` with the same weights (``pip install sparselab``)

all four from the same initial weights and mask, trained on the same batches in the same order. Reported, per
thread count (each in its own process, ``OMP_NUM_THREADS`` and ``torch.set_num_threads`` set to it):

* layer: the sparse layer's forward + backward inside autograd (output, input gradient, weight gradient, bias
  gradient: ``torch.autograd.grad(layer(x), [x, *params], g)``), batch 500, median of ``--layer-reps`` calls;
* epoch: one whole training epoch (100 steps: data indexing, both layers, loss, backward, Adam), median of the
  epochs after the first;
* the per-epoch mean training loss of (a) and (b), which must agree to 1e-4 (exit status 1 otherwise).

Usage: python benches/torch_loop.py [--threads 1 2] [--epochs 5] [--layer-reps 200] [--samples 50000]
Needs torch, numpy, neurosplit (pip install ./python); sparseprop and sparselab are skipped (and said so) when
missing. Times depend on the machine and its load: compare ratios within one run.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

D, H, C, BATCH, DENSITY = 512, 512, 100, 500, 0.145
VARIANTS = ["masked", "neurosplit", "sparseprop", "sparselab"]
LABELS = {
    "masked": "(a) masked nn.Linear",
    "neurosplit": "(b) neurosplit SparseLinear",
    "sparseprop": "(c) SparseProp",
    "sparselab": "(d) sparselab",
}


def initial(seed=0):
    """The initial weights and mask every variant starts from."""
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    first, head = nn.Linear(D, H), nn.Linear(H, C)
    live = round(DENSITY * D * H)
    mask = torch.zeros(D * H, dtype=torch.bool)
    mask[torch.randperm(D * H, generator=torch.Generator().manual_seed(seed + 1))[:live]] = True
    mask = mask.view(H, D)
    w1 = (first.weight.detach() * mask).contiguous()
    return w1, first.bias.detach().clone(), mask, head.weight.detach().clone(), head.bias.detach().clone()


def sparse_layer(kind, w1, b1, mask, threads):
    import torch
    import torch.nn as nn

    if kind == "masked":
        from torch.nn.utils import prune

        lin = nn.Linear(D, H)
        with torch.no_grad():
            lin.weight.copy_(w1)
            lin.bias.copy_(b1)
        prune.custom_from_mask(lin, "weight", mask)
        return lin
    if kind == "neurosplit":
        from neurosplit.torch import SparseLinear

        return SparseLinear(D, H, weight=w1, bias=b1, mask=mask, threads=threads)
    if kind == "sparseprop":
        from sparseprop.modules.linear import SparseLinear

        return SparseLinear(w1.clone(), nn.Parameter(b1.clone()))
    if kind == "sparselab":
        import numpy as np
        import sparselab
        from sparselab import layout

        lab = sparselab.SparseLinear(D, H, bias=True, sparsity=1 - DENSITY)
        csr = layout.from_dense(w1.clone(), padding_ratio=0.0)
        lab._csr = csr
        lab._values = nn.Parameter(torch.from_numpy(np.asarray(csr.values)))
        with torch.no_grad():
            lab.bias.copy_(b1)
        return lab
    raise ValueError(kind)


def model(kind, init, threads):
    import torch
    import torch.nn as nn

    w1, b1, mask, w2, b2 = init
    head = nn.Linear(H, C)
    with torch.no_grad():
        head.weight.copy_(w2)
        head.bias.copy_(b2)
    return nn.Sequential(sparse_layer(kind, w1, b1, mask, threads), nn.ReLU(), head)


def time_layer(layer, reps):
    """Median seconds of the layer's forward + backward inside autograd: the output, then the gradients of the
    input, the weight and the bias (``torch.autograd.grad``, so no ``.grad`` is accumulated). The upstream
    gradient has the output's layout, as the gradient an elementwise activation passes back does."""
    import torch

    g = torch.Generator().manual_seed(5)
    x = torch.randn(BATCH, D, generator=g, requires_grad=True)
    params = [p for p in layer.parameters() if p.requires_grad]
    with torch.no_grad():
        like = layer(x)
    gy = torch.empty_like(like).normal_(generator=g)
    times = []
    for i in range(reps + 10):
        t0 = time.perf_counter()
        torch.autograd.grad(layer(x), [x] + params, gy)
        t1 = time.perf_counter()
        if i >= 10:
            times.append(t1 - t0)
    return statistics.median(times)


def train(net, X, Y, epochs):
    """Per-epoch mean loss and seconds."""
    import torch
    import torch.nn.functional as F

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(3)
    n = X.shape[0]
    losses, secs = [], []
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        total = torch.zeros(())
        for i in range(0, n, BATCH):
            idx = perm[i : i + BATCH]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(X[idx]), Y[idx])
            loss.backward()
            opt.step()
            total += loss.detach()
        secs.append(time.perf_counter() - t0)
        losses.append(float(total) / ((n + BATCH - 1) // BATCH))
    return losses, secs


def worker(args):
    import torch

    torch.set_num_threads(args.worker)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(args.samples, D, generator=g)
    Y = torch.randint(0, C, (args.samples,), generator=g)
    init = initial()
    out = {"threads": args.worker, "torch": torch.__version__, "variants": {}}
    for kind in VARIANTS:
        try:
            net = model(kind, init, args.worker)
        except ImportError as e:
            out["variants"][kind] = {"skipped": f"not installed ({e})"}
            continue
        layer_s = time_layer(model(kind, init, args.worker)[0], args.layer_reps)
        losses, secs = train(net, X, Y, args.epochs)
        out["variants"][kind] = {
            "layer_ms": layer_s * 1e3,
            "epoch_ms": statistics.median(secs[1:] if len(secs) > 1 else secs) * 1e3,
            "losses": losses,
        }
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--layer-reps", type=int, default=200)
    ap.add_argument("--samples", type=int, default=50_000)
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        return worker(args)

    import platform

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    print(f"CLIP-sized FPE model {D} -> {H} ({DENSITY:.1%} live) -> {C}, batch {BATCH}, Adam, {args.samples} samples, "
          f"{args.epochs} epochs; {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"load average before: {'n/a' if load is None else ' '.join(f'{v:.1f}' for v in load)}")
    ok = True
    for t in args.threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
        cmd = [sys.executable, __file__, "--worker", str(t), "--epochs", str(args.epochs),
               "--layer-reps", str(args.layer_reps), "--samples", str(args.samples)]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr, file=sys.stderr)
            sys.exit(res.returncode)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        v = r["variants"]
        ns = v["neurosplit"]
        print(f"\n{t} thread{'s' if t > 1 else ''} (torch {r['torch']})")
        print("| sparse layer | layer fwd+bwd ms | (b) faster by | epoch ms | (b) faster by |")
        print("|---|---|---|---|---|")
        for kind in VARIANTS:
            s = v[kind]
            if "skipped" in s:
                print(f"| {LABELS[kind]} | skipped: {s['skipped']} | | | |")
                continue
            print(f"| {LABELS[kind]} | {s['layer_ms']:.2f} | {s['layer_ms'] / ns['layer_ms']:.2f}x | "
                  f"{s['epoch_ms']:.0f} | {s['epoch_ms'] / ns['epoch_ms']:.2f}x |")
        diffs = [abs(a - b) for a, b in zip(v["masked"]["losses"], ns["losses"])]
        agree = max(diffs) <= 1e-4
        ok &= agree
        print(f"losses per epoch, (a): {' '.join(f'{x:.6f}' for x in v['masked']['losses'])}")
        print(f"losses per epoch, (b): {' '.join(f'{x:.6f}' for x in ns['losses'])}")
        print(f"largest difference {max(diffs):.2e}: {'agree' if agree else 'DISAGREE'} to 1e-4")
        goals = []
        goals.append(("layer >= 2x faster than (a)", v["masked"]["layer_ms"] / ns["layer_ms"] >= 2))
        if "layer_ms" in v["sparseprop"]:
            goals.append(("layer >= 2.5x faster than (c)", v["sparseprop"]["layer_ms"] / ns["layer_ms"] >= 2.5))
        others = [v[k]["epoch_ms"] for k in VARIANTS if k != "neurosplit" and "epoch_ms" in v[k]]
        goals.append(("epoch faster than every other variant", all(ns["epoch_ms"] < o for o in others)))
        print("goals: " + "; ".join(f"{name}: {'met' if met else 'NOT met'}" for name, met in goals))
    try:
        print(f"\nload average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    except OSError:
        pass
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

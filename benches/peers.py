#!/usr/bin/env python3
"""The CLIP-sized FPE epoch in the peers of neurosplit, one variant and one thread count per process.

The model and data are those of `examples/clip_epoch.rs` (and of `fpe_torch.py clip`): d = 512 Gaussian inputs,
C = 100 classes, 50 000 samples, batch 500 (100 steps an epoch), softmax cross-entropy plus the default penalties
(L1 1e-7 on the first layer, L2 1e-5 on every parameter), Adam at lr 1e-3. A dense 512 -> 128 -> 100 MLP is
expanded by FPE (alpha 4, random split, joint magnitude pruning back to the dense budget): the first layer
becomes 512 -> 512 at about 14.5 % live, the second 512 -> 100 at about 78.7 % live, 78 336 live weights in all.

Variants (`--variant`):
  torch-fp32-masked    nn.Linear layers in fp32; gradients and weights multiplied by the masks every step
  torch-bf16-autocast  the same under torch.autocast("cpu", torch.bfloat16), Adam(fused=True)
  sparseprop           the first layer a sparseprop.modules.SparseLinear (CSR, its own kernels), the second masked
  sparselab            the first layer a sparselab.SparseLinear (padded CSR) on the same pattern, the second masked
  torch-sparse-csr     the first layer a torch.sparse CSR tensor (forward torch.sparse.mm, weight gradient
                       torch.sparse.sampled_addmm), the second masked
Every variant keeps the first layer's live weights only; the 78.7 %-live second layer stays a masked dense
layer in all of them, as it does in neurosplit.

Usage (benches/peers.sh runs this; each variant in its own process, OMP_NUM_THREADS set by the caller):
  python benches/peers.py run --variant NAME --threads T [--reps 3]
      prints one line `RESULT <variant> <threads> <median ms> <fastest ms> <useful GFLOP> <loss> nnz=<live
      weights> cpu=<CPU ms of the fastest epoch>`, or
      `SKIP <variant> <threads> <reason>` when the variant's package cannot be imported or run
  python3 benches/peers.py table RAW_FILE
      reads the RESULT/SKIP/NEUROSPLIT/SGEMM lines of a run and prints the markdown table
"""
import argparse
import os
import re
import statistics
import sys
import time
from collections import defaultdict

VARIANTS = ["torch-fp32-masked", "torch-bf16-autocast", "sparseprop", "sparselab", "torch-sparse-csr"]
LABELS = {
    "neurosplit": "neurosplit (`clip_epoch --fpe-only`)",
    "torch-fp32-masked": "PyTorch fp32, masked dense",
    "torch-bf16-autocast": "PyTorch bf16 autocast, fused Adam, masked dense",
    "sparseprop": "SparseProp (first layer), masked second layer",
    "sparselab": "sparselab (first layer), masked second layer",
    "torch-sparse-csr": "torch.sparse CSR (first layer), masked second layer",
}
D, C, N, H, ALPHA, BATCH = 512, 100, 50_000, 128, 4, 500


def fpe_expand(torch, w1, b1, w2, rng):
    """FPE with the random split and joint magnitude pruning to the dense budget (as fpe_torch.py's)."""
    import numpy as np

    h, d = w1.shape
    hp = h * ALPHA
    m1 = torch.zeros(hp, d)
    for j in range(h):
        for a, g in enumerate(np.array_split(rng.permutation(d), ALPHA)):
            m1[j * ALPHA + a, torch.as_tensor(g, dtype=torch.long)] = 1.0
    parent = torch.arange(hp) // ALPHA
    w1n, b1n, w2n = w1[parent] * m1, b1[parent].clone(), w2[:, parent].clone()
    m2 = torch.ones(w2.shape[0], hp)
    budget = w1.numel() + w2.numel()
    excess = int(m1.sum() + m2.sum()) - budget
    if excess > 0:
        mags = torch.cat([w1n.abs().flatten(), w2n.abs().flatten()])
        flat = torch.cat([m1.flatten(), m2.flatten()])
        mags = torch.where(flat > 0, mags, torch.full_like(mags, float("inf")))
        flat[torch.topk(mags, excess, largest=False).indices] = 0.0
        m1, m2 = flat[: m1.numel()].view_as(m1).clone(), flat[m1.numel():].view_as(m2).clone()
    assert int(m1.sum() + m2.sum()) == budget
    return w1n * m1, b1n, w2n * m2, m1, m2


def build(torch, variant):
    """(parameters, masked (param, mask) pairs, forward(x), L1 term of the first layer, live weights of each
    layer) of one variant, all built from the same seeded dense model and its FPE expansion."""
    import numpy as np

    torch.manual_seed(0)
    fc1 = torch.nn.Linear(D, H)
    fc2 = torch.nn.Linear(H, C)
    with torch.no_grad():
        w1, b1, w2, m1, m2 = fpe_expand(torch, fc1.weight, fc1.bias, fc2.weight, np.random.default_rng(0))
    out = torch.nn.Linear(H * ALPHA, C)
    with torch.no_grad():
        out.weight.copy_(w2)
        out.bias.copy_(fc2.bias)
    masked = [(out.weight, m2)]
    nnz1, nnz2 = int(m1.sum()), int(m2.sum())
    relu = torch.nn.functional.relu
    if variant in ("torch-fp32-masked", "torch-bf16-autocast"):
        first = torch.nn.Linear(D, H * ALPHA)
        with torch.no_grad():
            first.weight.copy_(w1)
            first.bias.copy_(b1)
        masked.append((first.weight, m1))
        l1 = lambda: first.weight.abs().sum()  # noqa: E731
        if variant == "torch-fp32-masked":
            fwd = lambda x: out(relu(first(x)))  # noqa: E731
        else:
            def fwd(x):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    return out(relu(first(x))).float()
        mods = [first, out]
    elif variant == "sparseprop":
        from sparseprop.modules.linear import SparseLinear

        first = SparseLinear(dense_weight=w1.clone(), bias=torch.nn.Parameter(b1.clone()))
        assert first.W_val.numel() == nnz1, "sparseprop dropped live weights"
        l1 = lambda: first.W_val.abs().sum()  # noqa: E731
        fwd = lambda x: out(relu(first(x)))  # noqa: E731
        mods = [first, out]
    elif variant == "sparselab":
        import sparselab
        from sparselab import layout

        first = sparselab.SparseLinear(D, H * ALPHA, sparsity=1.0 - nnz1 / (D * H * ALPHA), padding_ratio=0.0)
        csr = layout.from_dense(w1, padding_ratio=0.0)
        first._csr = csr
        first._values = torch.nn.Parameter(torch.from_numpy(np.asarray(csr.values)))
        with torch.no_grad():
            first.bias.copy_(b1)
        assert first.nnz == nnz1, "sparselab dropped live weights"
        l1 = lambda: first._values.abs().sum()  # noqa: E731
        fwd = lambda x: out(relu(first(x)))  # noqa: E731
        mods = [first, out]
    elif variant == "torch-sparse-csr":
        csr = w1.to_sparse_csr()
        crow, col = csr.crow_indices(), csr.col_indices()
        pattern = torch.sparse_csr_tensor(crow, col, torch.ones(col.numel()), size=w1.shape)
        values = torch.nn.Parameter(csr.values().clone())
        bias = torch.nn.Parameter(b1.clone())
        assert values.numel() == nnz1, "to_sparse_csr dropped live weights"

        class CsrLinear(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x, vals):
                w = torch.sparse_csr_tensor(crow, col, vals, size=w1.shape)
                ctx.save_for_backward(x, vals)
                return torch.sparse.mm(w, x.t()).t()

            @staticmethod
            def backward(ctx, dy):
                x, vals = ctx.saved_tensors
                dx = None
                if ctx.needs_input_grad[0]:
                    w = torch.sparse_csr_tensor(crow, col, vals, size=w1.shape)
                    dx = dy @ w.to_dense()  # never asked for: the first layer's input needs no gradient
                dw = torch.sparse.sampled_addmm(pattern, dy.t().contiguous(), x, beta=0.0)
                return dx, dw.values()

        class First(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.values, self.bias = values, bias

            def forward(self, x):
                return CsrLinear.apply(x, self.values) + self.bias

        first = First()
        l1 = lambda: first.values.abs().sum()  # noqa: E731
        fwd = lambda x: out(relu(first(x)))  # noqa: E731
        mods = [first, out]
    else:
        raise SystemExit(f"unknown variant {variant}; one of {', '.join(VARIANTS)}")
    params = [p for m in mods for p in m.parameters()]
    return params, masked, fwd, l1, nnz1, nnz2


def run(args):
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    try:
        import torch
        torch.set_num_threads(args.threads)
        params, masked, fwd, l1, nnz1, nnz2 = build(torch, args.variant)
    except Exception as e:  # a peer that is not installed or does not run here: say why, skip its row
        msg = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        print(f"SKIP {args.variant} {args.threads} {msg}", flush=True)
        return
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=g)
    y = torch.randint(0, C, (N,), generator=g)
    with torch.no_grad():
        for p, m in masked:
            p.mul_(m)
    adam = torch.optim.Adam(params, lr=1e-3, fused=(args.variant == "torch-bf16-autocast"))
    ce = torch.nn.functional.cross_entropy

    def epoch():
        perm = torch.randperm(N, generator=g)
        for i in range(0, N, BATCH):
            idx = perm[i:i + BATCH]
            adam.zero_grad(set_to_none=True)
            loss = ce(fwd(x[idx]), y[idx]) + 1e-7 * l1() + 1e-5 * sum((p * p).sum() for p in params)
            loss.backward()
            for p, m in masked:
                p.grad.mul_(m)
            adam.step()
            with torch.no_grad():
                for p, m in masked:
                    p.mul_(m)

    try:
        epoch()  # warm-up
        times, cpus = [], []
        for _ in range(args.reps):
            t, c = time.perf_counter(), time.process_time()
            epoch()
            times.append((time.perf_counter() - t) * 1e3)
            cpus.append((time.process_time() - c) * 1e3)
        with torch.no_grad():
            loss = float(ce(fwd(x[:5000]).float(), y[:5000]))
    except Exception as e:
        msg = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        print(f"SKIP {args.variant} {args.threads} {msg}", flush=True)
        return
    useful = (2 * nnz1 + 3 * nnz2) * 2 * N / 1e9
    print(f"RESULT {args.variant} {args.threads} {statistics.median(times):.1f} {min(times):.1f} {useful:.2f} "
          f"{loss:.4f} nnz={nnz1}+{nnz2} cpu={cpus[times.index(min(times))]:.1f}", flush=True)


def table(path):
    """Median over rounds of each run's median epoch, fastest over all; ratios within the run."""
    med, fast, cpu, skip, useful, sgemm = defaultdict(list), defaultdict(list), defaultdict(list), {}, {}, {}
    for line in open(path):
        w = line.split()
        if not w:
            continue
        if w[0] == "RESULT":
            key = (w[1], int(w[2]))
            med[key].append(float(w[3]))
            fast[key].append(float(w[4]))
            useful[w[1]] = float(w[5])
            cpu[key] += [float(x[4:]) for x in w if x.startswith("cpu=")]
        elif w[0] == "SKIP":
            skip[(w[1], int(w[2]))] = " ".join(w[3:])
        elif w[0] == "NEUROSPLIT":
            # NEUROSPLIT <threads> <median> <fastest> <useful GFLOP>
            key = ("neurosplit", int(w[1]))
            med[key].append(float(w[2]))
            fast[key].append(float(w[3]))
            useful["neurosplit"] = float(w[4])
            cpu[key] += [float(x[4:]) for x in w if x.startswith("cpu=")]
        elif w[0] == "SGEMM":
            sgemm.setdefault(int(w[1]), []).append(float(w[2]))
        elif line.startswith("sgemm 2048^3"):
            m = re.search(r"over (\d+) thread.*?([\d.]+) GFLOP/s", line)
            if m:
                sgemm.setdefault(int(m.group(1)), []).append(float(m.group(2)))
    sg = {t: statistics.median(v) for t, v in sgemm.items()}
    rows = ["neurosplit"] + VARIANTS
    ns = {t: statistics.median(med[("neurosplit", t)]) for t in (1, 2) if med[("neurosplit", t)]}
    print("| implementation | 1 thread ms/epoch | 2 threads ms/epoch | 1 / 2 threads useful GFLOP/s | "
          "/ sgemm (1 / 2 threads) | ms / neurosplit's (1 / 2 threads) | CPU ms of the fastest epoch (1 / 2 threads) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cells, gf, rel, vs = [], [], [], []
        cp = [f"{statistics.median(cpu[(r, t)]):.0f}" if cpu[(r, t)] else "-" for t in (1, 2)]
        for t in (1, 2):
            v = med[(r, t)]
            if not v:
                cells.append("skipped" if (r, t) in skip else "-")
                gf.append("-")
                rel.append("-")
                vs.append("-")
                continue
            m = statistics.median(v)
            cells.append(f"{m:.0f} [{min(fast[(r, t)]):.0f}]")
            g = useful.get(r, 0) / (m / 1e3)
            gf.append(f"{g:.0f}")
            rel.append(f"{g / sg[t]:.2f}" if t in sg else "-")
            vs.append(f"{m / ns[t]:.2f}" if t in ns else "-")
        print(f"| {LABELS[r]} | {cells[0]} | {cells[1]} | {' / '.join(gf)} | {' / '.join(rel)} | {' / '.join(vs)} "
              f"| {' / '.join(cp)} |")
    for (r, t), why in sorted(skip.items()):
        print(f"\n{LABELS.get(r, r)} at {t} thread(s), skipped{' in a round' if med[(r, t)] else ''}: {why}")
    if sg:
        print("\nsgemm 2048^3 (matrixmultiply, `sparse_sweep --roofline`, median of the rounds): "
              + ", ".join(f"{sg[t]:.0f} GFLOP/s on {t} thread(s)" for t in sorted(sg)))
    n_rounds = max((len(v) for v in med.values()), default=0)
    print(f"ms/epoch: median over {n_rounds} round(s) of each run's median epoch [fastest epoch of all rounds]; "
          "useful GFLOP/s = 2 x live weights x samples per product (first layer: forward and weight gradient; "
          "second: also the input gradient) / median epoch; CPU ms: all threads of the process during its fastest "
          "epoch (median over rounds), which other jobs' time slices do not inflate.")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--variant", required=True, choices=VARIANTS)
    r.add_argument("--threads", type=int, required=True)
    r.add_argument("--reps", type=int, default=3)
    t = sub.add_parser("table")
    t.add_argument("raw")
    a = ap.parse_args()
    if a.cmd == "run":
        if a.threads < 1 or a.reps < 1:
            sys.exit("--threads and --reps must be at least 1")
        run(a)
    else:
        table(a.raw)


if __name__ == "__main__":
    main()

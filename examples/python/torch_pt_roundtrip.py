"""PyTorch's own files, end to end: train an MLP with a Dropout in PyTorch -> torch.save(state_dict, "m.pt")
-> `neurosplit finetune m.pt ... -o wide.pt` (widen 2x at the same non-zero budget, retrain) -> the same module
definition with the widened hidden size loads wide.pt with load_state_dict -> a few more epochs in the user's
own training loop, with the non-zero count unchanged.

    python examples/python/torch_pt_roundtrip.py DIR [--quick] [--bin PATH/TO/neurosplit]

The binary is --bin, else $NEUROSPLIT_BIN, else target/release/neurosplit. --quick uses smaller data and fewer
epochs (seconds; what CI runs). Exits non-zero if torch cannot load the file or the non-zero count moves.
Needs torch and numpy.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune


def make_net(hidden):
    # The user's own module: Linear, ReLU, Dropout, Linear, so the state dict's keys are 0.* and 3.*.
    return nn.Sequential(nn.Linear(32, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, 10))


def data(n_train, n_test, seed=0):
    # 10 classes: a random 32-D Gaussian mixture.
    g = np.random.default_rng(seed)
    centers = g.normal(size=(10, 32)).astype(np.float32)

    def draw(n):
        y = g.integers(0, 10, size=n)
        return (centers[y] + 1.2 * g.normal(size=(n, 32))).astype(np.float32), y.astype(np.int64)

    return draw(n_train), draw(n_test)


def train(net, x, y, epochs, lr):
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()


def accuracy(net, x, y):
    net.eval()
    with torch.no_grad():
        return (net(x).argmax(1) == y).float().mean().item()


def nonzero(net):
    # weight is weight_orig * weight_mask for a pruned module (recomputed by the forward pass in accuracy()).
    return sum(int((m.weight != 0).sum()) for m in net if isinstance(m, nn.Linear))


def main():
    args = sys.argv[1:]
    quick = "--quick" in args
    binary = os.environ.get("NEUROSPLIT_BIN", "target/release/neurosplit")
    if "--bin" in args:
        binary = args[args.index("--bin") + 1]
    out = Path(next(a for a in args if not a.startswith("--") and a != binary))
    out.mkdir(parents=True, exist_ok=True)
    n_train, n_test, epochs, fpe_epochs, more = (1000, 300, 5, 3, 2) if quick else (4000, 1000, 30, 30, 5)

    (xtr, ytr), (xte, yte) = data(n_train, n_test)
    np.savez_compressed(out / "data.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    x, y, xt, yt = map(torch.from_numpy, (xtr, ytr, xte, yte))

    torch.manual_seed(0)
    net = make_net(8)
    train(net, x, y, epochs, 1e-2)
    torch.save(net.state_dict(), out / "m.pt")
    print(f"PyTorch: trained {list(net.state_dict())}, test accuracy {accuracy(net, xt, yt):.4f}, "
          f"non-zero weights {nonzero(net)}")

    cmd = [binary, "finetune", str(out / "m.pt"), "--data", str(out / "data.npz"), "--alpha", "2",
           "--epochs", str(fpe_epochs), "--trials", "1" if quick else "5", "--quiet", "-o", str(out / "wide.pt")]
    print("$ " + " ".join(cmd))
    subprocess.run(cmd, check=True)

    state = torch.load(out / "wide.pt", weights_only=True)
    wide = make_net(16)  # the one-line change: the widened hidden size
    for key in state:
        if key.endswith(".weight_orig"):  # the prune layout: weight = weight_orig * weight_mask
            prune.identity(wide.get_submodule(key[: -len(".weight_orig")]), "weight")
    wide.load_state_dict(state)  # strict: the keys are the module's own (0.*, 3.*)
    print(f"PyTorch: loaded {list(state)}")
    print(f"  after neurosplit: test accuracy {accuracy(wide, xt, yt):.4f}, non-zero weights {nonzero(wide)}")
    budget = nonzero(wide)
    for epoch in range(1, more + 1):
        train(wide, x, y, 1, 1e-3)
        acc = accuracy(wide, xt, yt)
        print(f"  own loop, epoch {epoch}: test accuracy {acc:.4f}, non-zero weights {nonzero(wide)}")
        if nonzero(wide) != budget:
            sys.exit(f"the non-zero count moved: {nonzero(wide)} != {budget}")


if __name__ == "__main__":
    main()

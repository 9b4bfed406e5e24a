"""Round trip: train an MLP in PyTorch -> `neurosplit finetune` (widen at the same non-zero budget, retrain)
-> load the result back into the same kind of nn.Sequential and evaluate it in PyTorch.

    python examples/python/torch_roundtrip.py DIR            # writes DIR/net.safetensors and DIR/data.npz
    neurosplit finetune DIR/net.safetensors --data DIR/data.npz --alpha 2 --epochs 30 --torch -o DIR/wide.safetensors
    python examples/python/torch_roundtrip.py DIR --check    # loads DIR/wide.safetensors into PyTorch

Needs torch, numpy and safetensors.
"""

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file


def data(seed=0):
    # 10 classes: a random 32-D Gaussian mixture, 4000 train / 1000 test samples, saved compressed.
    g = np.random.default_rng(seed)
    centers = g.normal(size=(10, 32)).astype(np.float32)
    def draw(n):
        y = g.integers(0, 10, size=n)
        return (centers[y] + 1.2 * g.normal(size=(n, 32))).astype(np.float32), y.astype(np.int64)
    return draw(4000), draw(1000)


def accuracy(net, x, y):
    with torch.no_grad():
        return (net(torch.from_numpy(x)).argmax(1).numpy() == y).mean()


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (xtr, ytr), (xte, yte) = data()
    if "--check" in sys.argv:
        state = load_file(out / "wide.safetensors")
        masks = {k: v for k, v in state.items() if k.endswith("weight_mask")}
        plain = {k: v for k, v in state.items() if not k.endswith("weight_mask")}
        widths = [plain["0.weight"].shape[1]] + [plain[f"{i}.weight"].shape[0] for i in (0, 2)]
        net = nn.Sequential(nn.Linear(widths[0], widths[1]), nn.ReLU(), nn.Linear(widths[1], widths[2]))
        net.load_state_dict(plain)  # strict: the names are the Sequential's own
        nnz = sum(int((m.weight != 0).sum()) for m in net if isinstance(m, nn.Linear))
        print(f"PyTorch: loaded {list(plain)} (+ masks {list(masks)}); widths {widths}; "
              f"non-zero weights {nnz}; test accuracy {accuracy(net, xte, yte):.4f}")
        return
    np.savez_compressed(out / "data.npz", x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(32, 8), nn.ReLU(), nn.Linear(8, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for epoch in range(30):
        for i in range(0, len(x), 128):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[i:i + 128]), y[i:i + 128]).backward()
            opt.step()
    save_file(net.state_dict(), out / "net.safetensors")
    nnz = sum(int((m.weight != 0).sum()) for m in net if isinstance(m, nn.Linear))
    print(f"PyTorch: trained {list(net.state_dict())}; non-zero weights {nnz}; "
          f"test accuracy {accuracy(net, xte, yte):.4f}")


if __name__ == "__main__":
    main()

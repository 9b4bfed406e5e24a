"""neurosplit.torch with a real PyTorch: widen a trained nn.Sequential, train it in a plain PyTorch loop with the
masks fixed (prune.custom_from_mask), and check that the non-zero budget holds."""

import numpy as np
import torch
import torch.nn as nn

from neurosplit.torch import expand_sequential

torch.manual_seed(0)
g = np.random.default_rng(0)
x = torch.from_numpy(g.uniform(-1, 1, size=(2000, 6)).astype(np.float32))
y = (x[:, 0::2] + x[:, 1::2]).argmax(1)
net = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
opt = torch.optim.Adam(net.parameters(), lr=1e-2)
for _ in range(200):
    opt.zero_grad(); nn.functional.cross_entropy(net(x), y).backward(); opt.step()
acc = lambda n: (n(x).argmax(1) == y).float().mean().item()
nnz = lambda n: sum(int((m.weight != 0).sum()) for m in n if isinstance(m, nn.Linear))
print(f"dense: {net}; non-zero {nnz(net)}; accuracy {acc(net):.4f}")
wide, report = expand_sequential(net, alpha=2, strategy="random", seed=0)
print(f"expanded: widths {report['dims_after']}; non-zero {nnz(wide)} (budget {report['budget']}); accuracy {acc(wide):.4f}")
opt = torch.optim.Adam(wide.parameters(), lr=1e-2)
for _ in range(200):
    opt.zero_grad(); nn.functional.cross_entropy(wide(x), y).backward(); opt.step()
print(f"after 200 steps in a plain PyTorch loop: non-zero {nnz(wide)}; accuracy {acc(wide):.4f}; "
      f"parameters {[n for n, _ in wide.named_parameters()]}")

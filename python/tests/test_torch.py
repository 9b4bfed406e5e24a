"""neurosplit.torch: expand_ on the user's own module, and SparseLinear (neurosplit's kernels inside autograd)
checked against the masked dense product."""

import copy
import os

import numpy as np
import pytest

if os.environ.get("CI") == "true":
    import torch  # in CI these tests must run (conftest.py fails without torch)
else:
    torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402

import neurosplit  # noqa: E402
from neurosplit import NeurosplitError  # noqa: E402
from neurosplit.torch import SparseLinear, expand_, layers_of, mlp_layers  # noqa: E402


def effective_nnz(module):
    return sum(int(torch.count_nonzero(lin.weight)) for _, lin, _ in mlp_layers(module))


def adam_steps(module, steps=20, d=12, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    losses = []
    for _ in range(steps):
        x = torch.randn(32, d, generator=g)
        y = torch.randint(0, classes, (32,), generator=g)
        loss = nn.functional.cross_entropy(module(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


class Custom(nn.Module):
    """fc1/fc2-style attributes with a LayerNorm and Dropout between them."""

    def __init__(self, h=8):
        super().__init__()
        self.fc1 = nn.Linear(12, h)
        self.norm1 = nn.LayerNorm(h)
        self.drop = nn.Dropout(0.1)
        self.fc2 = nn.Linear(h, 6)
        self.fc3 = nn.Linear(6, 3)

    def forward(self, x):
        h = self.drop(torch.relu(self.norm1(self.fc1(x))))
        return self.fc3(torch.relu(self.fc2(h)))


def test_expand_sequential_keeps_the_count_through_20_adam_steps():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 3))
    before = effective_nnz(net)
    report = expand_(net, 2, seed=1)
    assert report["nnz_final"] == report["budget"] == before
    assert (net[0].out_features, net[3].in_features) == (16, 16)
    assert effective_nnz(net) == before
    net.train()
    adam_steps(net)
    assert effective_nnz(net) == before
    # The masks are prune's: weight_orig + weight_mask in the state dict.
    assert {"0.weight_orig", "0.weight_mask", "3.weight_orig", "3.weight_mask"} <= set(net.state_dict())


def test_expand_equals_the_engine_and_widens_layernorm():
    torch.manual_seed(0)
    m = Custom()
    with torch.no_grad():
        m.norm1.weight.uniform_(0.5, 1.5)
        m.norm1.bias.uniform_(-0.5, 0.5)
    gain, bias = m.norm1.weight.detach().clone(), m.norm1.bias.detach().clone()
    ref, _ = neurosplit.expand(layers_of(m), 3, "random", seed=4)
    before = effective_nnz(m)
    expand_(m, 3, "random", seed=4)
    for (w, b, mask), (w2, b2, mask2) in zip(ref, layers_of(m)):
        np.testing.assert_array_equal(w, w2)
        np.testing.assert_array_equal(b, b2)
        np.testing.assert_array_equal(mask, mask2)
    # Hidden layer 0 is split (children p*alpha + j copy the parent's gain and bias); layer 2 is the head's
    # input side only.
    assert m.fc1.out_features == 24 and m.norm1.normalized_shape == (24,)
    torch.testing.assert_close(m.norm1.weight.detach(), gain.repeat_interleave(3))
    torch.testing.assert_close(m.norm1.bias.detach(), bias.repeat_interleave(3))
    assert m(torch.randn(5, 12)).shape == (5, 3)
    adam_steps(m)
    assert effective_nnz(m) == before


def test_ambiguous_or_unsupported_modules_are_refused():
    class Swapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc2 = nn.Linear(8, 3)
            self.fc1 = nn.Linear(12, 8)

    with pytest.raises(NeurosplitError, match="ambiguous"):
        expand_(Swapped(), 2)
    with pytest.raises(NeurosplitError, match="Conv1d"):
        expand_(nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 1), nn.Linear(4, 2)), 2)
    with pytest.raises(NeurosplitError, match="LayerNorm"):
        expand_(nn.Sequential(nn.LayerNorm(4), nn.Linear(4, 4), nn.Linear(4, 2)), 2)
    with pytest.raises(NeurosplitError, match="hidden layer"):
        expand_(nn.Sequential(nn.Linear(4, 2)), 2)
    with pytest.raises(NeurosplitError, match="torch.nn.Module"):
        expand_([1, 2], 2)
    with pytest.raises(NeurosplitError, match="alpha"):
        expand_(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)), 1)


def test_expand_sequential_returns_a_copy():
    net = nn.Sequential(nn.Linear(12, 8), nn.ReLU(), nn.LayerNorm(8), nn.Linear(8, 3))
    # A LayerNorm after the activation still follows the Linear of its width: accepted.
    wide, report = neurosplit.torch.expand_sequential(net, 2)
    assert net[0].out_features == 8 and wide[0].out_features == 16 and wide[2].normalized_shape == (16,)
    assert report["dims_after"] == [12, 16, 3]


# ---------------------------------------------------------------------------------------------------------------
# SparseLinear
# ---------------------------------------------------------------------------------------------------------------


def sparse_case(n=16, k=24, density=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, k, generator=g)
    mask = torch.rand(n, k, generator=g) < density
    b = torch.randn(n, generator=g)
    return w, b, mask


def reference(x, w, b, mask):
    """The masked dense product and its gradients, by torch autograd."""
    x = x.detach().clone().requires_grad_()
    w = (w * mask).detach().clone().requires_grad_()
    b = b.detach().clone().requires_grad_()
    y = nn.functional.linear(x, w * mask, b)
    return x, w, b, y


@pytest.mark.parametrize("fmt", ["csr", "bitmask"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_sparse_linear_matches_the_masked_dense_product(fmt, threads):
    w, b, mask = sparse_case()
    layer = SparseLinear(24, 16, weight=w, bias=b, mask=mask, threads=threads, format=fmt)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(37, 24, generator=g, requires_grad=True)
    r = torch.randn(37, 16, generator=g)
    y = layer(x)
    (y * r).sum().backward()
    xr, wr, br, yr = reference(x, w, b, mask)
    (yr * r).sum().backward()
    tol = dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y, yr, **tol)
    torch.testing.assert_close(x.grad, xr.grad, **tol)
    torch.testing.assert_close(layer.weight.grad, wr.grad * mask, **tol)
    torch.testing.assert_close(layer.bias.grad, br.grad, **tol)
    # Live entries only: exactly zero off the mask.
    assert torch.all(layer.weight.grad[~mask] == 0)


def test_sparse_linear_finite_differences():
    """gradcheck-style: the analytic gradients against central differences, at float32 tolerances."""
    w, b, mask = sparse_case(n=5, k=7, density=0.5, seed=3)
    layer = SparseLinear(7, 5, weight=w, bias=b, mask=mask)
    x = torch.randn(4, 7, generator=torch.Generator().manual_seed(2), requires_grad=True)

    def f():
        return (layer(x) ** 2).sum()

    f().backward()
    eps = 1e-2
    for t, grad in ((x, x.grad), (layer.weight, layer.weight.grad), (layer.bias, layer.bias.grad)):
        flat = t.data.view(-1)
        for i in range(flat.numel()):
            if t is layer.weight and not mask.view(-1)[i]:
                continue
            old = float(flat[i])
            with torch.no_grad():
                flat[i] = old + eps
                hi = float(f())
                flat[i] = old - eps
                lo = float(f())
                flat[i] = old
            assert abs((hi - lo) / (2 * eps) - float(grad.view(-1)[i])) <= 2e-2 * (1 + abs(float(grad.view(-1)[i])))


def test_sparse_linear_shapes_layouts_and_dtypes():
    w, b, mask = sparse_case()
    layer = SparseLinear(24, 16, weight=w, bias=b, mask=mask)
    ref = lambda x: nn.functional.linear(x.float(), w * mask, b)  # noqa: E731
    x3 = torch.randn(2, 5, 24, requires_grad=True)
    y3 = layer(x3)
    assert y3.shape == (2, 5, 16)
    y3.sum().backward()
    assert x3.grad.shape == x3.shape
    torch.testing.assert_close(y3, ref(x3), rtol=1e-5, atol=1e-5)
    # A batch whose transpose is contiguous (feature-major already), a single sample, an empty batch, float64.
    xt = torch.randn(24, 9).t()
    torch.testing.assert_close(layer(xt), ref(xt), rtol=1e-5, atol=1e-5)
    x1 = torch.randn(1, 24)
    torch.testing.assert_close(layer(x1), ref(x1), rtol=1e-5, atol=1e-5)
    assert layer(torch.randn(0, 24)).shape == (0, 16)
    xd = torch.randn(3, 24, dtype=torch.float64)
    torch.testing.assert_close(layer(xd), ref(xd), rtol=1e-5, atol=1e-5)
    # No bias.
    nb = SparseLinear(24, 16, weight=w, bias=False, mask=mask)
    assert nb.bias is None
    torch.testing.assert_close(nb(x1), nn.functional.linear(x1, w * mask), rtol=1e-5, atol=1e-5)


def test_sparse_linear_keeps_its_mask_through_optimizer_steps():
    w, b, mask = sparse_case(n=3, k=12, density=0.4)
    torch.manual_seed(0)
    net = nn.Sequential(SparseLinear(12, 3, weight=w, bias=b, mask=mask, threads=2))
    for opt in (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD):
        losses = adam_steps(net) if opt is torch.optim.Adam else None
        if opt is not torch.optim.Adam:
            o = opt(net.parameters(), lr=1e-2, weight_decay=0.1)
            for _ in range(5):
                o.zero_grad()
                net(torch.randn(8, 12)).pow(2).sum().backward()
                o.step()
        assert torch.all(net[0].weight.detach()[~mask] == 0)
        assert int(torch.count_nonzero(net[0].weight)) == int(mask.sum())
        if losses is not None:
            assert losses[-1] < losses[0]


def test_sparse_linear_from_a_pruned_linear_and_state_dict():
    from torch.nn.utils import prune

    torch.manual_seed(0)
    lin = nn.Linear(10, 6)
    prune.random_unstructured(lin, "weight", amount=0.7)
    layer = SparseLinear.from_linear(lin)
    x = torch.randn(4, 10)
    torch.testing.assert_close(layer(x), lin(x), rtol=1e-5, atol=1e-5)
    assert layer.nnz == int(lin.weight_mask.sum())
    other = SparseLinear(10, 6, mask=torch.ones(6, 10))
    other.load_state_dict(layer.state_dict())
    assert other.nnz == layer.nnz
    torch.testing.assert_close(other(x), lin(x), rtol=1e-5, atol=1e-5)
    assert isinstance(layer, nn.Module) and "nnz=" in repr(layer)
    # Copies and whole-module pickles rebuild the kernel.
    twin = copy.deepcopy(layer)
    torch.testing.assert_close(twin(x), lin(x), rtol=1e-5, atol=1e-5)
    import io

    buf = io.BytesIO()
    torch.save(layer, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    torch.testing.assert_close(loaded(x), lin(x), rtol=1e-5, atol=1e-5)


def test_sparse_linear_dense_crossover_runs_dense():
    w, b, mask = sparse_case(density=0.95)
    layer = SparseLinear(24, 16, weight=w, bias=b, mask=mask)
    assert "format=dense" in repr(layer)
    x = torch.randn(3, 24)
    torch.testing.assert_close(layer(x), nn.functional.linear(x, w * mask, b), rtol=1e-5, atol=1e-5)


def test_sparse_linear_bad_inputs():
    w, b, mask = sparse_case()
    layer = SparseLinear(24, 16, weight=w, bias=b, mask=mask)
    for call, match in [
        (lambda: layer(torch.randn(3, 23)), "expected \\[..., 24\\]"),
        (lambda: layer(torch.ones(3, 24, dtype=torch.int64)), "floating point"),
        (lambda: layer(np.ones((3, 24), np.float32)), "torch.Tensor"),
        (lambda: SparseLinear(24, 16, weight=w[:, :3]), "shape"),
        (lambda: SparseLinear(24, 16, weight=w.masked_fill(mask, float("nan"))), "NaN"),
        (lambda: SparseLinear(24, 16, mask=mask[:2]), "shape"),
        (lambda: SparseLinear(24, 16, threads=0), "threads"),
        (lambda: SparseLinear(0, 16), "in_features"),
        (lambda: SparseLinear(24, 16, format="coo"), "format"),
        (lambda: SparseLinear.from_linear(nn.Conv1d(1, 1, 1)), "nn.Linear"),
    ]:
        with pytest.raises(NeurosplitError, match=match):
            call()
    with pytest.raises(NeurosplitError, match="shape"):
        neurosplit._neurosplit.SparseKernel(mask.numpy()).forward(
            w.numpy(), 0, np.zeros((3, 3), np.float32), None, np.zeros((16, 3), np.float32)
        )

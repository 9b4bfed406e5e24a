"""The numpy API end to end: expand -> metrics -> finetune, budgets preserved, results equal to the CLI's."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import neurosplit
from neurosplit import NeurosplitError

ROOT = Path(__file__).resolve().parents[2]


def problem(seed=0):
    g = np.random.default_rng(seed)
    x = g.uniform(-1, 1, size=(600, 6)).astype(np.float32)
    y = np.argmax(x[:, 0::2] + x[:, 1::2], axis=1).astype(np.int64)
    return x[:400], y[:400], x[400:], y[400:]


def dense(seed=1):
    g = np.random.default_rng(seed)
    return [
        (g.normal(size=(4, 6)).astype(np.float32), np.zeros(4, np.float32), None),
        (g.normal(size=(3, 4)).astype(np.float32), np.zeros(3, np.float32), None),
    ]


def nnz(layers):
    return sum(int(np.count_nonzero(m if m is not None else w)) for w, _, m in layers)


def test_expand_metrics_finetune_keep_the_budget():
    layers = dense()
    wide, report = neurosplit.expand(layers, 2, "random", seed=0)
    assert [w.shape for w, _, _ in wide] == [(8, 6), (3, 8)]
    assert report["nnz_final"] == report["budget"] == nnz(layers) == nnz(wide)
    m = neurosplit.metrics(wide[0][0], groups=[[0, 1], [2, 3], [4, 5]])
    assert m["gram"].shape == (6, 6) and m["capacity"].shape == (6,)
    assert m["capacity_per_group"].sum() == pytest.approx(m["capacity_total"])
    x, y, xt, yt = problem()
    out, rep = neurosplit.finetune(layers, x, y, xt, yt, alpha=2, epochs=3, batch_size=50, seed=3)
    assert rep["nnz_after"] == rep["nnz_before"] == nnz(layers) == nnz(out)
    assert 0.0 <= rep["test_acc_after"] <= 1.0 and len(rep["curve"]) == 3
    # Masked weights are exactly zero.
    for w, _, mask in out:
        if mask is not None:
            assert np.all(w[~mask] == 0)


def test_theory_and_train():
    t = neurosplit.theory(32, 4, 8, 2, 8, samples=64, seed=1)
    assert 0 < t["exact"]["coverage_p"] < 1 and "monte_carlo" in t
    x, y, xt, yt = problem()
    out, rep = neurosplit.train(x, y, hidden=[4], x_test=xt, y_test=yt, epochs=2)
    assert [w.shape for w, _, _ in out] == [(4, 6), (3, 4)] and rep["config"]["pre"]["epochs"] == 2


def test_errors_are_python_exceptions_with_the_engine_messages():
    with pytest.raises(NeurosplitError, match="unknown strategy 'nope'"):
        neurosplit.expand(dense(), 2, "nope")
    with pytest.raises(NeurosplitError, match="alpha"):
        neurosplit.expand(dense(), 1)
    x, y, _, _ = problem()
    with pytest.raises(NeurosplitError, match="takes 6 inputs but the data has 5"):
        neurosplit.finetune(dense(), x[:, :5].copy(), y, epochs=1)
    assert issubclass(NeurosplitError, ValueError)


def test_equal_to_the_cli_for_the_same_seed(tmp_path):
    exe = os.environ.get("NEUROSPLIT_BIN") or shutil.which("neurosplit") or str(ROOT / "target/release/neurosplit")
    if not Path(exe).exists():
        pytest.skip(f"no neurosplit binary at {exe} (set NEUROSPLIT_BIN)")
    x, y, xt, yt = problem()
    np.savez_compressed(tmp_path / "d.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    # The model file: neurosplit layout, written by the CLI's own reader's conventions (W1, b1, ...).
    from safetensors_writer import write_model  # noqa: E402  (tests/ helper, numpy only)

    layers = dense()
    write_model(tmp_path / "m.safetensors", layers)
    out = tmp_path / "o.safetensors"
    subprocess.run(
        [exe, "finetune", str(tmp_path / "m.safetensors"), "--data", str(tmp_path / "d.npz"), "--alpha", "2",
         "--epochs", "3", "--batch-size", "50", "--seed", "3", "--quiet", "-o", str(out)],
        check=True, capture_output=True,
    )
    cli = json.loads((tmp_path / "o.safetensors.json").read_text())
    py_layers, rep = neurosplit.finetune(str(tmp_path / "m.safetensors"), x, y, xt, yt, alpha=2, epochs=3,
                                         batch_size=50, seed=3)
    assert rep["test_acc_after"] == cli["test_acc_after"]
    assert rep["expansion"] == cli["expansion"]
    # And the arrays equal the CLI's file, bit for bit.
    from safetensors_writer import read_tensors

    saved = read_tensors(out)
    for i, (w, b, mask) in enumerate(py_layers, start=1):
        np.testing.assert_array_equal(saved[f"W{i}"], w)
        np.testing.assert_array_equal(saved[f"b{i}"], b)
        np.testing.assert_array_equal(saved[f"M{i}"] != 0, mask)

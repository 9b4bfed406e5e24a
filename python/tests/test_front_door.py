"""The bad-input classes that the library refuses for every front, from Python: each one a NeurosplitError with the
engine's message, nothing written, nothing modified. And Python's train/finetune give the CLI's numbers."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import neurosplit
from neurosplit import NeurosplitError

ROOT = Path(__file__).resolve().parents[2]


def problem(seed=0):
    g = np.random.default_rng(seed)
    x = g.uniform(-1, 1, size=(400, 6)).astype(np.float32)
    y = np.argmax(x[:, 0::2] + x[:, 1::2], axis=1).astype(np.int64)
    return x[:300], y[:300], x[300:], y[300:]


def dense(seed=1):
    g = np.random.default_rng(seed)
    return [
        (g.normal(size=(4, 6)).astype(np.float32), np.zeros(4, np.float32), None),
        (g.normal(size=(3, 4)).astype(np.float32), np.zeros(3, np.float32), None),
    ]


def cli():
    exe = os.environ.get("NEUROSPLIT_BIN") or shutil.which("neurosplit") or str(ROOT / "target/release/neurosplit")
    if not Path(exe).exists():
        if os.environ.get("CI"):
            raise AssertionError(f"no neurosplit binary at {exe}: CI must build it first")
        pytest.skip(f"no neurosplit binary at {exe} (set NEUROSPLIT_BIN)")
    return exe


def test_a_checkpoint_that_is_the_model_is_refused(tmp_path):
    from safetensors_writer import write_model

    path = tmp_path / "m.safetensors"
    write_model(path, dense())
    before = path.read_bytes()
    x, y, xt, yt = problem()
    with pytest.raises(NeurosplitError, match="destroy an input"):
        neurosplit.finetune(str(path), x, y, xt, yt, alpha=2, epochs=1, checkpoint=str(path))
    assert path.read_bytes() == before


def test_non_finite_data_and_bad_groups_are_refused():
    x, y, xt, yt = problem()
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(NeurosplitError, match="finite"):
        neurosplit.finetune(dense(), bad, y, xt, yt, epochs=1)
    with pytest.raises(NeurosplitError, match="6 inputs"):
        neurosplit.finetune(dense(), x, y, xt, yt, alpha=2, strategy="clause", groups=[[0, 1], [2, 9]], epochs=1)
    with pytest.raises(NeurosplitError, match="disjoint"):
        neurosplit.finetune(dense(), x, y, xt, yt, alpha=2, strategy="clause", groups=[[0, 1], [1, 2]], epochs=1)


def test_absurd_sizes_and_divergence_are_errors_not_crashes():
    x, y, xt, yt = problem()
    with pytest.raises(NeurosplitError, match="memory"):
        neurosplit.finetune(dense(), x, y, xt, yt, alpha=1000, batch_size=10**11, epochs=1)
    with pytest.raises(NeurosplitError, match="memory"):
        neurosplit.train(x, y, hidden=[4_000_000_000], epochs=1)
    with pytest.raises(NeurosplitError, match="diverged at epoch"):
        neurosplit.finetune(dense(), x, y, xt, yt, epochs=3, lr=1e38)


def test_without_a_test_set_the_cli_rule_holds_out_a_fifth(tmp_path):
    x, y, _, _ = problem()
    _, rep = neurosplit.finetune(dense(), x, y, alpha=2, epochs=1, baseline=False)
    assert rep["trials"]["test_acc"] == [rep["test_acc_after"]]
    # The same rows are held out as the CLI holds out of a single CSV file with the same seed: the same numbers.
    from safetensors_writer import write_model

    exe = cli()
    write_model(tmp_path / "m.safetensors", dense())
    header = ",".join(f"f{i}" for i in range(x.shape[1])) + ",label"
    rows = [",".join(repr(float(v)) for v in row) + f",{int(c)}" for row, c in zip(x, y)]
    (tmp_path / "d.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    subprocess.run(
        [exe, "finetune", str(tmp_path / "m.safetensors"), "--data", str(tmp_path / "d.csv"), "--alpha", "2",
         "--epochs", "1", "--no-baseline", "--quiet", "-o", str(tmp_path / "o.safetensors")],
        check=True, capture_output=True,
    )
    c = json.loads((tmp_path / "o.safetensors.json").read_text())
    _, rep = neurosplit.finetune(str(tmp_path / "m.safetensors"), x, y, alpha=2, epochs=1, baseline=False)
    assert rep["test_acc_before"] == c["test_acc_before"]
    assert rep["test_acc_after"] == c["test_acc_after"]
    _, summary = neurosplit.train(x, y, hidden=[4], epochs=2)
    assert summary["config"]["pre"]["epochs"] == 2


def test_finetune_reports_its_baseline_like_the_cli(tmp_path):
    exe = cli()
    from safetensors_writer import write_model

    x, y, xt, yt = problem()
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    write_model(tmp_path / "m.safetensors", dense())
    out = tmp_path / "o.safetensors"
    subprocess.run(
        [exe, "finetune", str(tmp_path / "m.safetensors"), "--data", str(tmp_path / "d.npz"), "--alpha", "2",
         "--epochs", "3", "--batch-size", "50", "--seed", "3", "--trials", "3", "--quiet", "-o", str(out)],
        check=True, capture_output=True,
    )
    c = json.loads((tmp_path / "o.safetensors.json").read_text())
    _, rep = neurosplit.finetune(str(tmp_path / "m.safetensors"), x, y, xt, yt, alpha=2, epochs=3, batch_size=50,
                                 seed=3, trials=3)
    for key in ("trials", "baseline", "comparison", "history", "test_acc_after"):
        assert rep[key] == c[key], key
    assert len(rep["baseline"]["test_acc"]) == 3 and len(rep["trials"]["test_acc"]) == 3


def test_train_equals_the_cli_on_the_same_file(tmp_path):
    exe = cli()
    x, y, xt, yt = problem()
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    subprocess.run(
        [exe, "train", "--data", str(tmp_path / "d.npz"), "--neurons", "4", "--epochs", "3", "--alpha", "2",
         "--seed", "2", "--log-every", "0", "--json", str(tmp_path / "r.json")],
        check=True, capture_output=True,
    )
    c = json.loads((tmp_path / "r.json").read_text())
    _, py = neurosplit.train(x, y, hidden=[4], x_test=xt, y_test=yt, epochs=3, alpha=2, seed=2)
    assert py["dense"]["test_acc"] == c["dense"]["test_acc"]
    assert py["fpe"]["test_acc"] == c["fpe"]["test_acc"]
    assert py["dense_post"]["test_acc"] == c["dense_post"]["test_acc"]


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    x, y, xt, yt = problem()
    ckpt = str(tmp_path / "c.safetensors")
    neurosplit.finetune(dense(), x, y, xt, yt, alpha=2, epochs=2, baseline=False, checkpoint=ckpt)
    state = tmp_path / "c.safetensors.json"
    state.write_text(state.read_text().replace('"epoch": 2', '"epoch": 1'))
    with pytest.raises(NeurosplitError, match="another run"):
        neurosplit.finetune(dense(), x, y, xt, yt, alpha=3, epochs=2, baseline=False, checkpoint=ckpt)
    _, rep = neurosplit.finetune(dense(), x, y, xt, yt, alpha=2, epochs=2, baseline=False, checkpoint=ckpt)
    assert rep["resumed_from"] == 1


def test_layer_names_of_two_patterns_are_refused(tmp_path):
    from safetensors_writer import write_model

    path = tmp_path / "m.safetensors"
    write_model(path, dense(), names=["enc1", "dec1"])
    x, y, xt, yt = problem()
    with pytest.raises(NeurosplitError, match="ambiguous"):
        neurosplit.finetune(str(path), x, y, xt, yt, epochs=1)

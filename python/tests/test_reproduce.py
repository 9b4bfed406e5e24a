"""neurosplit.reproduce: the library's reproduce workflow from Python, with the CLI's numbers."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import neurosplit
from neurosplit import NeurosplitError

ROOT = Path(__file__).resolve().parents[2]

# The case study, made tiny: one trial, a few epochs, fewer samples.
SETTINGS = [
    "train.pre_epochs=[5]",
    "train.post_epochs=2",
    "dataset.n_train=2000",
    "dataset.n_test=500",
    "trials=1",
]


def cli():
    exe = os.environ.get("NEUROSPLIT_BIN") or shutil.which("neurosplit") or str(ROOT / "target/release/neurosplit")
    if not Path(exe).exists():
        pytest.skip(f"no neurosplit binary at {exe} (set NEUROSPLIT_BIN)")
    return exe


def test_records_and_report_equal_the_cli(tmp_path):
    records, report = neurosplit.reproduce("case-study", out=tmp_path / "py", set=SETTINGS, threads=1)
    assert Path(report) == tmp_path / "py" / "report.md" and Path(report).is_file()
    text = Path(report).read_text()
    assert text.startswith("# case-study (Sec. 3.1), overridden:") and "neurosplit.reproduce(" in text
    # One flat row per trial x model: dense, clause split, random split.
    assert [(r["model"], r["alpha"]) for r in records] == [("dense", None), ("clause", 2), ("random", 2)]
    for r in records:
        assert r["clauses"] == 8 and r["neurons"] == 8 and r["pre_epochs"] == 5 and r["trial"] == 0
        assert all(not isinstance(v, (dict, list)) for v in r.values()), r
        assert r["nnz"] == r["pre_nnz"]

    exe = cli()
    out_json = tmp_path / "cli.json"
    args = [exe, "reproduce", "case-study", "--out", str(tmp_path / "cli"), "--json", str(out_json), "-q"]
    for s in SETTINGS:
        args += ["--set", s]
    subprocess.run(args, check=True, capture_output=True)
    cli_json = json.loads(out_json.read_text())
    rows = [
        (t["cell"], t["trial"], t["pre_test_acc"], m["model"], m["alpha"], m["nnz"], m["test_acc_at_split"],
         m["test_acc"], m["train_acc"])
        for t in cli_json["result"]["trials"]
        for m in t["models"]
    ]
    mine = [
        (r["cell"], r["trial"], r["pre_test_acc"], r["model"], r["alpha"], r["nnz"], r["test_acc_at_split"],
         r["test_acc"], r["train_acc"])
        for r in records
    ]
    assert mine == rows  # floats compared exactly
    fps = {t["fingerprint"] for t in cli_json["result"]["trials"]}
    assert fps == {r["fingerprint"] for r in records}

    # Run again: everything resumes from the results file, with the same records.
    again, _ = neurosplit.reproduce("case-study", out=tmp_path / "py", set=SETTINGS)
    key = ("cell", "trial", "model", "test_acc", "train_acc")
    assert [tuple(r[k] for k in key) for r in again] == [tuple(r[k] for k in key) for r in records]


def test_records_make_a_data_frame(tmp_path):
    pd = pytest.importorskip("pandas")
    records, _ = neurosplit.reproduce("case-study", out=tmp_path, set=SETTINGS, trials=1, seed=7)
    df = pd.DataFrame(records)
    assert len(df) == 3 and df["test_acc"].between(0, 1).all()
    assert set(df["model"]) == {"dense", "clause", "random"}
    assert df.loc[df["model"] == "dense", "alpha"].isna().all()


def test_a_shard_writes_no_report(tmp_path):
    records, report = neurosplit.reproduce("case-study", out=tmp_path, set=SETTINGS, shard="1/2")
    assert report is None and len(records) == 3
    assert (tmp_path / "trials.shard-1-of-2.jsonl").is_file() and not (tmp_path / "report.md").exists()


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(name_or_path="no-such-experiment"), "no-such-experiment"),
        (dict(name_or_path="case-study", set=["train.momentum=0.9"]), "momentum"),
        (dict(name_or_path="case-study", set=["trials"]), "KEY=VALUE"),
        (dict(name_or_path="case-study", trials=0), "trials"),
        (dict(name_or_path="case-study", shard="3/2"), "K/N"),
        (dict(name_or_path="case-study", device="tpu"), "not a device"),
        (dict(name_or_path="case-study", merge_shards=2), "slices are incomplete"),
    ],
)
def test_bad_input_is_a_neurosplit_error(tmp_path, kwargs, needle):
    with pytest.raises(NeurosplitError, match=needle):
        neurosplit.reproduce(out=tmp_path, **kwargs)

//! Results people can analyse elsewhere: `neurosplit export --csv`, `reproduce --set`, the merge of a sharded
//! run that names missing slices, and f32 settings printed without widening noise.

mod common;

use common::{run, tiny_spec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use neurosplit::experiment::runner::{read_records, TrialRecord};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neurosplit-export-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Columns that hold text; every other column must read as numbers (or be empty: missing).
const TEXT_COLUMNS: [&str; 7] = [
    "spec",
    "fingerprint",
    "model",
    "version",
    "commit",
    "isa",
    "cpu",
];

#[test]
fn export_writes_one_typed_row_per_trial_and_model() {
    let dir = tmp("csv");
    let spec = dir.join("tiny.toml");
    std::fs::write(&spec, tiny_spec(2, 20, 20)).unwrap();
    let out = dir.join("run");
    let (code, o, e) = run(&[
        "reproduce",
        s(&spec),
        "--out",
        s(&out),
        "--set",
        "train.curve_every=10",
        "--set",
        "extras.metrics=[\"feature-capacity\", \"cosine-similarity\"]",
        "-q",
    ]);
    assert_eq!(code, 0, "{o}{e}");
    let csv_path = dir.join("trials.csv");
    let (code, o, e) = run(&["export", s(&out), "--csv", "-o", s(&csv_path)]);
    assert_eq!(code, 0, "{o}{e}");

    let records: Vec<TrialRecord> = read_records(&out.join("trials.jsonl"), None).unwrap();
    let mut reader = csv::Reader::from_path(&csv_path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    for col in [
        "clauses",
        "depth",
        "neurons",
        "pre_epochs",
        "trial",
        "model",
        "alpha",
        "test_acc",
        "train_acc",
        "nnz",
        "feature-capacity",
        "cosine-similarity-abs",
        "clause_capacity_0",
        "clause_capacity_5",
        "curve_test_acc_epoch_10",
        "curve_test_acc_epoch_20",
        "commit",
        "isa",
        "threads",
    ] {
        assert!(
            header.iter().any(|h| h == col),
            "no column {col}: {header:?}"
        );
    }
    assert!(
        !header.iter().any(|h| h == "cell"),
        "the cell key is split into columns"
    );
    let rows: Vec<HashMap<String, String>> = reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(String::from))
                .collect()
        })
        .collect();
    assert_eq!(
        rows.len(),
        records.len() * 3,
        "dense + clause + random per trial"
    );
    // Every non-text column is a number or missing, as pandas would type it without any string parsing.
    for row in &rows {
        for (col, v) in row {
            if !TEXT_COLUMNS.contains(&col.as_str()) && !v.is_empty() {
                assert!(v.parse::<f64>().is_ok(), "{col} = '{v}' is not a number");
            }
        }
    }
    // Grid columns are integers; values read back bit for bit.
    for r in &records {
        for m in &r.models {
            let row = rows
                .iter()
                .find(|row| {
                    row["trial"] == r.trial.to_string()
                        && r.cell.contains(&format!("clauses={} ", row["clauses"]))
                        && row["model"] == m.model
                })
                .unwrap_or_else(|| panic!("no row for {} trial {} {}", r.cell, r.trial, m.model));
            assert_eq!(row["neurons"], "4");
            assert_eq!(row["pre_epochs"], "20");
            assert_eq!(
                row["alpha"],
                m.alpha.map_or(String::new(), |a| a.to_string())
            );
            assert_eq!(
                row["test_acc"].parse::<f64>().unwrap().to_bits(),
                m.test_acc.to_bits()
            );
            let fc = m.metrics["feature-capacity"];
            assert_eq!(
                row["feature-capacity"].parse::<f64>().unwrap().to_bits(),
                fc.to_bits()
            );
            assert_eq!(
                row["curve_test_acc_epoch_20"].parse::<f64>().unwrap(),
                m.curve[1].1
            );
            // 4-clause cells have no 5th clause: a missing field, not a zero.
            if r.cell.starts_with("clauses=4 ") {
                assert_eq!(row["clause_capacity_5"], "");
            }
        }
    }
    // Standard output without -o; a missing file is a clear error.
    let (code, o, _) = run(&["export", s(&out.join("trials.jsonl")), "--csv"]);
    assert_eq!(code, 0);
    assert_eq!(o, std::fs::read_to_string(&csv_path).unwrap());
    let (code, _, e) = run(&["export", s(&dir), "--csv"]);
    assert_ne!(code, 0);
    assert!(e.contains("not a results file"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn set_overrides_any_key_and_is_part_of_the_fingerprint() {
    let dir = tmp("set");
    let spec = dir.join("tiny.toml");
    std::fs::write(&spec, tiny_spec(1, 5, 5)).unwrap();
    let (code, o, e) = run(&[
        "reproduce",
        s(&spec),
        "--set",
        "model.depth=[2, 3]",
        "--set",
        "train.lr=0.002",
        "--print-spec",
    ]);
    assert_eq!(code, 0, "{e}");
    assert!(
        o.contains("depth = [2, 3]") && o.contains("lr = 0.002"),
        "{o}"
    );
    let out = dir.join("run");
    let (code, o, e) = run(&["reproduce", s(&spec), "--out", s(&out), "-q"]);
    assert_eq!(code, 0, "{o}{e}");
    let (code, _, e) = run(&[
        "reproduce",
        s(&spec),
        "--out",
        s(&out),
        "--set",
        "train.lr=0.002",
        "-q",
    ]);
    assert_ne!(code, 0, "a --set value changes the fingerprint");
    assert!(e.contains("different spec"), "{e}");
    for (bad, says) in [
        ("model.dept=3", "unknown field `dept`"),
        ("model.depth=[0]", "model.depth"),
        ("depth", "KEY=VALUE"),
        ("trials.x=1", "is a value"),
    ] {
        let (code, _, e) = run(&["reproduce", s(&spec), "--set", bad, "--print-spec"]);
        assert_ne!(code, 0, "{bad}");
        assert!(e.contains(says), "{bad}: {e}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn merge_shards_names_missing_slices_then_joins_them() {
    let dir = tmp("merge");
    let spec = dir.join("tiny.toml");
    std::fs::write(&spec, tiny_spec(3, 10, 10)).unwrap();
    let (whole, sharded) = (dir.join("whole"), dir.join("sharded"));
    let (code, o, e) = run(&["reproduce", s(&spec), "--out", s(&whole), "-q"]);
    assert_eq!(code, 0, "{o}{e}");
    for k in [1, 2, 4] {
        let shard = format!("{k}/4");
        let (code, o, e) = run(&[
            "reproduce",
            s(&spec),
            "--out",
            s(&sharded),
            "--shard",
            &shard,
            "-q",
        ]);
        assert_eq!(code, 0, "{o}{e}");
    }
    let (code, _, e) = run(&[
        "reproduce",
        s(&spec),
        "--out",
        s(&sharded),
        "--merge-shards",
        "4",
        "-q",
    ]);
    assert_ne!(code, 0);
    assert!(
        e.contains("slice 3/4 (array task 2): no results file"),
        "{e}"
    );
    assert!(!e.contains("slice 1/4") && !e.contains("slice 4/4"), "{e}");
    assert!(!sharded.join("trials.jsonl").exists());
    let (code, o, e) = run(&[
        "reproduce",
        s(&spec),
        "--out",
        s(&sharded),
        "--shard",
        "3/4",
        "-q",
    ]);
    assert_eq!(code, 0, "{o}{e}");
    let (code, o, e) = run(&[
        "reproduce",
        s(&spec),
        "--out",
        s(&sharded),
        "--merge-shards",
        "4",
        "-q",
    ]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(
        o.contains("6 trials from 4 slices merged") && o.contains("(0 trials run, 6 resumed"),
        "{o}"
    );
    let canon = |p: &Path| {
        let mut r: Vec<TrialRecord> = read_records(p, None)
            .unwrap()
            .iter()
            .map(TrialRecord::without_timings)
            .collect();
        r.sort_by(|a, b| (&a.cell, a.trial).cmp(&(&b.cell, b.trial)));
        r
    };
    assert_eq!(
        canon(&sharded.join("trials.jsonl")),
        canon(&whole.join("trials.jsonl"))
    );
    // The per-slice estimate the Slurm script turns into --time.
    let (code, o, e) = run(&[
        "reproduce",
        s(&spec),
        "--shard",
        "2/4",
        "--threads",
        "2",
        "--estimate",
    ]);
    assert_eq!(code, 0, "{e}");
    assert!(
        o.contains("s estimated for 2 of 6 trials (slice 2/4) on 2 threads"),
        "{o}"
    );
    assert!(
        o.split_whitespace().next().unwrap().parse::<f64>().is_ok(),
        "{o}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn train_json_prints_f32_settings_as_given() {
    let dir = tmp("lr");
    let json = dir.join("t.json");
    let (code, o, e) = run(&[
        "train",
        "--clauses",
        "4",
        "--k",
        "3",
        "--n-train",
        "500",
        "--n-test",
        "100",
        "--epochs",
        "1",
        "--lr",
        "0.001",
        "--json",
        s(&json),
    ]);
    assert_eq!(code, 0, "{o}{e}");
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(text.contains("\"lr\": 0.001,"), "{text}");
    assert!(!text.contains("0.0010000000474974513"), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

//! The experiment runner's deep-network, rewiring and interference-metric paths, on tiny grids: deep specs on
//! generated embeddings, a rewiring spec, and the metrics in the JSONL results, the report and its figures.

mod common;

use common::tiny_spec;
use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::{Array1, Array2};
use ndarray_npy::NpzWriter;
use neurosplit::experiment::runner::{
    self, cells, read_records, run_trial, RunOptions, TrialRecord,
};
use neurosplit::experiment::spec::Spec;

const BIN: &str = env!("CARGO_BIN_EXE_neurosplit");

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neurosplit-paths-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A learnable 4-class problem in 16 dimensions: class means plus deterministic pseudo-random noise.
fn write_embeddings(path: &Path, n_train: usize, n_test: usize) {
    let (d, classes) = (16usize, 4usize);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let mut make = |n: usize| {
        let y: Vec<i64> = (0..n).map(|i| (i % classes) as i64).collect();
        let x = Array2::from_shape_fn((n, d), |(i, j)| {
            let c = y[i] as usize;
            let mean = if j % classes == c { 1.0 } else { 0.0 };
            mean + noise()
        });
        (x, Array1::from(y))
    };
    let (xtr, ytr) = make(n_train);
    let (xte, yte) = make(n_test);
    let mut w = NpzWriter::new(std::fs::File::create(path).unwrap());
    w.add_array("x_train", &xtr).unwrap();
    w.add_array("y_train", &ytr).unwrap();
    w.add_array("x_test", &xte).unwrap();
    w.add_array("y_test", &yte).unwrap();
    w.finish().unwrap();
}

/// Records sorted by cell and trial, timings removed: what must be identical between runs.
fn canonical(path: &Path) -> Vec<TrialRecord> {
    let mut r: Vec<TrialRecord> = read_records(path, None)
        .unwrap()
        .iter()
        .map(TrialRecord::without_timings)
        .collect();
    r.sort_by(|a, b| (&a.cell, a.trial).cmp(&(&b.cell, b.trial)));
    r
}

#[test]
fn deep_spec_on_generated_embeddings() {
    let dir = tmp("deep");
    let npz = dir.join("emb.npz");
    write_embeddings(&npz, 400, 100);
    let text = format!(
        r#"
name = "deep-tiny"
title = "deep networks on generated embeddings"
paper_ref = "none"
trials = 2
seed = 5

[dataset]
kind = "embeddings"
path = "{}"

[model]
depth = [3, 5]
neurons = [4]
alpha = [2]
strategies = ["random", "gram"]

[train]
pre_epochs = [10]
post_epochs = 5
batch_size = 100
lr = 1e-2
l1 = 0.0
l2 = 0.0
"#,
        npz.display()
    );
    let spec = Spec::parse(&text, "deep-tiny").unwrap();
    spec.check_available().unwrap();
    let mut results = Vec::new();
    for threads in [1, 2] {
        let opts = RunOptions {
            threads,
            shard: None,
            results: dir.join(format!("t{threads}.jsonl")),
            data_dir: None,
            device: neurosplit::device::Device::Cpu,
        };
        let out = runner::run(&spec, &opts, |_, _, _| {}).unwrap();
        assert_eq!(out.records.len(), 4);
        for r in &out.records {
            let depth = if r.cell.contains("depth=3") { 3 } else { 5 };
            // depth - 1 hidden layers of 4 neurons: 16 x 4, (depth - 2) x 4 x 4, 4 x 4 weights.
            assert_eq!(r.pre_nnz, 16 * 4 + (depth - 2) * 16 + 4 * 4, "{}", r.cell);
            assert_eq!(r.models.len(), 3);
            assert_eq!(r.models[0].hidden, 4);
            for m in &r.models {
                assert_eq!(m.nnz, r.pre_nnz, "{} {}", r.cell, m.model);
                assert!((0.0..=1.0).contains(&m.test_acc));
                assert!(m.rewired.is_none());
            }
            for m in &r.models[1..] {
                assert_eq!(m.hidden, 8, "the first hidden layer is split in two");
            }
        }
        results.push(canonical(&opts.results));
    }
    assert_eq!(results[0], results[1], "results depend on the thread count");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn rewiring_moves_masks_at_a_fixed_budget() {
    let text = tiny_spec(2, 20, 6).replace(
        "[train]",
        "[extras]\nrewiring = { every = 2, fraction = 0.25 }\n\n[train]",
    );
    let spec = Spec::parse(&text, "rewire").unwrap();
    spec.check_available().unwrap();
    let cell = &cells(&spec)[0];
    let r = run_trial(&spec, cell, 0, None).unwrap();
    assert!(r.models[0].rewired.is_none(), "the dense model has no mask");
    for m in &r.models[1..] {
        assert_eq!(m.nnz, r.pre_nnz, "{}", m.model);
        let moved = m.rewired.expect("FPE models are rewired");
        // 6 post-split epochs, an update every 2: three updates, each moving the same count (constant
        // fraction of a masked count that rewiring keeps constant).
        assert!(moved > 0 && moved % 3 == 0, "{}: moved {moved}", m.model);
    }
    let again = run_trial(&spec, cell, 0, None).unwrap();
    assert_eq!(again.without_timings(), r.without_timings());
    // Without rewiring the same trial trains with fixed masks.
    let fixed = run_trial(
        &Spec::parse(&tiny_spec(2, 20, 6), "fixed").unwrap(),
        cell,
        0,
        None,
    )
    .unwrap();
    assert_eq!(fixed.models[0].test_acc, r.models[0].test_acc);
    assert!(fixed.models[1].rewired.is_none());
}

#[test]
fn metrics_reach_the_results_file_the_report_and_the_figures() {
    let dir = tmp("metrics");
    let spec = dir.join("tiny.toml");
    std::fs::write(
        &spec,
        tiny_spec(2, 20, 6).replace(
            "[train]",
            "[extras]\nmetrics = [\"feature-capacity\", \"cosine-similarity\"]\n\n[train]",
        ),
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = Command::new(BIN)
        .args(["reproduce", spec.to_str().unwrap(), "--out"])
        .arg(&out_dir)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = read_records(&out_dir.join("trials.jsonl"), None).unwrap();
    assert_eq!(records.len(), 4);
    for r in &records {
        let clauses: usize = if r.cell.contains("clauses=4") { 4 } else { 6 };
        for m in &r.models {
            let total = m.metrics["feature-capacity"];
            // Capacities share the layer's dimensions: the total is at most min(neurons, inputs).
            assert!(total > 0.0 && total <= (m.hidden.min(3 * clauses)) as f64 + 1e-9);
            assert_eq!(m.clause_capacity.len(), clauses);
            let sum: f64 = m.clause_capacity.iter().sum();
            assert!((sum - total).abs() < 1e-9, "every literal is in one clause");
            let min = m
                .clause_capacity
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            assert_eq!(m.metrics["clause-capacity-min"], min);
            let (cos, abs) = (
                m.metrics["cosine-similarity"],
                m.metrics["cosine-similarity-abs"],
            );
            assert!(cos.abs() <= abs + 1e-12 && abs <= 1.0, "{cos} {abs}");
        }
    }
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(report.contains("## Interference metrics"), "{report}");
    assert!(
        report.contains("feature-capacity | fold vs dense |"),
        "{report}"
    );
    // A sweep over clauses: relative improvement, accuracy per weight and metric fold changes.
    for name in [
        "ri-vs-clauses",
        "acc-per-nnz-vs-clauses",
        "feature-capacity-fold-vs-clauses",
        "cosine-similarity-fold-vs-clauses",
    ] {
        for ext in ["png", "svg"] {
            let f = out_dir.join(format!("{name}.{ext}"));
            assert!(
                std::fs::metadata(&f).unwrap().len() > 1000,
                "{}",
                f.display()
            );
        }
        assert!(
            report.contains(&format!("({name}.png)")),
            "{name} not linked"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

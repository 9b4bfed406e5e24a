//! `neurosplit train` and the experiment runner are two fronts over one trial pipeline: the same configuration
//! gives the same numbers through either, and contradictory settings are refused before any training.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use neurosplit::device::Device;
use neurosplit::experiment::runner::{self, cells, run_trial, RunOptions};
use neurosplit::experiment::spec::Spec;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_neurosplit"))
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmp(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("neurosplit-pipeline-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small spec with rewiring every 2 post-split epochs: `depth` layers of 6 neurons.
fn spec(depth: usize) -> Spec {
    let text = format!(
        r#"
name = "agree"
title = "one trial through both fronts"
paper_ref = "-"
trials = 1
seed = 11

[dataset]
kind = "dnf"
clauses = [4]
k = 3
n_train = 300
n_test = 200

[model]
neurons = [6]
alpha = [2]
strategies = ["random"]
depth = [{depth}]

[train]
pre_epochs = [3]
post_epochs = 4
batch_size = 100
lr = 0.01
l1 = 0.0
l2 = 0.0001

[extras]
rewiring = {{ every = 2, fraction = 0.2 }}
"#
    );
    Spec::parse(&text, "agree").unwrap()
}

#[test]
fn train_and_the_runner_give_the_same_trial_for_the_same_config() {
    let dir = tmp("agree");
    // depth 2: no LayerNorm; depth 3: LayerNorm by the shared depth policy, and alternating expansion.
    for (depth, hidden) in [(2, "6"), (3, "6,6")] {
        let spec = spec(depth);
        let grid = cells(&spec);
        assert_eq!(grid.len(), 1);
        let rec = run_trial(&spec, &grid[0], 0, None).unwrap();
        let fpe = rec.models.iter().find(|m| m.model == "random").unwrap();
        let json = dir.join(format!("d{depth}.json"));
        let (code, out, err) = run(&[
            "train",
            "--clauses",
            "4",
            "--k",
            "3",
            "--n-train",
            "300",
            "--n-test",
            "200",
            "--hidden",
            hidden,
            "--epochs",
            "3",
            "--post-epochs",
            "4",
            "--batch-size",
            "100",
            "--lr",
            "0.01",
            "--l1",
            "0",
            "--l2",
            "0.0001",
            "--seed",
            "11",
            "--alpha",
            "2",
            "--strategy",
            "random",
            "--rewire-every",
            "2",
            "--rewire-fraction",
            "0.2",
            "--log-every",
            "0",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("rewiring (constant, every 2 epochs"), "{out}");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(
            v["config"]["layernorm"],
            serde_json::json!(depth > 2),
            "depth {depth}"
        );
        assert_eq!(
            v["dense"]["test_acc"].as_f64().unwrap(),
            rec.pre_test_acc,
            "depth {depth}"
        );
        assert_eq!(v["dense"]["nnz"].as_u64().unwrap() as usize, rec.pre_nnz);
        assert_eq!(
            v["fpe"]["test_acc"].as_f64().unwrap(),
            fpe.test_acc,
            "depth {depth}"
        );
        assert_eq!(
            v["fpe"]["train_acc"].as_f64().unwrap(),
            fpe.train_acc,
            "depth {depth}"
        );
        assert_eq!(
            v["fpe"]["test_acc_at_split"].as_f64().unwrap(),
            fpe.test_acc_at_split
        );
        // Rewiring every 2 epochs of 3 steps each, over 4 epochs: two updates, as many weights moved.
        assert_eq!(v["fpe"]["rewiring"]["updates"].as_u64(), Some(2));
        assert_eq!(
            v["fpe"]["rewiring"]["moved"].as_u64().map(|m| m as usize),
            fpe.rewired
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn contradictory_settings_are_refused_before_any_training() {
    // Each of these would train for hours if it got that far.
    let long = [
        "--epochs",
        "1000000",
        "--n-train",
        "20000",
        "--log-every",
        "1",
    ];
    let cases: &[(&[&str], &str)] = &[
        (
            &["--device", "cuda", "--alpha", "2", "--rewire-every", "1"],
            "rewiring runs on the CPU only",
        ),
        (
            &["--device", "cuda", "--hidden", "8,8", "--alpha", "2"],
            "LayerNorm",
        ),
        (&["--strategy", "clause"], "--alpha"),
        (&["--rewire-every", "2"], "--alpha"),
        (
            &["--alpha", "2", "--rewire-fraction", "0.2"],
            "--rewire-every",
        ),
        (&["--gpu-format", "bitmask"], "--device cuda"),
        (
            &["--alpha", "2", "--strategy", "clause", "--hidden", "8,8,8"],
            "hidden neurons",
        ),
        (
            &["--alpha", "2", "--strategy", "gram", "--clusters", "40"],
            "clusters",
        ),
        (&["--alpha", "1"], "alpha >= 2"),
        (
            &[
                "--alpha",
                "2",
                "--rewire-every",
                "1",
                "--rewire-fraction",
                "1.5",
            ],
            "fraction",
        ),
    ];
    for (extra, needle) in cases {
        let args: Vec<&str> = ["train"]
            .iter()
            .chain(&long)
            .chain(extra.iter())
            .copied()
            .collect();
        let start = Instant::now();
        let (code, out, err) = run(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !out.contains("epoch"),
            "{args:?} trained before refusing: {out}"
        );
        assert!(start.elapsed() < Duration::from_secs(60), "{args:?}");
    }
}

#[test]
fn the_runner_refuses_what_its_device_cannot_run_before_any_trial() {
    let dir = tmp("runner-device");
    let opts = RunOptions {
        threads: 1,
        shard: None,
        results: dir.join("trials.jsonl"),
        data_dir: None,
        device: Device::Cuda(0),
    };
    let err = runner::run(&spec(2), &opts, |_, _, _| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("rewiring runs on the CPU only"), "{err}");
    assert!(!opts.results.exists() || std::fs::read_to_string(&opts.results).unwrap().is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn layernorm_follows_the_depth_unless_the_spec_says_otherwise() {
    let text = toml::to_string(&spec(3)).unwrap();
    assert!(
        !text.contains("layernorm"),
        "absent stays absent (same fingerprint): {text}"
    );
    let s = spec(3);
    assert!(s.layernorm(3) && !s.layernorm(2));
    let off = text.replace("depth = [3]", "depth = [3]\nlayernorm = false");
    let off = Spec::parse(&off, "x").unwrap();
    assert!(!off.layernorm(3));
    assert_ne!(off.fingerprint(), s.fingerprint());
    let cell = &cells(&s)[0];
    assert!(runner::trial_config(&s, cell, Device::Cpu)
        .unwrap()
        .uses_layernorm());
    assert!(!runner::trial_config(&off, cell, Device::Cpu)
        .unwrap()
        .uses_layernorm());
}

#[test]
fn a_cell_with_fewer_clauses_than_alpha_runs_no_clause_split_at_that_alpha() {
    use neurosplit::expand::Strategy;
    let s = Spec::load("capacity-tables").unwrap();
    let all = cells(&s);
    let get = |c: usize| all.iter().find(|x| x.clauses == Some(c)).unwrap();
    let alphas = |c: usize, st: Strategy| -> Vec<usize> {
        runner::trial_config(&s, get(c), Device::Cpu)
            .unwrap()
            .expansions
            .iter()
            .filter(|(_, x)| *x == st)
            .map(|(a, _)| a.get())
            .collect()
    };
    assert_eq!(alphas(3, Strategy::Clause), vec![2]);
    assert_eq!(alphas(3, Strategy::Random), vec![2, 4]);
    assert_eq!(alphas(8, Strategy::Clause), vec![2, 4]);
    // A spec where no alpha fits the smallest clause count is still refused.
    let text = toml::to_string(&s)
        .unwrap()
        .replace("alpha = [2, 4]", "alpha = [4]");
    assert!(text.contains("alpha = [4]"), "{text}");
    let err = Spec::parse(&text, "x").unwrap_err().to_string();
    assert!(err.contains("use alpha <= 3"), "{err}");
}

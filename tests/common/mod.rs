//! Helpers shared by the integration tests (each test crate uses only some of them).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_neurosplit");

/// A scratch folder for this test process, used as the working directory of every spawned command so that
/// nothing a command writes by default (e.g. `results/`) lands in the source tree.
pub fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neurosplit-test-cwd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Runs `neurosplit ARGS` in the scratch folder; returns (exit code, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(scratch())
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A small DNF experiment spec (two cells: 4 and 6 clauses of 3 literals, 4 neurons, alpha 2, clause and random
/// splits) with `trials` trials and the given epochs: about a second per 24 trials.
pub fn tiny_spec(trials: usize, pre_epochs: usize, post_epochs: usize) -> String {
    format!(
        r#"
name = "tiny"
title = "a small grid for tests"
paper_ref = "none"
trials = {trials}
seed = 3

[dataset]
kind = "dnf"
clauses = [4, 6]
k = 3
n_train = 1000
n_test = 200

[model]
neurons = [4]
alpha = [2]
strategies = ["clause", "random"]

[train]
pre_epochs = [{pre_epochs}]
post_epochs = {post_epochs}
batch_size = 250
lr = 1e-2
l1 = 0.0
l2 = 0.0
"#
    )
}

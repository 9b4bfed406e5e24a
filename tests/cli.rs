//! The command line: bad input gives a clear message and a non-zero exit, never a panic.

mod common;

use common::run;
use std::process::Command;

#[test]
fn bad_arguments_fail_cleanly() {
    for (args, needle) in [
        (&["reproduce", "case-study", "--alpha", "1"][..], "alpha"),
        (
            &["reproduce", "case-study", "--alpha", "9"][..],
            "alpha <= 8",
        ),
        (
            &["reproduce", "case-study", "--pre-epochs", "0"][..],
            "epochs",
        ),
        (&["reproduce", "case-study", "--k", "0"][..], "k"),
        (&["reproduce", "nonsense"][..], "unknown experiment"),
        (
            &["train", "--strategy", "nonsense", "--alpha", "2"][..],
            "unknown strategy",
        ),
        (&["train", "--alpha", "40", "--epochs", "1"][..], "alpha"),
        (&["train", "--epochs", "0"][..], "epochs"),
        (
            &["reproduce", "case-study", "--alpha", "two"][..],
            "invalid value",
        ),
    ] {
        let (code, _, err) = run(args);
        assert_ne!(code, 0, "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: message lacks '{needle}': {err}"
        );
    }
}

#[test]
fn small_case_study_runs_and_writes_json() {
    let dir = std::env::temp_dir().join(format!("neurosplit-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("cs.json");
    let (code, out, err) = run(&[
        "reproduce",
        "case-study",
        "--trials",
        "2",
        "--pre-epochs",
        "2",
        "--post-epochs",
        "2",
        "--n-train",
        "1000",
        "--n-test",
        "200",
        "--json",
        json.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--quiet",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("FPE clause-split") && out.contains("equal in every trial"),
        "{out}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["result"]["trials"].as_array().unwrap().len(), 2);
    let (code, out, _) = run(&[
        "train",
        "--epochs",
        "2",
        "--alpha",
        "2",
        "--strategy",
        "clause",
        "--n-train",
        "1000",
        "--n-test",
        "200",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("264 non-zero weights, test accuracy"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_neurosplit"))
        .args([
            "train",
            "--epochs",
            "400",
            "--log-every",
            "1",
            "--n-train",
            "500",
            "--n-test",
            "100",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: the pipe is closed while the run still prints.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(first.starts_with("data:"), "{first}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}

#[test]
fn train_takes_a_layer_format_and_prints_the_chosen_ones() {
    let (code, _, err) = run(&["train", "--format", "coo", "--epochs", "1"]);
    assert_ne!(code, 0);
    assert!(err.contains("coo") && err.contains("bitmask"), "{err}");
    // 0 threads means every core, as everywhere.
    let (code, _, err) = run(&["train", "--threads", "0", "--epochs", "1"]);
    assert_eq!(code, 0, "{err}");
    let mut accuracies = Vec::new();
    for format in ["dense", "bitmask", "csr"] {
        let (code, out, err) = run(&[
            "train",
            "--format",
            format,
            "--threads",
            "2",
            "--epochs",
            "3",
            "--alpha",
            "2",
            "--post-epochs",
            "3",
            "--n-train",
            "1000",
            "--n-test",
            "500",
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains(&format!("layer 1 {format}, layer 2 {format}")),
            "{out}"
        );
        let last = out.lines().last().unwrap().to_string();
        let acc = last.split("accuracy").nth(1).unwrap();
        accuracies.push(acc.split('%').next().unwrap().to_string());
    }
    // Same seed, same model whatever the format (up to float rounding, invisible at two decimals here).
    assert_eq!(accuracies[0], accuracies[1]);
    assert_eq!(accuracies[0], accuracies[2]);
}

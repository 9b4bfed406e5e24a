//! The command line for every strategy, deep models, rewiring and the theory: it runs, and bad input gives a
//! clear message and a non-zero exit, never a panic.

mod common;

use common::run;

const QUICK: [&str; 8] = [
    "--epochs",
    "2",
    "--n-train",
    "400",
    "--n-test",
    "200",
    "--log-every",
    "0",
];

#[test]
fn theory_prints_exact_approximate_and_monte_carlo() {
    let (code, out, err) = run(&[
        "theory",
        "--literals",
        "32",
        "--k",
        "4",
        "--alpha",
        "2",
        "--neurons",
        "8",
        "--samples",
        "500",
    ]);
    assert_eq!(code, 0, "{err}");
    // alpha^-(2k-1) = 2^-7 = 7.8125e-3; the exact ratio 2 C(24, 8) / C(32, 16) = 2.447164e-3.
    assert!(out.contains("7.812500e-3"), "{out}");
    assert!(out.contains("2.447164e-3"), "{out}");
    assert!(out.contains("Monte Carlo (500, 95% CI)"), "{out}");
    for (args, needle) in [
        (
            &[
                "theory",
                "--literals",
                "33",
                "--k",
                "4",
                "--alpha",
                "2",
                "--neurons",
                "8",
            ][..],
            "multiple of 2",
        ),
        (
            &[
                "theory",
                "--literals",
                "32",
                "--k",
                "0",
                "--alpha",
                "2",
                "--neurons",
                "8",
            ][..],
            "k",
        ),
        (
            &[
                "theory",
                "--literals",
                "32",
                "--k",
                "4",
                "--alpha",
                "1",
                "--neurons",
                "8",
            ][..],
            "alpha >= 2",
        ),
        (
            &[
                "theory",
                "--literals",
                "32",
                "--k",
                "4",
                "--alpha",
                "2",
                "--neurons",
                "8",
                "--clauses",
                "9",
            ][..],
            "clauses",
        ),
        (
            &[
                "theory",
                "--literals",
                "32",
                "--k",
                "4",
                "--alpha",
                "2",
                "--neurons",
                "8",
                "--sampling",
                "x",
            ][..],
            "independent or partitioned",
        ),
        (
            &[
                "theory",
                "--literals",
                "32",
                "--k",
                "4",
                "--alpha",
                "2",
                "--neurons",
                "8",
                "--samples",
                "1",
            ][..],
            "2 samples",
        ),
    ] {
        let (code, _, err) = run(args);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

#[test]
fn train_runs_every_strategy_deep_and_rewired() {
    let dir = std::env::temp_dir().join(format!("neurosplit-cli-fpe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A custom split of the [32, 2, 1] model: neuron 0 gives even inputs to child 0; neuron 1 splits in halves.
    let even: Vec<usize> = (0..32).step_by(2).collect();
    let odd: Vec<usize> = (1..32).step_by(2).collect();
    let json = format!(
        "{{\"alpha\": 2, \"neurons\": [[{even:?}, {odd:?}], [{:?}, {:?}]]}}",
        (0..16).collect::<Vec<_>>(),
        (16..32).collect::<Vec<_>>()
    );
    let file = dir.join("split.json");
    std::fs::write(&file, json).unwrap();
    let file = file.to_str().unwrap();
    for extra in [
        &["--alpha", "2", "--strategy", "gram", "--clusters", "8"][..],
        &["--alpha", "2", "--strategy", "2:4"][..],
        &[
            "--alpha",
            "2",
            "--strategy",
            "custom",
            "--neurons",
            "2",
            "--assignment",
            file,
        ][..],
        &[
            "--alpha",
            "2",
            "--hidden",
            "8,6,4",
            "--layernorm",
            "--rewire-every",
            "1",
            "--rewire-decay",
            "cosine",
        ][..],
    ] {
        let args: Vec<&str> = ["train"]
            .iter()
            .chain(QUICK.iter())
            .chain(extra)
            .copied()
            .collect();
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.contains("FPE: widths"), "{out}");
        assert!(!out.contains("NOT equal"), "{out}");
    }
    let args: Vec<&str> = [
        "train",
        "--hidden",
        "8,6,4",
        "--alpha",
        "2",
        "--rewire-every",
        "2",
    ]
    .iter()
    .chain(QUICK.iter())
    .copied()
    .collect();
    let (_, out, _) = run(&args);
    assert!(
        out.contains("widths [32, 8, 6, 4, 1] -> [32, 16, 6, 8, 1]"),
        "{out}"
    );
    assert!(out.contains("all equal to the budget"), "{out}");

    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"alpha": 2, "neurons": [[[0], [1]]]}"#).unwrap();
    let bad = bad.to_str().unwrap();
    let missing = dir.join("missing.json");
    let missing = missing.to_str().unwrap();
    for (args, needle) in [
        (&["--alpha", "3", "--strategy", "two-four"][..], "alpha = 2"),
        (
            &["--alpha", "2", "--strategy", "custom"][..],
            "--assignment",
        ),
        (
            &[
                "--alpha",
                "2",
                "--strategy",
                "custom",
                "--assignment",
                missing,
            ][..],
            "missing.json",
        ),
        (
            &["--alpha", "2", "--strategy", "custom", "--assignment", bad][..],
            "1 neurons but the layer has 8",
        ),
        (
            &["--alpha", "3", "--strategy", "custom", "--assignment", bad][..],
            "--alpha is 3",
        ),
        (
            &["--alpha", "2", "--assignment", bad][..],
            "only used with --strategy custom",
        ),
        (
            &["--alpha", "2", "--clusters", "3"][..],
            "only used with --strategy gram",
        ),
        (&["--rewire-every", "2"][..], "--alpha"),
        (&["--alpha", "2", "--rewire-every", "0"][..], "interval"),
        (
            &[
                "--alpha",
                "2",
                "--rewire-every",
                "1",
                "--rewire-fraction",
                "2",
            ][..],
            "fraction",
        ),
        (
            &[
                "--alpha",
                "2",
                "--rewire-every",
                "1",
                "--rewire-decay",
                "linear",
            ][..],
            "constant or cosine",
        ),
        (&["--hidden", "8,0"][..], "hidden"),
        (
            &["--alpha", "2", "--strategy", "gram", "--clusters", "40"][..],
            "clusters",
        ),
        (
            &["--alpha", "2", "--hidden", "8,8,8", "--strategy", "clause"][..],
            "hidden neurons",
        ),
    ] {
        let args: Vec<&str> = ["train"]
            .iter()
            .chain(QUICK.iter())
            .chain(args)
            .copied()
            .collect();
        let (code, _, err) = run(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

//! `train --save`, `expand` and `inspect` on model files, and their errors on bad files.

mod common;

use common::run;
use std::path::Path;

use neurosplit::io;
use neurosplit::metrics;

/// JSON number `v` equals `x` up to the last bit or so (serde_json's float parsing may be off by one ulp).
fn same(v: &serde_json::Value, x: f64) -> bool {
    v.as_f64()
        .is_some_and(|y| (y - x).abs() <= 1e-12 * x.abs().max(1.0))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn train_expand_inspect() {
    let dir = std::env::temp_dir().join(format!("neurosplit-cli-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dense = dir.join("dense.safetensors");
    let wide = dir.join("wide.safetensors");
    let out = dir.join("inspect");
    let small = [
        "--epochs",
        "3",
        "--n-train",
        "400",
        "--n-test",
        "100",
        "--log-every",
        "0",
    ];

    let train_json = dir.join("train.json");
    let mut args = vec!["train", "--save", s(&dense), "--json", s(&train_json)];
    args.extend(small);
    let (code, _, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let (model, meta) = io::load(&dense).unwrap();
    assert_eq!(model.dims(), vec![32, 8, 1]);
    assert_eq!(meta.groups.as_ref().map(Vec::len), Some(8));
    // The run's JSON reports the metrics of the model it saved.
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&train_json).unwrap()).unwrap();
    let cap: f64 = metrics::feature_capacity(&model.layers()[0]).iter().sum();
    assert!(same(&v["dense"]["capacity_total"], cap));
    assert!(same(
        &v["dense"]["mean_cosine"],
        metrics::mean_cosine(&model.layers()[0])
    ));

    let (code, stdout, err) = run(&[
        "expand",
        s(&dense),
        "--alpha",
        "4",
        "--strategy",
        "clause",
        "-o",
        s(&wide),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("before: [32, 8, 1], 264 non-zero weights"),
        "{stdout}"
    );
    assert!(
        stdout.contains("after:  [32, 32, 1], 264 non-zero weights"),
        "{stdout}"
    );
    let (wide_model, wide_meta) = io::load(&wide).unwrap();
    assert_eq!(wide_model.nnz(), model.nnz());
    assert_eq!(wide_meta.alpha, Some(4));
    assert_eq!(wide_meta.strategy.as_deref(), Some("clause"));

    let (code, stdout, err) = run(&[
        "inspect",
        s(&wide),
        "--out",
        s(&out),
        "--baseline",
        s(&dense),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("feature capacity total"), "{stdout}");
    for f in ["metrics.json", "fig2.png", "fig2.svg"] {
        assert!(out.join(f).metadata().unwrap().len() > 0, "{f} is empty");
    }
    let png = std::fs::read(out.join("fig2.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(out.join("fig2.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("Gram matrix"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let expected: f64 = metrics::feature_capacity(&wide_model.layers()[0])
        .iter()
        .sum();
    assert!(same(&json["metrics"]["capacity_total"], expected));
    let base: f64 = metrics::feature_capacity(&model.layers()[0]).iter().sum();
    assert!(same(&json["baseline"]["capacity_total"], base));
    assert!(same(
        &json["fold_change"]["capacity_total"],
        expected / base
    ));
    assert_eq!(
        json["metrics"]["capacity_per_group"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    // Every reading, with its definition; the feature-level ones over the recorded clauses.
    let clauses: Vec<Vec<usize>> = wide_meta.groups.clone().unwrap();
    let w1 = &wide_model.layers()[0];
    let fc: f64 = metrics::grouped_capacity(w1, &clauses)
        .unwrap()
        .iter()
        .sum();
    assert!(same(&json["metrics"]["feature_capacity_total"], fc));
    assert!(same(
        &json["metrics"]["mean_abs_cosine_full"],
        metrics::mean_abs_cosine_full(w1)
    ));
    for (key, _) in metrics::DEFINITIONS {
        assert!(
            json["definitions"][key].is_string(),
            "no definition of {key}"
        );
        assert!(
            stdout.contains(key) || *key == "gram",
            "{key} not printed: {stdout}"
        );
    }
    // User groups from a file, and Gram clusters.
    let groups_file = dir.join("groups.json");
    std::fs::write(&groups_file, "[[0,1,2],[3]]").unwrap();
    let (code, _, err) = run(&[
        "inspect",
        s(&wide),
        "--out",
        s(&out),
        "--groups",
        s(&groups_file),
    ]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let user = metrics::grouped_capacity(w1, &[vec![0, 1, 2], vec![3]]).unwrap();
    assert!(same(
        &json["metrics"]["feature_capacity_total"],
        user.iter().sum()
    ));
    let (code, _, err) = run(&[
        "inspect",
        s(&wide),
        "--out",
        s(&out),
        "--gram-clusters",
        "3",
    ]);
    assert_eq!(code, 0, "{err}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(json["groups"].as_array().unwrap().len(), 3);
    std::fs::write(&groups_file, "[[0, 100000]]").unwrap();
    let (code, _, err) = run(&[
        "inspect",
        s(&wide),
        "--out",
        s(&out),
        "--groups",
        s(&groups_file),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("100000"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_files_and_arguments_fail_cleanly() {
    let dir = std::env::temp_dir().join(format!("neurosplit-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.safetensors");
    std::fs::write(&junk, b"definitely not a model").unwrap();
    let nogroups = dir.join("nogroups.safetensors");
    let model = neurosplit::nn::Mlp::new(
        &[8, 2, 1],
        neurosplit::data::Task::Binary,
        &mut neurosplit::rng::stream(0, &[]),
    )
    .unwrap();
    io::save(&nogroups, &model, &io::ModelMeta::default()).unwrap();
    let out = dir.join("o");
    let missing = dir.join("missing.safetensors");
    let nodir = dir.join("no-such-dir").join("m.safetensors");
    let wide = dir.join("w.safetensors");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["inspect", s(&junk), "--out", s(&out)],
            "junk.safetensors",
        ),
        (
            vec!["inspect", s(&missing), "--out", s(&out)],
            "missing.safetensors",
        ),
        (
            vec!["expand", s(&junk), "--alpha", "2", "-o", s(&wide)],
            "truncated or corrupt",
        ),
        (
            vec![
                "expand",
                s(&nogroups),
                "--alpha",
                "2",
                "--strategy",
                "clause",
                "-o",
                s(&wide),
            ],
            "--clauses",
        ),
        (
            vec![
                "expand",
                s(&nogroups),
                "--alpha",
                "2",
                "--clauses",
                "3",
                "-o",
                s(&wide),
            ],
            "divisor of 8",
        ),
        (
            vec![
                "expand",
                s(&nogroups),
                "--alpha",
                "2",
                "--layer",
                "1",
                "-o",
                s(&wide),
            ],
            "layer",
        ),
        (
            vec!["expand", s(&nogroups), "--alpha", "1", "-o", s(&wide)],
            "alpha",
        ),
        (
            vec!["train", "--epochs", "1", "--save", s(&nodir)],
            "does not exist",
        ),
        (
            vec!["inspect", s(&nogroups), "--out", s(&out), "--layer", "5"],
            "out of range",
        ),
    ];
    for (args, needle) in cases {
        let (code, _, err) = run(&args);
        assert_ne!(code, 0, "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: message lacks '{needle}': {err}"
        );
    }
    // The clause split works on a file without groups when --clauses names them.
    let (code, _, err) = run(&[
        "expand",
        s(&nogroups),
        "--alpha",
        "2",
        "--strategy",
        "clause",
        "--clauses",
        "4",
        "-o",
        s(&wide),
    ]);
    assert_eq!(code, 0, "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

//! Every case of the hostile-input review (issue 13) as a regression test: results that cannot lie or vanish,
//! inputs that cannot exhaust the machine, no panic on any input. Each test names the case it covers; the
//! table in docs/RELIABILITY.md points here.

mod common;

use std::path::{Path, PathBuf};

use common::{run, scratch, tiny_spec, BIN};
use neurosplit::experiment::runner::TrialRecord;
use neurosplit::experiment::store;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neurosplit-rel-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs the binary with extra environment variables.
fn run_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(scratch())
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A clear error: exit code 1 (2 for a flag the argument parser refuses; not 101 for a panic or 134 for an
/// abort), an `error:` line naming `needle`.
fn assert_clear_error((code, out, err): (i32, String, String), needle: &str) {
    assert!(
        code == 1 || code == 2,
        "expected a clear error, got code {code}\n{out}\n{err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.to_lowercase().contains(&needle.to_lowercase()),
        "error should mention '{needle}': {err}"
    );
}

/// A finished tiny run (2 cells x `trials` trials) in `dir/out`; returns its spec path and out folder.
fn tiny_run(dir: &Path, trials: usize) -> (PathBuf, PathBuf) {
    let spec = dir.join("tiny.toml");
    std::fs::write(&spec, tiny_spec(trials, 5, 5)).unwrap();
    let out = dir.join("out");
    let (code, o, e) = run(&["reproduce", s(&spec), "--out", s(&out), "--quiet"]);
    assert_eq!(code, 0, "{o}{e}");
    (spec, out)
}

// ---------------------------------------------------------------- statistics that lie

#[test]
fn duplicate_records_are_counted_once_with_a_warning() {
    let dir = tmp("dup");
    let (spec, out) = tiny_run(&dir, 3);
    let results = out.join("trials.jsonl");
    let text = std::fs::read_to_string(&results).unwrap();
    // A copied line (as two processes, a copy or a merge done twice would leave).
    let first = text.lines().next().unwrap();
    std::fs::write(&results, format!("{text}{first}\n")).unwrap();
    let json = dir.join("r.json");
    let (code, o, e) = run(&[
        "reproduce",
        s(&spec),
        "--out",
        s(&out),
        "--quiet",
        "--json",
        s(&json),
    ]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(e.contains("warning") && e.contains("repeats"), "{e}");
    assert!(o.contains("(0 trials run, 6 resumed"), "{o}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for cell in v["summary"].as_array().unwrap() {
        assert_eq!(cell["trials"], 3, "n must count distinct trials: {cell}");
    }
    // Reading did not change the file.
    assert_eq!(
        std::fs::read_to_string(&results).unwrap(),
        format!("{text}{first}\n")
    );
}

#[test]
fn conflicting_records_of_one_trial_are_an_error_naming_it() {
    let dir = tmp("conflict");
    let (spec, out) = tiny_run(&dir, 1);
    let results = out.join("trials.jsonl");
    let text = std::fs::read_to_string(&results).unwrap();
    let mut r: TrialRecord = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    r.pre_test_acc += 0.25;
    let bad = format!("{text}{}\n", serde_json::to_string(&r).unwrap());
    std::fs::write(&results, &bad).unwrap();
    assert_clear_error(
        run(&["reproduce", s(&spec), "--out", s(&out), "--quiet"]),
        &format!("cell '{}' trial 0", r.cell),
    );
    assert_eq!(std::fs::read_to_string(&results).unwrap(), bad);
}

#[test]
fn a_second_process_on_a_locked_results_file_is_refused_naming_the_holder() {
    let dir = tmp("lock");
    let spec = dir.join("tiny.toml");
    std::fs::write(&spec, tiny_spec(2, 5, 5)).unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let results = out.join("trials.jsonl");
    let held = store::Lock::acquire(&results).unwrap();
    let (code, o, e) = run(&["reproduce", s(&spec), "--out", s(&out), "--quiet"]);
    assert_clear_error((code, o, e.clone()), "being written by process");
    assert!(e.contains(&std::process::id().to_string()), "{e}");
    assert!(!results.exists(), "the refused run wrote trials");
    drop(held);
    let (code, o, e) = run(&["reproduce", s(&spec), "--out", s(&out), "--quiet"]);
    assert_eq!(code, 0, "{o}{e}");
}

#[test]
fn two_concurrent_runs_on_one_folder_never_double_count() {
    let dir = tmp("race");
    let spec = dir.join("tiny.toml");
    std::fs::write(&spec, tiny_spec(12, 20, 20)).unwrap();
    let out = dir.join("out");
    let spawn = || {
        std::process::Command::new(BIN)
            .args(["reproduce", s(&spec), "--out", s(&out), "--quiet"])
            .current_dir(scratch())
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(spawn);
        let b = sc.spawn(spawn);
        (a.join().unwrap(), b.join().unwrap())
    });
    // At least one finished; one that met the lock said so (naming the holder's process, or "another process"
    // when the holder had locked but not yet written its pid); the file holds each trial once.
    assert!(a.status.success() || b.status.success());
    for o in [&a, &b] {
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains("is being written by"), "{err}");
        }
    }
    let text = std::fs::read_to_string(out.join("trials.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 24, "{text}");
}

// ---------------------------------------------------------------- data deleted

#[test]
fn merge_never_writes_its_inputs() {
    let dir = tmp("merge");
    let (_, out) = tiny_run(&dir, 2);
    let input = dir.join("in.jsonl");
    let mut text = std::fs::read_to_string(out.join("trials.jsonl")).unwrap();
    // A torn last record: a reader must not cut it from an input.
    text.push_str("{\"spec\":\"tiny\",\"finger");
    std::fs::write(&input, &text).unwrap();
    let merged = dir.join("out.jsonl");
    let (code, o, e) = run(&["merge", "-o", s(&merged), s(&input)]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(e.contains("incomplete record"), "{e}");
    assert_eq!(
        std::fs::read_to_string(&input).unwrap(),
        text,
        "merge changed its input"
    );
    assert_eq!(std::fs::read_to_string(&merged).unwrap().lines().count(), 4);
    // Merging twice (the output as an input too) still holds each trial once.
    let (code, o, e) = run(&["merge", "-o", s(&merged), s(&merged), s(&input)]);
    assert_eq!(code, 0, "{o}{e}");
    assert_eq!(std::fs::read_to_string(&merged).unwrap().lines().count(), 4);
}

#[test]
fn a_users_text_file_given_as_results_is_refused_and_left_alone() {
    let dir = tmp("notes");
    let spec = dir.join("tiny.toml");
    std::fs::write(&spec, tiny_spec(1, 5, 5)).unwrap();
    let notes = dir.join("notes.txt");
    let text = "my notes\nsecond line without newline";
    std::fs::write(&notes, text).unwrap();
    assert_clear_error(
        run(&[
            "reproduce",
            s(&spec),
            "--out",
            s(&dir.join("o")),
            "--results",
            s(&notes),
            "--quiet",
        ]),
        "not a trial record",
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), text);
    assert!(!store::lock_path(&notes).exists(), "a lock file was left");
}

#[test]
fn a_torn_record_in_a_file_the_store_did_not_create_is_not_cut() {
    let dir = tmp("foreign-torn");
    let (spec, out) = tiny_run(&dir, 1);
    let results = dir.join("copied.jsonl");
    let text = std::fs::read_to_string(out.join("trials.jsonl")).unwrap() + "{\"spec\":";
    std::fs::write(&results, &text).unwrap();
    assert_clear_error(
        run(&[
            "reproduce",
            s(&spec),
            "--out",
            s(&out),
            "--results",
            s(&results),
            "--quiet",
        ]),
        "did not create this file",
    );
    assert_eq!(std::fs::read_to_string(&results).unwrap(), text);
}

#[test]
fn expand_onto_its_own_input_replaces_it_atomically() {
    let dir = tmp("expand-self");
    let m = dir.join("m.safetensors");
    let (code, o, e) = run(&[
        "train",
        "--clauses",
        "4",
        "--k",
        "3",
        "--neurons",
        "4",
        "--epochs",
        "5",
        "--n-train",
        "200",
        "--n-test",
        "100",
        "--save",
        s(&m),
    ]);
    assert_eq!(code, 0, "{o}{e}");
    let before = std::fs::read(&m).unwrap();
    // A failing expansion leaves the file as it was.
    assert_clear_error(
        run(&[
            "expand",
            s(&m),
            "--alpha",
            "18446744073709551615",
            "-o",
            s(&m),
        ]),
        "alpha",
    );
    assert_eq!(std::fs::read(&m).unwrap(), before);
    let (code, o, e) = run(&["expand", s(&m), "--alpha", "2", "-o", s(&m)]);
    assert_eq!(code, 0, "{o}{e}");
    let (model, meta) = neurosplit::io::load(&m).unwrap();
    assert_eq!(model.dims(), vec![12, 8, 1]);
    assert_eq!(meta.alpha, Some(2));
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "temporary files left: {names:?}");
}

#[test]
fn results_on_a_full_disk_fail_with_a_clear_error() {
    let dir = tmp("full");
    let spec = dir.join("tiny.toml");
    std::fs::write(&spec, tiny_spec(1, 5, 5)).unwrap();
    assert_clear_error(
        run(&[
            "reproduce",
            s(&spec),
            "--out",
            s(&dir.join("o")),
            "--results",
            "/dev/full",
            "--quiet",
        ]),
        "/dev/full",
    );
    assert!(!Path::new("/dev/full.lock").exists());
}

// ---------------------------------------------------------------- tiny inputs asking for huge memory

/// An `.npy` file: `header_shape` in the header, `data` bytes after it.
fn npy(descr: &str, header_shape: &str, data: &[u8]) -> Vec<u8> {
    let mut h =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {header_shape}, }}");
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend((h.len() as u16).to_le_bytes());
    b.extend(h.as_bytes());
    b.extend(data);
    b
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i64s(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A folder of embeddings: 200 train and 50 test rows of 4 features, labels 0..3; `edit` may replace files.
fn embeddings_dir(dir: &Path, edit: impl FnOnce(&Path)) -> PathBuf {
    let e = dir.join("emb");
    std::fs::create_dir_all(&e).unwrap();
    for (split, n) in [("train", 200usize), ("test", 50)] {
        let x: Vec<f32> = (0..n * 4).map(|i| (i % 7) as f32 / 7.0).collect();
        let y: Vec<i64> = (0..n as i64).map(|i| i % 3).collect();
        std::fs::write(
            e.join(format!("x_{split}.npy")),
            npy("<f4", &format!("({n}, 4)"), &f32s(&x)),
        )
        .unwrap();
        std::fs::write(
            e.join(format!("y_{split}.npy")),
            npy("<i8", &format!("({n},)"), &i64s(&y)),
        )
        .unwrap();
    }
    edit(&e);
    e
}

/// A spec over the embeddings in `path` with `n_train` rows.
fn embeddings_spec(dir: &Path, path: &Path, n_train: usize) -> PathBuf {
    let spec = dir.join("emb.toml");
    std::fs::write(
        &spec,
        format!(
            r#"
name = "emb"
title = "t"
paper_ref = "none"
trials = 1
seed = 0
[dataset]
kind = "embeddings"
path = "{}"
n_train = {n_train}
[model]
neurons = [4]
alpha = [2]
strategies = ["random"]
[train]
pre_epochs = [1]
post_epochs = 1
batch_size = 50
lr = 1e-3
l1 = 0.0
l2 = 0.0
"#,
            path.display()
        ),
    )
    .unwrap();
    spec
}

fn reproduce(dir: &Path, spec: &Path) -> (i32, String, String) {
    run(&["reproduce", s(spec), "--out", s(&dir.join("o")), "--quiet"])
}

#[test]
fn embeddings_load_and_train_when_well_formed() {
    let dir = tmp("emb-ok");
    let e = embeddings_dir(&dir, |_| {});
    let (code, o, err) = reproduce(&dir, &embeddings_spec(&dir, &e, 200));
    assert_eq!(code, 0, "{o}{err}");
}

#[test]
fn an_npy_header_announcing_1e11_rows_is_refused_before_allocating() {
    let dir = tmp("npy-huge");
    let e = embeddings_dir(&dir, |e| {
        std::fs::write(
            e.join("x_train.npy"),
            npy("<f4", "(100000000000, 512)", &[0u8; 4000]),
        )
        .unwrap();
    });
    assert_clear_error(
        reproduce(&dir, &embeddings_spec(&dir, &e, 200)),
        "data bytes follow",
    );
}

#[test]
fn a_label_of_1e9_is_refused_not_a_16_gb_model() {
    let dir = tmp("label-huge");
    let e = embeddings_dir(&dir, |e| {
        let mut y: Vec<i64> = (0..200).map(|i| i % 3).collect();
        y[7] = 1_000_000_000;
        std::fs::write(e.join("y_train.npy"), npy("<i8", "(200,)", &i64s(&y))).unwrap();
    });
    assert_clear_error(
        reproduce(&dir, &embeddings_spec(&dir, &e, 200)),
        "label 1000000000",
    );
}

#[test]
fn zero_row_embeddings_are_an_error() {
    let dir = tmp("emb-empty");
    let e = embeddings_dir(&dir, |e| {
        std::fs::write(e.join("x_test.npy"), npy("<f4", "(0, 4)", &[])).unwrap();
        std::fs::write(e.join("y_test.npy"), npy("<i8", "(0,)", &[])).unwrap();
    });
    assert_clear_error(reproduce(&dir, &embeddings_spec(&dir, &e, 200)), "no rows");
}

#[test]
fn a_spec_asking_more_rows_than_the_file_has_is_an_error() {
    let dir = tmp("emb-short");
    let e = embeddings_dir(&dir, |_| {});
    assert_clear_error(
        reproduce(&dir, &embeddings_spec(&dir, &e, 1_000_000)),
        "1000000 rows asked for but the data has only 200",
    );
}

/// A safetensors file with the given header entries (name -> (dtype, shape)) and zeroed data.
fn safetensors(tensors: &[(&str, &str, &[usize])], metadata: &[(&str, &str)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let meta: serde_json::Map<String, serde_json::Value> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
        .collect();
    header.insert("__metadata__".into(), meta.into());
    let mut offset = 0usize;
    for (name, dtype, shape) in tensors {
        let size = shape.iter().product::<usize>() * if *dtype == "U8" { 1 } else { 4 };
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}),
        );
        offset += size;
    }
    let mut h = serde_json::to_string(&header).unwrap();
    while !h.len().is_multiple_of(8) {
        h.push(' ');
    }
    let mut b = (h.len() as u64).to_le_bytes().to_vec();
    b.extend(h.as_bytes());
    b.extend(vec![0u8; offset]);
    b
}

fn inspect_file(dir: &Path, bytes: Vec<u8>) -> (i32, String, String) {
    let m = dir.join("m.safetensors");
    std::fs::write(&m, bytes).unwrap();
    run(&["inspect", s(&m), "--out", s(&dir.join("i"))])
}

#[test]
fn huge_layer_indices_in_tensor_names_are_refused() {
    let dir = tmp("names");
    for name in ["W1000000000", "W18446744073709551615"] {
        let f = safetensors(
            &[
                ("W1", "F32", &[2, 3]),
                ("b1", "F32", &[2]),
                (name, "F32", &[1, 2]),
            ],
            &[],
        );
        assert_clear_error(inspect_file(&dir, f), "tensor W2 is missing");
    }
}

#[test]
fn inspect_refuses_a_gram_matrix_above_the_memory_budget() {
    let dir = tmp("gram");
    // A 200 KB model whose Gram matrix over 50 000 inputs needs 20 GB.
    let f = safetensors(&[("W1", "F32", &[1, 50_000]), ("b1", "F32", &[1])], &[]);
    let m = dir.join("wide.safetensors");
    std::fs::write(&m, f).unwrap();
    // The budget is stated (half the machine's memory by default); set it so the test means the same anywhere.
    assert_clear_error(
        run_env(
            &["inspect", s(&m), "--out", s(&dir.join("i"))],
            &[("NEUROSPLIT_MAX_MEMORY", "4G")],
        ),
        "Gram matrix of layer 0 (50000 x 50000 inputs): needs 18.6 GiB",
    );
}

#[test]
fn expand_refuses_alphas_that_cannot_fit() {
    let dir = tmp("alpha");
    let m = dir.join("m.safetensors");
    let (code, o, e) = run(&[
        "train",
        "--clauses",
        "4",
        "--k",
        "3",
        "--neurons",
        "4",
        "--epochs",
        "2",
        "--n-train",
        "100",
        "--n-test",
        "50",
        "--save",
        s(&m),
    ]);
    assert_eq!(code, 0, "{o}{e}");
    for alpha in ["1000000000", "18446744073709551615"] {
        assert_clear_error(
            run_env(
                &["expand", s(&m), "--alpha", alpha, "-o", s(&dir.join("x"))],
                &[("NEUROSPLIT_MAX_MEMORY", "4G")],
            ),
            &format!("alpha: {alpha} is too large"),
        );
    }
}

fn tiny_spec_with(dir: &Path, from: &str, to: &str) -> PathBuf {
    let spec = dir.join("big.toml");
    let text = tiny_spec(1, 5, 5);
    assert!(text.contains(from), "{from}");
    std::fs::write(&spec, text.replace(from, to)).unwrap();
    spec
}

#[test]
fn spec_sizes_beyond_the_bounds_are_refused_at_once() {
    let dir = tmp("spec-sizes");
    for (from, to, needle) in [
        (
            "neurons = [4]",
            "neurons = [1000000000]",
            "1000000000 neurons",
        ),
        ("n_train = 1000", "n_train = 100000000000", "needs"),
        (
            "clauses = [4, 6]",
            "clauses = [100000000]",
            "300000000 inputs",
        ),
        (
            "trials = 1",
            "trials = 9223372036854775807",
            "trials one spec may run",
        ),
        ("trials = 1", "trials = 18446744073709551615", "trials"),
        (
            "strategies = [\"clause\", \"random\"]",
            "strategies = []",
            "model.strategies",
        ),
    ] {
        let spec = tiny_spec_with(&dir, from, to);
        let start = std::time::Instant::now();
        assert_clear_error(
            run_env(
                &["reproduce", s(&spec), "--out", s(&dir.join("o")), "--quiet"],
                &[("NEUROSPLIT_MAX_MEMORY", "4G")],
            ),
            needle,
        );
        assert!(
            start.elapsed().as_secs() < 10,
            "{to} took {:?}",
            start.elapsed()
        );
    }
    // The same bounds hold for flag overrides.
    let spec = tiny_spec_with(&dir, "trials = 1", "trials = 1");
    assert_clear_error(
        run(&[
            "reproduce",
            s(&spec),
            "--out",
            s(&dir.join("o")),
            "--trials",
            "18446744073709551615",
        ]),
        "trials one spec may run",
    );
}

#[test]
fn theory_refuses_an_unbounded_sample_count() {
    assert_clear_error(
        run(&[
            "theory",
            "--literals",
            "12",
            "--k",
            "3",
            "--alpha",
            "2",
            "--neurons",
            "4",
            "--samples",
            "18446744073709551615",
        ]),
        "samples",
    );
}

#[test]
fn a_huge_thread_count_is_capped_with_a_warning_and_finishes() {
    let (code, o, e) = run(&[
        "train",
        "--clauses",
        "4",
        "--k",
        "3",
        "--neurons",
        "4",
        "--epochs",
        "2",
        "--n-train",
        "100",
        "--n-test",
        "50",
        "--threads",
        "100000",
    ]);
    assert_eq!(code, 0, "{o}{e}");
    assert!(e.contains("--threads 100000 capped at"), "{e}");
}

// ---------------------------------------------------------------- panics and silently wrong results

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

#[test]
fn fashion_mnist_train_and_test_images_of_different_sizes_are_an_error() {
    let dir = tmp("fashion-sizes");
    for (stem, n, side) in [("train", 20u32, 4u32), ("t10k", 10, 3)] {
        let px = (n * side * side) as usize;
        std::fs::write(
            dir.join(format!("{stem}-images-idx3-ubyte")),
            idx_bytes(&[n, side, side], &vec![7; px]),
        )
        .unwrap();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        std::fs::write(
            dir.join(format!("{stem}-labels-idx1-ubyte")),
            idx_bytes(&[n], &labels),
        )
        .unwrap();
    }
    assert_clear_error(
        run(&[
            "reproduce",
            "fashion-mnist",
            "--data-dir",
            s(&dir),
            "--out",
            s(&dir.join("o")),
            "--trials",
            "1",
            "--neurons",
            "4",
            "--pre-epochs",
            "1",
            "--post-epochs",
            "1",
            "--quiet",
        ]),
        "16 pixels but the test images 9",
    );
}

#[test]
fn train_with_no_training_or_test_rows_is_an_error() {
    for flag in ["--n-train", "--n-test"] {
        assert_clear_error(
            run(&[
                "train",
                "--clauses",
                "4",
                "--k",
                "3",
                "--neurons",
                "4",
                "--epochs",
                "2",
                flag,
                "0",
            ]),
            "no rows",
        );
    }
}

#[test]
fn expanded_layer_metadata_naming_no_hidden_layer_is_refused() {
    let dir = tmp("expanded-layer");
    let f = safetensors(
        &[
            ("W1", "F32", &[2, 3]),
            ("b1", "F32", &[2]),
            ("W2", "F32", &[1, 2]),
            ("b2", "F32", &[1]),
        ],
        &[("expanded_layer", "7")],
    );
    assert_clear_error(inspect_file(&dir, f), "expanded_layer = 7");
}

#[test]
fn loaded_data_too_wide_for_the_gram_metric_is_refused_before_training() {
    let dir = tmp("emb-wide");
    let e = embeddings_dir(&dir, |e| {
        // 50 000 features: the feature-capacity metric's Gram matrix alone needs 20 GB per model.
        for (split, n) in [("train", 2usize), ("test", 1)] {
            let x = vec![0.5f32; n * 50_000];
            let y: Vec<i64> = (0..n as i64).collect();
            std::fs::write(
                e.join(format!("x_{split}.npy")),
                npy("<f4", &format!("({n}, 50000)"), &f32s(&x)),
            )
            .unwrap();
            std::fs::write(
                e.join(format!("y_{split}.npy")),
                npy("<i8", &format!("({n},)"), &i64s(&y)),
            )
            .unwrap();
        }
    });
    let spec = embeddings_spec(&dir, &e, 2);
    let text =
        std::fs::read_to_string(&spec).unwrap() + "[extras]\nmetrics = [\"feature-capacity\"]\n";
    std::fs::write(&spec, text).unwrap();
    assert_clear_error(
        run_env(
            &["reproduce", s(&spec), "--out", s(&dir.join("o")), "--quiet"],
            &[("NEUROSPLIT_MAX_MEMORY", "4G")],
        ),
        "one trial (50000 inputs",
    );
}

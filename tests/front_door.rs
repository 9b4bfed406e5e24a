//! Every class of bad input is refused by the library before any harm, so the CLI (here) and Python
//! (`python/tests/test_front_door.py`) refuse it alike: outputs that are inputs, checkpoints of other runs,
//! absurd sizes, training that diverges, CSV files whose columns differ. And `train --data` trains on a user's
//! file through the same stages as a spec trial.

mod common;

use std::path::{Path, PathBuf};

use common::run;
use ndarray::{Array1, Array2};
use ndarray_npy::NpzWriter;

use neurosplit::data::Task;
use neurosplit::io::{self, ModelMeta};
use neurosplit::nn::Mlp;
use neurosplit::rng::stream;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neurosplit-front-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A 3-class problem on 6 features (the argmax of three feature pairs' sums) as an .npz, and a dense model.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let mut g = stream(5, &[]);
    use rand::Rng;
    let mut draw = |n: usize| {
        let x = Array2::from_shape_fn((n, 6), |_| g.gen_range(-1.0f32..1.0));
        let y = Array1::from_shape_fn(n, |i| {
            let s: Vec<f32> = (0..3).map(|c| x[[i, 2 * c]] + x[[i, 2 * c + 1]]).collect();
            (0..3).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap() as i64
        });
        (x, y)
    };
    let (xtr, ytr) = draw(300);
    let (xte, yte) = draw(100);
    let data = dir.join("data.npz");
    let mut w = NpzWriter::new(std::fs::File::create(&data).unwrap());
    w.add_array("x_train", &xtr).unwrap();
    w.add_array("y_train", &ytr).unwrap();
    w.add_array("x_test", &xte).unwrap();
    w.add_array("y_test", &yte).unwrap();
    w.finish().unwrap();
    let dense = Mlp::new(&[6, 4, 3], Task::Multiclass(3), &mut stream(1, &[])).unwrap();
    let model = dir.join("net.safetensors");
    io::save(&model, &dense, &ModelMeta::default()).unwrap();
    (model, data)
}

fn refused(args: &[&str], says: &str) {
    let (code, stdout, stderr) = run(args);
    assert_ne!(code, 0, "{args:?} was accepted:\n{stdout}");
    assert!(
        stderr.contains(says),
        "{args:?}: expected '{says}' in:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_is_untouched() {
    let dir = folder("outputs");
    let (model, data) = setup(&dir);
    let (m0, d0) = (
        std::fs::read(&model).unwrap(),
        std::fs::read(&data).unwrap(),
    );
    let base = [
        "finetune",
        s(&model),
        "--data",
        s(&data),
        "--epochs",
        "1",
        "--quiet",
    ];
    refused(
        &[&base[..], &["-o", s(&model)]].concat(),
        "destroy an input",
    );
    refused(&[&base[..], &["-o", s(&data)]].concat(), "destroy an input");
    let out = dir.join("out.safetensors");
    refused(
        &[&base[..], &["-o", s(&out), "--checkpoint", s(&model)]].concat(),
        "destroy an input",
    );
    refused(
        &[&base[..], &["-o", s(&out), "--checkpoint", s(&out)]].concat(),
        "its own path",
    );
    // Through `..` and a symbolic link.
    let dotted = dir.join("sub").join("..").join("net.safetensors");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    refused(
        &[&base[..], &["-o", s(&dotted)]].concat(),
        "destroy an input",
    );
    #[cfg(unix)]
    {
        let link = dir.join("link.npz");
        std::os::unix::fs::symlink(&data, &link).unwrap();
        refused(&[&base[..], &["-o", s(&link)]].concat(), "destroy an input");
    }
    refused(
        &[
            "train",
            "--data",
            s(&data),
            "--epochs",
            "1",
            "--save",
            s(&data),
        ],
        "destroy an input",
    );
    assert_eq!(std::fs::read(&model).unwrap(), m0);
    assert_eq!(std::fs::read(&data).unwrap(), d0);
}

#[test]
fn a_checkpoint_of_other_settings_is_refused_without_a_panic() {
    let dir = folder("checkpoint");
    let (model, data) = setup(&dir);
    let (out, ckpt) = (dir.join("out.safetensors"), dir.join("ckpt.safetensors"));
    let args = |alpha: &'static str, epochs: &'static str| -> Vec<String> {
        [
            "finetune",
            s(&model),
            "--data",
            s(&data),
            "--alpha",
            alpha,
            "--epochs",
            epochs,
            "--no-baseline",
            "--quiet",
            "-o",
            s(&out),
            "--checkpoint",
            s(&ckpt),
        ]
        .iter()
        .map(|a| a.to_string())
        .collect()
    };
    let call = |a: Vec<String>| run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let (code, stdout, stderr) = call(args("2", "3"));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // Pretend the run stopped at epoch 1.
    let state = dir.join("ckpt.safetensors.json");
    let text = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&state, text.replace("\"epoch\": 3", "\"epoch\": 1")).unwrap();
    // Another alpha, other epochs, no expansion at all: each is another run.
    for other in [args("3", "3"), args("2", "5")] {
        let (code, _, stderr) = call(other);
        assert_ne!(code, 0);
        assert!(stderr.contains("another run"), "{stderr}");
    }
    let mut plain = args("2", "3");
    plain.drain(4..6);
    let (code, _, stderr) = call(plain);
    assert_ne!(code, 0);
    assert!(stderr.contains("another run"), "{stderr}");
    // An epoch beyond the run's epochs: a damaged state, refused.
    let text = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&state, text.replace("\"epoch\": 1", "\"epoch\": 9")).unwrap();
    let (code, _, stderr) = call(args("2", "3"));
    assert_ne!(code, 0);
    assert!(stderr.contains("damaged"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The same run resumes.
    let text = std::fs::read_to_string(&state).unwrap();
    std::fs::write(&state, text.replace("\"epoch\": 9", "\"epoch\": 1")).unwrap();
    let (code, stdout, stderr) = call(args("2", "3"));
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("resumed from the checkpoint at epoch 1"),
        "{stdout}"
    );
}

#[test]
fn absurd_sizes_are_refused_before_allocation() {
    let dir = folder("memory");
    let (model, data) = setup(&dir);
    let out = dir.join("out.safetensors");
    refused(
        &[
            "finetune",
            s(&model),
            "--data",
            s(&data),
            "--alpha",
            "1000",
            "--batch-size",
            "100000000000",
            "--quiet",
            "-o",
            s(&out),
        ],
        "memory",
    );
    refused(
        &[
            "train",
            "--data",
            s(&data),
            "--hidden",
            "4000000000",
            "--epochs",
            "1",
        ],
        "memory",
    );
    assert!(!out.exists());
}

#[test]
fn training_that_diverges_stops_with_the_epoch_and_the_cause() {
    let dir = folder("diverge");
    let (model, data) = setup(&dir);
    let out = dir.join("out.safetensors");
    refused(
        &[
            "finetune",
            s(&model),
            "--data",
            s(&data),
            "--epochs",
            "3",
            "--lr",
            "1e38",
            "--quiet",
            "-o",
            s(&out),
        ],
        "diverged at epoch",
    );
    assert!(!out.exists(), "a non-finite model was written");
}

#[test]
fn csv_test_columns_are_matched_by_name() {
    let dir = folder("csv");
    let csv = dir.join("csv");
    std::fs::create_dir_all(&csv).unwrap();
    let mut train = String::from("a,b,label\n");
    for i in 0..40 {
        let (a, b) = (i as f32 / 40.0, 1.0 - i as f32 / 40.0);
        train += &format!("{a},{b},{}\n", usize::from(a > b));
    }
    std::fs::write(csv.join("train.csv"), &train).unwrap();
    // The test file lists the same columns in another order: read by name, the data is the same.
    let mut test = String::from("label,b,a\n");
    for i in 0..10 {
        let (a, b) = (i as f32 / 10.0, 1.0 - i as f32 / 10.0);
        test += &format!("{},{b},{a}\n", usize::from(a > b));
    }
    std::fs::write(csv.join("test.csv"), &test).unwrap();
    let opts = neurosplit::data::DataOptions::default();
    let splits = neurosplit::data::load_data(&csv, &opts).unwrap();
    assert_eq!(splits.test.row(0), &[0.0, 1.0]);
    assert_eq!(splits.test.row(9), &[0.9, 1.0 - 0.9f32]);
    // Other names: refused, naming them.
    std::fs::write(csv.join("test.csv"), test.replace("label,b,a", "label,b,c")).unwrap();
    refused(
        &["train", "--data", s(&csv), "--epochs", "1"],
        "missing [a], extra [c]",
    );
}

#[test]
fn train_on_a_users_file_runs_the_pipeline_with_its_baseline() {
    let dir = folder("train-data");
    let (_, data) = setup(&dir);
    let (json, save) = (dir.join("run.json"), dir.join("fpe.safetensors"));
    let (code, stdout, stderr) = run(&[
        "train",
        "--data",
        s(&data),
        "--neurons",
        "4",
        "--epochs",
        "3",
        "--alpha",
        "2",
        "--log-every",
        "0",
        "--json",
        s(&json),
        "--save",
        s(&save),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j["fpe"]["nnz"], j["dense"]["nnz"]);
    assert!(j["dense_post"]["test_acc"].is_number(), "{j}");
    assert_eq!(
        j["config"]["pre"]["batch_size"], 128,
        "a user's data takes finetune's defaults"
    );
    let (wide, _) = io::load(&save).unwrap();
    assert_eq!(wide.dims(), vec![6, 8, 3]);
}
